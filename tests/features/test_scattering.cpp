// Scattering spectra: values against a direct-convolution reference, exact gradients (finite
// differences per family and dimension), the structured Gram assembly against P separate vjp's,
// invariances, the Gaussian-field power check, specs and calibration.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "features/scattering_reference.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/features/scattering.hpp"
#include "ksi/fft/fft.hpp"
#include "support/smooth_fields.hpp"
#include "support/test_support.hpp"

namespace ksi::features {
namespace {

std::vector<double> white_field(const std::vector<std::size_t>& dims, std::uint64_t id,
                                double mean = 0.0) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<double> x(n);
  RandomStream stream(11, StreamPurpose::test, id);
  stream.fill_normal(x);
  for (auto& v : x) v += mean;
  return x;
}

// A non-Gaussian field: exp of a smoothed white field, so the coefficients are far from degenerate.
std::vector<double> lognormal_field(const std::vector<std::size_t>& dims, std::uint64_t id) {
  return test::smooth_lognormal_field(dims, 11, id);  // white_field's stream
}

ScatteringOptions options_for(int J, int L, const std::string& families = "all") {
  ScatteringOptions o;
  o.scales = J;
  o.orientations = L;
  o.families = ScatteringFamilies::parse(families);
  return o;
}

// A marginal family of `bins` bins, seen through a non-trivial isotropic colour (1 / (1 + s)).
void add_marginal(ScatteringOptions& o, int bins, const std::vector<std::size_t>& dims) {
  o.marginal = bins;
  o.colour.clear();
  if (bins == 0) return;
  for (std::size_t s = 0; s <= 2 * dims[0]; ++s) o.colour.push_back(1.0 / (1.0 + s));
}

// A map normalised on a few fields (so the constants enter every check), built on this rank alone.
std::unique_ptr<ScatteringSpectra> calibrated(const std::vector<std::size_t>& dims,
                                              const ScatteringOptions& o) {
  const ItemShape shape = ItemShape::grid(dims);
  const ScatteringSpectra raw(shape, o);
  Matrix items(3, shape.size());
  for (std::size_t i = 0; i < 3; ++i) {
    const auto f = lognormal_field(dims, 100 + i);
    std::copy(f.begin(), f.end(), items.row(i).begin());
  }
  const par::Comm self = par::Comm::self();
  return std::make_unique<ScatteringSpectra>(shape, raw.options(), raw.calibrate(items, self));
}

double dot(std::span<const double> a, std::span<const double> b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}

// ------------------------------------------------------------------------------------------------

struct ReferenceCase {
  std::vector<std::size_t> dims;
  int J, L;
};

class ScatteringReference : public testing::TestWithParam<ReferenceCase> {};

TEST_P(ScatteringReference, MatchesDirectConvolution) {
  const auto c = GetParam();
  auto map = calibrated(c.dims, options_for(c.J, c.L));
  const auto x = lognormal_field(c.dims, 7);
  std::vector<double> phi(map->size());
  map->evaluate(x, phi);
  const auto reference = test::reference_scattering(*map, x);
  const auto names = map->feature_names();
  double worst = 0.0, largest = 0.0;
  for (std::size_t p = 0; p < names.size(); ++p) {
    const auto it = reference.find(names[p]);
    ASSERT_NE(it, reference.end()) << names[p];
    worst = std::max(worst, std::abs(phi[p] - it->second));
    largest = std::max(largest, std::abs(it->second));
  }
  EXPECT_LT(worst, 1e-12 * largest) << "largest coefficient " << largest;
  // Normalised: Phi2 of the calibration fields is near 1 on average, so the features are O(1).
  EXPECT_LT(largest, 50.0);
}

INSTANTIATE_TEST_SUITE_P(Grids, ScatteringReference,
                         testing::Values(ReferenceCase{{64}, 4, 1},         // 1D, j = 3 subsampled
                                         ReferenceCase{{32, 32}, 3, 4},     // 2D
                                         ReferenceCase{{64, 64}, 4, 4},     // 2D, j = 3 subsampled
                                         ReferenceCase{{16, 16, 16}, 2, 3}  // 3D
                                         ));

TEST(Scattering, SubsamplingActsOnCoarseScales) {
  const ScatteringSpectra map(ItemShape::grid({64, 64}), options_for(4, 4));
  EXPECT_EQ(map.bank().subsampling(0), 1u);
  EXPECT_GT(map.bank().subsampling(3), 1u);
}

// ------------------------------------------------------------------------------------------------
// vjp is the gradient of eta . phi: central differences with Richardson extrapolation.

struct GradientCase {
  std::vector<std::size_t> dims;
  int J, L;
  std::string families;
  bool isotropic;
  int marginal = 0;  // bins of the marginal family (coloured)
  bool shells = false;
  int conditional = 0;  // bins of the conditional family
  int contrast = 0;     // bins of the contrast family
  ConditionalMoment conditional_moment = ConditionalMoment::energy;  // what it bins
};

class ScatteringGradient : public testing::TestWithParam<GradientCase> {};

// The calibrated map of a case.
auto map_of(const GradientCase& c) {
  auto o = options_for(c.J, c.L, c.families);
  o.isotropic = c.isotropic;
  o.shells = c.shells;
  o.conditional = c.conditional;
  o.conditional_moment = c.conditional_moment;
  o.contrast = c.contrast;
  add_marginal(o, c.marginal, c.dims);
  return calibrated(c.dims, o);
}

TEST_P(ScatteringGradient, MatchesFiniteDifferences) {
  const auto c = GetParam();
  auto map = map_of(c);
  const std::size_t P = map->size(), d = map->input_shape().size();
  const auto x = lognormal_field(c.dims, 21);
  std::vector<double> eta(P), grad(d), phi(P);
  RandomStream stream(5, StreamPurpose::test, 3);
  stream.fill_normal(eta);
  map->vjp(x, eta, grad);
  const auto f = [&](const std::vector<double>& y) {
    map->evaluate(y, phi);
    return dot(eta, phi);
  };
  const double gnorm = std::sqrt(dot(grad, grad));
  ASSERT_GT(gnorm, 0.0);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<double> v(d);
    stream.fill_normal(v);
    const double vnorm = std::sqrt(dot(v, v));
    for (auto& vi : v) vi /= vnorm;
    const auto difference = [&](double h) {
      std::vector<double> a = x, b = x;
      for (std::size_t i = 0; i < d; ++i) {
        a[i] += h * v[i];
        b[i] -= h * v[i];
      }
      return (f(a) - f(b)) / (2.0 * h);
    };
    const double h = 1e-3;
    const double fd = (4.0 * difference(h / 2) - difference(h)) / 3.0;
    const double exact = dot(grad, v);
    EXPECT_LT(std::abs(fd - exact), 1e-9 * gnorm) << c.families << " trial " << trial << ": fd "
                                                  << fd << " vjp " << exact << " |grad| " << gnorm;
  }
}

