// Gaussian-copula standardisation: the normal quantile, the one-point map, the spectrum of the
// Gaussian image against closed forms (Gaussian and log-normal data), and the copula mode of
// Standardization (round trip, rank independence, exact copula data).
#include <gtest/gtest.h>

#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/model/copula.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/comm.hpp"
#include "support/test_support.hpp"

namespace ksi {
namespace {

TEST(Copula, NormalQuantileInvertsTheCdf) {
  EXPECT_EQ(copula::normal_quantile(0.5), 0.0);
  // Upper levels carry 1 - p only to the rounding of p near 1: test z <= 5 there.
  for (double z = -8.0; z <= 5.0; z += 0.37) {
    const double p = copula::normal_cdf(z);
    EXPECT_NEAR(copula::normal_quantile(p), z, 1e-9 * std::max(1.0, std::abs(z))) << z;
  }
  EXPECT_NEAR(copula::normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_THROW(copula::normal_quantile(0.0), InputError);
  EXPECT_THROW(copula::normal_quantile(1.0), InputError);
}

// Exponential values: g(x) = Phi^-1(1 - exp(-x)) within the Monte Carlo error of the CDF.
TEST(Copula, MarginalMapOfExponentialValues) {
  const auto& world = test::World::comm();
  const std::size_t rows = 40, cols = 2500;  // 10^5 values
  const auto range = par::block_range(rows, world.rank(), world.size());
  Matrix all(rows, cols);
  for (std::size_t i = 0; i < rows; ++i) {
    RandomStream stream(3, StreamPurpose::test, i);
    for (auto& v : all.row(i)) v = -std::log1p(-stream.uniform());
  }
  Matrix local(range.size(), cols);
  for (std::size_t i = 0; i < range.size(); ++i)
    std::copy(all.row(range.begin + i).begin(), all.row(range.begin + i).end(),
              local.row(i).begin());
  const auto table = copula::fit_marginal(local, world);
  const auto reference = copula::fit_marginal(all, par::Comm::self());
  EXPECT_EQ(table.x, reference.x);  // integer counts: the same table for any number of ranks
  EXPECT_EQ(table.z, reference.z);
  table.validate();
  for (const double x : {0.05, 0.3, 0.7, 1.0, 2.0, 3.5}) {
    const double cdf = 1.0 - std::exp(-x);
    const double error = 4.0 * std::sqrt(cdf * (1.0 - cdf) / 1e5);  // 4 standard errors
    EXPECT_NEAR(copula::normal_cdf(table.forward(x)), cdf, error) << x;
    // Exact where bins hold values; empty bins (sparse tails) are flat stretches of z.
    EXPECT_NEAR(table.inverse(table.forward(x)), x, 1e-3) << x;
  }
  // Outside the data the map is clamped to the table's ends.
  EXPECT_EQ(table.inverse(50.0), table.x.back());
  EXPECT_EQ(table.inverse(-50.0), table.x.front());
}

// A table of an exact map f on [-8.5, 8.5], fine enough for the Hermite integrals.
copula::MarginalTable exact_table(double (*f)(double)) {
  copula::MarginalTable t;
  for (int i = 0; i <= 170000; ++i) {
    const double z = -8.5 + 1e-4 * i;
    t.z.push_back(z);
    t.x.push_back(f(z));
  }
  return t;
}

// P(s) of rho(r) = h(xi(r)) for xi the correlation function of shell powers `power` (direct sums).
std::vector<double> expected_power(const std::vector<std::size_t>& dims,
                                   const std::vector<double>& power, double (*h)(double)) {
  const fft::RealTransform transform(dims);
  const auto shells = fft::shell_of_modes(dims);
  const double n = static_cast<double>(transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  for (std::size_t k = 0; k < spectrum.size(); ++k) spectrum[k] = power[shells[k]] / n;
  std::vector<double> xi(transform.real_size());
  transform.backward_destroying(spectrum.data(), xi.data());
  for (auto& v : xi) v = h(v);
  transform.forward(xi.data(), spectrum.data());
  const auto weight = Standardization::mode_weights(dims);
  std::vector<double> sum(power.size(), 0.0), modes(power.size(), 0.0);
  for (std::size_t k = 0; k < spectrum.size(); ++k) {
    sum[shells[k]] += weight[k] * spectrum[k].real();
    modes[shells[k]] += weight[k];
  }
  for (std::size_t s = 0; s < sum.size(); ++s) sum[s] /= modes[s];
  return sum;
}

std::vector<double> falling_power(const std::vector<std::size_t>& dims, double variance) {
  const auto shells = fft::shell_of_modes(dims);
  const std::size_t count = *std::max_element(shells.begin(), shells.end()) + 1;
  std::vector<double> p(count);
  for (std::size_t s = 0; s < count; ++s) p[s] = 1.0 / std::pow(1.0 + s, 2.0);
  // Scaled so that xi(0) = variance.
  double total = 0.0, modes = 0.0;
  const auto weight = Standardization::mode_weights(dims);
  for (std::size_t k = 0; k < shells.size(); ++k) {
    total += weight[k] * p[shells[k]];
    modes += weight[k];
  }
  for (auto& v : p) v *= variance * modes / total;
  return p;
}

TEST(Copula, GaussianDataNeedTheirOwnSpectrumOverTheVariance) {
  // g^-1(z) = 1 + 2 z: R(rho) = 4 rho, so P_G = P / 4.
  const std::vector<std::size_t> dims{16, 16, 16};
  const auto table = exact_table([](double z) { return 1.0 + 2.0 * z; });
  const auto power = falling_power(dims, 4.0);
  const auto pg = copula::gaussian_shell_power(table, 1.0, power, dims);
  ASSERT_EQ(pg.size(), power.size());
  for (std::size_t s = 0; s < pg.size(); ++s)
    EXPECT_NEAR(pg[s], power[s] / 4.0, 1e-6 * power[0]) << "shell " << s;
}

TEST(Copula, LogNormalDataFollowTheClosedForm) {
  // x = exp(Z): E[x_0 x_r] - E[x]^2 = e (e^rho - 1), so rho = log(1 + xi / e).
  const std::vector<std::size_t> dims{16, 16, 16};
  const auto table = exact_table([](double z) { return std::exp(z); });
  const double variance = std::exp(1.0) * (std::exp(1.0) - 1.0);
  const auto power = falling_power(dims, 0.9 * variance);  // xi(0) < Var: reachable
  const auto pg = copula::gaussian_shell_power(table, std::exp(0.5), power, dims);
  const auto expected =
      expected_power(dims, power, [](double xi) { return std::log1p(xi / std::exp(1.0)); });
  for (std::size_t s = 0; s < pg.size(); ++s)
    EXPECT_NEAR(pg[s], expected[s], 1e-5 * expected[0]) << "shell " << s;
}

// Fields x = exp(G) with G Gaussian of a known spectrum are an exact copula: the copula
// standardisation maps them to white fields, and back.
Matrix lognormal_fields(const std::vector<std::size_t>& dims, std::size_t first,
                        std::size_t count) {
  Matrix X = test::isotropic_gaussian_fields(dims, 9, first, count,
                                             [](std::size_t s) { return 2.4 / (1.0 + s); });
  for (double& v : X.values()) v = std::exp(0.5 * v);
  return X;
}

TEST(Copula, StandardizationRoundTripAndRankIndependence) {
  const auto& world = test::World::comm();
  const std::vector<std::size_t> dims{16, 16, 16};
  const ItemShape shape = ItemShape::grid(dims);
  const std::size_t items = 12;
  const auto range = par::block_range(items, world.rank(), world.size());
  const Matrix data = lognormal_fields(dims, range.begin, range.size());
  Matrix local = data, all = lognormal_fields(dims, 0, items);
  const auto st = Standardization::fit(local, shape, "copula", world);
  const auto st_all = Standardization::fit(all, shape, "copula", par::Comm::self());
  EXPECT_EQ(st.mean, st_all.mean);
  EXPECT_EQ(st.shell_power, st_all.shell_power);
  EXPECT_EQ(st.marginal.x, st_all.marginal.x);
  for (std::size_t i = 0; i < local.rows(); ++i)
    for (std::size_t k = 0; k < local.cols(); ++k) EXPECT_EQ(local(i, k), all(range.begin + i, k));
  // Model units are close to white: unit power on average over the shells that hold modes.
  const auto white = Standardization::shell_powers(all, dims, 0.0, par::Comm::self());
  double mean_power = 0.0;
  for (std::size_t s = 1; s + 1 < white.size(); ++s) mean_power += white[s];
  mean_power /= static_cast<double>(white.size() - 2);
  EXPECT_NEAR(mean_power, 1.0, 0.1);
  // Back to data units: the data again, up to the table's resolution.
  st.to_data(local, shape);
  double worst = 0.0, largest = 0.0;
  for (std::size_t i = 0; i < local.rows(); ++i)
    for (std::size_t k = 0; k < local.cols(); ++k) {
      worst = std::max(worst, std::abs(local(i, k) - data(i, k)));
      largest = std::max(largest, std::abs(data(i, k)));
    }
  EXPECT_LT(worst, 1e-3 * largest);
  // The colouring gains are the copula's: sqrt(P_G).
  const auto gains = st.colouring_gains();
  ASSERT_EQ(gains.size(), st.shell_power.size());
  EXPECT_DOUBLE_EQ(gains[1], std::sqrt(st.shell_power[1]));
}

TEST(Copula, Errors) {
  Matrix vectors(4, 4, 1.0);
  EXPECT_THROW(Standardization::fit(vectors, ItemShape::vector(4), "copula", par::Comm::self()),
               par::CollectiveError);
  Matrix constant(2, 64, 3.0);
  EXPECT_THROW(Standardization::fit(constant, ItemShape::grid({8, 8}), "copula", par::Comm::self()),
               par::CollectiveError);
  copula::MarginalTable bad;
  bad.x = {0.0, 0.0};
  bad.z = {0.0, 1.0};
  EXPECT_THROW(bad.validate(), InputError);
}

}  // namespace
}  // namespace ksi
