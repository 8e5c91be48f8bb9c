#include "ksi/stats/structure_functions.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {
namespace {

// Values of one cache tile (n rows of a run along the faster axes): 32768 doubles = 256 kB.
constexpr std::size_t kTileValues = 32768;

// Sums of |b - a|^p for p = 1 .. 6 over two contiguous runs; one pass, no pow().
struct IncrementSums {
  std::array<double, 6> sum{};

  void add(const double* a, const double* b, std::size_t length) {
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0;
    for (std::size_t i = 0; i < length; ++i) {
      const double d = b[i] - a[i];
      const double ad = std::abs(d);
      const double d2 = d * d;
      const double d4 = d2 * d2;
      s1 += ad;
      s2 += d2;
      s3 += d2 * ad;
      s4 += d4;
      s5 += d4 * ad;
      s6 += d4 * d2;
    }
    sum[0] += s1, sum[1] += s2, sum[2] += s3, sum[3] += s4, sum[4] += s5, sum[5] += s6;
  }
};

}  // namespace

StructureFunctions::StructureFunctions(std::vector<std::size_t> dims, std::size_t max_separation)
    : dims_(std::move(dims)) {
  if (dims_.empty() || dims_.size() > 3)
    throw InputError("structure functions need 1 to 3 grid axes");
  const std::size_t smallest = *std::min_element(dims_.begin(), dims_.end());
  if (smallest < 2) throw InputError("structure functions need at least 2 points per grid axis");
  field_size_ = 1;
  for (auto n : dims_) field_size_ *= n;
  const std::size_t largest = smallest / 2;
  if (max_separation > largest)
    throw UsageError(cat("structure-function separation ", max_separation,
                         " exceeds half the smallest grid axis (", largest, ")"));
  max_separation_ = max_separation == 0 ? largest : max_separation;
}

void StructureFunctions::measure(std::span<const double> field, std::span<double> out) const {
  ensure(field.size() == field_size_ && out.size() == size(), "structure function sizes");
  const std::size_t R = max_separation_;
  std::vector<IncrementSums> sums(R);
  const double* f = field.data();
  for (std::size_t axis = 0; axis < dims_.size(); ++axis) {
    // View the field as (outer, n, inner) with the axis in the middle; inner runs are contiguous.
    std::size_t outer = 1, inner = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= dims_[a];
    for (std::size_t a = axis + 1; a < dims_.size(); ++a) inner *= dims_[a];
    const std::size_t n = dims_[axis];
    // All separations are taken over one tile (n rows of `tile` values) before the next, so the
    // tile is read from cache R times instead of the whole field from memory.
    const std::size_t tile = std::clamp<std::size_t>(kTileValues / n, 1, inner);
    for (std::size_t o = 0; o < outer; ++o) {
      const double* slab = f + o * n * inner;
      if (inner == 1) {
        // Along the fastest axis the pairs (i, i + r) form two contiguous runs around the wrap.
        for (std::size_t r = 1; r <= R; ++r) {
          sums[r - 1].add(slab, slab + r, n - r);
          sums[r - 1].add(slab + (n - r), slab, r);
        }
        continue;
      }
      for (std::size_t j = 0; j < inner; j += tile) {
        const std::size_t length = std::min(tile, inner - j);
        for (std::size_t r = 1; r <= R; ++r)
          for (std::size_t i = 0; i < n; ++i)
            sums[r - 1].add(slab + i * inner + j, slab + ((i + r) % n) * inner + j, length);
      }
    }
  }
  const double norm = 1.0 / (static_cast<double>(field_size_) * static_cast<double>(dims_.size()));
  for (int p = kMinOrder; p <= kMaxOrder; ++p)
    for (std::size_t r = 1; r <= R; ++r)
      out[static_cast<std::size_t>(p - kMinOrder) * R + (r - 1)] =
          sums[r - 1].sum[static_cast<std::size_t>(p - 1)] * norm;
}

}  // namespace ksi::stats
