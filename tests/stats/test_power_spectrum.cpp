// The isotropic power spectrum against a direct DFT, a single cosine, white noise and Parseval; the
// Gaussian synthesis (impose) against its target spectrum.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/stats/power_spectrum.hpp"

namespace {

using ksi::RandomStream;
using ksi::StreamPurpose;
using ksi::stats::PowerSpectrum;

std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

// Multi-index of flat position q on a row-major grid.
std::vector<std::size_t> unflatten(std::size_t q, const std::vector<std::size_t>& dims) {
  std::vector<std::size_t> index(dims.size());
  for (std::size_t a = dims.size(); a-- > 0;) {
    index[a] = q % dims[a];
    q /= dims[a];
  }
  return index;
}

double mode_length(const std::vector<std::size_t>& index, const std::vector<std::size_t>& dims) {
  double m2 = 0.0;
  for (std::size_t a = 0; a < dims.size(); ++a) {
    const double f = static_cast<double>(ksi::fft::frequency(index[a], dims[a]));
    m2 += f * f;
  }
  return std::sqrt(m2);
}

std::vector<double> random_field(std::size_t n, std::uint64_t id) {
  std::vector<double> f(n);
  RandomStream stream(11, StreamPurpose::test, id);
  stream.fill_normal(f);
  for (auto& v : f) v += 0.3;  // a non-zero mean must not leak into shells >= 1
  return f;
}

// Shell averages of V |delta_m|^2 / N^2 from a direct sum over every mode of the full grid.
std::vector<double> direct_shell_power(const std::vector<double>& f,
                                       const std::vector<std::size_t>& dims, double box,
                                       std::vector<double>& modes) {
  const std::size_t N = product(dims);
  const double V = std::pow(box, static_cast<double>(dims.size()));
  std::vector<double> power;
  modes.clear();
  for (std::size_t q = 0; q < N; ++q) {
    const auto m = unflatten(q, dims);
    std::complex<double> delta = 0.0;
    for (std::size_t p = 0; p < N; ++p) {
      const auto x = unflatten(p, dims);
      double phase = 0.0;
      for (std::size_t a = 0; a < dims.size(); ++a)
        phase += static_cast<double>(m[a] * x[a]) / static_cast<double>(dims[a]);
      delta += f[p] * std::polar(1.0, -2.0 * std::numbers::pi * phase);
    }
    const auto shell = static_cast<std::size_t>(std::lround(mode_length(m, dims)));
    if (shell >= power.size()) {
      power.resize(shell + 1, 0.0);
      modes.resize(shell + 1, 0.0);
    }
    power[shell] += V * std::norm(delta) / (static_cast<double>(N) * static_cast<double>(N));
    modes[shell] += 1.0;
  }
  for (std::size_t b = 0; b < power.size(); ++b) power[b] /= modes[b];
  return power;
}

class SpectrumShapes : public testing::TestWithParam<std::vector<std::size_t>> {};

TEST_P(SpectrumShapes, MatchesDirectDftShellByShell) {
  const auto dims = GetParam();
  const double box = 2.5;
  const auto f = random_field(product(dims), dims.size());
  std::vector<double> modes;
  const auto expected = direct_shell_power(f, dims, box, modes);
  const PowerSpectrum spectrum(dims, box);
  ASSERT_EQ(spectrum.shells(), expected.size());
  std::vector<double> measured(spectrum.shells());
  spectrum.measure(f, measured);
  std::vector<double> wavenumber(expected.size(), 0.0);
  for (std::size_t q = 0; q < f.size(); ++q) {
    const double length = mode_length(unflatten(q, dims), dims);
    wavenumber[static_cast<std::size_t>(std::lround(length))] += length;
  }
  for (std::size_t b = 0; b < expected.size(); ++b) {
    EXPECT_EQ(spectrum.shell_modes()[b], modes[b]) << "shell " << b;
    EXPECT_NEAR(spectrum.shell_wavenumber()[b], wavenumber[b] / modes[b], 1e-12) << "shell " << b;
    EXPECT_NEAR(measured[b], expected[b], 1e-11 * expected[b]) << "shell " << b;
  }
}

TEST_P(SpectrumShapes, ParsevalOverAllShells) {
  const auto dims = GetParam();
  const double box = 0.7;
  const auto f = random_field(product(dims), 100 + dims.size());
  const PowerSpectrum spectrum(dims, box);
  std::vector<double> power(spectrum.shells());
  spectrum.measure(f, power);
  double mean_square = 0.0;
  for (double v : f) mean_square += v * v;
  mean_square /= static_cast<double>(f.size());
  double sum = 0.0;
  for (std::size_t b = 0; b < power.size(); ++b) sum += spectrum.shell_modes()[b] * power[b];
  EXPECT_NEAR(sum / spectrum.volume(), mean_square, 1e-12 * mean_square);
}

// Odd and even sizes (Nyquist planes), non-cubic grids, 1 to 3 axes.
INSTANTIATE_TEST_SUITE_P(Grids, SpectrumShapes,
                         testing::Values(std::vector<std::size_t>{9}, std::vector<std::size_t>{12},
                                         std::vector<std::size_t>{8, 6},
                                         std::vector<std::size_t>{5, 7},
                                         std::vector<std::size_t>{4, 3, 6}));

TEST(PowerSpectrum, SingleCosineModeHasClosedFormPower) {
  // f = A cos(2 pi m.x / n + phi) puts |delta|^2 = (A N / 2)^2 into m and -m, so its shell holds
  // P = 2 V A^2 / 4 / modes = V A^2 / (2 modes), and every other shell nothing.
  const std::vector<std::size_t> dims{16, 16, 16};
  const double box = 3.0, A = 1.7, phase = 0.4;
  const int m[3] = {1, -2, 2};  // |m| = 3
  const PowerSpectrum spectrum(dims, box);
  std::vector<double> f(product(dims));
  for (std::size_t q = 0; q < f.size(); ++q) {
    const auto x = unflatten(q, dims);
    double arg = phase;
    for (int a = 0; a < 3; ++a)
      arg += 2.0 * std::numbers::pi * m[a] * static_cast<double>(x[a]) / 16.0;
    f[q] = A * std::cos(arg);
  }
  std::vector<double> power(spectrum.shells());
  spectrum.measure(f, power);
  const double expected = spectrum.volume() * A * A / (2.0 * spectrum.shell_modes()[3]);
  for (std::size_t b = 0; b < power.size(); ++b) {
    if (b == 3)
      EXPECT_NEAR(power[b], expected, 1e-12 * expected);
    else
      EXPECT_LT(power[b], 1e-24 * expected) << "shell " << b;
  }
  EXPECT_DOUBLE_EQ(spectrum.fundamental(), 2.0 * std::numbers::pi / box);
}

TEST(PowerSpectrum, WhiteNoiseIsFlatAtVarianceTimesCellVolume) {
  const std::vector<std::size_t> dims{32, 32};
  const double box = 3.0, sigma = 2.0;
  const PowerSpectrum spectrum(dims, box);
  const std::size_t F = 40, N = product(dims);
  std::vector<double> mean(spectrum.shells(), 0.0), power(spectrum.shells()), f(N);
  for (std::size_t i = 0; i < F; ++i) {
    RandomStream stream(3, StreamPurpose::test, i);
    stream.fill_normal(f);
    for (auto& v : f) v *= sigma;
    spectrum.measure(f, power);
    for (std::size_t b = 0; b < power.size(); ++b) mean[b] += power[b] / static_cast<double>(F);
  }
  const double level = sigma * sigma * spectrum.volume() / static_cast<double>(N);
  for (std::size_t b = 1; b < spectrum.shells(); ++b) {
    // |delta_m|^2 / (N sigma^2) is exponential per independent complex mode; m and -m are one.
    const double independent = std::max(1.0, spectrum.shell_modes()[b] / 2.0);
    const double standard_error = level / std::sqrt(independent * static_cast<double>(F));
    EXPECT_NEAR(mean[b], level, 5.0 * standard_error) << "shell " << b;
  }
}

TEST(PowerSpectrum, ImposedSpectrumIsMeasuredBackWithinCosmicVariance) {
  const std::vector<std::size_t> dims{24, 24};
  const double box = 10.0, mean_value = -1.25;
  const PowerSpectrum spectrum(dims, box);
  std::vector<double> target(spectrum.shells(), 0.0);
  for (std::size_t b = 1; b < target.size(); ++b)
    target[b] = 5.0 * std::pow(static_cast<double>(b), -2.0);
  const std::size_t F = 64;
  std::vector<double> mean(spectrum.shells(), 0.0), power(spectrum.shells()), f(product(dims));
  for (std::size_t i = 0; i < F; ++i) {
    RandomStream stream(5, StreamPurpose::test, i);
    stream.fill_normal(f);
    spectrum.impose(f, target, mean_value);
    double sum = 0.0;
    for (double v : f) sum += v;
    EXPECT_NEAR(sum / static_cast<double>(f.size()), mean_value, 1e-12);
    spectrum.measure(f, power);
    for (std::size_t b = 0; b < power.size(); ++b) mean[b] += power[b] / static_cast<double>(F);
  }
  for (std::size_t b = 1; b < spectrum.shells(); ++b) {
    const double independent = std::max(1.0, spectrum.shell_modes()[b] / 2.0);
    EXPECT_NEAR(mean[b], target[b],
                5.0 * target[b] / std::sqrt(independent * static_cast<double>(F)))
        << "shell " << b;
  }
}

TEST(PowerSpectrum, RejectsNegativePowerAndTinyGrids) {
  const PowerSpectrum spectrum({8}, 1.0);
  std::vector<double> target(spectrum.shells(), 1.0), f(8, 0.5);
  target[2] = -1.0;
  EXPECT_THROW(spectrum.impose(f, target, 0.0), ksi::InputError);
  EXPECT_THROW(PowerSpectrum({1, 8}, 1.0), ksi::InputError);
  EXPECT_THROW(PowerSpectrum({8}, 0.0), ksi::InputError);
}

}  // namespace
