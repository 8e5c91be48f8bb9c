// Series statistics against the closed forms of the multifractal random walk: the autocorrelation
// of |r| (volatility clustering) without leverage, the leverage correlation with it; the lag
// ladder.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/stats/series.hpp"
#include "ksi/synth/mrw.hpp"

namespace {

using ksi::stats::lag_ladder;
using ksi::stats::SeriesStatistics;

TEST(SeriesStatistics, RefuseDegenerateSeries) {
  const SeriesStatistics s(8, {1, 2}, {1});
  std::vector<double> constant(8, 0.3), zero(8, 0.0), out(2), one(1);
  EXPECT_THROW(s.volatility_clustering(constant, out), ksi::InputError);
  EXPECT_THROW(s.leverage(zero, one), ksi::InputError);
}

TEST(SeriesStatistics, LagLadder) {
  EXPECT_EQ(lag_ladder(256), (std::vector<std::size_t>{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96,
                                                       128, 192, 256}));
  EXPECT_EQ(lag_ladder(5), (std::vector<std::size_t>{1, 2, 3, 4}));
  EXPECT_TRUE(lag_ladder(0).empty());
}

struct Measured {
  std::vector<double> mean, standard_error;
};

// Mean over `count` series of statistic `which` (0: |r| autocorrelation, 1: leverage), with the
// standard error of the mean.
Measured measure(ksi::synth::MrwGenerator& g, std::size_t count, const SeriesStatistics& s,
                 int which) {
  const std::size_t n = g.options().length;
  const std::size_t L = which == 0 ? s.volatility_lags().size() : s.leverage_lags().size();
  std::vector<double> r(n), one(L), sum(L, 0.0), sum2(L, 0.0);
  for (std::size_t i = 0; i < count; ++i) {
    g.generate(i, r);
    if (which == 0)
      s.volatility_clustering(r, one);
    else
      s.leverage(r, one);
    for (std::size_t l = 0; l < L; ++l) {
      sum[l] += one[l];
      sum2[l] += one[l] * one[l];
    }
  }
  Measured m;
  for (std::size_t l = 0; l < L; ++l) {
    const double mean = sum[l] / static_cast<double>(count);
    const double var = sum2[l] / static_cast<double>(count) - mean * mean;
    m.mean.push_back(mean);
    m.standard_error.push_back(std::sqrt(var / static_cast<double>(count)));
  }
  return m;
}

TEST(SeriesStatistics, VolatilityClusteringOfTheMrw) {
  ksi::synth::MrwOptions options;
  options.length = 4096;
  options.intermittency = 0.04;
  options.integral_scale = 64;
  options.volatility = 1.0;
  ksi::synth::MrwGenerator g(options);
  const SeriesStatistics s(options.length, lag_ladder(48), {});
  const auto m = measure(g, 400, s, 0);
  // rho(tau) = (2/pi) e^-V (e^C(tau) - 1) / (1 - (2/pi) e^-V) for r = eps e^omega.
  const double V = g.log_volatility_covariance(0);
  const double a = 2.0 / std::numbers::pi * std::exp(-V);
  for (std::size_t l = 0; l < s.volatility_lags().size(); ++l) {
    const long tau = static_cast<long>(s.volatility_lags()[l]);
    const double exact = a * std::expm1(g.log_volatility_covariance(tau)) / (1.0 - a);
    // The series' own mean of |r| (long memory) biases the estimate down by a few 1e-3.
    EXPECT_NEAR(m.mean[l], exact, 0.008 + 3.0 * m.standard_error[l]) << "lag " << tau;
  }
}

TEST(SeriesStatistics, LeverageOfTheMrw) {
  ksi::synth::MrwOptions options;
  options.length = 4096;
  options.intermittency = 0.02;
  options.integral_scale = 128;
  options.volatility = 0.5;  // L scales as 1 / sigma: a wrong normalisation shows
  options.leverage = 0.12;
  options.leverage_exponent = 0.5;
  options.leverage_range = 50;
  ksi::synth::MrwGenerator g(options);
  const SeriesStatistics s(options.length, {}, lag_ladder(64));
  const auto m = measure(g, 400, s, 1);
  EXPECT_LT(m.mean[0], -0.5) << "negative: falls raise later volatility";
  for (std::size_t l = 0; l < s.leverage_lags().size(); ++l) {
    const long tau = static_cast<long>(s.leverage_lags()[l]);
    // E[r_t r_{t+tau}^2] / E[r^2]^2 = leverage_function (in units of sigma^3) / sigma.
    const double exact = g.leverage_function(tau) / options.volatility;
    EXPECT_NEAR(m.mean[l], exact, 4.0 * m.standard_error[l]) << "lag " << tau;
  }
}

}  // namespace
