#include <gtest/gtest.h>

#include <cmath>

#include "ksi/core/eigen.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"

using namespace ksi;

TEST(SymmetricEigen, ReconstructsARandomMatrix) {
  // A = Q diag(d) Q^T from a random symmetric matrix: A v_j = lambda_j v_j, V orthonormal, and the
  // eigenvalues sorted, largest first.
  const std::size_t n = 37;
  RandomStream rng(5, StreamPurpose::test, 0);
  Matrix a(n, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i; j < n; ++j) a(i, j) = a(j, i) = rng.normal();
  const auto e = symmetric_eigen(a);
  ASSERT_EQ(e.values.size(), n);
  for (std::size_t j = 0; j + 1 < n; ++j) EXPECT_GE(e.values[j], e.values[j + 1]);
  double trace = 0.0, sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) trace += a(i, i);
  for (double l : e.values) sum += l;
  EXPECT_NEAR(sum, trace, 1e-12 * n);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < n; ++i) {
      double av = 0.0;
      for (std::size_t k = 0; k < n; ++k) av += a(i, k) * e.vectors(k, j);
      ASSERT_NEAR(av, e.values[j] * e.vectors(i, j), 1e-11) << "pair " << j;
    }
    for (std::size_t k = 0; k <= j; ++k) {
      double dot = 0.0;
      for (std::size_t i = 0; i < n; ++i) dot += e.vectors(i, j) * e.vectors(i, k);
      ASSERT_NEAR(dot, j == k ? 1.0 : 0.0, 1e-12);
    }
  }
}

TEST(SymmetricEigen, KnownSpectrum) {
  // The second-difference matrix tridiag(-1, 2, -1) of size n: lambda_k = 2 - 2 cos(k pi / (n +
  // 1)).
  const std::size_t n = 12;
  Matrix a(n, n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    a(i, i) = 2.0;
    if (i + 1 < n) a(i, i + 1) = a(i + 1, i) = -1.0;
  }
  const auto e = symmetric_eigen(a);
  for (std::size_t k = 1; k <= n; ++k)
    EXPECT_NEAR(e.values[n - k], 2.0 - 2.0 * std::cos(k * M_PI / (n + 1)), 1e-13);
  // A diagonal matrix is its own decomposition.
  Matrix d(3, 3, 0.0);
  d(0, 0) = 1.0, d(1, 1) = 3.0, d(2, 2) = 2.0;
  const auto ed = symmetric_eigen(d);
  EXPECT_EQ(ed.values, (std::vector<double>{3.0, 2.0, 1.0}));
  EXPECT_EQ(ed.vectors(1, 0), 1.0);
}

TEST(SymmetricEigen, Errors) {
  EXPECT_THROW(symmetric_eigen(Matrix(2, 3)), InputError);
  Matrix a(2, 2, 0.0);
  a(0, 1) = std::nan("");
  EXPECT_THROW(symmetric_eigen(a), InputError);
}
