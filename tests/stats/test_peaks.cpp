// Peak counts on fields with planted maxima and minima (some across the periodic boundary) in 1D,
// 2D and 3D: every planted peak found in its height bin, nothing else, per unit volume.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/stats/peaks.hpp"

namespace {

using ksi::stats::HistogramBins;
using ksi::stats::PeakCounts;

struct Planted {
  std::vector<long> centre;
  double value;  // the field's value at the centre; the background is 0
};

// A flat background with cones of radius 2.5 cells: strictly decreasing away from their centres,
// so each is one local extremum, and the flat background holds none (plateaus are not extrema).
std::vector<double> plant(const std::vector<std::size_t>& dims, const std::vector<Planted>& peaks) {
  std::size_t size = 1;
  for (auto n : dims) size *= n;
  std::vector<double> f(size, 0.0);
  for (std::size_t q = 0; q < size; ++q) {
    std::vector<long> x(dims.size());
    std::size_t rest = q;
    for (std::size_t a = dims.size(); a-- > 0;) {
      x[a] = static_cast<long>(rest % dims[a]);
      rest /= dims[a];
    }
    for (const auto& p : peaks) {
      double d2 = 0.0;
      for (std::size_t a = 0; a < dims.size(); ++a) {
        const long n = static_cast<long>(dims[a]);
        long d = ((x[a] - p.centre[a]) % n + n) % n;
        d = std::min(d, n - d);  // periodic distance
        d2 += static_cast<double>(d * d);
      }
      const double r = std::sqrt(d2);
      if (r < 2.5) f[q] += p.value * (1.0 - r / 2.5);
    }
  }
  return f;
}

void expect_planted(const std::vector<std::size_t>& dims, const std::vector<Planted>& peaks) {
  const double box = 3.0, mean = 0.5, scale = 2.0;
  const HistogramBins heights(-4.0, 4.0, 16);  // width 0.5
  const PeakCounts counts(dims, box, heights);
  std::vector<double> maxima(counts.size()), minima(counts.size());
  counts.measure(plant(dims, peaks), mean, scale, maxima, minima);
  const double volume = std::pow(box, static_cast<double>(dims.size()));
  std::vector<double> expected_max(counts.size(), 0.0), expected_min(counts.size(), 0.0);
  for (const auto& p : peaks)
    (p.value > 0 ? expected_max : expected_min)[heights.index((p.value - mean) / scale)] +=
        1.0 / volume;
  for (std::size_t b = 0; b < counts.size(); ++b) {
    EXPECT_DOUBLE_EQ(maxima[b], expected_max[b]) << "maxima, bin " << b;
    EXPECT_DOUBLE_EQ(minima[b], expected_min[b]) << "minima, bin " << b;
  }
}

TEST(PeakCounts, FindsPlantedPeaksIn3D) {
  // Heights nu = (value - 0.5) / 2: 0.55 and 1.1 (bins of [0.5, 1) and [1, 1.5)), two at 2.25,
  // one at 5.25 (overflow); minima at -1.75, -3.75 and -5.25 (underflow). Two sit on the boundary.
  expect_planted({16, 12, 20}, {{{3, 3, 3}, 1.6},
                                {{10, 6, 15}, 2.7},
                                {{0, 0, 10}, 5.0},
                                {{8, 11, 0}, 5.0},
                                {{12, 2, 6}, 11.0},
                                {{4, 8, 12}, -3.0},
                                {{15, 5, 19}, -7.0},
                                {{8, 1, 14}, -10.0}});
}

TEST(PeakCounts, FindsPlantedPeaksIn2DAnd1D) {
  expect_planted({32, 24}, {{{5, 5}, 1.6}, {{31, 12}, 2.7}, {{20, 0}, -3.0}, {{14, 18}, 9.0}});
  expect_planted({64}, {{{0}, 1.6}, {{20}, -3.0}, {{40}, 2.7}, {{63 - 30}, -7.0}});
}

TEST(PeakCounts, NeedsThreePointsPerAxis) {
  EXPECT_THROW(PeakCounts({2, 8}, 1.0, HistogramBins(-1.0, 1.0, 2)), ksi::InputError);
}

}  // namespace
