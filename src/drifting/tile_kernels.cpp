#include "drifting/tile_kernels.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

// The inner loops are compiled for several instruction sets and the best one the processor offers
// is chosen at load time (GNU ifunc), so a default build still runs 4- or 8-wide where it can.
// Every clone does the same IEEE operations per lane; only fused multiply-adds may differ between
// clones, and all ranks of a job on one kind of node use the same clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define KSI_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KSI_VECTOR_CLONES
#endif

namespace ksi::drifting::detail {
namespace {

constexpr double kNegativeInfinity = -std::numeric_limits<double>::infinity();
// Below this exponent a weight is dropped: it is < 2^-1022 of the tile's largest weight.
constexpr double kSmallestExponent = -1022.0;
// A tile whose weight sum (unscaled) is below this is rescaled: it keeps > 60 significant bits.
constexpr double kRescaleBelow = 0x1p-960;

// 2^x for x <= 1 (larger x is never asked for: exponents are shifted by the tile maximum), written
// as straight-line arithmetic so the loop vectorises: x = n + f with n = round(x), |f| <= 1/2, and
// 2^f = exp(f ln 2) by its Taylor series to degree 13 (truncation < 5e-18 relative); 2^n is built
// in the exponent field. Accurate to about 1 ulp; x below -1022 (including -inf) gives 0.
[[gnu::always_inline]] inline double exp2_bounded(double x) {
  constexpr double kRoundShift = 0x1.8p52;  // adding it rounds to an integer in the low bits
  const double clamped = x < kSmallestExponent ? kSmallestExponent : x;
  const double shifted = clamped + kRoundShift;
  const double n = shifted - kRoundShift;
  const double g = (clamped - n) * 0.69314718055994530942;
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * g + 1.0 / 479001600.0;
  p = p * g + 1.0 / 39916800.0;
  p = p * g + 1.0 / 3628800.0;
  p = p * g + 1.0 / 362880.0;
  p = p * g + 1.0 / 40320.0;
  p = p * g + 1.0 / 5040.0;
  p = p * g + 1.0 / 720.0;
  p = p * g + 1.0 / 120.0;
  p = p * g + 1.0 / 24.0;
  p = p * g + 1.0 / 6.0;
  p = p * g + 0.5;
  p = p * g + 1.0;
  p = p * g + 1.0;
  // The low bits of `shifted` hold n in two's complement; n + 1023 in [1, 1024] is the biased
  // exponent.
  const std::uint64_t biased = (std::bit_cast<std::uint64_t>(shifted) + 1023u) << 52;
  const double scale = std::bit_cast<double>(biased);
  return x < kSmallestExponent ? 0.0 : p * scale;
}

// Fixed-order combination of the lanes.
inline double sum_lanes(const double* lane) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}
static_assert(kLanes == 8, "sum_lanes combines eight lanes");

// The largest of n values (n a multiple of kLanes), in lanes so that the loop vectorises.
inline double largest_value(const double* values, std::size_t n) {
  double lanes[kLanes];
  for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = kNegativeInfinity;
  for (std::size_t j = 0; j < n; j += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      const double v = values[j + l];
      lanes[l] = v > lanes[l] ? v : lanes[l];
    }
  double largest = lanes[0];
  for (std::size_t l = 1; l < kLanes; ++l) largest = largest > lanes[l] ? largest : lanes[l];
  return largest;
}

// Squared distances from x to the tile's rows (all padded rows included).
inline void squared_distances(const double* x, const TileBlock& block, double* r2) {
  const std::size_t tile = block.tile;
  for (std::size_t j = 0; j < tile; ++j) r2[j] = 0.0;
  for (std::size_t k = 0; k < block.dimension; ++k) {
    const double xk = x[k];
    const double* yk = block.tile_soa + k * tile;
    for (std::size_t j = 0; j < tile; ++j) {
      const double diff = yk[j] - xk;
      r2[j] += diff * diff;
    }
  }
}

// The common case in one pass over the tile, for small d known at compile time: distances, weights
// 2^e (no rescaling) and the weighted sums, lane by lane. Returns false, leaving the tile to the
// general path, when the tile's weights are too small to be summed unscaled.
template <std::size_t D, bool Laplace>
[[gnu::always_inline]] inline bool fused_tile(const double* x, const TileBlock& block,
                                              double exponent_scale, double* partial) {
  const std::size_t tile = block.tile;
  const std::size_t count = block.count;
  const double* y = block.tile_soa;
  double weight_lanes[kLanes] = {};
  double shift_lanes[D][kLanes] = {};
  for (std::size_t j = 0; j < tile; j += kLanes)
    for (std::size_t l = 0; l < kLanes; ++l) {
      double diff[D];
      double r2 = 0.0;
      for (std::size_t k = 0; k < D; ++k) {
        diff[k] = y[k * tile + j + l] - x[k];
        r2 += diff[k] * diff[k];
      }
      double exponent = Laplace ? -std::sqrt(r2) * exponent_scale : -r2 * exponent_scale;
      exponent = j + l < count ? exponent : kNegativeInfinity;
      const double w = exp2_bounded(exponent);
      weight_lanes[l] += w;
      for (std::size_t k = 0; k < D; ++k) shift_lanes[k][l] += w * diff[k];
    }
  partial[0] = sum_lanes(weight_lanes);
  if (partial[0] < kRescaleBelow) return false;
  for (std::size_t k = 0; k < D; ++k) partial[1 + k] = sum_lanes(shift_lanes[k]);
  return true;
}

template <bool Laplace>
[[gnu::always_inline]] inline bool fused_tile_for(std::size_t d, const double* x,
                                                  const TileBlock& block, double exponent_scale,
                                                  double* partial) {
  switch (d) {
    case 1:
      return fused_tile<1, Laplace>(x, block, exponent_scale, partial);
    case 2:
      return fused_tile<2, Laplace>(x, block, exponent_scale, partial);
    case 3:
      return fused_tile<3, Laplace>(x, block, exponent_scale, partial);
    case 4:
      return fused_tile<4, Laplace>(x, block, exponent_scale, partial);
    default:
      return false;
  }
}

// Merges one tile's partial sums (scaled by 2^-shift) into row i; rescaling by powers of two is
// exact, and the additions are error-free, so the order of tiles does not matter.
inline void merge_partial(const double* partial, double shift, ScaledSums& sums, std::size_t i) {
  const std::size_t width = sums.width;
  double* hi = sums.hi.data() + i * width;
  double* lo = sums.lo.data() + i * width;
  double& current = sums.shift[i];
  if (current == kNegativeInfinity) {
    current = shift;
    for (std::size_t q = 0; q < width; ++q) {
      hi[q] = partial[q];
      lo[q] = 0.0;
    }
    return;
  }
  if (shift > current) {
    const double factor = std::ldexp(1.0, static_cast<int>(std::max(current - shift, -2000.0)));
    for (std::size_t q = 0; q < width; ++q) {
      hi[q] *= factor;
      lo[q] *= factor;
    }
    current = shift;
  }
  const double factor = std::ldexp(1.0, static_cast<int>(std::max(shift - current, -2000.0)));
  for (std::size_t q = 0; q < width; ++q) add_exact(hi[q], lo[q], partial[q] * factor);
}

}  // namespace

