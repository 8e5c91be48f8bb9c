#pragma once
/// @file
/// FFTW behind move-only plan objects; fftw3.h never leaves src/fft. Plans are made once (under the
/// planner lock) and executed on any arrays of the planned shape; unnormalised transforms as in
/// FFTW.

#include <complex>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace ksi::fft {

using complex = std::complex<double>;

enum class Effort { estimate, measure, patient };

/// "estimate", "measure" or "patient" (the value of --fft-effort); UsageError otherwise.
Effort parse_effort(const std::string& text);

/// Process-wide settings: planner effort and threads per plan. Call before making plans.
void configure(Effort effort, int threads);
/// Loads / saves FFTW wisdom (planning results) so repeated runs skip measuring; false if
/// unreadable.
bool import_wisdom(const std::string& path);
void export_wisdom(const std::string& path);
/// The wisdom gathered so far as text, and text to add to it (false if malformed): how one rank's
/// measured plans reach the others.
std::string wisdom_text();
bool import_wisdom_text(const std::string& text);
/// With `on`, plans come only from wisdom (of any rigor) and, where it has none, from FFTW's
/// estimate: no plan is measured, so every process that imported the same wisdom makes the same
/// plans and its transforms give the same bits. Off (the default): plans follow configure().
void plan_from_wisdom_only(bool on);
/// The planner effort of later plans (configure() without touching the thread count).
void set_effort(Effort effort);
/// Drops all wisdom of this process (tests).
void forget_wisdom();

/// Signed frequency of index i on an axis of n points: 0, 1, ..., n/2, -(n/2 - 1), ..., -1.
inline long frequency(std::size_t i, std::size_t n) {
  return i <= n / 2 ? static_cast<long>(i) : static_cast<long>(i) - static_cast<long>(n);
}

/// Shell index round(|k|) (grid units) of each r2c coefficient of a grid of `dims` (last axis
/// n/2 + 1), in the order of RealTransform's complex array.
std::vector<std::size_t> shell_of_modes(const std::vector<std::size_t>& dims);

/// The isotropic spectral shells of a periodic grid, the one convention ksi has for them: shell
/// s = round(|k|) (grid units) of each r2c coefficient, the coefficient's weight w_k in sums over
/// the full spectrum (2 where it also stands for its mirror -k, else 1), and the number of real
/// modes m_s = sum of w_k over the shell.
class SpectralShells {
 public:
  /// Shells whose power is below this fraction of the largest shell's hold no data (the mean after
  /// a standardisation, beyond a dealiasing cut-off): no whitening, gain or feature there.
  static constexpr double kEmpty = 1e-13;

  explicit SpectralShells(std::vector<std::size_t> dims);
  const std::vector<std::size_t>& dims() const noexcept { return dims_; }
  /// Number of shells (the largest shell index + 1).
  std::size_t count() const noexcept { return modes_.size(); }
  /// Shell of each r2c coefficient (shell_of_modes).
  const std::vector<std::size_t>& of_mode() const noexcept { return shell_; }
  /// w_k of each r2c coefficient.
  const std::vector<double>& weights() const noexcept { return weight_; }
  /// m_s of each shell.
  const std::vector<double>& modes_per_shell() const noexcept { return modes_; }
  /// Mean |k| of each shell's modes (grid units, weighted by w_k).
  const std::vector<double>& mean_wavenumber() const noexcept { return wavenumber_; }
  /// Mean |k|^2 of each shell's modes (for spectral moments such as <|grad f|^2>).
  const std::vector<double>& mean_wavenumber_squared() const noexcept {
    return wavenumber_squared_;
  }

 private:
  std::vector<std::size_t> dims_;
  std::vector<std::size_t> shell_;
  std::vector<double> weight_;
  std::vector<double> modes_;
  std::vector<double> wavenumber_, wavenumber_squared_;
};

/// Counters of executed transforms (per shape), for benchmark reports.
struct TransformCount {
  std::string shape;  ///< e.g. "r2c 64x64x64"
  std::size_t count;
  double seconds;
};
std::vector<TransformCount> transform_counts();
void reset_transform_counts();

class PlanHandle;  // owns one fftw_plan; defined in src/fft

/// Real-to-complex forward and complex-to-real backward transforms of `howmany` contiguous real
/// arrays of shape dims (row-major). The complex side has dims with the last axis n/2 + 1.
class RealTransform {
 public:
  explicit RealTransform(std::vector<std::size_t> dims, std::size_t howmany = 1);
  ~RealTransform();
  RealTransform(RealTransform&&) noexcept;
  RealTransform& operator=(RealTransform&&) noexcept;
  RealTransform(const RealTransform&) = delete;
  RealTransform& operator=(const RealTransform&) = delete;

  /// out = FFT(in); `in` is not modified.
  void forward(const double* in, complex* out) const;
  /// out = unnormalised inverse FFT(in); `in` is not modified (copied to scratch).
  void backward(const complex* in, double* out) const;
  /// Like backward but may overwrite `in` (saves a copy).
  void backward_destroying(complex* in, double* out) const;
  /// FFTW's description of the forward plan (which algorithm it chose), for logs and tests.
  std::string plan_text() const;

  const std::vector<std::size_t>& dims() const noexcept { return dims_; }
  std::vector<std::size_t> complex_dims() const;
  std::size_t howmany() const noexcept { return howmany_; }
  /// Values of one real array.
  std::size_t real_size() const noexcept { return real_size_; }
  /// Values of one complex array (last axis n/2 + 1).
  std::size_t complex_size() const noexcept { return complex_size_; }

 private:
  std::vector<std::size_t> dims_;
  std::size_t howmany_;
  std::size_t real_size_;
  std::size_t complex_size_;
  std::unique_ptr<PlanHandle> forward_;
  std::unique_ptr<PlanHandle> backward_;
};

/// Complex-to-complex transforms of `howmany` contiguous arrays of shape dims.
class ComplexTransform {
 public:
  explicit ComplexTransform(std::vector<std::size_t> dims, std::size_t howmany = 1);
  ~ComplexTransform();
  ComplexTransform(ComplexTransform&&) noexcept;
  ComplexTransform& operator=(ComplexTransform&&) noexcept;
  ComplexTransform(const ComplexTransform&) = delete;
  ComplexTransform& operator=(const ComplexTransform&) = delete;

  /// out = sum_x in(x) exp(-i k.x); in and out may be the same array.
  void forward(const complex* in, complex* out) const;
  /// out = sum_k in(k) exp(+i k.x) (unnormalised); in and out may be the same array.
  void backward(const complex* in, complex* out) const;

  const std::vector<std::size_t>& dims() const noexcept { return dims_; }
  std::size_t howmany() const noexcept { return howmany_; }
  std::size_t size() const noexcept { return size_; }

 private:
  std::vector<std::size_t> dims_;
  std::size_t howmany_;
  std::size_t size_;
  std::unique_ptr<PlanHandle> forward_;
  std::unique_ptr<PlanHandle> backward_;
  std::unique_ptr<PlanHandle> forward_inplace_;
  std::unique_ptr<PlanHandle> backward_inplace_;
};

}  // namespace ksi::fft
