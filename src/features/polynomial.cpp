#include "ksi/features/polynomial.hpp"

#include <cblas.h>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::features {

PolynomialFeatures::PolynomialFeatures(const ItemShape& shape)
    : shape_(shape), d_(shape.size()), size_(d_ + d_ * (d_ + 1) / 2) {
  if (d_ > 256)
    throw UsageError(cat("polynomial features have d (d + 3) / 2 features; d = ", d_,
                         " is too large (use fourier or scattering features)"));
}

void PolynomialFeatures::evaluate(std::span<const double> x, std::span<double> phi) const {
  std::size_t p = 0;
  for (std::size_t i = 0; i < d_; ++i) phi[p++] = x[i];
  for (std::size_t i = 0; i < d_; ++i)
    for (std::size_t j = i; j < d_; ++j) phi[p++] = x[i] * x[j];
}

Matrix PolynomialFeatures::quadratic_part(std::span<const double> eta) const {
  Matrix A(d_, d_);
  std::size_t p = d_;
  for (std::size_t i = 0; i < d_; ++i)
    for (std::size_t j = i; j < d_; ++j) {
      const double e = eta[p++];
      if (i == j) {
        A(i, i) = 2.0 * e;
      } else {
        A(i, j) = e;
        A(j, i) = e;
      }
    }
  return A;
}

void PolynomialFeatures::vjp(std::span<const double> x, std::span<const double> eta,
                             std::span<double> grad) const {
  const Matrix A = quadratic_part(eta);
  for (std::size_t k = 0; k < d_; ++k) {
    double g = eta[k];
    for (std::size_t j = 0; j < d_; ++j) g += A(k, j) * x[j];
    grad[k] = g;
  }
}

void PolynomialFeatures::vjp_batch(const Matrix& X, std::span<const double> eta, Matrix& G) const {
  const Matrix A = quadratic_part(eta);
  G.resize(X.rows(), d_);
  for (std::size_t b = 0; b < X.rows(); ++b)
    for (std::size_t k = 0; k < d_; ++k) G(b, k) = eta[k];
  // G += X A (A symmetric).
  const int n = static_cast<int>(d_);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(X.rows()), n, n, 1.0,
              X.data(), n, A.data(), n, 1.0, G.data(), n);
}

void PolynomialFeatures::jacobian(std::span<const double> x, Matrix& J) const {
  J.resize(size_, d_);
  J.fill(0.0);
  for (std::size_t i = 0; i < d_; ++i) J(i, i) = 1.0;
  std::size_t p = d_;
  for (std::size_t i = 0; i < d_; ++i)
    for (std::size_t j = i; j < d_; ++j, ++p) {
      J(p, i) += x[j];
      J(p, j) += x[i];
    }
}

FeatureSpec PolynomialFeatures::spec() const {
  FeatureSpec s;
  s.kind = kind();
  s.params.set("degree", 2);
  return s;
}

std::vector<std::string> PolynomialFeatures::feature_names() const {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < d_; ++i) names.push_back(cat("x", i));
  for (std::size_t i = 0; i < d_; ++i)
    for (std::size_t j = i; j < d_; ++j) names.push_back(cat("x", i, "*x", j));
  return names;
}

}  // namespace ksi::features