// The forward-mode products are the adjoint of the exact vjp: eta . (J v) = (J^T eta) . v for
// random eta and v, with J v the central difference of the map (tight) and the map's jvp (the
// forward difference from phi(x) the randomized Gram takes).
TEST_P(ScatteringGradient, JvpIsTheAdjointOfTheVjp) {
  const auto c = GetParam();
  auto map = map_of(c);
  const std::size_t P = map->size(), d = map->input_shape().size();
  const auto x = lognormal_field(c.dims, 23);
  std::vector<double> eta(P), grad(d), v(d), phi(P), forward(P);
  map->evaluate(x, phi);
  RandomStream stream(7, StreamPurpose::test, 5);
  for (int trial = 0; trial < 2; ++trial) {
    stream.fill_normal(eta);
    stream.fill_normal(v);
    map->vjp(x, eta, grad);
    const double scale = std::sqrt(dot(grad, grad) * dot(v, v));
    ASSERT_GT(scale, 0.0);
    // (phi(x + s v) - phi(x - s v)) / 2s, s = 2e-6 |x| / |v|: below the cube root of epsilon, as
    // the moduli have large third derivatives.
    const double s = 2e-6 * std::sqrt(dot(x, x) / dot(v, v));
    std::vector<double> shifted(d), plus(P), minus(P), central(P);
    for (std::size_t i = 0; i < d; ++i) shifted[i] = x[i] + s * v[i];
    map->evaluate(shifted, plus);
    for (std::size_t i = 0; i < d; ++i) shifted[i] = x[i] - s * v[i];
    map->evaluate(shifted, minus);
    for (std::size_t p = 0; p < P; ++p) central[p] = (plus[p] - minus[p]) / (2.0 * s);
    EXPECT_LT(std::abs(dot(eta, central) - dot(grad, v)), 1e-8 * scale)
        << c.families << " trial " << trial;
    // The map's jvp: 1e-8 typically, 7.5e-6 at worst (the marginal bins' curvature).
    map->jvp(x, phi, v, forward);
    EXPECT_LT(std::abs(dot(eta, forward) - dot(grad, v)), 2e-5 * scale)
        << c.families << " trial " << trial;
  }
}

// evaluate_and_vjp (one forward pass) gives the same bits as evaluate, eta_of and vjp in turn.
TEST_P(ScatteringGradient, EvaluateAndVjpEqualsSeparateCalls) {
  const auto c = GetParam();
  auto map = map_of(c);
  const std::size_t P = map->size(), d = map->input_shape().size();
  const auto x = lognormal_field(c.dims, 22);
  std::vector<double> shift(P), phi(P), eta(P), grad(d), fused_phi(P), fused_grad(d);
  RandomStream(6, StreamPurpose::test, 4).fill_normal(shift);
  // eta depends on phi, as a loss's derivative does.
  const FeatureMap::EtaOfPhi eta_of = [&](std::span<const double> values, std::span<double> out) {
    for (std::size_t p = 0; p < P; ++p) out[p] = 2.0 * (values[p] - shift[p]);
  };
  map->evaluate(x, phi);
  eta_of(phi, eta);
  map->vjp(x, eta, grad);
  map->evaluate_and_vjp(x, fused_phi, eta_of, fused_grad);
  EXPECT_EQ(phi, fused_phi) << c.families;
  EXPECT_EQ(grad, fused_grad) << c.families;
}

INSTANTIATE_TEST_SUITE_P(
    Families, ScatteringGradient,
    testing::Values(
        GradientCase{{64}, 4, 1, "mean", false}, GradientCase{{64}, 4, 1, "phi1", false},
        GradientCase{{64}, 4, 1, "phi2", false}, GradientCase{{64}, 4, 1, "phi3", false},
        GradientCase{{64}, 4, 1, "phi4", false}, GradientCase{{64, 64}, 4, 4, "mean", false},
        GradientCase{{64, 64}, 4, 4, "phi1", false}, GradientCase{{64, 64}, 4, 4, "phi2", false},
        GradientCase{{64, 64}, 4, 4, "phi3", false}, GradientCase{{64, 64}, 4, 4, "phi4", false},
        GradientCase{{64, 64}, 4, 4, "all", true}, GradientCase{{16, 16, 16}, 2, 3, "mean", false},
        GradientCase{{16, 16, 16}, 2, 3, "phi1", false},
        GradientCase{{16, 16, 16}, 2, 3, "phi2", false},
        GradientCase{{16, 16, 16}, 2, 3, "phi3", false},
        GradientCase{{16, 16, 16}, 2, 3, "phi4", false},
        GradientCase{{32, 32, 32}, 3, 7, "all", true},
        // the marginal family alone (mean only besides) and with every family
        GradientCase{{64}, 4, 1, "mean", false, 8}, GradientCase{{32, 32}, 3, 4, "mean", false, 12},
        GradientCase{{16, 16, 16}, 2, 3, "mean", false, 6},
        GradientCase{{32, 32}, 3, 4, "all", true, 16},
        // the shell family alone, with the mean, and with every family and marginal bins
        GradientCase{{32, 32}, 3, 4, "none", false, 0, true},
        GradientCase{{64}, 4, 1, "mean", false, 0, true},
        GradientCase{{16, 16, 16}, 2, 3, "all", true, 6, true},
        // the conditional family alone, and with every family, marginal bins and shells
        GradientCase{{32, 32}, 3, 4, "none", false, 0, false, 5},
        GradientCase{{64}, 4, 1, "mean", false, 0, false, 4},
        GradientCase{{16, 16, 16}, 2, 3, "all", true, 6, true, 4},
        // the contrast family alone, with the mean, and with every other family
        GradientCase{{32, 32}, 3, 4, "none", false, 0, false, 0, 5},
        GradientCase{{64}, 4, 1, "mean", false, 0, false, 0, 4},
        GradientCase{{16, 16, 16}, 2, 3, "all", true, 6, true, 4, 3},
        // the conditional family binning the wavelet modulus instead of the energy, and both
        GradientCase{{32, 32}, 3, 4, "none", false, 0, false, 5, 0, ConditionalMoment::modulus},
        GradientCase{{64}, 4, 1, "mean", false, 0, false, 4, 0, ConditionalMoment::modulus},
        GradientCase{{16, 16, 16}, 2, 3, "all", true, 6, true, 4, 3, ConditionalMoment::modulus},
        GradientCase{{32, 32}, 3, 4, "none", false, 0, false, 5, 0, ConditionalMoment::both},
        GradientCase{{16, 16, 16}, 2, 3, "all", true, 6, true, 4, 3, ConditionalMoment::both}));

// ------------------------------------------------------------------------------------------------
// accumulate equals the Gram matrix and right-hand side built from P separate vjp's.

struct GramCase {
  std::vector<std::size_t> dims;
  int J, L;
  bool isotropic;
  bool phi4_diagonal;
  double workspace_mb;
  int marginal = 0;  // bins of the marginal family (coloured)
  bool shells = false;
  int conditional = 0;
  int contrast = 0;
  ConditionalMoment conditional_moment = ConditionalMoment::energy;
};

class ScatteringGram : public testing::TestWithParam<GramCase> {};

