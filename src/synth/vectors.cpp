#include "ksi/synth/vectors.hpp"

#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/random.hpp"

namespace ksi::synth {

Matrix cholesky(const Matrix& S) {
  const std::size_t d = S.rows();
  Matrix L(d, d, 0.0);
  for (std::size_t j = 0; j < d; ++j) {
    double diag = S(j, j);
    for (std::size_t k = 0; k < j; ++k) diag -= L(j, k) * L(j, k);
    if (!(diag > 0.0)) throw InputError("the covariance matrix is not positive definite");
    L(j, j) = std::sqrt(diag);
    for (std::size_t i = j + 1; i < d; ++i) {
      double v = S(i, j);
      for (std::size_t k = 0; k < j; ++k) v -= L(i, k) * L(j, k);
      L(i, j) = v / L(j, j);
    }
  }
  return L;
}

Gaussian random_gaussian(std::size_t d, std::uint64_t seed) {
  if (d == 0) throw UsageError("--dim must be positive");
  RandomStream stream(seed, StreamPurpose::synth, ~std::uint64_t{0});
  Gaussian g;
  g.mean.resize(d);
  stream.fill_normal(g.mean);
  Matrix A(d, d);
  stream.fill_normal(A.values());
  g.covariance = Matrix(d, d);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < d; ++k) s += A(i, k) * A(j, k);
      g.covariance(i, j) = s / static_cast<double>(d) + (i == j ? 0.25 : 0.0);
    }
  return g;
}

Gaussian make_gaussian(std::vector<double> mean, std::vector<double> covariance) {
  const std::size_t d = mean.size();
  if (d == 0) throw UsageError("--mean needs at least one value");
  if (covariance.size() != d * d)
    throw UsageError(cat("--covariance needs d x d = ", d * d, " values for a mean of ", d,
                         " values, not ", covariance.size()));
  Gaussian g;
  g.mean = std::move(mean);
  g.covariance = Matrix(d, d);
  std::copy(covariance.begin(), covariance.end(), g.covariance.data());
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (std::abs(g.covariance(i, j) - g.covariance(j, i)) >
          1e-12 * (std::abs(g.covariance(i, j)) + std::abs(g.covariance(j, i)) + 1e-300))
        throw UsageError("--covariance must be symmetric");
  try {
    cholesky(g.covariance);
  } catch (const InputError&) {
    throw UsageError("--covariance must be positive definite");
  }
  return g;
}

Matrix draw_gaussian(const Gaussian& g, std::uint64_t seed, std::size_t first, std::size_t count) {
  return draw_correlated_normal(g.mean, cholesky(g.covariance), seed, StreamPurpose::synth, first,
                                count);
}

Matrix draw_correlated_normal(const std::vector<double>& mean, const Matrix& L, std::uint64_t seed,
                              StreamPurpose purpose, std::size_t first, std::size_t count) {
  const std::size_t d = mean.size();
  Matrix out(count, d);
  std::vector<double> z(d);
  for (std::size_t i = 0; i < count; ++i) {
    RandomStream stream(seed, purpose, first + i);
    stream.fill_normal(z);
    auto x = out.row(i);
    for (std::size_t r = 0; r < d; ++r) {
      double v = mean[r];
      for (std::size_t k = 0; k <= r; ++k) v += L(r, k) * z[k];
      x[r] = v;
    }
  }
  return out;
}

Mixture make_mixture(std::size_t d, std::size_t components, double separation, double width,
                     std::uint64_t seed) {
  if (d == 0) throw UsageError("--dim must be positive");
  if (components == 0) throw UsageError("--components must be positive");
  if (!(width > 0.0)) throw UsageError("--width must be positive");
  Mixture m;
  RandomStream stream(seed, StreamPurpose::synth, ~std::uint64_t{0}, 1);
  for (std::size_t c = 0; c < components; ++c) {
    Gaussian g;
    g.mean.assign(d, 0.0);
    if (d == 2) {
      const double angle =
          2.0 * std::numbers::pi * static_cast<double>(c) / static_cast<double>(components);
      g.mean[0] = separation * std::cos(angle);
      g.mean[1] = separation * std::sin(angle);
    } else {
      for (auto& v : g.mean) v = separation * stream.normal();
    }
    g.covariance = Matrix(d, d, 0.0);
    for (std::size_t i = 0; i < d; ++i) g.covariance(i, i) = width * width;
    m.components.push_back(std::move(g));
    m.weights.push_back(1.0 / static_cast<double>(components));
  }
  return m;
}

Matrix draw_mixture(const Mixture& m, std::uint64_t seed, std::size_t first, std::size_t count) {
  const std::size_t d = m.components.at(0).mean.size();
  std::vector<Matrix> factors;
  for (const auto& g : m.components) factors.push_back(cholesky(g.covariance));
  Matrix out(count, d);
  std::vector<double> z(d);
  for (std::size_t i = 0; i < count; ++i) {
    RandomStream stream(seed, StreamPurpose::synth, first + i);
    const double u = stream.uniform();
    std::size_t c = 0;
    double acc = m.weights[0];
    while (u >= acc && c + 1 < m.weights.size()) acc += m.weights[++c];
    stream.fill_normal(z);
    const Matrix& L = factors[c];
    auto x = out.row(i);
    for (std::size_t r = 0; r < d; ++r) {
      double v = m.components[c].mean[r];
      for (std::size_t k = 0; k <= r; ++k) v += L(r, k) * z[k];
      x[r] = v;
    }
  }
  return out;
}

}  // namespace ksi::synth
