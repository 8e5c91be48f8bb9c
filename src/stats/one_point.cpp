#include "ksi/stats/one_point.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {

OnePointMoments one_point_moments(std::span<const double> values) {
  ensure(!values.empty(), "moments of no values");
  const double n = static_cast<double>(values.size());
  double sum = 0.0;
  for (double v : values) sum += v;
  OnePointMoments m;
  m.mean = sum / n;
  double m2 = 0.0, m3 = 0.0, m4 = 0.0;
  for (double v : values) {
    const double d = v - m.mean;
    const double d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  m2 /= n, m3 /= n, m4 /= n;
  m.variance = m2;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.skewness = m2 > 0.0 ? m3 / (m2 * std::sqrt(m2)) : nan;
  m.kurtosis = m2 > 0.0 ? m4 / (m2 * m2) : nan;
  return m;
}

HistogramBins::HistogramBins(double lower, double upper, std::size_t count)
    : lower_(lower), upper_(upper), count_(count) {
  if (!std::isfinite(lower) || !std::isfinite(upper) || !(lower < upper))
    throw InputError(cat("histogram range [", lower, ", ", upper, ") is empty or not finite"));
  if (count == 0) throw UsageError("a histogram needs at least one bin");
  inverse_width_ = static_cast<double>(count_) / (upper_ - lower_);
}

std::size_t HistogramBins::index(double value) const noexcept {
  if (value < lower_) return 0;
  if (value > upper_) return count_ + 1;
  // The upper edge, and values just below it that rounding puts at count_, are in the last bin.
  const auto b = static_cast<std::size_t>((value - lower_) * inverse_width_);
  return std::min(b, count_ - 1) + 1;
}

double HistogramBins::edge_below(std::size_t b) const noexcept {
  if (b == 0) return -std::numeric_limits<double>::infinity();
  return b > count_ ? upper_ : lower_ + static_cast<double>(b - 1) * width();
}

double HistogramBins::edge_above(std::size_t b) const noexcept {
  if (b > count_) return std::numeric_limits<double>::infinity();
  return b == count_ ? upper_ : lower_ + static_cast<double>(b) * width();
}

void HistogramBins::fractions(std::span<const double> values, std::span<double> fractions) const {
  ensure(fractions.size() == size() && !values.empty(), "histogram sizes");
  std::fill(fractions.begin(), fractions.end(), 0.0);
  for (double v : values) fractions[index(v)] += 1.0;
  const double inverse = 1.0 / static_cast<double>(values.size());
  for (double& f : fractions) f *= inverse;
}

}  // namespace ksi::stats
