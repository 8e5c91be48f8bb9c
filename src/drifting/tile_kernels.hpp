#pragma once
// libksi-internal: the all-pairs inner loops of the drifting room. A source tile is `tile` rows
// stored by coordinate (tile_soa[k * tile + j] is coordinate k of row j, zero-padded past `count`),
// so the loops over j are unit-stride and vectorise; partial sums are kept in kLanes independent
// lanes and combined in a fixed order, so a (target, tile) partial is the same whichever rank
// computes it.
#include <cstddef>
#include <vector>

#include "ksi/core/aligned.hpp"

namespace ksi::drifting::detail {

/// Independent partial sums per loop; the tile size must be a multiple of it.
inline constexpr std::size_t kLanes = 8;

/// One row of accumulators per target: `width` sums scaled by 2^shift, each held as an unevaluated
/// sum hi + lo (error-free additions), so the order in which tiles arrive does not matter.
struct ScaledSums {
  std::size_t rows = 0;
  std::size_t width = 0;
  std::vector<double> shift;  // -inf while a row has received nothing
  AlignedVector<double> hi;
  AlignedVector<double> lo;

  void reset(std::size_t row_count, std::size_t row_width);
  /// hi + lo of value q of row i, times 2^shift is the sum; this returns the unscaled pair sum.
  double value(std::size_t i, std::size_t q) const { return hi[i * width + q] + lo[i * width + q]; }
};

/// Where a tile's rows sit in the global index and what the targets are.
struct TileBlock {
  const double* targets;     // rows x d, row-major
  std::size_t rows;          // targets
  std::size_t first_target;  // global index of target 0
  std::size_t dimension;     // d
  const double* tile_soa;    // d x tile
  std::size_t tile;          // padded tile length (multiple of kLanes)
  std::size_t count;         // valid source rows in the tile
  std::size_t first_source;  // global index of source row 0
};

/// Adds, for every target x_i, the kernel sums over the tile's sources y_j:
///   sum_j w_ij and sum_j w_ij (y_j - x_i),   w_ij = 2^(e_ij - s_i),
/// with e = -|x - y|^2 log2(e) / (2 h^2) (gauss) or -|x - y| log2(e) / h (laplace) and s_i the
/// floor of the tile's largest exponent (sums.width = 1 + d, value 0 the weight sum). With
/// `exclude_self` the source with the target's global index is left out. `scratch` holds at least
/// (2 + d) * tile values.
void accumulate_kernel_tile(const TileBlock& block, bool laplace, double exponent_scale,
                            bool exclude_self, ScaledSums& sums, double* scratch);

/// Adds sum_j |x_i - y_j| to hi[i] + lo[i] for every target (error-free additions).
void accumulate_distance_tile(const TileBlock& block, double* hi, double* lo, double* scratch);

/// s + t = a + b exactly (Knuth's TwoSum), accumulated into (hi, lo).
inline void add_exact(double& hi, double& lo, double value) {
  const double sum = hi + value;
  const double b = sum - hi;
  const double error = (hi - (sum - b)) + (value - b);
  hi = sum;
  lo += error;
}

}  // namespace ksi::drifting::detail
