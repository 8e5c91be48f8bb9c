#pragma once
/// @file
/// Morlet filter banks in Fourier space for periodic fields of 1 to 3 axes (METHOD section 5).
///
/// psihat_{j,l}(k) = exp(-sigma_j^2 |A_l (k - xi_j e_l)|^2 / 2) - kappa_j exp(-sigma_j^2 |A_l k|^2
/// / 2) with sigma_j = 0.8 2^j, xi_j = (3 pi / 4) / 2^j (k in radians per grid point), kappa_j so
/// that psihat(0) = 0, and |A_l v|^2 = (v . e_l)^2 + |v - (v . e_l) e_l|^2 / slant^2. Directions
/// e_l: 1D one analytic wavelet; 2D angles l pi / L; 3D the cube's symmetry axes (3 faces, + 4 body
/// diagonals = 7, + 6 edge diagonals = 13), so that the 24 rotations of the grid permute them (up
/// to sign). Filters are real and truncated where |psihat| < truncation(); on Nyquist planes a
/// filter takes the mean of its values at +pi and -pi, so psihat_{-e}(k) = psihat_e(-k) holds
/// exactly on the grid. Every scale j is computed on the coarsest grid (the full grid subsampled by
/// a power of two) whose band strictly contains the supports of its filters.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ksi::features {

/// One wavelet psi_{j,l}: its support on the full grid and the filter's values there. The support
/// is kept as row-major indices into the full grid's complex frequency array (4 bytes an entry:
/// at 128^3 with L = 7 the supports hold 31 million entries); WaveletBank::frequency turns an
/// index back into the signed frequency vector.
struct Wavelet {
  int scale = 0;
  int orientation = 0;
  std::vector<std::uint32_t> support;
  std::vector<double> values;
};

/// A map of the orientations onto themselves induced by one rotation of the grid: orientation l
/// goes to target[l], with flipped[l] when the rotated direction is -e_{target[l]}.
struct OrientationMap {
  std::vector<int> target;
  std::vector<bool> flipped;
};

class WaveletBank {
 public:
  /// Builds the bank for a grid of `dims` (1 to 3 axes) with J scales and L orientations; slant <=
  /// 0 selects default_slant(). UsageError when the grid is too small for J scales or L is not
  /// offered.
  WaveletBank(std::vector<std::size_t> dims, int scales, int orientations, double slant,
              bool subsample);

  /// Largest J for a grid: the coarsest wavelet's envelope (8 sigma_{J-1} = 6.4 2^{J-1} points)
  /// must fit in the smallest axis.
  static int max_scales(const std::vector<std::size_t>& dims);
  /// 4 theta / pi with theta the smallest angle between two directions (2D: 4 / L; 1D: 1).
  static double default_slant(int dimension, int orientations);
  /// Unnormalised integer directions of the 3D sets (3, 7 or 13 vectors, first non-zero entry > 0).
  static std::vector<std::array<int, 3>> cube_directions(int orientations);
  /// sigma_j and xi_j of METHOD section 5.
  static double sigma(int scale);
  static double xi(int scale);
  /// Filter values below this are set to zero; the discarded energy is below 1e-16 of a filter's.
  static constexpr double truncation() { return 1e-8; }

  int dimension() const noexcept { return static_cast<int>(dims_.size()); }
  int scales() const noexcept { return scales_; }
  int orientations() const noexcept { return orientations_; }
  std::size_t count() const noexcept { return wavelets_.size(); }
  double slant() const noexcept { return slant_; }
  const std::vector<std::size_t>& dims() const noexcept { return dims_; }
  /// The signed frequency vector (unused axes 0, Nyquist as +n/2) of a support index.
  std::array<int, 3> frequency(std::uint32_t index) const;

  /// Unit direction e_l (unused axes 0).
  const std::array<double, 3>& direction(int l) const { return directions_[l]; }

  /// Wavelet lambda = j L + l.
  const Wavelet& wavelet(int scale, int orientation) const;
  const Wavelet& wavelet(std::size_t lambda) const { return wavelets_[lambda]; }

  /// Subsampling factor s_j of scale j's grid (1 for the full grid) and that grid's shape.
  std::size_t subsampling(int scale) const { return factors_[scale]; }
  std::vector<std::size_t> grid_dims(int scale) const;

  /// The untruncated Morlet psihat_{j,l} at a frequency vector (radians per grid point).
  double morlet(int scale, int orientation, const std::array<double, 3>& k) const;
  /// psihat_{j,l} on the full grid's complex frequency array (row-major, zero off the support).
  std::vector<double> filter(int scale, int orientation) const;
  /// Gaussian low-pass phihat(k) = exp(-sigma^2 |k|^2 / 2) with sigma = 0.8 2^{J-1}, on the full
  /// grid.
  std::vector<double> lowpass() const;
  /// The low-pass's support without k = 0 (scale J - 1, orientation 0): the frequencies below the
  /// wavelets' band that carry the field's largest-scale fluctuations.
  const Wavelet& lowpass_support() const noexcept { return lowpass_; }
  /// |phihat(k)|^2 + 1/2 sum_lambda (|psihat_lambda(k)|^2 + |psihat_lambda(-k)|^2) on the full
  /// grid: for real fields, the energy that the bank and its mirror images keep at frequency k.
  std::vector<double> littlewood_paley() const;

  /// The rotations of the grid that map the direction set onto itself (up to sign), as maps of the
  /// orientations: 2D the 2L rotations by multiples of pi / L, 3D the 24 rotations of the cube, 1D
  /// the identity. Exact grid symmetries among them: 2D rotations by multiples of 90 degrees when L
  /// is even (square grids), 3D all 24 (cubic grids).
  std::vector<OrientationMap> rotations() const;

 private:
  std::vector<std::size_t> dims_;
  int scales_;
  int orientations_;
  double slant_;
  std::vector<std::array<double, 3>> directions_;
  std::vector<Wavelet> wavelets_;
  Wavelet lowpass_;
  std::vector<std::size_t> factors_;
};

}  // namespace ksi::features
