#pragma once
/// @file
/// Linear and quadratic monomials of a vector: P = d + d (d + 1) / 2. The drift J^T eta is affine
/// in x, so the Gaussian target's exact drift lies in its span (the pipeline's closed-form check).

#include "ksi/features/feature_map.hpp"

namespace ksi::features {

class PolynomialFeatures final : public FeatureMap {
 public:
  explicit PolynomialFeatures(const ItemShape& shape);

  std::string kind() const override { return "polynomial"; }
  std::size_t size() const override { return size_; }
  const ItemShape& input_shape() const override { return shape_; }
  void evaluate(std::span<const double> x, std::span<double> phi) const override;
  void vjp(std::span<const double> x, std::span<const double> eta,
           std::span<double> grad) const override;
  void vjp_batch(const Matrix& X, std::span<const double> eta, Matrix& G) const override;
  void jacobian(std::span<const double> x, Matrix& J) const override;
  FeatureSpec spec() const override;
  std::vector<std::string> feature_names() const override;

 private:
  /// The symmetric matrix A with grad(eta . phi) = eta_linear + A x.
  Matrix quadratic_part(std::span<const double> eta) const;
  ItemShape shape_;
  std::size_t d_;
  std::size_t size_;
};

}  // namespace ksi::features
