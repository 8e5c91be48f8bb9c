#pragma once
/// @file
/// Errors carry the process exit code; main() catches them in one place.

#include <stdexcept>
#include <string>

namespace ksi {

/// Exit codes of the ksi executable (documented in the README).
enum class ExitCode : int {
  success = 0,
  failure = 1,      ///< anything not classified below
  usage = 2,        ///< unknown option, bad option value, malformed config file
  input = 3,        ///< missing or malformed input file, wrong shape, NaN, model/data mismatch
  io = 4,           ///< a file could not be written (exists without --force, disk, permissions)
  numerical = 5,    ///< a solve or integration failed (non-finite values, singular system)
  environment = 6,  ///< the parallel environment is inconsistent (e.g. MPI size != SLURM_NTASKS)
  internal = 70,    ///< a bug: an invariant of ksi itself was violated
  interrupted = 75  ///< stopped on a signal after writing a checkpoint; rerun with --resume
};

/// Base of every error ksi throws on purpose.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }
  int exit_code() const noexcept { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::usage, m) {}
};
struct InputError : Error {
  explicit InputError(const std::string& m) : Error(ExitCode::input, m) {}
};
struct IoError : Error {
  explicit IoError(const std::string& m) : Error(ExitCode::io, m) {}
};
struct NumericalError : Error {
  explicit NumericalError(const std::string& m) : Error(ExitCode::numerical, m) {}
};
struct EnvironmentError : Error {
  explicit EnvironmentError(const std::string& m) : Error(ExitCode::environment, m) {}
};
struct InternalError : Error {
  explicit InternalError(const std::string& m) : Error(ExitCode::internal, m) {}
};
struct Interrupted : Error {
  explicit Interrupted(const std::string& m) : Error(ExitCode::interrupted, m) {}
};

/// Throws InternalError when an invariant of ksi itself does not hold.
inline void ensure(bool condition, const char* what) {
  if (!condition) throw InternalError(std::string("internal error: ") + what);
}

}  // namespace ksi