TEST_P(ScatteringGram, EqualsDenseJacobianRoute) {
  const auto c = GetParam();
  auto o = options_for(c.J, c.L);
  o.isotropic = c.isotropic;
  o.phi4_diagonal = c.phi4_diagonal;
  o.workspace_mb = c.workspace_mb;
  o.shells = c.shells;
  o.conditional = c.conditional;
  o.conditional_moment = c.conditional_moment;
  o.contrast = c.contrast;
  add_marginal(o, c.marginal, c.dims);
  auto map = calibrated(c.dims, o);
  const std::size_t P = map->size(), d = map->input_shape().size();
  Matrix X(2, d), V(2, d);
  for (std::size_t b = 0; b < 2; ++b) {
    const auto x = lognormal_field(c.dims, 40 + b);
    std::copy(x.begin(), x.end(), X.row(b).begin());
    const auto v = white_field(c.dims, 50 + b);
    std::copy(v.begin(), v.end(), V.row(b).begin());
  }
  Matrix K(P, P), K_dense(P, P);
  std::vector<double> h(P, 0.0), h_dense(P, 0.0);
  map->accumulate(X, V, K, h);
  // The reference: P vjp's with unit vectors per item (FeatureMap::jacobian, not the map's own).
  Matrix J;
  for (std::size_t b = 0; b < X.rows(); ++b) {
    map->FeatureMap::jacobian(X.row(b), J);
    for (std::size_t i = 0; i < P; ++i) {
      for (std::size_t j = i; j < P; ++j) K_dense(i, j) += dot(J.row(i), J.row(j));
      h_dense[i] += dot(J.row(i), V.row(b));
    }
  }
  // The map's own dense Jacobian (one c2r per row) against the same reference.
  Matrix J_own, J_ref;
  map->jacobian(X.row(0), J_own);
  map->FeatureMap::jacobian(X.row(0), J_ref);
  EXPECT_LT(test::relative_difference(J_own, J_ref), 1e-12) << "P = " << P;
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < P; ++i)
    for (std::size_t j = i; j < P; ++j) {
      num += std::pow(K(i, j) - K_dense(i, j), 2);
      den += std::pow(K_dense(i, j), 2);
    }
  EXPECT_LT(std::sqrt(num / den), 1e-10) << "P = " << P;
  double hnum = 0.0, hden = 0.0;
  for (std::size_t p = 0; p < P; ++p) {
    hnum += std::pow(h[p] - h_dense[p], 2);
    hden += std::pow(h_dense[p], 2);
  }
  EXPECT_LT(std::sqrt(hnum / hden), 1e-10);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ScatteringGram,
    testing::Values(
        GramCase{{64}, 4, 1, false, false, 1536.0}, GramCase{{32, 32}, 3, 4, false, false, 1536.0},
        GramCase{{64, 64}, 4, 4, true, false, 1536.0},
        // a workspace of a few rows: many windows, streamed units
        GramCase{{32, 32}, 3, 4, false, true, 0.05},
        GramCase{{16, 16, 16}, 2, 3, false, false, 1536.0},
        GramCase{{16, 16, 16}, 2, 7, true, false, 0.2},
        // marginal rows: held whole, met once by every unit
        GramCase{{64}, 4, 1, false, false, 1536.0, 8},
        GramCase{{32, 32}, 3, 4, false, true, 0.05, 12},
        GramCase{{16, 16, 16}, 2, 3, true, false, 0.2, 6},
        // shell rows: one per shell, met by every unit once
        GramCase{{64}, 4, 1, false, false, 1536.0, 0, true},
        GramCase{{32, 32}, 3, 4, false, true, 0.05, 12, true},
        GramCase{{16, 16, 16}, 2, 7, true, false, 0.2, 6, true},
        // conditional rows: dense rows after the marginal bins
        GramCase{{32, 32}, 3, 4, false, true, 0.05, 12, true, 4},
        GramCase{{16, 16, 16}, 2, 3, true, false, 0.2, 0, false, 3},
        // contrast rows: dense rows after the conditional ones
        GramCase{{32, 32}, 3, 4, false, true, 0.05, 12, true, 4, 5},
        GramCase{{16, 16, 16}, 2, 3, true, false, 0.2, 0, false, 0, 3},
        // conditional rows of the modulus, and of both
        GramCase{{32, 32}, 3, 4, false, true, 0.05, 12, true, 4, 5, ConditionalMoment::modulus},
        GramCase{{16, 16, 16}, 2, 3, true, false, 0.2, 0, false, 3, 0, ConditionalMoment::modulus},
        GramCase{{32, 32}, 3, 4, false, true, 0.05, 12, true, 4, 5, ConditionalMoment::both},
        GramCase{{16, 16, 16}, 2, 3, true, false, 0.2, 0, false, 3, 0, ConditionalMoment::both}));

TEST(ScatteringShells, AreTheFieldsShellPowersOverTheDataMean) {
  // Against an independent count: round(|k|) from integer wavevectors over the full spectrum.
  const std::vector<std::size_t> dims{16, 16, 16};
  auto o = options_for(2, 3, "mean");
  o.shells = true;
  auto map = calibrated(dims, o);
  const auto x = lognormal_field(dims, 9);
  std::vector<double> phi(map->size());
  map->evaluate(x, phi);
  const auto names = map->feature_names();
  const std::size_t n = 16, N = n * n * n;
  // The full complex DFT by separable sums would be slow; use the r2c transform and expand mirrors.
  fft::RealTransform t(dims);
  std::vector<fft::complex> half(t.complex_size());
  t.forward(x.data(), half.data());
  std::vector<double> power(15, 0.0), modes(15, 0.0);  // |k| <= 8 sqrt(3): shells 0 .. 14
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t c = 0; c < n; ++c) {
        const long ka = fft::frequency(a, n), kb = fft::frequency(b, n), kc = fft::frequency(c, n);
        const auto s =
            static_cast<std::size_t>(std::llround(std::sqrt(double(ka * ka + kb * kb + kc * kc))));
        // xhat(k) for c > n/2 is conj(xhat(-k)), stored at the mirrored indices.
        const bool stored = c <= n / 2;
        const std::size_t ia = stored ? a : (n - a) % n, ib = stored ? b : (n - b) % n,
                          ic = stored ? c : n - c;
        power[s] += std::norm(half[(ia * n + ib) * (n / 2 + 1) + ic]) / N;
        modes[s] += 1.0;
      }
  // Calibration fields' mean power per shell: the same count on the three calibration fields.
  std::vector<double> data(15, 0.0);
  for (std::uint64_t id = 100; id < 103; ++id) {
    const auto f = lognormal_field(dims, id);
    t.forward(f.data(), half.data());
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b)
        for (std::size_t c = 0; c < n; ++c) {
          const long ka = fft::frequency(a, n), kb = fft::frequency(b, n),
                     kc = fft::frequency(c, n);
          const auto s = static_cast<std::size_t>(
              std::llround(std::sqrt(double(ka * ka + kb * kb + kc * kc))));
          const bool stored = c <= n / 2;
          const std::size_t ia = stored ? a : (n - a) % n, ib = stored ? b : (n - b) % n,
                            ic = stored ? c : n - c;
          data[s] += std::norm(half[(ia * n + ib) * (n / 2 + 1) + ic]) / N / 3.0;
        }
  }
  std::size_t checked = 0;
  for (std::size_t p = 0; p < names.size(); ++p) {
    int shell = 0;
    if (std::sscanf(names[p].c_str(), "shell power |k| = %d", &shell) != 1) continue;
    const double expected = (power[shell] / modes[shell]) / (data[shell] / modes[shell]);
    EXPECT_NEAR(phi[p], expected, 1e-10 * expected) << names[p];
    ++checked;
  }
  EXPECT_EQ(checked, 14u);  // shells 1 .. 14, every one with data power
}

