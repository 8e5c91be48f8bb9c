#pragma once
/// @file
/// Bispectrum of real periodic fields (2D, 3D) in bins of |k|, by the FFT estimator.
///
/// Conventions as PowerSpectrum's: unnormalised DFT delta_m, V = L^D, N grid points, integer
/// frequencies m (wavenumber k = 2 pi m / L). The bispectrum of three modes with m1 + m2 + m3 = 0
/// is B = V^2 delta_m1 delta_m2 delta_m3 / N^3 (so that <f(k1) f(k2) f(k3)> = V B for the
/// continuous transform), and P = V |delta_m|^2 / N^2.
///
/// Bin b holds the modes with e_b <= |m| < e_(b+1), equal-width edges e_b = 1/2 + b kmax / bins,
/// from 1/2 to kmax + 1/2 (b = 0 .. bins - 1). With the shell-filtered fields
///
///     I_b(x) = sum_(m in bin b) delta_m exp(2 pi i m.x / n)
///
/// (the inverse FFT of delta restricted to the bin, without the 1 / N)
///
/// and J_b the same with delta_m = 1, the bin-averaged bispectrum over all triangles
/// (m1, m2, m3) in bins (b1, b2, b3) with m1 + m2 + m3 = 0 is
///
///     B(b1, b2, b3) = V^2 / N^4 * sum_x I_b1 I_b2 I_b3 / T(b1, b2, b3),
///     T(b1, b2, b3) = sum_x J_b1 J_b2 J_b3 / N                   (the number of triangles).
///
/// The sum over x counts the triangles closing modulo the grid, m1 + m2 + m3 = 0 mod n; with
/// kmax + 1/2 <= min n_a / 3 no three modes of the bins can close that way without closing exactly
/// (the 2/3 rule), so kmax is at most floor(min n_a / 3 - 1/2). The bins' powers P_b are the mean P
/// over their modes, and the reduced bispectrum is
///
///     Q_3 = B / (P_b1 P_b2 + P_b2 P_b3 + P_b3 P_b1).
///
/// Configurations: equilateral (b, b, b) for every bin, and squeezed (0, b, b) for b >= 1 (the
/// largest scale against two equal smaller ones), each kept when it has triangles.

#include <span>
#include <string>
#include <vector>

#include "ksi/fft/fft.hpp"

namespace ksi::stats {

class Bispectrum {
 public:
  enum class Shape { equilateral, squeezed };
  struct Configuration {
    Shape shape;
    std::size_t bins[3];     ///< b1 <= b2 = b3
    double triangles = 0.0;  ///< T(b1, b2, b3), an integer
  };

  /// floor(min n_a / 3 - 1/2): the largest kmax free of aliased triangles (0 when none is).
  static std::size_t largest_kmax(const std::vector<std::size_t>& dims);

  /// For fields of shape `dims` (2 or 3 axes) in a box of side `box_size`; `bins` equal-width bins
  /// up to |m| = kmax + 1/2 (1 <= kmax <= largest_kmax(dims), 1 <= bins <= kmax so that every bin
  /// is at least one unit wide). UsageError for bins or kmax out of range.
  Bispectrum(std::vector<std::size_t> dims, double box_size, std::size_t bins, std::size_t kmax);

  std::size_t bins() const noexcept { return bin_modes_.size(); }
  std::size_t kmax() const noexcept { return kmax_; }
  /// Fourier modes per bin (m and -m both counted) and their mean |m| (units of 2 pi / L).
  const std::vector<double>& bin_modes() const noexcept { return bin_modes_; }
  const std::vector<double>& bin_wavenumber() const noexcept { return bin_wavenumber_; }
  /// 2 pi / L.
  double fundamental() const noexcept;
  const std::vector<Configuration>& configurations() const noexcept { return configurations_; }

  /// B and Q_3 of one field for every configuration (bispectrum.size() == reduced.size() ==
  /// configurations().size()). Not thread-safe (one workspace).
  void measure(std::span<const double> field, std::span<double> bispectrum,
               std::span<double> reduced) const;

 private:
  // I_b of the half spectrum `modes` (delta, or ones) into `out`.
  void filter(const fft::complex* modes, std::size_t bin, double* out) const;

  std::vector<std::size_t> dims_;
  double box_size_;
  double volume_;
  std::size_t kmax_;
  fft::RealTransform transform_;
  std::vector<std::vector<std::size_t>> bin_members_;  // half-spectrum indices of each bin
  std::vector<std::vector<double>> member_weight_;     // 1 or 2 (m and -m stored once)
  std::vector<double> bin_modes_;
  std::vector<double> bin_wavenumber_;
  std::vector<Configuration> configurations_;
  mutable std::vector<fft::complex> spectrum_, scratch_;
  mutable std::vector<double> largest_, filtered_;
};

/// "equilateral" or "squeezed".
const char* to_string(Bispectrum::Shape shape);

}  // namespace ksi::stats
