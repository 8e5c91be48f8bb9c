#include "gaussian_reference.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "ksi/core/random.hpp"
#include "ksi/features/polynomial.hpp"

namespace ksi::test {
namespace {

// Inverse of a small SPD matrix by Gauss-Jordan elimination (d <= 16 here).
Matrix inverse(Matrix a) {
  const std::size_t n = a.rows();
  Matrix inv(n, n);
  for (std::size_t i = 0; i < n; ++i) inv(i, i) = 1.0;
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a(r, c)) > std::abs(a(pivot, c))) pivot = r;
    for (std::size_t k = 0; k < n; ++k) {
      std::swap(a(c, k), a(pivot, k));
      std::swap(inv(c, k), inv(pivot, k));
    }
    const double p = a(c, c);
    for (std::size_t k = 0; k < n; ++k) {
      a(c, k) /= p;
      inv(c, k) /= p;
    }
    for (std::size_t r = 0; r < n; ++r)
      if (r != c) {
        const double f = a(r, c);
        for (std::size_t k = 0; k < n; ++k) {
          a(r, k) -= f * a(c, k);
          inv(r, k) -= f * inv(c, k);
        }
      }
  }
  return inv;
}

}  // namespace

void gaussian_drift(const synth::Gaussian& g, const Schedule& s, double t, Matrix& A,
                    std::vector<double>& c) {
  const std::size_t d = g.mean.size();
  const double a = s.alpha(t), b = s.beta(t), ad = s.alpha_dot(t), bd = s.beta_dot(t);
  Matrix num(d, d), den(d, d);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      num(i, j) = bd * b * g.covariance(i, j) + (i == j ? ad * a : 0.0);
      den(i, j) = b * b * g.covariance(i, j) + (i == j ? a * a : 0.0);
    }
  const Matrix inv = inverse(den);
  A = Matrix(d, d);
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j)
      for (std::size_t k = 0; k < d; ++k) A(i, j) += num(i, k) * inv(k, j);
  // Symmetrise away round-off (A is symmetric: num and den commute).
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = i + 1; j < d; ++j) A(i, j) = A(j, i) = 0.5 * (A(i, j) + A(j, i));
  c.assign(d, 0.0);
  for (std::size_t i = 0; i < d; ++i) {
    c[i] = bd * g.mean[i];
    for (std::size_t k = 0; k < d; ++k) c[i] -= A(i, k) * b * g.mean[k];
  }
}

Matrix gaussian_drift_at(const synth::Gaussian& g, const Schedule& s, double t, const Matrix& X) {
  Matrix A;
  std::vector<double> c;
  gaussian_drift(g, s, t, A, c);
  Matrix B(X.rows(), X.cols());
  for (std::size_t r = 0; r < X.rows(); ++r)
    for (std::size_t i = 0; i < X.cols(); ++i) {
      double v = c[i];
      for (std::size_t k = 0; k < X.cols(); ++k) v += A(i, k) * X(r, k);
      B(r, i) = v;
    }
  return B;
}

Matrix interpolant_points(const synth::Gaussian& g, const Schedule& s, double t, std::size_t n,
                          std::uint64_t data_seed, std::uint64_t noise_id) {
  const Matrix x1 = synth::draw_gaussian(g, data_seed, 0, n);
  Matrix X(n, g.mean.size());
  RandomStream z(5, StreamPurpose::test, noise_id);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < X.cols(); ++k)
      X(i, k) = s.alpha(t) * z.normal() + s.beta(t) * x1(i, k);
  return X;
}

Model exact_gaussian_model(const synth::Gaussian& g, const std::string& schedule,
                           std::size_t times) {
  const std::size_t d = g.mean.size();
  auto features = std::make_unique<features::PolynomialFeatures>(ItemShape::vector(d));
  auto sched = make_schedule(schedule);
  std::vector<double> grid(times);
  Matrix eta(times, features->size());
  for (std::size_t k = 0; k < times; ++k) {
    grid[k] = double(k) / double(times - 1);
    Matrix A;
    std::vector<double> c;
    gaussian_drift(g, *sched, grid[k], A, c);
    // grad(eta . phi) = eta_linear + A x with A_ii = 2 eta_ii, A_ij = eta_ij (i < j).
    std::size_t p = 0;
    for (std::size_t i = 0; i < d; ++i) eta(k, p++) = c[i];
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = i; j < d; ++j) eta(k, p++) = i == j ? 0.5 * A(i, i) : A(i, j);
  }
  return Model(std::move(features), std::move(sched), ItemShape::vector(d), Standardization{},
               std::move(grid), std::move(eta));
}

Matrix drift_at(const Model& model, double t, const Matrix& X) {
  Matrix B;
  model.drift(t, X, B);
  return B;
}

Model fit_spread(const synth::Gaussian& g, std::size_t items, std::uint64_t data_seed,
                 std::unique_ptr<features::FeatureMap> features, const fit::FitOptions& options,
                 const par::Comm& comm, bool expect_work) {
  const ItemShape shape = features->input_shape();
  const auto range = fit::assembly_item_range(items, fit::items_per_batch(options, *features),
                                              comm.rank(), comm.size());
  if (expect_work) EXPECT_GT(range.size(), 0u) << "rank " << comm.rank() << " has no items";
  const Matrix local = synth::draw_gaussian(g, data_seed, range.begin, range.size());
  return fit::fit_model(local, range.begin, items, std::move(features), shape, Standardization{},
                        options, comm);
}

}  // namespace ksi::test
