// Multifractal random walk against its closed forms: the log-volatility covariance, the covariance
// of log|r|, the kurtosis, the variance normalisation and the leverage function, measured over 240
// series of 4096 or 8192 returns (fixed seeds; tolerances about 4 standard errors).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/synth/mrw.hpp"
#include "support/test_support.hpp"

using namespace ksi;
using namespace ksi::synth;

namespace {

// Moments over `series` independent series of generator `g`, with the known means (so the long
// correlations bias nothing): returns for lag tau the means of (omega_t - mu)(omega_{t+tau} - mu)
// and (l_t - m)(l_{t+tau} - m), l = log|r|, m = E log|r| = log sigma + mu - (gamma + ln 2) / 2.
struct Moments {
  double second = 0.0, fourth = 0.0;
  std::vector<double> omega_covariance, log_return_covariance, leverage;  // leverage at lag index
};

Moments measure(MrwGenerator& g, std::size_t series, const std::vector<long>& lags) {
  const std::size_t n = g.options().length;
  const double sigma = g.options().volatility;
  const double mu = g.log_volatility_mean();
  const double log_mean = std::log(sigma) + mu - 0.5 * (std::numbers::egamma + std::log(2.0));
  Moments m;
  m.omega_covariance.assign(lags.size(), 0.0);
  m.log_return_covariance.assign(lags.size(), 0.0);
  m.leverage.assign(lags.size(), 0.0);
  std::vector<double> r(n), omega(n), l(n);
  std::vector<double> pairs(lags.size(), 0.0);
  for (std::size_t s = 0; s < series; ++s) {
    g.generate(s, r, omega);
    for (std::size_t t = 0; t < n; ++t) {
      const double x = r[t] / sigma;
      m.second += x * x;
      m.fourth += x * x * x * x;
      l[t] = std::log(std::abs(r[t])) - log_mean;
      omega[t] -= mu;
    }
    for (std::size_t k = 0; k < lags.size(); ++k) {
      const long lag = lags[k];
      const std::size_t a = std::labs(lag);
      double co = 0.0, cl = 0.0, lev = 0.0;
      for (std::size_t t = 0; t + a < n; ++t) {
        co += omega[t] * omega[t + a];
        cl += l[t] * l[t + a];
        // E[r_t r_{t+lag}^2]: for negative lags the square comes first.
        lev += lag >= 0 ? r[t] * r[t + a] * r[t + a] : r[t + a] * r[t] * r[t];
      }
      m.omega_covariance[k] += co;
      m.log_return_covariance[k] += cl;
      m.leverage[k] += lev / (sigma * sigma * sigma);
      pairs[k] += double(n - a);
    }
  }
  m.second /= double(series * n);
  m.fourth /= double(series * n);
  for (std::size_t k = 0; k < lags.size(); ++k) {
    m.omega_covariance[k] /= pairs[k];
    m.log_return_covariance[k] /= pairs[k];
    m.leverage[k] /= pairs[k];
  }
  return m;
}

}  // namespace

TEST(Mrw, ClosedFormsWithoutLeverage) {
  MrwOptions options;
  options.length = 8192;
  options.intermittency = 0.025;
  options.integral_scale = 256;
  MrwGenerator g(options);
  const double variance = 0.025 * std::log(256.0);
  EXPECT_NEAR(g.log_volatility_covariance(0), variance, 1e-15);
  EXPECT_NEAR(g.log_volatility_covariance(-9), 0.025 * std::log(25.6), 1e-15);
  EXPECT_EQ(g.log_volatility_covariance(255), 0.0);
  EXPECT_NEAR(g.kurtosis(), 3.0 * std::pow(256.0, 4 * 0.025), 1e-12);

  const std::vector<long> lags = {0, 1, 10, 60, 200, 300};
  const auto m = measure(g, 240, lags);
  EXPECT_NEAR(m.second, 1.0, 0.02);                                   // E[r^2] = sigma^2
  EXPECT_NEAR(m.fourth / (m.second * m.second), g.kurtosis(), 0.25);  // 5.2; a Gaussian gives 3
  for (std::size_t k = 0; k < lags.size(); ++k) {
    EXPECT_NEAR(m.omega_covariance[k], g.log_volatility_covariance(lags[k]), 0.005)
        << "lag " << lags[k];
    if (lags[k] != 0)
      EXPECT_NEAR(m.log_return_covariance[k], g.log_volatility_covariance(lags[k]), 0.008)
          << "lag " << lags[k];
  }
  // The log-volatility of the MRW is independent of the signs of the returns: no leverage.
  for (std::size_t k = 1; k < lags.size(); ++k) EXPECT_NEAR(m.leverage[k], 0.0, 0.015);
}

TEST(Mrw, LeverageClosedForms) {
  MrwOptions options;
  options.length = 4096;
  options.intermittency = 0.02;
  options.integral_scale = 128;
  options.leverage = 0.12;
  options.leverage_exponent = 0.5;
  options.leverage_range = 50;
  MrwGenerator g(options);
  double kernel_power = 0.0;
  for (int s = 1; s < 50; ++s) kernel_power += 0.12 * 0.12 / s;
  EXPECT_NEAR(g.log_volatility_covariance(0), 0.02 * std::log(128.0) + kernel_power, 1e-14);
  EXPECT_EQ(g.leverage_function(-3), 0.0);
  EXPECT_LT(g.leverage_function(1), -0.2);

  const std::vector<long> lags = {-10, -1, 1, 4, 20, 49, 60};
  const auto m = measure(g, 240, lags);
  EXPECT_NEAR(m.second, 1.0, 0.02);
  EXPECT_NEAR(m.fourth / (m.second * m.second), g.kurtosis(), 0.25);
  for (std::size_t k = 0; k < lags.size(); ++k) {
    EXPECT_NEAR(m.leverage[k], g.leverage_function(lags[k]), 0.015) << "lag " << lags[k];
    EXPECT_NEAR(m.omega_covariance[k], g.log_volatility_covariance(lags[k]), 0.005)
        << "lag " << lags[k];
  }
}

// The circulant embedding is positive for a range of T, including the degenerate T = 1
// (construction throws otherwise), and series depend on their index only.
TEST(Mrw, EmbeddingAndDeterminism) {
  for (double T : {1.0, 2.0, 7.5, 100.0, 4096.0}) {
    MrwOptions options;
    options.length = 1000;
    options.integral_scale = T;
    EXPECT_NO_THROW(MrwGenerator{options}) << "T = " << T;
    EXPECT_GE(MrwGenerator(options).embedding_size(),
              std::max<std::size_t>(2 * std::ceil(T), 1000));
  }
  MrwOptions options;
  MrwGenerator a(options), b(options);
  std::vector<double> x(options.length), y(options.length);
  a.generate(3, x);
  b.generate(2, y);
  b.generate(3, y);
  EXPECT_EQ(x, y);
  a.generate(4, y);
  EXPECT_NE(x, y);
}

TEST(Mrw, RejectsBadOptions) {
  const auto bad = [](auto change) {
    MrwOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(validate(bad([](auto& o) { o.length = 8; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.volatility = 0; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.integral_scale = 0.5; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.leverage = -1; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.intermittency = 0.5; })), UsageError);  // Var = 3.5
  EXPECT_NO_THROW(validate(MrwOptions{}));
}
