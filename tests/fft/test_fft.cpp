#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "ksi/core/aligned.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"

using ksi::fft::complex;

namespace {

// Direct O(N^2) DFT over a row-major grid: the independent reference.
std::vector<complex> direct_dft(const std::vector<std::size_t>& dims, const std::vector<complex>& x,
                                int sign) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<complex> out(n);
  auto index = [&](std::size_t flat, std::vector<std::size_t>& idx) {
    for (std::size_t a = dims.size(); a-- > 0;) {
      idx[a] = flat % dims[a];
      flat /= dims[a];
    }
  };
  std::vector<std::size_t> k(dims.size()), r(dims.size());
  for (std::size_t q = 0; q < n; ++q) {
    index(q, k);
    complex sum = 0;
    for (std::size_t p = 0; p < n; ++p) {
      index(p, r);
      double phase = 0;
      for (std::size_t a = 0; a < dims.size(); ++a)
        phase += 2 * std::numbers::pi * double(k[a] * r[a]) / double(dims[a]);
      sum += x[p] * std::polar(1.0, sign * phase);
    }
    out[q] = sum;
  }
  return out;
}

}  // namespace

TEST(Fft, RealForwardMatchesDirectDftIn1D2D3D) {
  for (const auto& dims : {std::vector<std::size_t>{12}, {6, 8}, {4, 6, 5}}) {
    ksi::fft::RealTransform plan(dims);
    std::vector<double> x(plan.real_size());
    ksi::RandomStream(3, ksi::StreamPurpose::test, dims.size()).fill_normal(x);
    std::vector<complex> spectrum(plan.complex_size());
    plan.forward(x.data(), spectrum.data());
    const auto reference = direct_dft(dims, {x.begin(), x.end()}, -1);
    const std::size_t last = dims.back(), half = last / 2 + 1;
    for (std::size_t q = 0; q < plan.complex_size(); ++q) {
      const std::size_t outer = q / half, kl = q % half;
      EXPECT_NEAR(std::abs(spectrum[q] - reference[outer * last + kl]), 0.0, 1e-11);
    }
  }
}

TEST(Fft, RealRoundTripAndInputPreserved) {
  ksi::fft::RealTransform plan({16, 10}, 3);
  std::vector<double> x(plan.real_size() * 3), y(x.size());
  ksi::RandomStream(4, ksi::StreamPurpose::test, 0).fill_normal(x);
  std::vector<complex> spectrum(plan.complex_size() * 3), copy;
  plan.forward(x.data(), spectrum.data());
  copy = spectrum;
  plan.backward(spectrum.data(), y.data());
  EXPECT_EQ(copy, spectrum);  // backward() keeps its input
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i] / plan.real_size(), x[i], 1e-13);
}

TEST(Fft, ComplexInPlaceAndUnalignedArrays) {
  ksi::fft::ComplexTransform plan({8, 9});
  std::vector<complex> x(plan.size() + 1);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = complex(std::sin(0.3 * i), std::cos(0.7 * i));
  // An array offset by one element is not aligned like the planning buffers.
  std::vector<complex> input(x.begin() + 1, x.end());
  const auto reference = direct_dft({8, 9}, input, -1);
  complex* unaligned = x.data() + 1;
  plan.forward(unaligned, unaligned);
  for (std::size_t q = 0; q < plan.size(); ++q)
    EXPECT_NEAR(std::abs(unaligned[q] - reference[q]), 0, 1e-11);
  plan.backward(unaligned, unaligned);
  for (std::size_t q = 0; q < plan.size(); ++q)
    EXPECT_NEAR(std::abs(unaligned[q] / double(plan.size()) - input[q]), 0, 1e-13);
}

TEST(Fft, CountsTransforms) {
  ksi::fft::reset_transform_counts();
  ksi::fft::RealTransform plan({32});
  std::vector<double> x(32, 1.0);
  std::vector<complex> s(17);
  for (int i = 0; i < 5; ++i) plan.forward(x.data(), s.data());
  const auto counts = ksi::fft::transform_counts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].count, 5u);
  EXPECT_EQ(counts[0].shape, "r2c 32");
}

