#pragma once
// Helpers shared by the tests: the world communicator, scratch folders agreed over ranks,
// statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::test {

/// Holds the duplicated world communicator for the whole test program.
class World {
 public:
  World();
  ~World();
  static const par::Comm& comm();

 private:
  par::Comm comm_;
};

/// A fresh folder under the system temp dir, the same path on every rank, removed at scope exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& label);
  ~ScratchDir();
  std::string path(const std::string& name) const { return (root_ / name).string(); }
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

/// Sample mean (d) and covariance (d x d) of the rows of X.
std::vector<double> mean_of(const Matrix& X);
Matrix covariance_of(const Matrix& X);
/// Frobenius norm of A - B over that of B.
double relative_difference(const Matrix& A, const Matrix& B);
/// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic, all pairs).
double energy_distance(const Matrix& X, const Matrix& Y);

/// Runs `body`, which must end with an error of ExitCode::interrupted (a stop request honoured),
/// and clears the stop request.
void expect_interrupted(const std::function<void()>& body);

/// The message of the UsageError that `Options{}` changed by `change` raises in validate(), or ""
/// when it validates.
std::string usage_error_of(const std::function<void()>& validate);
template <class Options>
std::string validation_message(const std::function<void(Options&)>& change) {
  Options options;
  change(options);
  return usage_error_of([&] { options.validate(); });
}

/// `model` written to a new file `path` and read back (collective).
Model written_and_read(const Model& model, const std::string& path, const par::Comm& comm);

/// Gathers the rows every rank holds into one matrix on every rank (rank order).
Matrix gather_rows(const Matrix& local, const par::Comm& comm);

/// Isotropic Gaussian fields on the grid `dims`: items first .. first + count - 1, each white noise
/// from RandomStream(seed, test, item) whose Fourier mode k is multiplied by amplitude(round(|k|)),
/// so that the shell powers (Standardization's convention) are amplitude^2.
Matrix isotropic_gaussian_fields(const std::vector<std::size_t>& dims, std::uint64_t seed,
                                 std::size_t first, std::size_t count,
                                 const std::function<double(std::size_t)>& amplitude);

}  // namespace ksi::test
