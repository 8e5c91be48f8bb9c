// Increment PDFs: the mean squares are S_2(r), the histograms of a Gaussian field's increments in
// units of their exact standard deviation follow the normal law (1D series, 2D, 3D), and the
// separations are checked.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "gaussian_fields.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/stats/increments.hpp"
#include "ksi/stats/structure_functions.hpp"

namespace {

using ksi::stats::HistogramBins;
using ksi::stats::IncrementPdf;

double normal_cdf(double x) {
  return 0.5 * std::erfc(-x / std::numbers::sqrt2);
}

TEST(IncrementPdf, MeanSquaresAreTheSecondOrderStructureFunction) {
  const std::vector<std::size_t> dims{12, 10, 16};
  std::vector<double> f(12 * 10 * 16);
  ksi::RandomStream stream(3, ksi::StreamPurpose::test, 0);
  stream.fill_normal(f);
  const IncrementPdf increments(dims, {1, 3, 5}, HistogramBins(-3.0, 3.0, 6));
  const ksi::stats::StructureFunctions structure(dims, 5);
  std::vector<double> squares(3), S(structure.size());
  increments.mean_squares(f, squares);
  structure.measure(f, S);
  for (std::size_t s = 0; s < 3; ++s) {
    const std::size_t r = increments.separations()[s];
    EXPECT_NEAR(squares[s], S[r - 1], 1e-12 * S[r - 1]) << "r = " << r;  // order 2 comes first
  }
  // Fractions of all D N increments: they add up to one at every separation.
  std::vector<double> out(increments.size());
  const std::vector<double> scales{1.0, 1.5, 2.0};
  increments.measure(f, scales, out);
  for (std::size_t s = 0; s < 3; ++s) {
    double total = 0.0;
    for (std::size_t b = 0; b < increments.bins().size(); ++b) total += out[s * 8 + b];
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
}

// Mean fractions over `fields` Gaussian fields against the normal law, in units of the exact
// increment standard deviation: within five standard errors of the mean (spread over fields) plus
// 2e-4 (a far tail bin can be empty in every field).
void expect_normal(const std::vector<std::size_t>& dims, double smoothing,
                   const std::vector<std::size_t>& separations, std::size_t fields) {
  const double box = static_cast<double>(dims[0]);
  const ksi::test::SmoothGaussianFields gaussian(
      dims, box, [&](double k) { return std::exp(-0.25 * k * k * smoothing * smoothing); });
  const HistogramBins bins(-4.0, 4.0, 16);
  const IncrementPdf increments(dims, separations, bins);
  std::vector<double> scales;
  for (std::size_t r : separations) scales.push_back(std::sqrt(gaussian.increment_variance(r)));
  const auto X = gaussian.draw(11, fields);
  std::vector<double> sum(increments.size(), 0.0), squares(increments.size(), 0.0),
      out(increments.size());
  for (std::size_t i = 0; i < fields; ++i) {
    increments.measure(X.row(i), scales, out);
    for (std::size_t c = 0; c < out.size(); ++c) {
      sum[c] += out[c];
      squares[c] += out[c] * out[c];
    }
  }
  const double n = static_cast<double>(fields);
  for (std::size_t s = 0; s < separations.size(); ++s)
    for (std::size_t b = 0; b < bins.size(); ++b) {
      const std::size_t c = s * bins.size() + b;
      const double mean = sum[c] / n;
      const double error = std::sqrt(std::max(squares[c] / n - mean * mean, 0.0) / (n - 1.0));
      const double expected = normal_cdf(bins.edge_above(b)) - normal_cdf(bins.edge_below(b));
      EXPECT_NEAR(mean, expected, 5.0 * error + 2e-4)
          << "r = " << separations[s] << ", bin " << b << ": standard error " << error;
    }
}

TEST(IncrementPdf, GaussianIncrementsAreNormalIn3D) {
  expect_normal({32, 32, 32}, 2.0, {1, 2, 8}, 16);
}

TEST(IncrementPdf, GaussianIncrementsAreNormalIn2D) {
  expect_normal({128, 128}, 3.0, {1, 8, 32}, 16);
}

TEST(IncrementPdf, GaussianIncrementsAreNormalForSeriesAtThreeLags) {
  expect_normal({8192}, 4.0, {1, 16, 256}, 16);
}

TEST(IncrementPdf, RejectsSeparationsOutOfRangeOrRepeated) {
  const HistogramBins bins(-1.0, 1.0, 4);
  EXPECT_THROW(IncrementPdf({16, 16}, {0}, bins), ksi::UsageError);
  EXPECT_THROW(IncrementPdf({16, 16}, {9}, bins), ksi::UsageError);
  EXPECT_THROW(IncrementPdf({16, 16}, {2, 2}, bins), ksi::UsageError);
  EXPECT_THROW(IncrementPdf({16, 16}, {}, bins), ksi::UsageError);
  EXPECT_NO_THROW(IncrementPdf({16, 16}, {8, 1}, bins));
}

}  // namespace