TEST(Fft, Frequencies) {
  EXPECT_EQ(ksi::fft::frequency(0, 8), 0);
  EXPECT_EQ(ksi::fft::frequency(4, 8), 4);
  EXPECT_EQ(ksi::fft::frequency(5, 8), -3);
  EXPECT_EQ(ksi::fft::frequency(7, 8), -1);
}

TEST(SpectralShells, CountsAndMeanWavenumbersOverTheFullSpectrum) {
  // Against a walk over every mode of the full (not half) spectrum: m_s, mean |k| and mean |k|^2
  // per shell, on even and odd axes in 1, 2 and 3 dimensions (odd axes have no Nyquist plane, so
  // a wrong mirror weight shows).
  for (const std::vector<std::size_t>& dims :
       std::vector<std::vector<std::size_t>>{{10}, {9}, {8, 6}, {7, 5}, {6, 5, 4}}) {
    const ksi::fft::SpectralShells shells(dims);
    std::size_t total = 1;
    for (const auto n : dims) total *= n;
    std::vector<double> modes(shells.count(), 0.0), k1(shells.count(), 0.0),
        k2(shells.count(), 0.0);
    for (std::size_t flat = 0; flat < total; ++flat) {
      std::size_t rest = flat;
      double sq = 0.0;
      for (std::size_t a = dims.size(); a-- > 0;) {
        const double f = static_cast<double>(ksi::fft::frequency(rest % dims[a], dims[a]));
        rest /= dims[a];
        sq += f * f;
      }
      const auto s = static_cast<std::size_t>(std::llround(std::sqrt(sq)));
      ASSERT_LT(s, shells.count());
      modes[s] += 1.0;
      k1[s] += std::sqrt(sq);
      k2[s] += sq;
    }
    for (std::size_t s = 0; s < shells.count(); ++s) {
      EXPECT_EQ(shells.modes_per_shell()[s], modes[s]) << "shell " << s;
      EXPECT_NEAR(shells.mean_wavenumber()[s], k1[s] / modes[s], 1e-12) << "shell " << s;
      EXPECT_NEAR(shells.mean_wavenumber_squared()[s], k2[s] / modes[s], 1e-11) << "shell " << s;
    }
  }
}

TEST(FftWisdom, PlansFromWisdomOnlyAreTheMeasuredOnesOrElseTheEstimate) {
  // How rank 0's measured plans reach the other ranks (sample/fft_plans.hpp): the text of its
  // wisdom, imported by a process that has none, must give the measured plans, and a shape the
  // wisdom does not hold must get the estimate (never a plan measured on the spot).
  std::vector<std::vector<std::size_t>> differing;
  std::vector<std::string> estimated, measured;
  ksi::fft::forget_wisdom();
  for (const auto& dims : std::vector<std::vector<std::size_t>>{
           {48, 40}, {64, 64}, {36, 30, 20}, {96}, {32, 32, 32}, {120, 50}}) {
    ksi::fft::set_effort(ksi::fft::Effort::estimate);
    const std::string e = ksi::fft::RealTransform(dims).plan_text();
    ksi::fft::set_effort(ksi::fft::Effort::measure);
    const std::string m = ksi::fft::RealTransform(dims).plan_text();
    if (e != m) {
      differing.push_back(dims);
      estimated.push_back(e);
      measured.push_back(m);
    }
  }
  ksi::fft::set_effort(ksi::fft::Effort::estimate);
  // Measuring picks another algorithm than the estimate for some of these shapes (else the test
  // below could not tell a shared plan from an estimated one).
  ASSERT_FALSE(differing.empty());
  const std::string wisdom = ksi::fft::wisdom_text();
  ksi::fft::forget_wisdom();
  ASSERT_TRUE(ksi::fft::import_wisdom_text(wisdom));
  ksi::fft::plan_from_wisdom_only(true);
  for (std::size_t i = 0; i < differing.size(); ++i)
    EXPECT_EQ(ksi::fft::RealTransform(differing[i]).plan_text(), measured[i]) << i;
  ksi::fft::forget_wisdom();
  for (std::size_t i = 0; i < differing.size(); ++i)
    EXPECT_EQ(ksi::fft::RealTransform(differing[i]).plan_text(), estimated[i]) << i;
  ksi::fft::plan_from_wisdom_only(false);
  EXPECT_FALSE(ksi::fft::import_wisdom_text("(not wisdom)"));
}