// ------------------------------------------------------------------------------------------------
// Invariances.

// x shifted periodically by `shift` (grid points per axis).
std::vector<double> translated(const std::vector<double>& x, const std::vector<std::size_t>& dims,
                               const std::vector<std::size_t>& shift) {
  const test::Lattice lattice{dims};
  std::vector<double> y(x.size());
  for (std::size_t q = 0; q < x.size(); ++q) {
    auto c = lattice.coords(q);
    for (std::size_t a = 0; a < c.size(); ++a) c[a] += shift[a];
    y[lattice.flat(c)] = x[q];
  }
  return y;
}

// y(R i) = x(i) for a signed permutation matrix R acting on centred coordinates (mod n).
std::vector<double> rotated(const std::vector<double>& x, const std::vector<std::size_t>& dims,
                            const std::vector<std::array<int, 3>>& rows) {
  const test::Lattice lattice{dims};
  std::vector<double> y(x.size());
  const std::size_t dim = dims.size();
  for (std::size_t q = 0; q < x.size(); ++q) {
    const auto c = lattice.coords(q);
    std::vector<std::size_t> r(dim);
    for (std::size_t i = 0; i < dim; ++i) {
      long v = 0;
      for (std::size_t k = 0; k < dim; ++k) v += rows[i][k] * static_cast<long>(c[k]);
      const long n = static_cast<long>(dims[i]);
      r[i] = static_cast<std::size_t>(((v % n) + n) % n);
    }
    y[lattice.flat(r)] = x[q];
  }
  return y;
}

double max_difference(const std::vector<double>& a, const std::vector<double>& b, double& scale) {
  double worst = 0.0;
  scale = 0.0;
  for (std::size_t p = 0; p < a.size(); ++p) {
    worst = std::max(worst, std::abs(a[p] - b[p]));
    scale = std::max(scale, std::abs(a[p]));
  }
  return worst;
}

std::vector<double> phi_of(const ScatteringSpectra& map, const std::vector<double>& x) {
  std::vector<double> phi(map.size());
  map.evaluate(x, phi);
  return phi;
}

TEST(ScatteringInvariance, PeriodicTranslations) {
  struct Case {
    std::vector<std::size_t> dims;
    int J, L;
    std::vector<std::size_t> shift;
  };
  for (const auto& c : {Case{{128}, 5, 1, {37}}, Case{{64, 64}, 4, 4, {5, 22}},
                        Case{{32, 32, 32}, 3, 3, {3, 17, 30}}}) {
    // Full-resolution grids: every shift is an exact symmetry of the computation.
    auto o = options_for(c.J, c.L);
    o.subsample = false;
    auto map = calibrated(c.dims, o);
    const auto x = lognormal_field(c.dims, 61);
    double scale = 0.0;
    const double diff =
        max_difference(phi_of(*map, x), phi_of(*map, translated(x, c.dims, c.shift)), scale);
    EXPECT_LT(diff, 1e-12 * scale) << c.dims.size() << "D";
  }
  // Subsampled grids: shifts by multiples of the coarsest subsampling are exact; others move the
  // coarse sampling of the moduli, a small aliasing effect.
  const std::vector<std::size_t> dims{64, 64};
  auto map = calibrated(dims, options_for(4, 4));
  const std::size_t s = map->bank().subsampling(3);
  ASSERT_EQ(s, 2u);
  const auto x = lognormal_field(dims, 62);
  const auto phi = phi_of(*map, x);
  double scale = 0.0;
  const double exact =
      max_difference(phi, phi_of(*map, translated(x, dims, {2 * s, 3 * s})), scale);
  EXPECT_LT(exact, 1e-12 * scale);
  const double aliasing = max_difference(phi, phi_of(*map, translated(x, dims, {1, 0})), scale);
  EXPECT_GT(aliasing, 1e-12 * scale);  // the effect exists ...
  EXPECT_LT(aliasing, 1e-3 * scale);   // ... and is small (4e-5 here)
}

