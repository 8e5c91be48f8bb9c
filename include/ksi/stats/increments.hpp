#pragma once
/// @file
/// Increment PDFs of real periodic fields (1D series, 2D, 3D) at a few separations:
///
///     delta_r f(x) = f(x + r e_a) - f(x),   r in grid points, periodic, pooled over the D axes,
///
/// histogrammed in units of a given scale per separation (`ksi stats`: the training set's RMS
/// increment at that separation, sqrt(S_2(r)) pooled over its fields, so that every set is binned
/// alike and the PDFs show amplitude as well as shape). For a series the separations are lags.

#include <span>
#include <vector>

#include "ksi/stats/one_point.hpp"

namespace ksi::stats {

class IncrementPdf {
 public:
  /// For fields of shape `dims` (1 to 3 axes); separations in 1 .. floor(min n_a / 2), distinct
  /// (UsageError otherwise); the fractions of delta_r / scale_r in the bins of `bins`.
  IncrementPdf(std::vector<std::size_t> dims, std::vector<std::size_t> separations,
               HistogramBins bins);

  const std::vector<std::size_t>& separations() const noexcept { return separations_; }
  const HistogramBins& bins() const noexcept { return bins_; }
  /// separations().size() x bins().size().
  std::size_t size() const noexcept { return separations_.size() * bins_.size(); }

  /// The mean of delta_r^2 over points and axes for each separation (S_2(r)); out.size() ==
  /// separations().size().
  void mean_squares(std::span<const double> field, std::span<double> out) const;

  /// out[s * bins().size() + b]: the fraction of the increments at separations()[s], divided by
  /// scales[s], in bin b; out.size() == size().
  void measure(std::span<const double> field, std::span<const double> scales,
               std::span<double> out) const;

 private:
  // Calls visit(a, b, length) for every pair of contiguous runs whose differences b - a are the
  // increments at separation r (all axes, periodic).
  template <class Visit>
  void for_each_run(const double* f, std::size_t r, Visit&& visit) const;

  std::vector<std::size_t> dims_;
  std::size_t field_size_;
  std::vector<std::size_t> separations_;
  HistogramBins bins_;
};

}  // namespace ksi::stats
