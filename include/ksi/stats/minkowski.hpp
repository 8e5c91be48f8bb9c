#pragma once
/// @file
/// Minkowski functionals of the excursion sets of real periodic fields (2D, 3D) against threshold.
///
/// For a threshold nu, the excursion set is the cubical complex of the grid points with
/// u = (f - mean) / scale >= nu (`ksi stats`: the training set's mean and standard deviation of
/// values), with the edges, squares and cubes of the grid whose corners are all in it. Its counts
/// per axis, n0 (points), n1_a (edges along axis a), n2_ab (squares in the plane of a and b) and
/// n3 (cubes), give the functionals' densities per unit volume by Crofton's formula (Schmalzing &
/// Buchert 1997, ApJ 482, L1): the Euler characteristic of the complex, and those of its sections
/// by grid lines and grid planes, which are unbiased for statistically isotropic fields. With grid
/// spacings h_a = L / n_a and N points:
///
///   3D  V_0 = n0 / N                                                volume fraction
///       V_1 = (2/9) sum_a (n0 - n1_a) / (N h_a)                     surface / (6 V)
///       V_2 = (2/9) sum_(a<b) (n0 - n1_a - n1_b + n2_ab) / (N h_a h_b)
///                                                                   mean curvature / (3 pi V)
///       V_3 = (n0 - sum n1_a + sum n2_ab - n3) / (N h_0 h_1 h_2)    Euler characteristic / V
///   2D  V_0 = n0 / N                                                area fraction
///       V_1 = (pi/8) sum_a (n0 - n1_a) / (N h_a)                    perimeter / (4 A)
///       V_2 = (n0 - n1_0 - n1_1 + n2_01) / (N h_0 h_1)              Euler characteristic / A
///
/// (one run of points along a grid line is one segment of the section; (n0 - n1_a) / (N h_a) is the
/// segments per unit length, a quarter of the surface per volume in 3D and 1/pi of the perimeter
/// per area in 2D; the planes' Euler characteristic per area is 1/(2 pi) of the integrated mean
/// curvature per volume). For a Gaussian field of standard deviation sigma_0 and gradient variance
/// sigma_1^2 = <|grad f|^2>, thresholds nu in units of sigma_0, the expected densities are Tomita's
/// closed forms (gaussian_minkowski below).

#include <span>
#include <vector>

namespace ksi::stats {

class MinkowskiFunctionals {
 public:
  /// For fields of shape `dims` (2 or 3 axes, each at least 2) in a box of side `box_size`, at the
  /// given thresholds (finite, increasing).
  MinkowskiFunctionals(std::vector<std::size_t> dims, double box_size,
                       std::vector<double> thresholds);

  /// D + 1.
  std::size_t functionals() const noexcept { return dims_.size() + 1; }
  const std::vector<double>& thresholds() const noexcept { return thresholds_; }
  /// functionals() x thresholds().size().
  std::size_t size() const noexcept { return functionals() * thresholds_.size(); }

  /// out[j * thresholds().size() + t] = V_j(nu_t) of u = (f - mean) / scale; out.size() == size().
  /// Not thread-safe (one workspace).
  void measure(std::span<const double> field, double mean, double scale,
               std::span<double> out) const;

 private:
  std::vector<std::size_t> dims_;
  std::vector<double> spacing_;
  std::vector<double> thresholds_;
  mutable std::vector<unsigned short> level_, edge_, face_, cube_;
};

/// Tomita's expected V_j(nu) for an isotropic Gaussian field in `dimension` 2 or 3, with nu in
/// units of sigma_0 and sigma_ratio = sigma_1 / sigma_0 (inverse length):
///   3D  lambda = sigma_ratio / sqrt(6 pi), V_0 = erfc(nu / sqrt 2) / 2,
///       V_1 = (2/3) lambda / sqrt(2 pi) e^(-nu^2/2), V_2 = (2/3) lambda^2 / sqrt(2 pi) nu
///       e^(-nu^2/2), V_3 = lambda^3 / sqrt(2 pi) (nu^2 - 1) e^(-nu^2/2);
///   2D  V_0 = erfc(nu / sqrt 2) / 2, V_1 = sigma_ratio / (8 sqrt 2) e^(-nu^2/2),
///       V_2 = sigma_ratio^2 / (2 (2 pi)^(3/2)) nu e^(-nu^2/2).
double gaussian_minkowski(std::size_t dimension, std::size_t functional, double nu,
                          double sigma_ratio);

}  // namespace ksi::stats
