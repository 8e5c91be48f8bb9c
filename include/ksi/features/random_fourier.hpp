#pragma once
/// @file
/// Random Fourier features phi_p(x) = sqrt(2/P) cos(w_p . x + c_p), w_p ~ N(0, I / ell^2),
/// c_p ~ U[0, 2 pi): a Gaussian-kernel approximation for low-dimensional vectors.
///
/// Because J(x) = diag(s(x)) W with s_p = -sqrt(2/P) sin(w_p . x + c_p), the Gram sum factorises:
/// sum_b J_b J_b^T = (W W^T) o (S^T S) with S the batch's B x P matrix of s. accumulate therefore
/// runs a syrk with inner dimension B instead of B d, and finalize_gram applies the Hadamard factor
/// once.

#include "ksi/features/feature_map.hpp"

namespace ksi::features {

class RandomFourierFeatures final : public FeatureMap {
 public:
  /// Draws P frequencies and phases from the stream keyed by `seed`.
  RandomFourierFeatures(const ItemShape& shape, std::size_t count, double length_scale,
                        std::uint64_t seed);
  /// Rebuilds from stored frequencies (P x d, row-major) and phases (P).
  RandomFourierFeatures(const ItemShape& shape, double length_scale, std::uint64_t seed,
                        std::vector<double> frequencies, std::vector<double> phases);

  std::string kind() const override { return "fourier"; }
  std::size_t size() const override { return count_; }
  const ItemShape& input_shape() const override { return shape_; }
  void evaluate(std::span<const double> x, std::span<double> phi) const override;
  void vjp(std::span<const double> x, std::span<const double> eta,
           std::span<double> grad) const override;
  void vjp_batch(const Matrix& X, std::span<const double> eta, Matrix& G) const override;
  void jacobian(std::span<const double> x, Matrix& J) const override;
  /// Exact: (J v)_p = -a sin(w_p . x + b_p) (w_p . v) (phi_x is not needed).
  void jvp(std::span<const double> x, std::span<const double> phi_x, std::span<const double> v,
           std::span<double> jv) const override;
  void accumulate(const Matrix& X, const Matrix& V, Matrix& K_raw,
                  std::span<double> h) const override;
  void finalize_gram(Matrix& K) const override;
  std::size_t preferred_batch() const override;
  FeatureSpec spec() const override;
  std::vector<std::string> feature_names() const override;

 private:
  /// Z = X W^T + c (B x P).
  void phases_of(const Matrix& X, Matrix& Z) const;

  ItemShape shape_;
  std::size_t d_;
  std::size_t count_;
  double length_scale_;
  std::uint64_t seed_;
  Matrix frequencies_;  // P x d
  std::vector<double> phases_;
  double amplitude_;  // sqrt(2 / P)
};

}  // namespace ksi::features
