#include "ksi/stats/peaks.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {

PeakCounts::PeakCounts(std::vector<std::size_t> dims, double box_size, HistogramBins heights)
    : volume_(1.0), heights_(heights) {
  if (dims.empty() || dims.size() > 3) throw InputError("peak counts need 1 to 3 grid axes");
  if (*std::min_element(dims.begin(), dims.end()) < 3)
    throw InputError("peak counts need at least 3 points per grid axis");
  if (!(box_size > 0.0) || !std::isfinite(box_size))
    throw InputError(cat("box size ", box_size, " is not a positive length"));
  for (std::size_t a = 0; a < dims.size(); ++a) volume_ *= box_size;
  dims_.assign(3 - dims.size(), 1);
  dims_.insert(dims_.end(), dims.begin(), dims.end());
}

void PeakCounts::measure(std::span<const double> field, double mean, double scale,
                         std::span<double> maxima, std::span<double> minima) const {
  const std::size_t n0 = dims_[0], n1 = dims_[1], n2 = dims_[2];
  ensure(field.size() == n0 * n1 * n2 && maxima.size() == size() && minima.size() == size(),
         "peak count sizes");
  std::fill(maxima.begin(), maxima.end(), 0.0);
  std::fill(minima.begin(), minima.end(), 0.0);
  // Offsets of the previous, same and next coordinate along each axis (wrapped), in values; a
  // padded axis of one point has only the same coordinate.
  const auto neighbours = [](std::size_t i, std::size_t n, std::size_t stride,
                             std::array<std::size_t, 3>& at) {
    at = {((i + n - 1) % n) * stride, i * stride, ((i + 1) % n) * stride};
    return n == 1 ? std::array<int, 2>{1, 1} : std::array<int, 2>{0, 2};
  };
  const double* f = field.data();
  std::array<std::size_t, 3> I, J, K;
  for (std::size_t i = 0; i < n0; ++i) {
    const auto ri = neighbours(i, n0, n1 * n2, I);
    for (std::size_t j = 0; j < n1; ++j) {
      const auto rj = neighbours(j, n1, n2, J);
      for (std::size_t k = 0; k < n2; ++k) {
        const auto rk = neighbours(k, n2, 1, K);
        const double v = f[I[1] + J[1] + K[1]];
        bool is_max = true, is_min = true;
        for (int a = ri[0]; a <= ri[1] && (is_max || is_min); ++a)
          for (int b = rj[0]; b <= rj[1] && (is_max || is_min); ++b)
            for (int c = rk[0]; c <= rk[1]; ++c) {
              if (a == 1 && b == 1 && c == 1) continue;
              const double w = f[I[a] + J[b] + K[c]];
              is_max = is_max && v > w;
              is_min = is_min && v < w;
              if (!is_max && !is_min) break;
            }
        if (is_max) maxima[heights_.index((v - mean) / scale)] += 1.0;
        if (is_min) minima[heights_.index((v - mean) / scale)] += 1.0;
      }
    }
  }
  for (double& c : maxima) c /= volume_;
  for (double& c : minima) c /= volume_;
}

}  // namespace ksi::stats
