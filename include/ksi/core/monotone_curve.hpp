#pragma once
/// @file
/// A smooth monotone map of the real line through knots (z_i, x_i): Fritsch-Carlson monotone cubic
/// Hermite interpolation inside, straight lines with the end slopes outside. Value and derivative
/// are continuous, so gradients through the map are well defined everywhere.

#include <span>
#include <vector>

namespace ksi {

class MonotoneCurve {
 public:
  MonotoneCurve() = default;
  /// Knots with z strictly increasing and x non-decreasing (InputError otherwise).
  MonotoneCurve(std::vector<double> z, std::vector<double> x);

  bool empty() const noexcept { return z_.empty(); }
  double value(double z) const;
  double derivative(double z) const;
  /// Both at once.
  void evaluate(double z, double& value, double& derivative) const;

  const std::vector<double>& knots_z() const noexcept { return z_; }
  const std::vector<double>& knots_x() const noexcept { return x_; }

 private:
  std::vector<double> z_, x_, slope_;
};

}  // namespace ksi
