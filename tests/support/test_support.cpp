#include "support/test_support.hpp"

#include <unistd.h>

#include <cstdlib>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::test {
namespace {
par::Comm* world_comm = nullptr;
}

World::World() : comm_(par::Comm::world()) {
  world_comm = &comm_;
}
World::~World() {
  world_comm = nullptr;
}
const par::Comm& World::comm() {
  return *world_comm;
}

ScratchDir::ScratchDir(const std::string& label) {
  const auto& comm = World::comm();
  std::string name;
  if (comm.is_root()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("ksi-test-" + label + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    name = pattern;
  }
  comm.bcast(name, 0);
  root_ = name;
}

ScratchDir::~ScratchDir() {
  const auto& comm = World::comm();
  comm.barrier();
  if (comm.is_root()) {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
}

std::vector<double> mean_of(const Matrix& X) {
  std::vector<double> m(X.cols(), 0.0);
  for (std::size_t i = 0; i < X.rows(); ++i)
    for (std::size_t k = 0; k < X.cols(); ++k) m[k] += X(i, k);
  for (auto& v : m) v /= static_cast<double>(X.rows());
  return m;
}

Matrix covariance_of(const Matrix& X) {
  const auto m = mean_of(X);
  const std::size_t d = X.cols();
  Matrix C(d, d);
  for (std::size_t i = 0; i < X.rows(); ++i)
    for (std::size_t a = 0; a < d; ++a)
      for (std::size_t b = 0; b < d; ++b) C(a, b) += (X(i, a) - m[a]) * (X(i, b) - m[b]);
  for (auto& v : C.values()) v /= static_cast<double>(X.rows() - 1);
  return C;
}

double relative_difference(const Matrix& A, const Matrix& B) {
  double num = 0.0, den = 0.0;
  for (std::size_t q = 0; q < A.size(); ++q) {
    num += (A.data()[q] - B.data()[q]) * (A.data()[q] - B.data()[q]);
    den += B.data()[q] * B.data()[q];
  }
  return std::sqrt(num / den);
}

namespace {
double mean_pair_distance(const Matrix& X, const Matrix& Y) {
  double sum = 0.0;
  for (std::size_t i = 0; i < X.rows(); ++i)
    for (std::size_t j = 0; j < Y.rows(); ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < X.cols(); ++k) s += (X(i, k) - Y(j, k)) * (X(i, k) - Y(j, k));
      sum += std::sqrt(s);
    }
  return sum / (static_cast<double>(X.rows()) * static_cast<double>(Y.rows()));
}
}  // namespace

double energy_distance(const Matrix& X, const Matrix& Y) {
  return 2.0 * mean_pair_distance(X, Y) - mean_pair_distance(X, X) - mean_pair_distance(Y, Y);
}

void expect_interrupted(const std::function<void()>& body) {
  try {
    body();
    ADD_FAILURE() << "the run was not interrupted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::interrupted) << e.what();
  }
  par::clear_stop_request();
}

std::string usage_error_of(const std::function<void()>& validate) {
  try {
    validate();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

Matrix gather_rows(const Matrix& local, const par::Comm& comm) {
  const auto all = comm.allgatherv(local.values());
  Matrix out(all.size() / local.cols(), local.cols());
  std::copy(all.begin(), all.end(), out.data());
  return out;
}

Matrix isotropic_gaussian_fields(const std::vector<std::size_t>& dims, std::uint64_t seed,
                                 std::size_t first, std::size_t count,
                                 const std::function<double(std::size_t)>& amplitude) {
  const fft::RealTransform transform(dims);
  const auto shells = fft::shell_of_modes(dims);
  const double n = static_cast<double>(transform.real_size());
  Matrix X(count, transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  for (std::size_t i = 0; i < count; ++i) {
    RandomStream stream(seed, StreamPurpose::test, first + i);
    auto row = X.row(i);
    stream.fill_normal(row);
    transform.forward(row.data(), spectrum.data());
    for (std::size_t m = 0; m < spectrum.size(); ++m) spectrum[m] *= amplitude(shells[m]) / n;
    transform.backward_destroying(spectrum.data(), row.data());
  }
  return X;
}

Model written_and_read(const Model& model, const std::string& path, const par::Comm& comm) {
  {
    io::OutputFile out(path, false, {}, comm);
    model.write(out);
    out.commit();
  }
  return Model::read(path, comm);
}

}  // namespace ksi::test
