// The Gaussian baselines: the field baseline reproduces its spectrum within cosmic variance and is
// Gaussian; the vector baseline its mean and covariance; items depend only on (seed, index).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/stats/baseline.hpp"
#include "ksi/stats/one_point.hpp"
#include "ksi/stats/power_spectrum.hpp"
#include "support/test_support.hpp"

namespace {

using ksi::ItemShape;
using ksi::Matrix;

TEST(GaussianFieldBaseline, ReproducesTheSpectrumWithinCosmicVariance) {
  const auto shape = ItemShape::grid({32, 32});
  const double box = 50.0, mean_value = 2.0;
  const ksi::stats::PowerSpectrum spectrum(shape.dims(), box);
  std::vector<double> target(spectrum.shells(), 0.0);
  for (std::size_t b = 1; b < target.size(); ++b) target[b] = 30.0 / (1.0 + std::pow(b / 4.0, 3.0));
  const ksi::stats::GaussianFieldBaseline baseline(shape, box, target, mean_value);
  const std::size_t F = 48;
  const Matrix fields = baseline.draw(7, 0, F);
  std::vector<double> mean(spectrum.shells(), 0.0), power(spectrum.shells());
  std::vector<double> skewness;
  for (std::size_t i = 0; i < F; ++i) {
    spectrum.measure(fields.row(i), power);
    for (std::size_t b = 0; b < power.size(); ++b) mean[b] += power[b] / F;
    const auto m = ksi::stats::one_point_moments(fields.row(i));
    EXPECT_NEAR(m.mean, mean_value, 1e-12);
    skewness.push_back(m.skewness);
  }
  for (std::size_t b = 1; b < spectrum.shells(); ++b) {
    const double independent = std::max(1.0, spectrum.shell_modes()[b] / 2.0);
    EXPECT_NEAR(mean[b], target[b], 5.0 * target[b] / std::sqrt(independent * F)) << "shell " << b;
  }
  // Gaussian fields: the mean per-field skewness is zero within its standard error.
  double sum = 0.0, squares = 0.0;
  for (double s : skewness) sum += s, squares += s * s;
  const double mean_skewness = sum / F;
  const double spread = std::sqrt((squares / F - mean_skewness * mean_skewness) * F / (F - 1.0));
  EXPECT_NEAR(mean_skewness, 0.0, 5.0 * spread / std::sqrt(static_cast<double>(F)));
}

TEST(GaussianFieldBaseline, ItemsDependOnlyOnSeedAndIndex) {
  const auto shape = ItemShape::grid({8, 6});
  const ksi::stats::PowerSpectrum spectrum(shape.dims(), 1.0);
  const ksi::stats::GaussianFieldBaseline baseline(
      shape, 1.0, std::vector<double>(spectrum.shells(), 1.0), 0.0);
  const Matrix all = baseline.draw(3, 0, 8);
  const Matrix part = baseline.draw(3, 5, 3);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t q = 0; q < shape.size(); ++q) EXPECT_EQ(part(i, q), all(5 + i, q));
  const Matrix other = baseline.draw(4, 0, 1);
  EXPECT_NE(other(0, 0), all(0, 0));
}

TEST(GaussianVectorBaseline, DrawsTheGivenMeanAndCovariance) {
  const std::vector<double> m{1.0, -2.0, 0.5};
  Matrix C(3, 3);
  const double values[] = {2.0, 0.6, -0.3, 0.6, 1.0, 0.2, -0.3, 0.2, 0.5};
  std::copy(values, values + 9, C.data());
  const ksi::stats::GaussianVectorBaseline baseline(m, C);
  const std::size_t n = 40000;
  const Matrix X = baseline.draw(1, 0, n);
  const auto mean = ksi::test::mean_of(X);
  const Matrix cov = ksi::test::covariance_of(X);
  for (std::size_t a = 0; a < 3; ++a) {
    EXPECT_NEAR(mean[a], m[a], 5.0 * std::sqrt(C(a, a) / n));
    for (std::size_t b = 0; b < 3; ++b)
      EXPECT_NEAR(cov(a, b), C(a, b), 5.0 * std::sqrt((C(a, a) * C(b, b) + C(a, b) * C(a, b)) / n));
  }
}

TEST(GaussianVectorBaseline, AcceptsSingularButRejectsIndefiniteCovariances) {
  Matrix singular(2, 2, 1.0);  // rank one: all mass on x0 = x1
  const ksi::stats::GaussianVectorBaseline baseline({0.0, 0.0}, singular);
  const Matrix X = baseline.draw(2, 0, 100);
  for (std::size_t i = 0; i < X.rows(); ++i) EXPECT_NEAR(X(i, 0), X(i, 1), 1e-5);
  Matrix indefinite(2, 2, 0.0);
  indefinite(0, 0) = 1.0;
  indefinite(1, 1) = -1.0;
  EXPECT_THROW(ksi::stats::GaussianVectorBaseline({0.0, 0.0}, indefinite), ksi::NumericalError);
}

}  // namespace
