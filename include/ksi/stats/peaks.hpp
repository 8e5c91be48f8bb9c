#pragma once
/// @file
/// Peak counts of real periodic fields (1D, 2D, 3D): local maxima and minima binned by height.
///
/// A grid point is a local maximum when its value exceeds that of each of its 3^D - 1 neighbours
/// (the points differing by -1, 0 or +1 along every axis, periodically), a local minimum when it is
/// below all of them; plateaus hold neither. Heights are in units of a given standardisation,
/// nu = (f - mean) / scale (`ksi stats`: the training set's mean and standard deviation of values),
/// binned by HistogramBins (so peaks below and above the range still count), and counted per unit
/// volume V = L^D.

#include <span>
#include <vector>

#include "ksi/stats/one_point.hpp"

namespace ksi::stats {

class PeakCounts {
 public:
  /// For fields of shape `dims` (1 to 3 axes, each at least 3 points, so that the two neighbours
  /// along an axis differ) in a box of side `box_size`; heights binned by `heights`.
  PeakCounts(std::vector<std::size_t> dims, double box_size, HistogramBins heights);

  const HistogramBins& heights() const noexcept { return heights_; }
  /// Values of one kind (maxima or minima): heights().size().
  std::size_t size() const noexcept { return heights_.size(); }

  /// Maxima and minima per unit volume in each height bin of nu = (f - mean) / scale;
  /// maxima.size() == minima.size() == size().
  void measure(std::span<const double> field, double mean, double scale, std::span<double> maxima,
               std::span<double> minima) const;

 private:
  std::vector<std::size_t> dims_;  // padded to 3 axes with leading 1s
  double volume_;
  HistogramBins heights_;
};

}  // namespace ksi::stats
