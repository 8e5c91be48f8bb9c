#pragma once
/// @file
/// One-point statistics of a set of values (the values of one field, or one coordinate of vectors):
/// central moments and histograms on bins shared by every set that is compared.

#include <span>
#include <vector>

namespace ksi::stats {

/// Moments of the empirical distribution of the values (population normalisation 1 / N).
struct OnePointMoments {
  double mean = 0.0;
  double variance = 0.0;  ///< m2 = <(f - mean)^2>
  double skewness = 0.0;  ///< m3 / m2^(3/2)
  double kurtosis = 0.0;  ///< m4 / m2^2 (3 for a Gaussian; not the excess kurtosis)
};

/// Two passes (mean, then central moments) for accuracy. Skewness and kurtosis are NaN when the
/// values are all equal (m2 = 0).
OnePointMoments one_point_moments(std::span<const double> values);

/// `count` equal-width bins spanning [lower, upper] (each bin holds its lower edge; the last also
/// its upper one, so a range taken from the data's minimum and maximum holds all of the data), plus
/// an underflow bin (values < lower) first and an overflow bin (values > upper) last, so every
/// value is counted and values outside the data's range still show.
class HistogramBins {
 public:
  /// InputError unless lower < upper (both finite) and count >= 1.
  HistogramBins(double lower, double upper, std::size_t count);

  double lower() const noexcept { return lower_; }
  double upper() const noexcept { return upper_; }
  /// Equal-width bins (without underflow and overflow).
  std::size_t count() const noexcept { return count_; }
  /// count() + 2.
  std::size_t size() const noexcept { return count_ + 2; }
  double width() const noexcept { return (upper_ - lower_) / static_cast<double>(count_); }
  /// Index in 0 .. size() - 1 (0: underflow, size() - 1: overflow).
  std::size_t index(double value) const noexcept;
  /// Lower and upper edge of bin `b` of 0 .. size() - 1 (-inf / +inf for the outer bins).
  double edge_below(std::size_t b) const noexcept;
  double edge_above(std::size_t b) const noexcept;

  /// Fraction of `values` in each bin; fractions.size() == size().
  void fractions(std::span<const double> values, std::span<double> fractions) const;

 private:
  double lower_;
  double upper_;
  std::size_t count_;
  double inverse_width_;
};

}  // namespace ksi::stats
