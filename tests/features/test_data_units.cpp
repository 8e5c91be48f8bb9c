// Feature maps in data units: the monotone curve, the change of units, exact gradients and Gram
// sums of the composed map, its spec round trip, and the builder's units=data.
#include <gtest/gtest.h>

#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/monotone_curve.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/features/data_units.hpp"
#include "ksi/features/scattering.hpp"
#include "ksi/fft/fft.hpp"
#include "support/feature_checks.hpp"
#include "support/test_support.hpp"

namespace ksi::features {
namespace {

// A curve like a copula's g^-1 for log-normal data: x = exp(0.6 z), through 33 knots on [-4, 4].
MonotoneCurve lognormal_curve() {
  std::vector<double> z(33), x(33);
  for (int i = 0; i < 33; ++i) {
    z[i] = -4.0 + 0.25 * i;
    x[i] = std::exp(0.6 * z[i]);
  }
  return MonotoneCurve(z, x);
}

FieldUnits copula_like_units(const std::vector<std::size_t>& dims) {
  FieldUnits u;
  u.offset = 0.1;
  const std::size_t shells = fft::SpectralShells(dims).count();
  for (std::size_t s = 0; s < shells; ++s)
    u.colour.push_back(s == 0 ? 0.0 : 1.0 / std::sqrt(1.0 + s));
  u.curve = lognormal_curve();
  return u;
}

Matrix white_fields(const std::vector<std::size_t>& dims, std::size_t count, std::uint64_t id) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  Matrix X(count, n);
  for (std::size_t i = 0; i < count; ++i)
    RandomStream(3, StreamPurpose::test, id + i).fill_normal(X.row(i));
  return X;
}

std::unique_ptr<DataUnitsMap> composed(const std::vector<std::size_t>& dims,
                                       const FieldUnits& units, int marginal = 0) {
  const ItemShape shape = ItemShape::grid(dims);
  ScatteringOptions o;
  o.scales = 2;
  o.orientations = dims.size() == 2 ? 4 : 3;
  o.shells = true;
  o.marginal = marginal;
  const ScatteringSpectra raw(shape, o);
  const Matrix data = to_data_units(units, shape, white_fields(dims, 3, 100));
  auto inner =
      std::make_unique<ScatteringSpectra>(shape, o, raw.calibrate(data, par::Comm::self()));
  return std::make_unique<DataUnitsMap>(std::move(inner), units);
}

}  // namespace

TEST(MonotoneCurve, InterpolatesMonotonicallyWithAContinuousDerivative) {
  const MonotoneCurve c = lognormal_curve();
  for (std::size_t i = 0; i < c.knots_z().size(); ++i)
    EXPECT_DOUBLE_EQ(c.value(c.knots_z()[i]), c.knots_x()[i]);
  double previous = c.value(-6.0);
  for (double z = -6.0; z <= 6.0; z += 0.01) {
    const double v = c.value(z);
    EXPECT_GE(v, previous - 1e-15) << z;
    previous = v;
    // The derivative is that of the values (central differences) and close to the curve's own.
    const double h = 1e-6;
    EXPECT_NEAR(c.derivative(z), (c.value(z + h) - c.value(z - h)) / (2 * h),
                1e-6 * (1 + c.derivative(z)));
    if (std::abs(z) < 3.5)
      EXPECT_NEAR(c.value(z), std::exp(0.6 * z), 2e-3 * std::exp(0.6 * z)) << z;
  }
  // Straight lines with the end slopes outside the knots.
  EXPECT_NEAR(c.value(5.0) - c.value(4.0), c.derivative(4.0), 1e-12);
  // A flat stretch stays flat (no overshoot of a monotone cubic).
  const MonotoneCurve step({0, 1, 2, 3}, {0, 0, 1, 1});
  for (double z = 0; z <= 3; z += 0.05) {
    EXPECT_GE(step.value(z), -1e-15);
    EXPECT_LE(step.value(z), 1 + 1e-15);
  }
  EXPECT_THROW(MonotoneCurve({0, 0}, {1, 2}), InputError);
  EXPECT_THROW(MonotoneCurve({0, 1}, {2, 1}), InputError);
}

TEST(DataUnits, EvaluatesTheInnerMapOnTheFieldInDataUnits) {
  const std::vector<std::size_t> dims{16, 16};
  const FieldUnits units = copula_like_units(dims);
  auto map = composed(dims, units);
  const Matrix x = white_fields(dims, 1, 7);
  const Matrix u = to_data_units(units, ItemShape::grid(dims), x);
  // u = q(offset + C x) by hand.
  fft::RealTransform t(dims);
  std::vector<fft::complex> spectrum(t.complex_size());
  t.forward(x.row(0).data(), spectrum.data());
  const fft::SpectralShells shells(dims);
  for (std::size_t k = 0; k < spectrum.size(); ++k)
    spectrum[k] *= units.colour[shells.of_mode()[k]] / 256.0;
  std::vector<double> y(256);
  t.backward(spectrum.data(), y.data());
  for (std::size_t i = 0; i < 256; ++i)
    EXPECT_NEAR(u(0, i), units.curve.value(units.offset + y[i]), 1e-12);
  std::vector<double> phi(map->size()), inner(map->size());
  map->evaluate(x.row(0), phi);
  map->inner().evaluate(u.row(0), inner);
  for (std::size_t p = 0; p < phi.size(); ++p) EXPECT_EQ(phi[p], inner[p]);
}

