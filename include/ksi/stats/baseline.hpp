#pragma once
/// @file
/// The Gaussian baseline of METHOD section 8: Gaussian items with the data's second-order
/// statistics, which every non-Gaussian statistic of a generator must beat. Item i is drawn from
/// the stream (seed, StreamPurpose::baseline, i) alone, so a baseline set is the same for any
/// number of ranks.

#include <cstdint>
#include <memory>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/stats/power_spectrum.hpp"

namespace ksi::stats {

class GaussianBaseline {
 public:
  virtual ~GaussianBaseline() = default;
  /// Items [first, first + count) of the baseline keyed by `seed` (count x d).
  virtual Matrix draw(std::uint64_t seed, std::size_t first, std::size_t count) const = 0;
};

/// Gaussian random fields with a given shell power spectrum (PowerSpectrum conventions: every
/// Fourier mode gets the expected power of its shell, shell 0 aside) and a given mean value.
class GaussianFieldBaseline final : public GaussianBaseline {
 public:
  /// shell_power.size() == PowerSpectrum(shape.dims(), box_size).shells().
  GaussianFieldBaseline(const ItemShape& shape, double box_size, std::vector<double> shell_power,
                        double mean);
  Matrix draw(std::uint64_t seed, std::size_t first, std::size_t count) const override;

 private:
  PowerSpectrum spectrum_;
  std::vector<double> shell_power_;
  double mean_;
};

/// Vectors from N(mean, covariance).
class GaussianVectorBaseline final : public GaussianBaseline {
 public:
  /// NumericalError if the covariance is not positive semi-definite (a relative jitter of 1e-12
  /// times its mean diagonal lets singular covariances through).
  GaussianVectorBaseline(std::vector<double> mean, const Matrix& covariance);
  Matrix draw(std::uint64_t seed, std::size_t first, std::size_t count) const override;

 private:
  std::vector<double> mean_;
  Matrix factor_;  // lower-triangular L with L L^T = covariance (+ jitter)
};

}  // namespace ksi::stats
