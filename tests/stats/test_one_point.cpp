// One-point moments and histograms against closed forms of known distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/stats/one_point.hpp"

namespace {

using ksi::stats::HistogramBins;
using ksi::stats::one_point_moments;

// x = u^2 with u uniform on (0, 1), sampled at the midpoint quantiles u_i = (i + 1/2) / N:
// E x^n = 1 / (2n + 1), so mean 1/3, variance 4/45, m3 = 16/945, m4 = 16/945.
std::vector<double> squared_uniform_quantiles(std::size_t N) {
  std::vector<double> x(N);
  for (std::size_t i = 0; i < N; ++i) {
    const double u = (static_cast<double>(i) + 0.5) / static_cast<double>(N);
    x[i] = u * u;
  }
  return x;
}

TEST(OnePointMoments, SquaredUniformClosedForms) {
  const auto m = one_point_moments(squared_uniform_quantiles(8192));
  // The midpoint rule is accurate to O(1 / N^2).
  EXPECT_NEAR(m.mean, 1.0 / 3.0, 1e-7);
  EXPECT_NEAR(m.variance, 4.0 / 45.0, 1e-7);
  EXPECT_NEAR(m.skewness, (16.0 / 945.0) / std::pow(4.0 / 45.0, 1.5), 1e-6);
  EXPECT_NEAR(m.kurtosis, 15.0 / 7.0, 1e-6);
}

TEST(OnePointMoments, CosineOverWholePeriods) {
  // <cos^2> = 1/2, <cos^4> = 3/8 exactly on 64 equally spaced points: kurtosis 3/2.
  std::vector<double> x(64);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = 2.0 + std::cos(2.0 * std::numbers::pi * i / 64.0);
  const auto m = one_point_moments(x);
  EXPECT_NEAR(m.mean, 2.0, 1e-14);
  EXPECT_NEAR(m.variance, 0.5, 1e-14);
  EXPECT_NEAR(m.skewness, 0.0, 1e-13);
  EXPECT_NEAR(m.kurtosis, 1.5, 1e-13);
}

TEST(OnePointMoments, GaussianSampleWithinStandardErrors) {
  const std::size_t N = 1 << 18;
  std::vector<double> x(N);
  ksi::RandomStream stream(4, ksi::StreamPurpose::test, 0);
  stream.fill_normal(x);
  for (auto& v : x) v = 1e3 + 0.5 * v;  // a large offset tests the two-pass centring
  const auto m = one_point_moments(x);
  const double n = static_cast<double>(N);
  EXPECT_NEAR(m.mean, 1e3, 5.0 * 0.5 / std::sqrt(n));
  EXPECT_NEAR(m.variance, 0.25, 5.0 * 0.25 * std::sqrt(2.0 / n));
  EXPECT_NEAR(m.skewness, 0.0, 5.0 * std::sqrt(6.0 / n));
  EXPECT_NEAR(m.kurtosis, 3.0, 5.0 * std::sqrt(24.0 / n));
}

TEST(OnePointMoments, ConstantValuesHaveNoShape) {
  const auto m = one_point_moments(std::vector<double>(10, 4.0));
  EXPECT_EQ(m.variance, 0.0);
  EXPECT_TRUE(std::isnan(m.skewness));
  EXPECT_TRUE(std::isnan(m.kurtosis));
}

TEST(HistogramBins, FractionsFollowTheDistributionFunction) {
  // x = u^2 has P(x < t) = sqrt(t): bin [a, b) holds sqrt(b) - sqrt(a), up to one quantile.
  const std::size_t N = 10000;
  const HistogramBins bins(0.0, 1.0, 20);
  std::vector<double> fractions(bins.size());
  bins.fractions(squared_uniform_quantiles(N), fractions);
  EXPECT_EQ(fractions.front(), 0.0);
  EXPECT_EQ(fractions.back(), 0.0);
  for (std::size_t b = 1; b <= bins.count(); ++b) {
    const double expected = std::sqrt(bins.edge_above(b)) - std::sqrt(bins.edge_below(b));
    EXPECT_NEAR(fractions[b], expected, 1.0 / N) << "bin " << b;
  }
}

TEST(HistogramBins, OuterBinsCatchValuesOutsideTheRange) {
  const HistogramBins bins(-1.0, 1.0, 4);
  EXPECT_EQ(bins.index(-1.0), 1u);  // the lower edge belongs to the first bin
  EXPECT_EQ(bins.index(-0.5), 2u);
  EXPECT_EQ(bins.index(0.999999), 4u);
  EXPECT_EQ(bins.index(1.0), 4u);  // the last bin is closed
  EXPECT_EQ(bins.index(1.0 + 1e-15), 5u);
  EXPECT_EQ(bins.index(-7.0), 0u);
  EXPECT_EQ(bins.edge_below(0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(bins.edge_above(5), std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(bins.edge_below(3), 0.0);
  EXPECT_DOUBLE_EQ(bins.edge_above(4), 1.0);
  std::vector<double> fractions(bins.size());
  bins.fractions(std::vector<double>{-3.0, -0.9, 0.1, 0.2, 1.0, 5.0}, fractions);
  const std::vector<double> expected{1 / 6.0, 1 / 6.0, 0.0, 2 / 6.0, 1 / 6.0, 1 / 6.0};
  for (std::size_t b = 0; b < expected.size(); ++b) EXPECT_DOUBLE_EQ(fractions[b], expected[b]);
}

TEST(HistogramBins, RejectsEmptyRanges) {
  EXPECT_THROW(HistogramBins(1.0, 1.0, 3), ksi::InputError);
  EXPECT_THROW(HistogramBins(0.0, std::numeric_limits<double>::infinity(), 3), ksi::InputError);
  EXPECT_THROW(HistogramBins(0.0, 1.0, 0), ksi::UsageError);
}

}  // namespace
