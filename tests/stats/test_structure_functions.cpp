// Structure functions against a naive periodic loop, the closed form of a cosine, and the
// expectation S_2(r) = 2 (C(0) - C(r)) of Gaussian fields with a known spectrum.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/stats/power_spectrum.hpp"
#include "ksi/stats/structure_functions.hpp"

namespace {

using ksi::RandomStream;
using ksi::StreamPurpose;
using ksi::stats::StructureFunctions;

constexpr int kOrders = StructureFunctions::kMaxOrder - StructureFunctions::kMinOrder + 1;

std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

// Every point, every axis, the neighbour r steps ahead found by explicit modular indexing.
std::vector<double> naive_structure_functions(const std::vector<double>& f,
                                              const std::vector<std::size_t>& dims, std::size_t R) {
  const std::size_t N = product(dims), D = dims.size();
  std::vector<double> S(kOrders * R, 0.0);
  for (std::size_t q = 0; q < N; ++q) {
    std::vector<std::size_t> x(D);
    std::size_t rest = q;
    for (std::size_t a = D; a-- > 0;) {
      x[a] = rest % dims[a];
      rest /= dims[a];
    }
    for (std::size_t a = 0; a < D; ++a)
      for (std::size_t r = 1; r <= R; ++r) {
        auto y = x;
        y[a] = (x[a] + r) % dims[a];
        std::size_t p = 0;
        for (std::size_t b = 0; b < D; ++b) p = p * dims[b] + y[b];
        const double increment = std::abs(f[p] - f[q]);
        for (int order = StructureFunctions::kMinOrder; order <= StructureFunctions::kMaxOrder;
             ++order)
          S[(order - StructureFunctions::kMinOrder) * R + r - 1] += std::pow(increment, order);
      }
  }
  for (auto& v : S) v /= static_cast<double>(N * D);
  return S;
}

class StructureShapes : public testing::TestWithParam<std::vector<std::size_t>> {};

TEST_P(StructureShapes, MatchesNaivePeriodicLoop) {
  const auto dims = GetParam();
  std::vector<double> f(product(dims));
  RandomStream stream(2, StreamPurpose::test, dims.size());
  stream.fill_normal(f);
  const StructureFunctions sf(dims);
  std::vector<double> measured(sf.size());
  sf.measure(f, measured);
  const auto expected = naive_structure_functions(f, dims, sf.separations());
  ASSERT_EQ(measured.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(measured[i], expected[i], 1e-12 * expected[i]) << "entry " << i;
}

INSTANTIATE_TEST_SUITE_P(Grids, StructureShapes,
                         testing::Values(std::vector<std::size_t>{10},
                                         std::vector<std::size_t>{8, 6},
                                         std::vector<std::size_t>{6, 8, 4},
                                         std::vector<std::size_t>{5, 7, 9}));

TEST(StructureFunctions, CosineAlongOneAxisHasClosedForm) {
  // f = A cos(2 pi m i / n0), constant along axis 1. Along axis 0 the increment is
  // -2 A sin(pi m r / n0) sin(2 pi m i / n0 + pi m r / n0), whose even powers average (over the
  // grid, exactly here since 6 m is not a multiple of n0) to (2 A |sin(pi m r / n0)|)^p c_p with
  // c_2 = 1/2, c_4 = 3/8, c_6 = 5/16; along axis 1 it is zero, and S averages the two axes.
  const std::size_t n0 = 32, n1 = 16, m = 3;
  const double A = 0.8;
  std::vector<double> f(n0 * n1);
  for (std::size_t i = 0; i < n0; ++i)
    for (std::size_t j = 0; j < n1; ++j)
      f[i * n1 + j] = A * std::cos(2.0 * std::numbers::pi * m * static_cast<double>(i) / n0);
  const StructureFunctions sf({n0, n1});
  ASSERT_EQ(sf.separations(), n1 / 2);
  std::vector<double> S(sf.size());
  sf.measure(f, S);
  const double c[] = {0.5, 0.375, 0.3125};
  for (int p : {2, 4, 6})
    for (std::size_t r = 1; r <= sf.separations(); ++r) {
      const double amplitude =
          2.0 * A * std::abs(std::sin(std::numbers::pi * m * static_cast<double>(r) / n0));
      const double expected = 0.5 * std::pow(amplitude, p) * c[(p - 2) / 2];
      EXPECT_NEAR(S[(p - 2) * sf.separations() + r - 1], expected, 1e-12)
          << "p " << p << " r " << r;
    }
}

TEST(StructureFunctions, SecondOrderOfGaussianFieldsFollowsTheirSpectrum) {
  // For a Gaussian field with E P(m) = P_shell(m): E S_2(r) = 2 (C(0) - C(r)) averaged over axes,
  // with C_a(r) = sum_m (P(m) / V) cos(2 pi m_a r / n_a).
  const std::vector<std::size_t> dims{32, 32};
  const double box = 4.0;
  const ksi::stats::PowerSpectrum spectrum(dims, box);
  std::vector<double> shell_power(spectrum.shells(), 0.0);
  for (std::size_t b = 1; b < shell_power.size(); ++b)
    shell_power[b] = std::pow(static_cast<double>(b), -2.5);
  const StructureFunctions sf(dims);
  const std::size_t R = sf.separations(), F = 48;
  std::vector<double> expected(R, 0.0);
  for (std::size_t i = 0; i < dims[0]; ++i)
    for (std::size_t j = 0; j < dims[1]; ++j) {
      const double m0 = static_cast<double>(ksi::fft::frequency(i, dims[0]));
      const double m1 = static_cast<double>(ksi::fft::frequency(j, dims[1]));
      const double P = shell_power[static_cast<std::size_t>(std::lround(std::hypot(m0, m1)))];
      for (std::size_t r = 1; r <= R; ++r) {
        const double phase = 2.0 * std::numbers::pi * static_cast<double>(r) / 32.0;
        expected[r - 1] +=
            P / spectrum.volume() * ((1.0 - std::cos(m0 * phase)) + (1.0 - std::cos(m1 * phase)));
      }
    }
  std::vector<double> sum(R, 0.0), sum_sq(R, 0.0), S(sf.size()), f(product(dims));
  for (std::size_t i = 0; i < F; ++i) {
    RandomStream stream(9, StreamPurpose::test, i);
    stream.fill_normal(f);
    spectrum.impose(f, shell_power, 0.0);
    sf.measure(f, S);
    for (std::size_t r = 0; r < R; ++r) {
      sum[r] += S[r];
      sum_sq[r] += S[r] * S[r];
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    const double mean = sum[r] / F;
    const double standard_error = std::sqrt((sum_sq[r] / F - mean * mean) / (F - 1));
    EXPECT_NEAR(mean, expected[r], 5.0 * standard_error) << "r " << r + 1;
  }
}

TEST(StructureFunctions, RejectsSeparationsThatWrapAround) {
  EXPECT_THROW(StructureFunctions({8, 16}, 5), ksi::UsageError);
  EXPECT_EQ(StructureFunctions({8, 16}, 3).separations(), 3u);
}

}  // namespace
