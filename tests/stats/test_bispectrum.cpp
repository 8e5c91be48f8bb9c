// The FFT bispectrum estimator against a direct triple sum over wavevectors (B, Q_3 and the
// triangle counts, 2D and 3D), its normalisation against the closed form of skewed white noise, and
// its option checks.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/stats/bispectrum.hpp"

namespace {

using ksi::RandomStream;
using ksi::StreamPurpose;
using ksi::stats::Bispectrum;

std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

// A skewed field: exp of white noise (a non-zero bispectrum in every configuration).
std::vector<double> skewed_field(std::size_t size, std::uint64_t id) {
  std::vector<double> f(size);
  RandomStream stream(31, StreamPurpose::test, id);
  stream.fill_normal(f);
  for (double& v : f) v = std::exp(0.6 * v);
  return f;
}

// The direct reference: every mode's DFT by a sum over the grid, then for each configuration the
// sum of Re(delta_m1 delta_m2 delta_m3) over all m1, m2 in their bins with m3 = -(m1 + m2) (signed
// frequencies, no wrap) in its bin.
struct DirectBispectrum {
  std::vector<double> bispectrum, reduced, triangles;
};

DirectBispectrum direct(const std::vector<double>& f, const std::vector<std::size_t>& dims,
                        double box, std::size_t bins, std::size_t kmax,
                        const std::vector<Bispectrum::Configuration>& configurations) {
  const std::size_t N = product(dims), D = dims.size();
  const double V = std::pow(box, static_cast<double>(D));
  std::vector<std::vector<long>> modes(N, std::vector<long>(D));
  std::vector<std::complex<double>> delta(N, 0.0);
  for (std::size_t q = 0; q < N; ++q) {
    std::size_t rest = q;
    for (std::size_t a = D; a-- > 0;) {
      modes[q][a] = ksi::fft::frequency(rest % dims[a], dims[a]);
      rest /= dims[a];
    }
  }
  for (std::size_t q = 0; q < N; ++q)
    for (std::size_t p = 0; p < N; ++p) {
      double phase = 0.0;
      std::size_t rest = p;
      for (std::size_t a = D; a-- > 0;) {
        phase += static_cast<double>(modes[q][a]) * static_cast<double>(rest % dims[a]) /
                 static_cast<double>(dims[a]);
        rest /= dims[a];
      }
      delta[q] += f[p] * std::polar(1.0, -2.0 * std::numbers::pi * phase);
    }
  const auto bin_of = [&](const std::vector<long>& m) -> long {
    double m2 = 0.0;
    for (long c : m) m2 += static_cast<double>(c * c);
    const double k = std::sqrt(m2);
    const double width = static_cast<double>(kmax) / static_cast<double>(bins);
    if (k < 0.5 || k >= 0.5 + static_cast<double>(kmax)) return -1;
    return static_cast<long>(std::floor((k - 0.5) / width));
  };
  const auto index_of = [&](const std::vector<long>& m) {
    std::size_t q = 0;
    for (std::size_t a = 0; a < D; ++a)
      q = q * dims[a] + static_cast<std::size_t>((m[a] + static_cast<long>(dims[a])) %
                                                 static_cast<long>(dims[a]));
    return q;
  };
  std::vector<double> power(bins, 0.0), count(bins, 0.0);
  for (std::size_t q = 0; q < N; ++q) {
    const long b = bin_of(modes[q]);
    if (b < 0) continue;
    power[b] += V * std::norm(delta[q]) / (static_cast<double>(N) * static_cast<double>(N));
    count[b] += 1.0;
  }
  for (std::size_t b = 0; b < bins; ++b) power[b] /= count[b];
  DirectBispectrum out;
  std::vector<long> m3(D);
  for (const auto& c : configurations) {
    double sum = 0.0, triangles = 0.0;
    for (std::size_t q1 = 0; q1 < N; ++q1) {
      if (bin_of(modes[q1]) != static_cast<long>(c.bins[0])) continue;
      for (std::size_t q2 = 0; q2 < N; ++q2) {
        if (bin_of(modes[q2]) != static_cast<long>(c.bins[1])) continue;
        for (std::size_t a = 0; a < D; ++a) m3[a] = -(modes[q1][a] + modes[q2][a]);
        if (bin_of(m3) != static_cast<long>(c.bins[2])) continue;
        sum += (delta[q1] * delta[q2] * delta[index_of(m3)]).real();
        triangles += 1.0;
      }
    }
    const double n3 = static_cast<double>(N) * static_cast<double>(N) * static_cast<double>(N);
    const double b = V * V * sum / (n3 * triangles);
    const double p1 = power[c.bins[0]], p2 = power[c.bins[1]], p3 = power[c.bins[2]];
    out.bispectrum.push_back(b);
    out.reduced.push_back(b / (p1 * p2 + p2 * p3 + p3 * p1));
    out.triangles.push_back(triangles);
  }
  return out;
}

void expect_direct(const std::vector<std::size_t>& dims, double box, std::size_t bins,
                   std::size_t kmax) {
  const Bispectrum bispectrum(dims, box, bins, kmax);
  const auto& configurations = bispectrum.configurations();
  // Every bin has its equilateral configuration and every bin above the first a squeezed one.
  ASSERT_EQ(configurations.size(), 2 * bins - 1);
  const auto f = skewed_field(product(dims), dims.size());
  std::vector<double> b(configurations.size()), q(configurations.size());
  bispectrum.measure(f, b, q);
  const auto reference = direct(f, dims, box, bins, kmax, configurations);
  for (std::size_t c = 0; c < configurations.size(); ++c) {
    EXPECT_EQ(configurations[c].triangles, reference.triangles[c]) << "configuration " << c;
    EXPECT_NEAR(b[c], reference.bispectrum[c], 1e-10 * std::abs(reference.bispectrum[c]))
        << "configuration " << c;
    EXPECT_NEAR(q[c], reference.reduced[c], 1e-10 * std::abs(reference.reduced[c]))
        << "configuration " << c;
  }
}

TEST(Bispectrum, MatchesADirectTripleSumIn2D) {
  expect_direct({14, 16}, 3.0, 3, 4);
}

TEST(Bispectrum, MatchesADirectTripleSumIn3D) {
  expect_direct({12, 12, 13}, 2.0, 2, 3);
}

TEST(Bispectrum, BinsFollowTheirEdgesAndTheTwoThirdsRule) {
  EXPECT_EQ(Bispectrum::largest_kmax({64, 64, 64}), 20u);  // 20.5 <= 64/3 < 21.5
  EXPECT_EQ(Bispectrum::largest_kmax({32, 40}), 10u);
  EXPECT_EQ(Bispectrum::largest_kmax({4, 4}), 0u);
  const Bispectrum b({64, 64}, 1.0, 4, 20);  // width 5: |m| in [0.5, 5.5), [5.5, 10.5), ...
  ASSERT_EQ(b.bins(), 4u);
  double modes = 0.0;
  for (std::size_t mx = 0; mx < 64; ++mx)
    for (std::size_t my = 0; my < 64; ++my) {
      const double fx = static_cast<double>(ksi::fft::frequency(mx, 64));
      const double fy = static_cast<double>(ksi::fft::frequency(my, 64));
      const double k = std::hypot(fx, fy);
      if (k >= 0.5 && k < 5.5) modes += 1.0;
    }
  EXPECT_EQ(b.bin_modes()[0], modes);
  EXPECT_GT(b.bin_wavenumber()[0], 0.5);
  EXPECT_LT(b.bin_wavenumber()[3], 20.5);
  EXPECT_NEAR(b.fundamental(), 2.0 * std::numbers::pi, 1e-15);
}

TEST(Bispectrum, SkewedWhiteNoiseHasItsClosedForm) {
  // Pointwise f = g + e (g^2 - 1) of white noise g is white: every triangle has
  // B = V^2 k3 / N^2 with the third cumulant k3 = 6 e + 8 e^3, every mode P = V s^2 / N with
  // s^2 = 1 + 2 e^2, so Q_3 = k3 / (3 s^4) in every configuration.
  const std::vector<std::size_t> dims{32, 32, 32};
  const double box = 5.0, e = 0.2;
  const Bispectrum bispectrum(dims, box, 4, 10);
  const std::size_t N = product(dims), C = bispectrum.configurations().size();
  const double V = box * box * box;
  const double k3 = 6.0 * e + 8.0 * e * e * e, s2 = 1.0 + 2.0 * e * e;
  const std::size_t fields = 6;
  std::vector<double> sum(C, 0.0), squares(C, 0.0), reduced_sum(C, 0.0);
  std::vector<double> f(N), b(C), q(C);
  for (std::size_t i = 0; i < fields; ++i) {
    RandomStream stream(41, StreamPurpose::test, i);
    stream.fill_normal(f);
    for (double& v : f) v = v + e * (v * v - 1.0);
    bispectrum.measure(f, b, q);
    for (std::size_t c = 0; c < C; ++c) {
      sum[c] += b[c] / fields;
      squares[c] += b[c] * b[c] / fields;
      reduced_sum[c] += q[c] / fields;
    }
  }
  const double expected = V * V * k3 / (static_cast<double>(N) * static_cast<double>(N));
  for (std::size_t c = 0; c < C; ++c) {
    const double error =
        std::sqrt((squares[c] - sum[c] * sum[c]) / (fields - 1.0) / static_cast<double>(fields));
    EXPECT_NEAR(sum[c], expected, 5.0 * error) << "configuration " << c;
    // Q_3 divides by measured powers, whose scatter is far below that of B.
    EXPECT_NEAR(reduced_sum[c], k3 / (3.0 * s2 * s2), 5.0 * error / expected * k3 / (3 * s2 * s2))
        << "configuration " << c;
  }
}

TEST(Bispectrum, RejectsBinsAndKmaxOutOfRange) {
  EXPECT_THROW(Bispectrum({32, 32}, 1.0, 4, 11), ksi::UsageError);  // 11.5 > 32/3
  EXPECT_THROW(Bispectrum({32, 32}, 1.0, 0, 10), ksi::UsageError);
  EXPECT_THROW(Bispectrum({32, 32}, 1.0, 11, 10), ksi::UsageError);  // bins narrower than 1
  EXPECT_THROW(Bispectrum({32, 32}, 1.0, 1, 0), ksi::UsageError);
  EXPECT_THROW(Bispectrum({64}, 1.0, 4, 20), ksi::InputError);
  EXPECT_NO_THROW(Bispectrum({32, 32}, 1.0, 10, 10));
}

}  // namespace
