#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fit/solver.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

// K = Q diag(lambda) Q^T with Q a product of Givens rotations: known spectrum.
Matrix matrix_with_spectrum(const std::vector<double>& lambda, std::uint64_t seed) {
  const std::size_t n = lambda.size();
  Matrix Q(n, n);
  for (std::size_t i = 0; i < n; ++i) Q(i, i) = 1.0;
  RandomStream s(seed, StreamPurpose::test, n);
  for (std::size_t r = 0; r < 4 * n; ++r) {
    const std::size_t i = s.bits() % n, j = s.bits() % n;
    if (i == j) continue;
    const double angle = 6.283185307179586 * s.uniform(), c = std::cos(angle), sn = std::sin(angle);
    for (std::size_t k = 0; k < n; ++k) {
      const double a = Q(k, i), b = Q(k, j);
      Q(k, i) = c * a - sn * b;
      Q(k, j) = sn * a + c * b;
    }
  }
  Matrix K(n, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t k = 0; k < n; ++k) K(i, j) += Q(i, k) * lambda[k] * Q(j, k);
  return K;
}

std::vector<double> multiply(const Matrix& K, const std::vector<double>& x, double shift) {
  std::vector<double> y(x.size(), 0.0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    for (std::size_t j = 0; j < x.size(); ++j) y[i] += K(i, j) * x[j];
    y[i] += shift * x[i];
  }
  return y;
}

}  // namespace

TEST(Solver, SolvesAndEstimatesTheSpectrum) {
  std::vector<double> lambda;
  for (int i = 0; i < 40; ++i) lambda.push_back(std::pow(10.0, -3.0 + 4.0 * i / 39.0));
  const Matrix K = matrix_with_spectrum(lambda, 3);
  std::vector<double> truth(40), eta(40);
  RandomStream(1, StreamPurpose::test, 0).fill_normal(truth);
  const double trace = std::accumulate(lambda.begin(), lambda.end(), 0.0);
  const double ridge = 1e-8 * trace / 40;
  const auto h = multiply(K, truth, ridge);
  const auto result = fit::solve_normal_equations(K, h, 1e-8, eta);
  EXPECT_NEAR(result.ridge, ridge, 1e-20);
  EXPECT_LT(result.residual, 1e-12);
  for (std::size_t i = 0; i < 40; ++i)
    EXPECT_NEAR(eta[i], truth[i], 1e-9 * (1 + std::abs(truth[i])));
  EXPECT_NEAR(result.lambda_max, 10.0 + ridge, 1e-8 * 10.0);
  EXPECT_NEAR(result.lambda_min, 1e-3 + ridge, 1e-8 * 1e-3);
}

TEST(Solver, SingularGramIsRegularisedByTheRidge) {
  std::vector<double> lambda(12, 1.0);
  lambda[3] = lambda[7] = 0.0;  // two directions the features cannot see
  const Matrix K = matrix_with_spectrum(lambda, 4);
  std::vector<double> h(12, 0.0), eta(12);
  h[0] = 1.0;
  const auto result = fit::solve_normal_equations(K, h, 1e-8, eta);
  for (double e : eta) EXPECT_TRUE(std::isfinite(e));
  EXPECT_LT(result.residual, 1e-6);
}

TEST(Solver, ZeroGramIsANumericalError) {
  const Matrix K(5, 5);
  std::vector<double> h(5, 1.0), eta(5);
  EXPECT_THROW(fit::solve_normal_equations(K, h, 1e-8, eta), NumericalError);
}

TEST(Solver, DistributedScalapackSolveMatchesSequential) {
  const auto& world = test::World::comm();
  std::vector<double> lambda;
  for (int i = 0; i < 70; ++i) lambda.push_back(1.0 + i);
  const Matrix K = matrix_with_spectrum(lambda, 5);
  std::vector<double> h(70), a(70), b(70, 0.0);
  RandomStream(2, StreamPurpose::test, 0).fill_normal(h);
  fit::solve_normal_equations(K, h, 1e-8, a);
  const auto result = fit::solve_normal_equations_distributed(K, h, 1e-8, b, world);
  world.bcast(b, 0);
  for (std::size_t i = 0; i < 70; ++i) EXPECT_NEAR(a[i], b[i], 1e-12 * (1 + std::abs(a[i])));
  EXPECT_LT(result.residual, 1e-12);
  EXPECT_NEAR(result.lambda_max, 70.0, 1e-6 * 70.0);
  EXPECT_NEAR(result.lambda_min, 1.0, 1e-6);
}

// A Gram matrix that is indefinite beyond the ridge (rounding in a nearly singular sum can make it
// so): ScaLAPACK's Cholesky breaks down on it, and the distributed solve retries with a larger
// ridge instead of failing the fit (which the same fit on one rank would not). The sequential
// solve's dense factorisation (LDL^T) does not break down on it, so the two differ here.
TEST(Solver, TheDistributedSolveRetriesAnIndefiniteGramWithALargerRidge) {
  const auto& world = test::World::comm();
  std::vector<double> lambda(30, 1.0);
  lambda[5] = -1e-3;  // below -ridge: the first Cholesky breaks down
  const Matrix K = matrix_with_spectrum(lambda, 6);
  std::vector<double> h(30), a(30), b(30, 0.0);
  RandomStream(3, StreamPurpose::test, 0).fill_normal(h);
  const auto serial = fit::solve_normal_equations(K, h, 1e-8, a);
  for (const double v : a) ASSERT_TRUE(std::isfinite(v));
  const auto distributed = fit::solve_normal_equations_distributed(K, h, 1e-8, b, world);
  world.bcast(b, 0);
  // Retried until the ridge lifts the negative eigenvalue: 1e-8 of the mean eigenvalue times 100^3.
  const double first = 1e-8 * (29.0 - 1e-3) / 30.0;
  EXPECT_NEAR(distributed.ridge, 1e6 * first, 1e-6 * first);
  EXPECT_NEAR(serial.ridge, first, 1e-6 * first);  // LDL^T: no retry there
  const auto back = multiply(K, b, distributed.ridge);
  for (std::size_t i = 0; i < 30; ++i) {
    ASSERT_TRUE(std::isfinite(b[i]));
    EXPECT_NEAR(back[i], h[i], 1e-9 * (1 + std::abs(h[i])));
  }
}
