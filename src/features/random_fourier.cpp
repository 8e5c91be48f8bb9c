#include "ksi/features/random_fourier.hpp"

#include <cblas.h>

#include <cmath>
#include <numbers>

#include "features/sine.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"

namespace ksi::features {

RandomFourierFeatures::RandomFourierFeatures(const ItemShape& shape, std::size_t count,
                                             double length_scale, std::uint64_t seed)
    : shape_(shape),
      d_(shape.size()),
      count_(count),
      length_scale_(length_scale),
      seed_(seed),
      frequencies_(count, shape.size()),
      phases_(count),
      amplitude_(std::sqrt(2.0 / static_cast<double>(count))) {
  if (count == 0) throw UsageError("fourier features: count must be positive");
  if (!(length_scale > 0.0)) throw UsageError("fourier features: length_scale must be positive");
  for (std::size_t p = 0; p < count_; ++p) {
    // One stream per feature: the first P' features are the same for any P >= P'.
    RandomStream stream(seed, StreamPurpose::feature_parameters, p);
    for (auto& w : frequencies_.row(p)) w = stream.normal() / length_scale;
    phases_[p] = 2.0 * std::numbers::pi * stream.uniform();
  }
}

RandomFourierFeatures::RandomFourierFeatures(const ItemShape& shape, double length_scale,
                                             std::uint64_t seed, std::vector<double> frequencies,
                                             std::vector<double> phases)
    : shape_(shape),
      d_(shape.size()),
      count_(phases.size()),
      length_scale_(length_scale),
      seed_(seed),
      frequencies_(phases.size(), shape.size()),
      phases_(std::move(phases)),
      amplitude_(std::sqrt(2.0 / static_cast<double>(phases_.size()))) {
  if (count_ == 0 || frequencies.size() != count_ * d_)
    throw InputError(cat("fourier features: stored frequencies (", frequencies.size(),
                         " values) do not match ", count_, " features of dimension ", d_));
  std::copy(frequencies.begin(), frequencies.end(), frequencies_.data());
}

void RandomFourierFeatures::phases_of(const Matrix& X, Matrix& Z) const {
  const int B = static_cast<int>(X.rows()), P = static_cast<int>(count_), d = static_cast<int>(d_);
  Z.resize(X.rows(), count_);
  for (std::size_t b = 0; b < X.rows(); ++b)
    std::copy(phases_.begin(), phases_.end(), Z.row(b).begin());
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, P, d, 1.0, X.data(), d,
              frequencies_.data(), d, 1.0, Z.data(), P);
}

void RandomFourierFeatures::evaluate(std::span<const double> x, std::span<double> phi) const {
  for (std::size_t p = 0; p < count_; ++p) {
    double z = phases_[p];
    const auto w = frequencies_.row(p);
    for (std::size_t k = 0; k < d_; ++k) z += w[k] * x[k];
    phi[p] = amplitude_ * detail::sine(z + 0.5 * std::numbers::pi);
  }
}

void RandomFourierFeatures::vjp(std::span<const double> x, std::span<const double> eta,
                                std::span<double> grad) const {
  std::fill(grad.begin(), grad.end(), 0.0);
  for (std::size_t p = 0; p < count_; ++p) {
    double z = phases_[p];
    const auto w = frequencies_.row(p);
    for (std::size_t k = 0; k < d_; ++k) z += w[k] * x[k];
    const double s = -amplitude_ * detail::sine(z) * eta[p];
    for (std::size_t k = 0; k < d_; ++k) grad[k] += s * w[k];
  }
}

void RandomFourierFeatures::vjp_batch(const Matrix& X, std::span<const double> eta,
                                      Matrix& G) const {
  Matrix S;
  phases_of(X, S);
  detail::scaled_sine(S.data(), S.size(), -amplitude_, 0.0);
  for (std::size_t b = 0; b < S.rows(); ++b) {
    auto row = S.row(b);
    for (std::size_t p = 0; p < count_; ++p) row[p] *= eta[p];
  }
  G.resize(X.rows(), d_);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(X.rows()),
              static_cast<int>(d_), static_cast<int>(count_), 1.0, S.data(),
              static_cast<int>(count_), frequencies_.data(), static_cast<int>(d_), 0.0, G.data(),
              static_cast<int>(d_));
}