TEST(DataUnits, GradientsAndGramSumsAreExact) {
  for (const auto& dims :
       {std::vector<std::size_t>{16, 16}, std::vector<std::size_t>{16, 16, 16}}) {
    const FieldUnits units = copula_like_units(dims);
    auto map = composed(dims, units, 6);
    const Matrix X = white_fields(dims, 2, 20), V = white_fields(dims, 2, 30);
    EXPECT_LT(test::vjp_finite_difference_error(*map, X.row(0), 5, 4, 1e-5), 1e-6);
    EXPECT_LT(test::accumulate_error(*map, X, V), 1e-10);
    // The scalar change of units of a scalar standardisation too.
    FieldUnits scalar;
    scalar.offset = 2.0;
    scalar.gain = 0.5;
    auto plain = composed(dims, scalar);
    EXPECT_LT(test::vjp_finite_difference_error(*plain, X.row(1), 6), 1e-6);
    EXPECT_LT(test::accumulate_error(*plain, X, V), 1e-10);
  }
}

TEST(DataUnits, SpecRoundTripAndBuilder) {
  const std::vector<std::size_t> dims{16, 16};
  const ItemShape shape = ItemShape::grid(dims);
  const FieldUnits units = copula_like_units(dims);
  const Matrix items = white_fields(dims, 4, 40);
  const auto& comm = par::Comm::self();
  auto built =
      build_feature_map("scattering", {{"J", "2"}, {"units", "data"}}, shape, items, comm, units);
  ASSERT_NE(dynamic_cast<const DataUnitsMap*>(built.get()), nullptr);
  const FeatureSpec spec = built->spec();
  EXPECT_TRUE(in_data_units(spec));
  auto rebuilt = make_feature_map(spec, shape);
  std::vector<double> a(built->size()), b(rebuilt->size());
  built->evaluate(items.row(0), a);
  rebuilt->evaluate(items.row(0), b);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t p = 0; p < a.size(); ++p) EXPECT_EQ(a[p], b[p]);
  // Normalised in data units: the shell features of the data are near 1 on average.
  const auto names = built->feature_names();
  double mean_shell = 0.0;
  int shells = 0;
  std::vector<double> phi(built->size());
  for (std::size_t i = 0; i < items.rows(); ++i) {
    built->evaluate(items.row(i), phi);
    for (std::size_t p = 0; p < names.size(); ++p)
      if (names[p].rfind("shell power", 0) == 0) {
        mean_shell += phi[p];
        ++shells;
      }
  }
  EXPECT_NEAR(mean_shell / shells, 1.0, 1e-9);
  EXPECT_THROW(build_feature_map("scattering", {{"units", "kelvin"}}, shape, items, comm, units),
               par::CollectiveError);
}

TEST(DataUnits, ShellsWithoutDataPowerGetNoShellFeature) {
  // A standardisation that found no data power beyond shell 5 (colour 0 there, as beyond a
  // solver's dealiasing cut): the curve still puts power there in data units, but no shell feature
  // is made of it; the shells below keep theirs.
  const std::vector<std::size_t> dims{16, 16};
  const ItemShape shape = ItemShape::grid(dims);
  FieldUnits units = copula_like_units(dims);
  const Matrix items = white_fields(dims, 4, 40);
  const auto& comm = par::Comm::self();
  const auto full =
      build_feature_map("scattering", {{"J", "2"}, {"units", "data"}}, shape, items, comm, units);
  for (std::size_t s = 6; s < units.colour.size(); ++s) units.colour[s] = 0.0;
  const auto cut =
      build_feature_map("scattering", {{"J", "2"}, {"units", "data"}}, shape, items, comm, units);
  const auto shell_names = [](const FeatureMap& map) {
    std::vector<std::string> out;
    for (const auto& n : map.feature_names())
      if (n.rfind("shell power", 0) == 0) out.push_back(n);
    return out;
  };
  const auto all = shell_names(*full), kept = shell_names(*cut);
  EXPECT_EQ(all.size(), fft::SpectralShells(dims).count() - 1);
  ASSERT_EQ(kept.size(), 5u);
  EXPECT_EQ(kept.front(), "shell power |k| = 1");
  EXPECT_EQ(kept.back(), "shell power |k| = 5");
  EXPECT_EQ(full->size() - cut->size(), all.size() - kept.size());
  // The cut map round-trips through its spec (the dropped shells are in the stored normalisation).
  const auto rebuilt = make_feature_map(cut->spec(), shape);
  EXPECT_EQ(rebuilt->size(), cut->size());
}

}  // namespace ksi::features
