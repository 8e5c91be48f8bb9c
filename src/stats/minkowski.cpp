#include "ksi/stats/minkowski.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {
namespace {

using Level = unsigned short;

// out(x) = min(in(x), in(x + e_axis)), periodically: a level of the complex's cells one dimension
// up (points -> edges -> squares -> cubes) is the lowest level of its corners.
void shifted_min(const std::vector<Level>& in, const std::vector<std::size_t>& dims,
                 std::size_t axis, std::vector<Level>& out) {
  std::size_t outer = 1, inner = 1;
  for (std::size_t a = 0; a < axis; ++a) outer *= dims[a];
  for (std::size_t a = axis + 1; a < dims.size(); ++a) inner *= dims[a];
  const std::size_t n = dims[axis];
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t i = 0; i < n; ++i) {
      const Level* a = in.data() + (o * n + i) * inner;
      const Level* b = in.data() + (o * n + (i + 1) % n) * inner;
      Level* c = out.data() + (o * n + i) * inner;
      for (std::size_t q = 0; q < inner; ++q) c[q] = std::min(a[q], b[q]);
    }
}

// counts[t] = cells whose level exceeds t, i.e. whose corners are all at or above threshold t.
std::vector<double> cells_above(const std::vector<Level>& levels, std::size_t thresholds) {
  std::vector<double> histogram(thresholds + 1, 0.0);
  for (Level l : levels) histogram[l] += 1.0;
  std::vector<double> counts(thresholds, 0.0);
  double above = 0.0;
  for (std::size_t t = thresholds; t-- > 0;) {
    above += histogram[t + 1];
    counts[t] = above;
  }
  return counts;
}

}  // namespace

MinkowskiFunctionals::MinkowskiFunctionals(std::vector<std::size_t> dims, double box_size,
                                           std::vector<double> thresholds)
    : dims_(std::move(dims)), thresholds_(std::move(thresholds)) {
  if (dims_.size() < 2 || dims_.size() > 3)
    throw InputError("Minkowski functionals are measured on 2D and 3D grids");
  if (*std::min_element(dims_.begin(), dims_.end()) < 2)
    throw InputError("Minkowski functionals need at least 2 points per grid axis");
  if (!(box_size > 0.0) || !std::isfinite(box_size))
    throw InputError(cat("box size ", box_size, " is not a positive length"));
  if (thresholds_.empty() || thresholds_.size() >= std::numeric_limits<Level>::max())
    throw UsageError(cat("Minkowski functionals need 1 to ", std::numeric_limits<Level>::max() - 1,
                         " thresholds"));
  for (std::size_t t = 0; t < thresholds_.size(); ++t)
    if (!std::isfinite(thresholds_[t]) || (t > 0 && !(thresholds_[t] > thresholds_[t - 1])))
      throw UsageError("Minkowski thresholds must be finite and increasing");
  for (std::size_t n : dims_) spacing_.push_back(box_size / static_cast<double>(n));
}

void MinkowskiFunctionals::measure(std::span<const double> field, double mean, double scale,
                                   std::span<double> out) const {
  std::size_t size_of_field = 1;
  for (std::size_t n : dims_) size_of_field *= n;
  ensure(field.size() == size_of_field && out.size() == size(), "Minkowski functional sizes");
  const std::size_t T = thresholds_.size();
  const std::size_t D = dims_.size();
  level_.resize(field.size());
  edge_.resize(field.size());
  face_.resize(field.size());
  cube_.resize(field.size());
  // Level of a point: how many thresholds lie at or below its value. Monotone in the value, so a
  // cell is in the excursion set of threshold t exactly when the lowest level of its corners
  // exceeds t.
  for (std::size_t x = 0; x < field.size(); ++x) {
    const double u = (field[x] - mean) / scale;
    level_[x] = static_cast<Level>(std::upper_bound(thresholds_.begin(), thresholds_.end(), u) -
                                   thresholds_.begin());
  }
  const std::vector<double> points = cells_above(level_, T);
  std::vector<std::vector<double>> edges(D), faces(D * D);
  std::vector<double> cubes(T, 0.0);
  for (std::size_t a = 0; a < D; ++a) {
    shifted_min(level_, dims_, a, edge_);
    edges[a] = cells_above(edge_, T);
    for (std::size_t b = a + 1; b < D; ++b) {
      shifted_min(edge_, dims_, b, face_);
      faces[a * D + b] = cells_above(face_, T);
      if (D == 3 && a == 0 && b == 1) {
        shifted_min(face_, dims_, 2, cube_);
        cubes = cells_above(cube_, T);
      }
    }
  }

  const double N = static_cast<double>(field.size());
  const double* h = spacing_.data();
  for (std::size_t t = 0; t < T; ++t) {
    double lines = 0.0, planes = 0.0, euler = points[t];
    for (std::size_t a = 0; a < D; ++a) {
      lines += (points[t] - edges[a][t]) / (N * h[a]);
      euler -= edges[a][t];
      for (std::size_t b = a + 1; b < D; ++b) {
        planes += (points[t] - edges[a][t] - edges[b][t] + faces[a * D + b][t]) / (N * h[a] * h[b]);
        euler += faces[a * D + b][t];
      }
    }
    out[t] = points[t] / N;
    if (D == 3) {
      euler -= cubes[t];
      out[T + t] = 2.0 / 9.0 * lines;
      out[2 * T + t] = 2.0 / 9.0 * planes;
      out[3 * T + t] = euler / (N * h[0] * h[1] * h[2]);
    } else {
      out[T + t] = std::numbers::pi / 8.0 * lines;
      out[2 * T + t] = euler / (N * h[0] * h[1]);
    }
  }
}

double gaussian_minkowski(std::size_t dimension, std::size_t functional, double nu,
                          double sigma_ratio) {
  const double pi = std::numbers::pi;
  const double gauss = std::exp(-0.5 * nu * nu);
  if (functional == 0) return 0.5 * std::erfc(nu / std::numbers::sqrt2);
  if (dimension == 3) {
    const double lambda = sigma_ratio / std::sqrt(6.0 * pi);
    const double root = std::sqrt(2.0 * pi);
    switch (functional) {
      case 1:
        return 2.0 / 3.0 * lambda / root * gauss;
      case 2:
        return 2.0 / 3.0 * lambda * lambda / root * nu * gauss;
      case 3:
        return lambda * lambda * lambda / root * (nu * nu - 1.0) * gauss;
    }
  } else if (dimension == 2) {
    switch (functional) {
      case 1:
        return sigma_ratio / (8.0 * std::numbers::sqrt2) * gauss;
      case 2:
        return sigma_ratio * sigma_ratio / (2.0 * std::pow(2.0 * pi, 1.5)) * nu * gauss;
    }
  }
  throw InputError(cat("no Minkowski functional V_", functional, " in ", dimension, "D"));
}

}  // namespace ksi::stats
