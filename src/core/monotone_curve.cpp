#include "ksi/core/monotone_curve.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {

MonotoneCurve::MonotoneCurve(std::vector<double> z, std::vector<double> x)
    : z_(std::move(z)), x_(std::move(x)) {
  const std::size_t n = z_.size();
  if (n < 2 || x_.size() != n)
    throw InputError(cat("monotone curve: ", n, " abscissae and ", x_.size(),
                         " values (need two or more of each, as many of one as of the other)"));
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(z_[i]) || !std::isfinite(x_[i]))
      throw InputError(cat("monotone curve: knot ", i, " is not finite"));
    if (i > 0 && (!(z_[i] > z_[i - 1]) || x_[i] < x_[i - 1]))
      throw InputError(cat("monotone curve: knot ", i, " breaks the order of the knots"));
  }
  // Fritsch-Carlson: secant slopes, averaged at interior knots, then limited so that every cubic
  // piece stays monotone.
  std::vector<double> secant(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) secant[i] = (x_[i + 1] - x_[i]) / (z_[i + 1] - z_[i]);
  slope_.resize(n);
  slope_[0] = secant[0];
  slope_[n - 1] = secant[n - 2];
  for (std::size_t i = 1; i + 1 < n; ++i)
    slope_[i] = secant[i - 1] * secant[i] <= 0.0 ? 0.0 : 0.5 * (secant[i - 1] + secant[i]);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (secant[i] == 0.0) {
      slope_[i] = slope_[i + 1] = 0.0;
      continue;
    }
    const double a = slope_[i] / secant[i], b = slope_[i + 1] / secant[i];
    const double r = a * a + b * b;
    if (r > 9.0) {
      const double t = 3.0 / std::sqrt(r);
      slope_[i] = t * a * secant[i];
      slope_[i + 1] = t * b * secant[i];
    }
  }
}

void MonotoneCurve::evaluate(double z, double& value, double& derivative) const {
  const std::size_t n = z_.size();
  if (z <= z_.front()) {
    derivative = slope_.front();
    value = x_.front() + derivative * (z - z_.front());
    return;
  }
  if (z >= z_.back()) {
    derivative = slope_.back();
    value = x_.back() + derivative * (z - z_.back());
    return;
  }
  const std::size_t i =
      static_cast<std::size_t>(std::upper_bound(z_.begin(), z_.end(), z) - z_.begin()) - 1;
  const std::size_t j = std::min(i + 1, n - 1);
  const double h = z_[j] - z_[i], t = (z - z_[i]) / h;
  const double t2 = t * t, t3 = t2 * t;
  const double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2,
               h11 = t3 - t2;
  value = h00 * x_[i] + h10 * h * slope_[i] + h01 * x_[j] + h11 * h * slope_[j];
  const double d00 = 6 * t2 - 6 * t, d10 = 3 * t2 - 4 * t + 1, d01 = -6 * t2 + 6 * t,
               d11 = 3 * t2 - 2 * t;
  derivative = (d00 * x_[i] + d01 * x_[j]) / h + d10 * slope_[i] + d11 * slope_[j];
}

double MonotoneCurve::value(double z) const {
  double v, d;
  evaluate(z, v, d);
  return v;
}

double MonotoneCurve::derivative(double z) const {
  double v, d;
  evaluate(z, v, d);
  return d;
}

}  // namespace ksi