TEST(ScatteringInvariance, IsotropicReductionIsRotationInvariant) {
  // 2D: quarter turns (L = 4 and 8). The non-reduced coefficients do change.
  for (int L : {4, 8}) {
    const std::vector<std::size_t> dims{64, 64};
    auto o = options_for(4, L);
    o.isotropic = true;
    auto iso = calibrated(dims, o);
    auto plain = calibrated(dims, options_for(4, L));
    const auto x = lognormal_field(dims, 71);
    const auto y = rotated(x, dims, {{{0, -1, 0}, {1, 0, 0}, {0, 0, 1}}});
    double scale = 0.0;
    const double iso_change = max_difference(phi_of(*iso, x), phi_of(*iso, y), scale);
    EXPECT_LT(iso_change, 1e-12 * scale) << "L = " << L;
    const double plain_change = max_difference(phi_of(*plain, x), phi_of(*plain, y), scale);
    EXPECT_GT(plain_change, 1e-3 * scale);
  }
  // 3D: the cube's rotations, generated by quarter turns about two axes (checked on a few
  // products).
  const std::vector<std::vector<std::array<int, 3>>> rotations{
      {{{1, 0, 0}, {0, 0, -1}, {0, 1, 0}}},   // quarter turn about axis 0
      {{{0, 0, 1}, {0, 1, 0}, {-1, 0, 0}}},   // quarter turn about axis 1
      {{{0, 0, 1}, {1, 0, 0}, {0, 1, 0}}},    // third of a turn about the body diagonal
      {{{0, 1, 0}, {1, 0, 0}, {0, 0, -1}}}};  // half turn about an edge diagonal
  for (int L : {3, 7, 13}) {
    const std::vector<std::size_t> dims{32, 32, 32};
    auto o = options_for(3, L, L == 13 ? "mean+phi1+phi2+phi3" : "all");
    o.isotropic = true;
    o.phi4_diagonal = L == 7;
    auto iso = calibrated(dims, o);
    const auto x = lognormal_field(dims, 72);
    const auto phi = phi_of(*iso, x);
    for (const auto& r : rotations) {
      double scale = 0.0;
      const double change = max_difference(phi, phi_of(*iso, rotated(x, dims, r)), scale);
      EXPECT_LT(change, 1e-12 * scale) << "L = " << L;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Gaussian random fields with power spectrum P(k): E Phi2(lambda) = sum_k P(k) psihat(k)^2 / N for
// the unnormalised map (c_x = xhat / N and E |xhat(k)|^2 = N P(k)).

TEST(ScatteringGaussian, PowerSpectrumOfGaussianFields) {
  for (const auto& dims : {std::vector<std::size_t>{256}, std::vector<std::size_t>{64, 64}}) {
    const int J = dims.size() == 1 ? 5 : 4, L = dims.size() == 1 ? 1 : 4;
    const ScatteringSpectra map(ItemShape::grid(dims), options_for(J, L, "phi2"));
    // The Phi2 coefficients: every wavelet, then the low-pass.
    const std::size_t N = map.input_shape().size(), W = map.bank().count() + 1;
    // P(k) = (1 + |k|^2 / 0.3)^(-2): a red spectrum, anisotropic through a factor on axis 0.
    const auto power = [&](const std::array<int, 3>& m) {
      double k2 = 0.0;
      for (std::size_t a = 0; a < dims.size(); ++a)
        k2 += (a == 0 ? 2.0 : 1.0) * std::pow(2.0 * M_PI * m[a] / static_cast<double>(dims[a]), 2);
      return std::pow(1.0 + k2 / 0.3, -2.0);
    };
    std::vector<double> expected(W, 0.0);
    for (std::size_t l = 0; l < W; ++l) {
      const auto& w = l + 1 < W ? map.bank().wavelet(l) : map.bank().lowpass_support();
      for (std::size_t e = 0; e < w.values.size(); ++e)
        expected[l] += power(map.bank().frequency(w.support[e])) * w.values[e] * w.values[e] /
                       static_cast<double>(N);
    }
    // Fields: white noise filtered by sqrt(P) in Fourier space.
    fft::RealTransform t(dims);
    std::vector<fft::complex> spectrum(t.complex_size());
    const std::size_t n_last = dims.back(), h_last = n_last / 2 + 1;
    const int fields = 200;
    std::vector<double> sum(W, 0.0), sum_sq(W, 0.0), phi(W), x(N);
    for (int f = 0; f < fields; ++f) {
      RandomStream stream(9, StreamPurpose::test, 1000 + f);
      stream.fill_normal(x);
      t.forward(x.data(), spectrum.data());
      for (std::size_t q = 0; q < spectrum.size(); ++q) {
        std::array<int, 3> m{0, 0, 0};
        std::size_t rest = q / h_last;
        m[dims.size() - 1] = static_cast<int>(fft::frequency(q % h_last, n_last));
        for (std::size_t a = dims.size() - 1; a-- > 0;) {
          m[a] = static_cast<int>(fft::frequency(rest % dims[a], dims[a]));
          rest /= dims[a];
        }
        spectrum[q] *= std::sqrt(power(m)) / static_cast<double>(N);
      }
      t.backward(spectrum.data(), x.data());
      map.evaluate(x, phi);
      for (std::size_t l = 0; l < W; ++l) {
        sum[l] += phi[l];
        sum_sq[l] += phi[l] * phi[l];
      }
    }
    for (std::size_t l = 0; l < W; ++l) {
      const double mean = sum[l] / fields;
      const double standard_error = std::sqrt((sum_sq[l] / fields - mean * mean) / (fields - 1));
      EXPECT_LT(std::abs(mean - expected[l]), 4.5 * standard_error)
          << dims.size() << "D wavelet " << l << ": " << mean << " vs " << expected[l];
      EXPECT_LT(standard_error, 0.2 * expected[l]);  // the check has teeth
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Normalisation, specs, names, registry.

TEST(ScatteringNormalisation, CalibrationItemsHaveUnitPowers) {
  // a and b are the item means of Phi2 and of the diagonal Phi4: on the calibration items
  // themselves the normalised means are exactly 1.
  const std::vector<std::size_t> dims{64, 64};
  auto o = options_for(4, 4);
  o.phi4_diagonal = true;
  const ItemShape shape = ItemShape::grid(dims);
  Matrix items(4, shape.size());
  for (std::size_t i = 0; i < 4; ++i) {
    const auto f = lognormal_field(dims, 300 + i);
    std::copy(f.begin(), f.end(), items.row(i).begin());
  }
  const par::Comm self = par::Comm::self();
  const ScatteringSpectra raw(shape, o);
  const ScatteringSpectra map(shape, raw.options(), raw.calibrate(items, self));
  const auto names = map.feature_names();
  std::vector<double> mean(map.size(), 0.0), phi(map.size());
  for (std::size_t i = 0; i < 4; ++i) {
    map.evaluate(items.row(i), phi);
    for (std::size_t p = 0; p < phi.size(); ++p) mean[p] += phi[p] / 4.0;
  }
  int checked = 0;
  for (std::size_t p = 0; p < names.size(); ++p) {
    const bool phi2 = names[p].rfind("Phi2(", 0) == 0;
    // Phi4 with lambda1 = lambda2 is real and named without Re/Im.
    const bool diagonal_phi4 = names[p].rfind("Phi4(", 0) == 0;
    if (phi2 || diagonal_phi4) {
      EXPECT_NEAR(mean[p], 1.0, 1e-12) << names[p];
      ++checked;
    }
  }
  EXPECT_EQ(checked, 16 + 1 + 4 * 4 * (1 + 2 + 3));  // Phi2 of wavelets and low-pass, diagonal Phi4
}

TEST(ScatteringSpec, RebuildsTheSameMap) {
  const std::vector<std::size_t> dims{32, 32};
  auto o = options_for(3, 4, "phi2+phi3+phi4");
  o.isotropic = true;
  auto map = calibrated(dims, o);
  const auto spec = map->spec();
  EXPECT_EQ(spec.kind, "scattering");
  const auto copy = make_feature_map(spec, map->input_shape());
  ASSERT_EQ(copy->size(), map->size());
  EXPECT_EQ(copy->feature_names(), map->feature_names());
  const auto x = lognormal_field(dims, 80);
  std::vector<double> a(map->size()), b(map->size());
  map->evaluate(x, a);
  copy->evaluate(x, b);
  EXPECT_EQ(a, b);
  EXPECT_THROW(make_feature_map(spec, ItemShape::grid({16, 16})),
               InputError);  // J = 3 needs n >= 26
  // A Gram budget other than the default travels too (its row windows set the rounding of K, so
  // a map rebuilt from a model must keep it); the default is not written.
  EXPECT_FALSE(spec.params.has("workspace_mb"));
  auto small = o;
  small.workspace_mb = 0.5;
  const ScatteringSpectra budgeted(ItemShape::grid(dims), small);
  const auto rebuilt = make_feature_map(budgeted.spec(), budgeted.input_shape());
  EXPECT_EQ(dynamic_cast<const ScatteringSpectra&>(*rebuilt).options().workspace_mb, 0.5);

  // With the marginal family: colour and calibration travel in the spec.
  add_marginal(o, 10, dims);
  auto with_marginal = calibrated(dims, o);
  ASSERT_EQ(with_marginal->size(), map->size() + 10);
  const auto marginal_spec = with_marginal->spec();
  EXPECT_EQ(marginal_spec.arrays.at("marginal_colour"), o.colour);
  EXPECT_EQ(marginal_spec.arrays.at("marginal_calibration").size(), 3u + 10u);
  const auto marginal_copy = make_feature_map(marginal_spec, with_marginal->input_shape());
  EXPECT_EQ(marginal_copy->feature_names(), with_marginal->feature_names());
  std::vector<double> c(with_marginal->size()), e(with_marginal->size());
  with_marginal->evaluate(x, c);
  marginal_copy->evaluate(x, e);
  EXPECT_EQ(c, e);
  auto broken = marginal_spec;
  broken.arrays["marginal_calibration"].pop_back();
  EXPECT_THROW(make_feature_map(broken, with_marginal->input_shape()), InputError);

  // With the conditional and contrast families too: their bins and constants travel in the spec.
  o.conditional = 4;
  o.contrast = 5;
  auto with_bins = calibrated(dims, o);
  ASSERT_EQ(with_bins->size(), with_marginal->size() + 3u * 4u + 3u * 5u);
  const auto bins_spec = with_bins->spec();
  EXPECT_EQ(bins_spec.arrays.at("conditional_calibration").size(), 3u + 3u * 4u);
  EXPECT_EQ(bins_spec.arrays.at("contrast_calibration").size(), 3u + 3u * 5u);
  const auto bins_copy = make_feature_map(bins_spec, with_bins->input_shape());
  EXPECT_EQ(bins_copy->feature_names(), with_bins->feature_names());
  std::vector<double> f(with_bins->size()), g(with_bins->size());
  with_bins->evaluate(x, f);
  bins_copy->evaluate(x, g);
  EXPECT_EQ(f, g);
  for (const char* key : {"conditional_calibration", "contrast_calibration"}) {
    auto damaged = bins_spec;
    damaged.arrays[key].pop_back();
    EXPECT_THROW(make_feature_map(damaged, with_bins->input_shape()), InputError) << key;
  }
}

// The marginal family is a soft histogram of the coloured field: against a direct evaluation.
TEST(ScatteringMarginal, IsASoftHistogramOfTheColouredField) {
  const std::vector<std::size_t> dims{32, 32};
  auto o = options_for(3, 4, "mean");
  add_marginal(o, 9, dims);
  auto map = calibrated(dims, o);
  const auto spec = map->spec();
  const auto& cal = spec.arrays.at("marginal_calibration");
  const double sigma = cal[0], low = cal[1], high = cal[2], w = (high - low) / 9;
  EXPECT_GT(sigma, 0.0);
  EXPECT_LT(low, 0.0);
  EXPECT_GT(high, 0.0);
  const auto x = lognormal_field(dims, 90);
  // u = C x with C(k) = 1 / (1 + round(|k|)), by a direct sum over modes.
  fft::RealTransform t(dims);
  std::vector<fft::complex> spectrum(t.complex_size());
  std::vector<double> u = x;
  t.forward(u.data(), spectrum.data());
  const auto shells = fft::shell_of_modes(dims);
  for (std::size_t k = 0; k < spectrum.size(); ++k) spectrum[k] *= o.colour[shells[k]] / 1024.0;
  t.backward(spectrum.data(), u.data());
  std::vector<double> phi(map->size());
  map->evaluate(x, phi);
  for (int m = 0; m < 9; ++m) {
    const double c = low + (m + 0.5) * w;
    double sum = 0.0;
    for (const double v : u) sum += std::exp(-0.5 * std::pow((v / sigma - c) / w, 2));
    const double expected = sum / 1024.0 / cal[3 + m];
    EXPECT_NEAR(phi[1 + m], expected, 1e-12 * std::max(1.0, expected)) << "bin " << m;
  }
}

class ScatteringConditional : public testing::TestWithParam<ConditionalMoment> {};

TEST_P(ScatteringConditional, IsTheWaveletEnergyOrModulusWithinValueBins) {
  // Against a direct computation: U = FFT^-1(FFT(x) psihat) / sqrt(a) on the full grid from the
  // bank's filters, E_j = sum_l |U|^2 (energy), M_j = sum_l |U| (modulus) or E_j then M_j (both),
  // Gaussian bins of x / sigma.
  const ConditionalMoment moment = GetParam();
  const bool energy = moment != ConditionalMoment::modulus,
             modulus = moment != ConditionalMoment::energy;
  const std::size_t blocks = (energy ? 1 : 0) + (modulus ? 1 : 0);
  const std::vector<std::size_t> dims{32, 32};
  auto o = options_for(3, 4, "mean");
  o.conditional = 5;
  o.conditional_moment = moment;
  auto map = calibrated(dims, o);
  ASSERT_EQ(map->size(), 1u + 3u * 5u * blocks);
  const auto names = map->feature_names();
  EXPECT_EQ(names[1].rfind(energy ? "conditional energy j=0" : "conditional modulus j=0", 0), 0u);
  EXPECT_EQ(names.back().rfind(modulus ? "conditional modulus j=2" : "conditional energy j=2", 0),
            0u);
  // The moment travels in the spec: a copy evaluates to the same bits.
  const auto copy = make_feature_map(map->spec(), map->input_shape());
  const auto spec = map->spec();
  const auto& cal = spec.arrays.at("conditional_calibration");
  ASSERT_EQ(cal.size(), 3u + 3u * 5u * blocks);
  const auto& a = spec.arrays.at("first_layer_power");
  const double sigma = cal[0], low = cal[1], high = cal[2], w = (high - low) / 5;
  const auto x = lognormal_field(dims, 91);
  const std::size_t N = 1024;
  fft::ComplexTransform t(dims);
  std::vector<fft::complex> xhat(N), u(N);
  for (std::size_t i = 0; i < N; ++i) xhat[i] = x[i];
  t.forward(xhat.data(), xhat.data());
  // Binned field f = b * 3 + j: block b (the energies first where they are), scale j.
  std::vector<double> fields(3 * N * blocks, 0.0);
  for (std::size_t j = 0; j < 3; ++j)
    for (std::size_t l = 0; l < 4; ++l) {
      const auto psi = map->bank().filter(static_cast<int>(j), static_cast<int>(l));
      for (std::size_t k = 0; k < N; ++k) u[k] = xhat[k] * psi[k] / static_cast<double>(N);
      t.backward(u.data(), u.data());
      for (std::size_t y = 0; y < N; ++y) {
        if (energy) fields[j * N + y] += std::norm(u[y]) / a[j * 4 + l];
        if (modulus)
          fields[((energy ? 3 : 0) + j) * N + y] += std::abs(u[y]) / std::sqrt(a[j * 4 + l]);
      }
    }
  std::vector<double> phi(map->size()), copied(map->size());
  map->evaluate(x, phi);
  copy->evaluate(x, copied);
  EXPECT_EQ(phi, copied);
  for (std::size_t f = 0; f < 3 * blocks; ++f)
    for (std::size_t m = 0; m < 5; ++m) {
      const double c = low + (static_cast<double>(m) + 0.5) * w;
      double sum = 0.0;
      for (std::size_t y = 0; y < N; ++y)
        sum += fields[f * N + y] * std::exp(-0.5 * std::pow((x[y] / sigma - c) / w, 2));
      const double expected = sum / N / cal[3 + f * 5 + m];
      EXPECT_NEAR(phi[1 + f * 5 + m], expected, 1e-10 * std::max(1.0, expected))
          << "field " << f << " bin " << m;
    }
}

INSTANTIATE_TEST_SUITE_P(Moments, ScatteringConditional,
                         testing::Values(ConditionalMoment::energy, ConditionalMoment::modulus,
                                         ConditionalMoment::both));

TEST(ScatteringContrast, IsTheContrastWithTheGaussianSurroundingsWithinValueBins) {
  // Against a direct computation on a grid of unequal sides: the kernel of exp(-|omega|^2 R^2 / 2),
  // R = 2^j cells, by an explicit inverse DFT over signed integer frequencies (omega = 2 pi m / n
  // per axis), a real-space periodic convolution, g_j = x - G x, and Gaussian bins of x / sigma;
  // a_jm, the calibration data's means of <|g_j| h_m>, from the same direct route.
  const std::vector<std::size_t> dims{32, 16};
  const long n0 = 32, n1 = 16;
  const std::size_t N = 32 * 16;
  auto o = options_for(2, 4, "mean");
  o.contrast = 5;
  auto map = calibrated(dims, o);
  const auto spec = map->spec();
  const auto& cal = spec.arrays.at("contrast_calibration");
  ASSERT_EQ(cal.size(), 3u + 2u * 5u);
  const double sigma = cal[0], low = cal[1], high = cal[2], w = (high - low) / 5;
  const auto names = map->feature_names();
  const double pi = std::acos(-1.0);
  const auto omega = [&](long m, long n) {
    return 2.0 * pi * static_cast<double>(m > n / 2 ? m - n : m) / static_cast<double>(n);
  };
  // g_j of a field by the direct route.
  const auto contrast = [&](const std::vector<double>& x, int j) {
    const double R = std::ldexp(1.0, j);
    std::vector<double> kernel(N, 0.0);
    for (long r0 = 0; r0 < n0; ++r0)
      for (long r1 = 0; r1 < n1; ++r1) {
        double v = 0.0;
        for (long m0 = 0; m0 < n0; ++m0)
          for (long m1 = 0; m1 < n1; ++m1) {
            const double w0 = omega(m0, n0), w1 = omega(m1, n1);
            v += std::exp(-0.5 * (w0 * w0 + w1 * w1) * R * R) *
                 std::cos(2.0 * pi *
                          (static_cast<double>(m0 * r0) / n0 + static_cast<double>(m1 * r1) / n1));
          }
        kernel[static_cast<std::size_t>(r0 * n1 + r1)] = v / static_cast<double>(N);
      }
    std::vector<double> g(N);
    for (long a = 0; a < n0; ++a)
      for (long b = 0; b < n1; ++b) {
        double smooth = 0.0;
        for (long r0 = 0; r0 < n0; ++r0)
          for (long r1 = 0; r1 < n1; ++r1)
            smooth += kernel[static_cast<std::size_t>(r0 * n1 + r1)] *
                      x[static_cast<std::size_t>(((a - r0 + n0) % n0) * n1 + (b - r1 + n1) % n1)];
        g[static_cast<std::size_t>(a * n1 + b)] = x[static_cast<std::size_t>(a * n1 + b)] - smooth;
      }
    return g;
  };
  const auto bin = [&](double u, int m) {
    return std::exp(-0.5 * std::pow((u / sigma - (low + (m + 0.5) * w)) / w, 2));
  };
  // a_jm: calibrated() normalises on lognormal_field(dims, 100 + i), i = 0, 1, 2.
  std::vector<double> a(2 * 5, 0.0);
  for (std::size_t i = 0; i < 3; ++i) {
    const std::vector<double> xi = lognormal_field(dims, 100 + i);
    for (int j = 0; j < 2; ++j) {
      const auto g = contrast(xi, j);
      for (int m = 0; m < 5; ++m) {
        double sum = 0.0;
        for (std::size_t y = 0; y < N; ++y) sum += std::abs(g[y]) * bin(xi[y], m);
        a[j * 5 + m] += sum / N / 3.0;
      }
    }
  }
  double largest = 0.0;
  for (const double v : a) largest = std::max(largest, v);
  for (int f = 0; f < 10; ++f)
    EXPECT_NEAR(cal[3 + f], std::max(a[f], 1e-3 * largest), 1e-10 * largest) << "a " << f;
  const auto x = lognormal_field(dims, 93);
  std::vector<double> phi(map->size());
  map->evaluate(x, phi);
  ASSERT_EQ(names.size(), phi.size());
  for (int j = 0; j < 2; ++j) {
    const auto g = contrast(x, j);
    for (int m = 0; m < 5; ++m) {
      double sum = 0.0;
      for (std::size_t y = 0; y < N; ++y) sum += g[y] * bin(x[y], m);
      const double expected = sum / N / cal[3 + j * 5 + m];
      EXPECT_NEAR(phi[1 + j * 5 + m], expected, 1e-10 * std::max(1.0, std::abs(expected)))
          << "j " << j << " bin " << m;
      EXPECT_EQ(names[1 + j * 5 + m],
                sformat("contrast j=%d bin %d (z = %.3g)", j, m, low + (m + 0.5) * w));
    }
  }
}

TEST(ScatteringNames, DescribeEveryCoefficient) {
  const ScatteringSpectra one_d(ItemShape::grid({64}), options_for(3, 1));
  const auto names = one_d.feature_names();
  ASSERT_EQ(names.size(), one_d.size());
  EXPECT_EQ(names[0], "mean");
  EXPECT_EQ(names[1], "Phi1(j=0)");
  EXPECT_NE(std::find(names.begin(), names.end(), "Im Phi3(j=2;j'=1)"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "Phi4(j1=0;j2=0;j3=2)"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "Phi2(low)"), names.end());
  // mean, 3 Phi1, 3 + 1 Phi2, 3 complex Phi3, Phi4: j3 = 1: (0,0); j3 = 2: (0,0) (0,1) (1,1).
  EXPECT_EQ(one_d.size(), 1u + 3 + 4 + 2 * 3 + (1 + 1 + 2 + 1));

  auto o = options_for(3, 4);
  o.isotropic = true;
  const ScatteringSpectra iso(ItemShape::grid({32, 32}), o);
  for (const auto& n : iso.feature_names())
    EXPECT_TRUE(n == "mean" || n.rfind("iso ", 0) == 0) << n;
  // 2D isotropic coefficients are real: rotations by pi conjugate Phi3 and Phi4.
  for (const auto& n : iso.feature_names()) EXPECT_EQ(n.find("Im "), std::string::npos) << n;
}

TEST(ScatteringRegistry, BuildsFromUserParameters) {
  const auto& world = test::World::comm();
  const ItemShape shape = ItemShape::grid({32, 32});
  // Items split over ranks; the calibration must not depend on the split.
  const std::size_t total = 5;
  const auto range = par::block_range(total, world.rank(), world.size());
  Matrix local(range.size(), shape.size()), all(total, shape.size());
  for (std::size_t i = 0; i < total; ++i) {
    const auto f = lognormal_field({32, 32}, 400 + i);
    std::copy(f.begin(), f.end(), all.row(i).begin());
    if (i >= range.begin && i < range.end)
      std::copy(f.begin(), f.end(), local.row(i - range.begin).begin());
  }
  const Params params{{"J", "3"}, {"L", "4"}, {"families", "phi2+phi4"}, {"phi4_diagonal", "true"}};
  const auto built = build_feature_map("scattering", params, shape, local, world);
  const auto* map = dynamic_cast<const ScatteringSpectra*>(built.get());
  ASSERT_NE(map, nullptr);
  const par::Comm self = par::Comm::self();
  const ScatteringSpectra raw(shape, map->options());
  const auto serial = raw.calibrate(all, self);
  EXPECT_EQ(map->normalization().first_layer, serial.first_layer);  // bitwise, for any rank count
  EXPECT_EQ(map->normalization().second_layer, serial.second_layer);

  const auto expect_usage = [&](const Params& p, const ItemShape& s, const std::string& fragment) {
    try {
      build_feature_map("scattering", p, s, Matrix(0, s.size()), world);
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const Error& e) {  // agreed across ranks, with the usage exit code
      EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_usage({{"J", "5"}}, shape, "n = 32");
  expect_usage({{"scales", "3"}}, shape, "no parameter 'scales'");
  expect_usage({{"families", "phi5"}}, shape, "unknown family 'phi5'");
  expect_usage({}, ItemShape::vector(10), "periodic grid");
  expect_usage({{"isotropic", "true"}}, ItemShape::grid({64}), "2D or 3D");
  expect_usage({{"L", "4"}}, ItemShape::grid({16, 16, 16}), "3, 7 or 13");
}

TEST(ScatteringBins, TailRangeIsTheDataQuantilesOnAnyRankCount) {
  // bin_tail = q: every bin family's range is the [q, 1 - q] quantiles of the data's values (in
  // units of their rms) instead of their extremes; the same bits for any split of the items.
  const auto& world = test::World::comm();
  const std::vector<std::size_t> dims{32, 32};
  const ItemShape shape = ItemShape::grid(dims);
  const std::size_t total = 5;  // more items than ranks at 1-3 ranks: every rank calibrates some
  const auto range = par::block_range(total, world.rank(), world.size());
  ASSERT_GT(range.size(), 0u);
  Matrix local(range.size(), shape.size()), all(total, shape.size());
  std::vector<double> values;
  for (std::size_t i = 0; i < total; ++i) {
    const auto f = lognormal_field(dims, 500 + i);  // a long upper tail
    std::copy(f.begin(), f.end(), all.row(i).begin());
    values.insert(values.end(), f.begin(), f.end());
    if (i >= range.begin && i < range.end)
      std::copy(f.begin(), f.end(), local.row(i - range.begin).begin());
  }
  auto o = options_for(3, 4, "phi2");
  o.marginal = 16;  // no colour: the marginal family sees x itself, as the others do
  o.conditional = 4;
  o.contrast = 3;
  o.bin_tail = 0.01;
  const ScatteringSpectra raw(shape, o);
  const auto n = raw.calibrate(local, world);
  const auto serial = raw.calibrate(all, par::Comm::self());
  EXPECT_EQ(n.marginal, serial.marginal);  // bitwise, for any rank count
  EXPECT_EQ(n.conditional, serial.conditional);
  EXPECT_EQ(n.contrast, serial.contrast);

  // The quantiles directly: order statistics of v / sigma.
  double squares = 0.0;
  for (const double v : values) squares += v * v;
  const double sigma = std::sqrt(squares / static_cast<double>(values.size()));
  std::vector<double> z(values.size());
  for (std::size_t k = 0; k < z.size(); ++k) z[k] = values[k] / sigma;
  std::sort(z.begin(), z.end());
  const std::size_t below = static_cast<std::size_t>(0.01 * static_cast<double>(z.size()));
  const double lo = z[below], hi = z[z.size() - 1 - below];
  // Within the order statistics' spacing there and the histogram's resolution (2^-16 of the range).
  const double resolution = (z.back() - z.front()) / 65536.0;
  const double lo_tolerance = z[below + 2] - z[below - 2] + 2 * resolution;
  const double hi_tolerance = z[z.size() - below + 1] - z[z.size() - below - 3] + 2 * resolution;
  for (const auto* constants : {&n.marginal, &n.conditional, &n.contrast}) {
    ASSERT_GE(constants->size(), 3u);
    EXPECT_NEAR((*constants)[0], sigma, 1e-12 * sigma);
    EXPECT_NEAR((*constants)[1], lo, lo_tolerance);
    EXPECT_NEAR((*constants)[2], hi, hi_tolerance);
  }
  // The check has teeth: the extremes (bin_tail = 0) are far outside those tolerances.
  EXPECT_GT(lo - z.front(), 10 * lo_tolerance);
  EXPECT_GT(z.back() - hi, 10 * hi_tolerance);
  o.bin_tail = 0.0;
  const auto extremes = ScatteringSpectra(shape, o).calibrate(all, par::Comm::self());
  EXPECT_DOUBLE_EQ(extremes.marginal[1], z.front());
  EXPECT_DOUBLE_EQ(extremes.marginal[2], z.back());

  // The option travels in the spec; bad values are usage errors naming it.
  o.bin_tail = 0.01;
  const ScatteringSpectra map(shape, o, n);
  const auto copy = make_feature_map(map.spec(), shape);
  const auto* stored = dynamic_cast<const ScatteringSpectra*>(copy.get());
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->options().bin_tail, 0.01);
  EXPECT_EQ(stored->normalization().marginal, n.marginal);
  for (const double bad : {-0.1, 0.5, std::nan("")}) {
    auto b = o;
    b.bin_tail = bad;
    EXPECT_THROW(ScatteringSpectra(shape, b), UsageError) << bad;
  }
  auto no_bins = options_for(3, 4, "phi2");
  no_bins.bin_tail = 0.01;
  EXPECT_THROW(ScatteringSpectra(shape, no_bins), UsageError);
  // conditional_moment: energy, modulus or both, and only with conditional bins.
  for (const char* bad : {"power", "", "1"})
    EXPECT_THROW(parse_conditional_moment(bad), UsageError) << bad;
  EXPECT_EQ(parse_conditional_moment(to_string(ConditionalMoment::both)), ConditionalMoment::both);
  auto no_conditional = options_for(3, 4, "phi2");
  no_conditional.conditional_moment = ConditionalMoment::modulus;
  EXPECT_THROW(ScatteringSpectra(shape, no_conditional), UsageError);
}

}  // namespace
}  // namespace ksi::features
