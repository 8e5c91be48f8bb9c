#pragma once
/// @file
/// Stop requests from the batch system: Slurm sends SIGUSR1 (with --signal=B:USR1@N, forwarded by
/// the job script) or SIGTERM before a job's time limit. The handler only sets a flag; long loops
/// poll it at points where every rank can agree to checkpoint and stop.

#include <string>

#include "ksi/par/comm.hpp"

namespace ksi::par {

/// For the commands that keep no checkpoint (and SIGINT, SIGHUP everywhere): handlers for SIGTERM,
/// SIGINT, SIGHUP and SIGUSR1 that remove the outputs in progress (track_temporary), print one line
/// on stderr when `say` (rank 0), and end the process by the same signal (the shell sees 128 +
/// signal). main() installs them first; install_stop_handlers then takes SIGUSR1 and SIGTERM.
void install_termination_handlers(bool say);
/// Registers the temporary file of an output in progress, removed by the termination handlers;
/// untrack it once it is renamed or removed. At most 64 at a time (more are left as before).
void track_temporary(const std::string& path) noexcept;
void untrack_temporary(const std::string& path) noexcept;
/// The temporary of an output in progress: `.NAME.tmp.PID` beside `target` (the same file system,
/// so the final rename is atomic), `pid` the writing process's (rank 0's for a collective file).
std::string temporary_path(const std::string& target, long long pid);

/// Installs handlers for SIGUSR1 and SIGTERM that record a stop request. Idempotent.
void install_stop_handlers();
/// True once this process received SIGUSR1 or SIGTERM.
bool stop_requested() noexcept;
/// Clears the request (tests).
void clear_stop_request() noexcept;
/// For tests: behave as if a signal had arrived.
void request_stop() noexcept;

enum class Pause { none = 0, checkpoint = 1, stop = 2 };

/// Collective: Pause::stop on every rank if any rank received a stop request, else
/// Pause::checkpoint if `checkpoint_due` is true on rank 0 (rank 0's clock decides intervals), else
/// Pause::none.
Pause agree_to_pause(const Comm& comm, bool checkpoint_due = false);
/// The same, together with Comm::raise_if_any(failure), in a single allreduce.
Pause agree_to_pause_or_raise(const Comm& comm, std::exception_ptr failure, bool checkpoint_due);

}  // namespace ksi::par