void ScaledSums::reset(std::size_t row_count, std::size_t row_width) {
  rows = row_count;
  width = row_width;
  shift.assign(row_count, kNegativeInfinity);
  hi.assign(row_count * row_width, 0.0);
  lo.assign(row_count * row_width, 0.0);
}

KSI_VECTOR_CLONES
void accumulate_kernel_tile(const TileBlock& block, bool laplace, double exponent_scale,
                            bool exclude_self, ScaledSums& sums, double* scratch) {
  const std::size_t tile = block.tile;
  const std::size_t d = block.dimension;
  double* exponent = scratch;
  double* weight = scratch + tile;
  double* partial = scratch + 2 * tile;  // 1 + d values
  double lanes[kLanes];
  for (std::size_t i = 0; i < block.rows; ++i) {
    const double* x = block.targets + i * d;
    const std::size_t target = block.first_target + i;
    const bool self_in_tile =
        exclude_self && target >= block.first_source && target < block.first_source + block.count;
    // Which path a (target, tile) pair takes depends on global indices and values only, never on
    // the rank that computes it.
    const bool fused =
        !self_in_tile && (laplace ? fused_tile_for<true>(d, x, block, exponent_scale, partial)
                                  : fused_tile_for<false>(d, x, block, exponent_scale, partial));
    if (fused) {
      merge_partial(partial, 0.0, sums, i);
      continue;
    }
    squared_distances(x, block, exponent);
    if (laplace) {
      for (std::size_t j = 0; j < tile; ++j) exponent[j] = -std::sqrt(exponent[j]) * exponent_scale;
    } else {
      for (std::size_t j = 0; j < tile; ++j) exponent[j] = -exponent[j] * exponent_scale;
    }
    for (std::size_t j = block.count; j < tile; ++j) exponent[j] = kNegativeInfinity;
    if (self_in_tile) exponent[target - block.first_source] = kNegativeInfinity;

    // Exponents are <= 0, so 2^e cannot overflow; only when the whole tile is so far away that its
    // weights underflow is the tile rescaled by its largest exponent (log-sum-exp).
    double shift = 0.0;
    for (std::size_t j = 0; j < tile; ++j) weight[j] = exp2_bounded(exponent[j]);
    for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = 0.0;
    for (std::size_t j = 0; j < tile; j += kLanes)
      for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += weight[j + l];
    if (sum_lanes(lanes) < kRescaleBelow) {
      const double largest = largest_value(exponent, tile);
      if (largest == kNegativeInfinity) continue;  // nothing in this tile counts for this target
      shift = std::floor(largest);
      for (std::size_t j = 0; j < tile; ++j) weight[j] = exp2_bounded(exponent[j] - shift);
      for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = 0.0;
      for (std::size_t j = 0; j < tile; j += kLanes)
        for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += weight[j + l];
    }
    partial[0] = sum_lanes(lanes);
    for (std::size_t k = 0; k < d; ++k) {
      const double xk = x[k];
      const double* yk = block.tile_soa + k * tile;
      for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = 0.0;
      for (std::size_t j = 0; j < tile; j += kLanes)
        for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += weight[j + l] * (yk[j + l] - xk);
      partial[1 + k] = sum_lanes(lanes);
    }

    merge_partial(partial, shift, sums, i);
  }
}

KSI_VECTOR_CLONES
void accumulate_distance_tile(const TileBlock& block, double* hi, double* lo, double* scratch) {
  const std::size_t tile = block.tile;
  double* distance = scratch;
  double lanes[kLanes];
  for (std::size_t i = 0; i < block.rows; ++i) {
    squared_distances(block.targets + i * block.dimension, block, distance);
    for (std::size_t j = 0; j < tile; ++j) distance[j] = std::sqrt(distance[j]);
    for (std::size_t j = block.count; j < tile; ++j) distance[j] = 0.0;
    for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = 0.0;
    for (std::size_t j = 0; j < tile; j += kLanes)
      for (std::size_t l = 0; l < kLanes; ++l) lanes[l] += distance[j + l];
    add_exact(hi[i], lo[i], sum_lanes(lanes));
  }
}

}  // namespace ksi::drifting::detail
