#include <gtest/gtest.h>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/features/random_fourier.hpp"
#include "support/feature_checks.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

Matrix random_batch(std::size_t n, std::size_t d, std::uint64_t seed) {
  Matrix X(n, d);
  RandomStream(seed, StreamPurpose::test, n, d).fill_normal(X.values());
  return X;
}

std::vector<std::unique_ptr<features::FeatureMap>> maps_for(std::size_t d) {
  std::vector<std::unique_ptr<features::FeatureMap>> maps;
  maps.push_back(std::make_unique<features::PolynomialFeatures>(ItemShape::vector(d)));
  maps.push_back(
      std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(d), 37, 0.8, 5));
  return maps;
}

}  // namespace

TEST(FeatureMaps, VjpIsTheExactGradient) {
  for (std::size_t d : {1u, 2u, 5u, 16u})
    for (const auto& map : maps_for(d)) {
      const Matrix X = random_batch(3, d, 11);
      for (std::size_t b = 0; b < X.rows(); ++b)
        EXPECT_LT(test::vjp_finite_difference_error(*map, X.row(b), 100 + b), 1e-8)
            << map->kind() << " d = " << d;
    }
}

TEST(FeatureMaps, AccumulateEqualsGramFromVjps) {
  for (std::size_t d : {1u, 3u, 8u})
    for (const auto& map : maps_for(d)) {
      const Matrix X = random_batch(21, d, 12), V = random_batch(21, d, 13);
      EXPECT_LT(test::accumulate_error(*map, X, V), 1e-12) << map->kind() << " d = " << d;
    }
}

TEST(FeatureMaps, BatchedVjpAndJacobianAgreeWithVjp) {
  for (const auto& map : maps_for(6)) {
    const Matrix X = random_batch(9, 6, 14);
    std::vector<double> eta(map->size());
    RandomStream(3, StreamPurpose::test, 0).fill_normal(eta);
    Matrix G, J;
    map->vjp_batch(X, eta, G);
    std::vector<double> g(6);
    for (std::size_t b = 0; b < X.rows(); ++b) {
      map->vjp(X.row(b), eta, g);
      map->jacobian(X.row(b), J);
      for (std::size_t k = 0; k < 6; ++k) {
        EXPECT_NEAR(G(b, k), g[k], 1e-12 * (1 + std::abs(g[k])));
        double jt = 0;
        for (std::size_t p = 0; p < map->size(); ++p) jt += J(p, k) * eta[p];
        EXPECT_NEAR(jt, g[k], 1e-12 * (1 + std::abs(g[k])));
      }
    }
  }
}

TEST(FeatureMaps, SpecRebuildsTheSameMap) {
  for (const auto& map : maps_for(4)) {
    const auto rebuilt = features::make_feature_map(map->spec(), ItemShape::vector(4));
    ASSERT_EQ(rebuilt->size(), map->size());
    const Matrix X = random_batch(2, 4, 15);
    std::vector<double> a(map->size()), b(map->size());
    map->evaluate(X.row(1), a);
    rebuilt->evaluate(X.row(1), b);
    EXPECT_EQ(a, b) << map->kind();
  }
}

TEST(FeatureMaps, PolynomialValuesAndNames) {
  features::PolynomialFeatures map(ItemShape::vector(2));
  EXPECT_EQ(map.size(), 5u);
  std::vector<double> phi(5);
  const std::vector<double> x{2.0, -3.0};
  map.evaluate(x, phi);
  EXPECT_EQ(phi, (std::vector<double>{2, -3, 4, -6, 9}));
  EXPECT_EQ(map.feature_names()[3], "x0*x1");
}

TEST(FeatureMaps, FourierFeaturesApproximateTheGaussianKernel) {
  // phi(x) . phi(y) -> exp(-|x - y|^2 / (2 ell^2)) as P grows (error ~ 1/sqrt(P)).
  const double ell = 1.3;
  features::RandomFourierFeatures map(ItemShape::vector(3), 20000, ell, 9);
  const std::vector<double> x{0.1, 0.5, -0.3}, y{0.7, -0.2, 0.4};
  std::vector<double> px(map.size()), py(map.size());
  map.evaluate(x, px);
  map.evaluate(y, py);
  double dot = 0, r2 = 0;
  for (std::size_t p = 0; p < map.size(); ++p) dot += px[p] * py[p];
  for (int k = 0; k < 3; ++k) r2 += (x[k] - y[k]) * (x[k] - y[k]);
  EXPECT_NEAR(dot, std::exp(-r2 / (2 * ell * ell)), 5.0 / std::sqrt(20000.0));
}

TEST(FeatureMaps, BuilderRejectsUnknownKindsAndParameters) {
  const Matrix none;
  const auto& comm = test::World::comm();
  // Parameter errors are agreed across ranks (one message, no abort) and keep the usage exit code.
  const auto expect_usage = [&](const std::string& kind, const Params& params,
                                const std::string& fragment) {
    try {
      features::build_feature_map(kind, params, ItemShape::vector(2), none, comm);
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_usage("wavelets?", {}, "unknown feature map 'wavelets?'");
  expect_usage("fourier", {{"cuont", "3"}}, "no parameter 'cuont'");
  expect_usage("fourier", {{"count", "-3"}}, "count must be positive");
  EXPECT_EQ(
      features::build_feature_map("fourier", {{"count", "12"}}, ItemShape::vector(2), none, comm)
          ->size(),
      12u);
}