void RandomFourierFeatures::jacobian(std::span<const double> x, Matrix& J) const {
  J.resize(count_, d_);
  for (std::size_t p = 0; p < count_; ++p) {
    double z = phases_[p];
    const auto w = frequencies_.row(p);
    for (std::size_t k = 0; k < d_; ++k) z += w[k] * x[k];
    const double s = -amplitude_ * detail::sine(z);
    auto row = J.row(p);
    for (std::size_t k = 0; k < d_; ++k) row[k] = s * w[k];
  }
}

void RandomFourierFeatures::jvp(std::span<const double> x, std::span<const double> /*phi_x*/,
                                std::span<const double> v, std::span<double> jv) const {
  for (std::size_t p = 0; p < count_; ++p) {
    double z = phases_[p], wv = 0.0;
    const auto w = frequencies_.row(p);
    for (std::size_t k = 0; k < d_; ++k) {
      z += w[k] * x[k];
      wv += w[k] * v[k];
    }
    jv[p] = -amplitude_ * detail::sine(z) * wv;
  }
}

void RandomFourierFeatures::accumulate(const Matrix& X, const Matrix& V, Matrix& K,
                                       std::span<double> h) const {
  ensure(V.rows() == X.rows() && V.cols() == d_ && K.rows() == count_ && h.size() == count_,
         "fourier accumulate: shapes do not match");
  const int B = static_cast<int>(X.rows()), P = static_cast<int>(count_), d = static_cast<int>(d_);
  Matrix S, T(X.rows(), count_);
  {
    ScopedPhase phase("fit.features");
    phases_of(X, S);
    detail::scaled_sine(S.data(), S.size(), -amplitude_, 0.0);
    // h_p += sum_b S_bp (W v_b)_p
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, P, d, 1.0, V.data(), d,
                frequencies_.data(), d, 0.0, T.data(), P);
    for (std::size_t b = 0; b < X.rows(); ++b) {
      const auto s = S.row(b);
      const auto t = T.row(b);
      for (std::size_t p = 0; p < count_; ++p) h[p] += s[p] * t[p];
    }
  }
  ScopedPhase phase("fit.syrk");
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, P, B, 1.0, S.data(), P, 1.0, K.data(), P);
}

void RandomFourierFeatures::finalize_gram(Matrix& K) const {
  // K = (W W^T) o K_raw on the upper triangle.
  Matrix G(count_, count_);
  const int P = static_cast<int>(count_), d = static_cast<int>(d_);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, P, d, 1.0, frequencies_.data(), d, 0.0,
              G.data(), P);
  for (std::size_t i = 0; i < count_; ++i)
    for (std::size_t j = i; j < count_; ++j) K(i, j) *= G(i, j);
}

std::size_t RandomFourierFeatures::preferred_batch() const {
  // The syrk's inner dimension is the batch; a batch near P keeps BLAS at its peak rate.
  return std::max<std::size_t>(256, count_);
}

FeatureSpec RandomFourierFeatures::spec() const {
  FeatureSpec s;
  s.kind = kind();
  s.params.set("count", count_);
  s.params.set("length_scale", length_scale_);
  s.params.set("seed", static_cast<std::int64_t>(seed_));
  s.arrays["frequencies"] =
      std::vector<double>(frequencies_.values().begin(), frequencies_.values().end());
  s.arrays["phases"] = phases_;
  return s;
}

std::vector<std::string> RandomFourierFeatures::feature_names() const {
  std::vector<std::string> names;
  for (std::size_t p = 0; p < count_; ++p) names.push_back(cat("cos[", p, "]"));
  return names;
}

}  // namespace ksi::features
