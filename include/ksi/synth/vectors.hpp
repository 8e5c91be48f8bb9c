#pragma once
/// @file
/// Vector data sets for tests and demos: a Gaussian N(m, S) and a Gaussian mixture. Item i is drawn
/// from the stream (seed, synth, i), so a data set is the same for any number of ranks.

#include <cstdint>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/random.hpp"

namespace ksi::synth {

struct Gaussian {
  std::vector<double> mean;  ///< m (d)
  Matrix covariance;         ///< S (d x d, symmetric positive definite)
};

/// A Gaussian with mean ~ N(0, I) and covariance A A^T / d + 0.25 I (A with N(0, 1) entries), drawn
/// from `seed`: well conditioned, correlated, different variances per axis.
Gaussian random_gaussian(std::size_t d, std::uint64_t seed);
/// InputError unless mean and covariance have matching sizes and S is symmetric positive definite.
Gaussian make_gaussian(std::vector<double> mean, std::vector<double> covariance);

/// Lower-triangular Cholesky factor L (S = L L^T); InputError if S is not positive definite.
Matrix cholesky(const Matrix& S);

/// Items [first, first + count) of a Gaussian data set.
Matrix draw_gaussian(const Gaussian& g, std::uint64_t seed, std::size_t first, std::size_t count);

/// Items x_i = mean + L z_i, i in [first, first + count), z_i ~ N(0, I) from the stream
/// (seed, purpose, i); L lower-triangular (a Cholesky factor). Shared by draw_gaussian and the
/// Gaussian baseline of `ksi stats`.
Matrix draw_correlated_normal(const std::vector<double>& mean, const Matrix& L, std::uint64_t seed,
                              StreamPurpose purpose, std::size_t first, std::size_t count);

struct Mixture {
  std::vector<double> weights;  ///< summing to 1
  std::vector<Gaussian> components;
};

/// `components` isotropic Gaussians of standard deviation `width`. In 2D their means lie on a
/// circle of radius `separation`; otherwise they are drawn as N(0, separation^2 I) from `seed`.
Mixture make_mixture(std::size_t d, std::size_t components, double separation, double width,
                     std::uint64_t seed);

/// Items [first, first + count) of a mixture data set.
Matrix draw_mixture(const Mixture& m, std::uint64_t seed, std::size_t first, std::size_t count);

}  // namespace ksi::synth
