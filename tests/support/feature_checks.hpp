#pragma once
// Checks every FeatureMap must pass: exact gradients (central finite differences of eta . phi along
// random directions), Jacobian and batched vjp consistent with vjp, and accumulate + finalize_gram
// equal to the Gram sums built from P separate vjp's.
#include <gtest/gtest.h>

#include <cmath>

#include "ksi/core/random.hpp"
#include "ksi/features/feature_map.hpp"

namespace ksi::test {

/// Largest relative error of the directional derivative d/de eta . phi(x + e u) against u . vjp(x,
/// eta) over `directions` random unit directions u (central differences with step `step`).
inline double vjp_finite_difference_error(const features::FeatureMap& map,
                                          std::span<const double> x, std::uint64_t seed,
                                          int directions = 4, double step = 1e-5) {
  const std::size_t P = map.size(), d = x.size();
  std::vector<double> eta(P), u(d), grad(d), xp(d), xm(d), phi(P);
  RandomStream stream(seed, StreamPurpose::test, 17);
  stream.fill_normal(eta);
  map.vjp(x, eta, grad);
  double worst = 0.0;
  for (int k = 0; k < directions; ++k) {
    stream.fill_normal(u);
    double norm = 0;
    for (double v : u) norm += v * v;
    for (double& v : u) v /= std::sqrt(norm);
    for (std::size_t i = 0; i < d; ++i) {
      xp[i] = x[i] + step * u[i];
      xm[i] = x[i] - step * u[i];
    }
    auto energy = [&](const std::vector<double>& at) {
      map.evaluate(at, phi);
      double e = 0;
      for (std::size_t p = 0; p < P; ++p) e += eta[p] * phi[p];
      return e;
    };
    const double fd = (energy(xp) - energy(xm)) / (2 * step);
    double exact = 0;
    for (std::size_t i = 0; i < d; ++i) exact += u[i] * grad[i];
    double gnorm = 0;
    for (double g : grad) gnorm += g * g;
    worst = std::max(worst, std::abs(fd - exact) / std::max(std::sqrt(gnorm), 1e-300));
  }
  return worst;
}

/// Relative difference between accumulate + finalize_gram and sum_b J_b J_b^T, J_b v_b built from
/// P vjp's with unit vectors (independent of the map's own jacobian()).
inline double accumulate_error(const features::FeatureMap& map, const Matrix& X, const Matrix& V) {
  const std::size_t P = map.size(), d = X.cols();
  Matrix K(P, P);
  std::vector<double> h(P, 0.0);
  map.accumulate(X, V, K, h);
  map.finalize_gram(K);
  Matrix Kref(P, P);
  std::vector<double> href(P, 0.0), unit(P, 0.0);
  Matrix J(P, d);
  for (std::size_t b = 0; b < X.rows(); ++b) {
    for (std::size_t p = 0; p < P; ++p) {
      unit[p] = 1.0;
      map.vjp(X.row(b), unit, J.row(p));
      unit[p] = 0.0;
    }
    for (std::size_t i = 0; i < P; ++i) {
      for (std::size_t j = i; j < P; ++j) {
        double s = 0;
        for (std::size_t k = 0; k < d; ++k) s += J(i, k) * J(j, k);
        Kref(i, j) += s;
      }
      for (std::size_t k = 0; k < d; ++k) href[i] += J(i, k) * V(b, k);
    }
  }
  double num = 0, den = 0;
  for (std::size_t i = 0; i < P; ++i) {
    for (std::size_t j = i; j < P; ++j) {
      num += (K(i, j) - Kref(i, j)) * (K(i, j) - Kref(i, j));
      den += Kref(i, j) * Kref(i, j);
    }
    num += (h[i] - href[i]) * (h[i] - href[i]);
    den += href[i] * href[i];
  }
  return std::sqrt(num / den);
}

}  // namespace ksi::test
