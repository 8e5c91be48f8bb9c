#include "ksi/stats/increments.hpp"

#include <algorithm>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {

IncrementPdf::IncrementPdf(std::vector<std::size_t> dims, std::vector<std::size_t> separations,
                           HistogramBins bins)
    : dims_(std::move(dims)), separations_(std::move(separations)), bins_(bins) {
  if (dims_.empty() || dims_.size() > 3) throw InputError("increments need 1 to 3 grid axes");
  field_size_ = 1;
  for (auto n : dims_) field_size_ *= n;
  const std::size_t largest = *std::min_element(dims_.begin(), dims_.end()) / 2;
  if (separations_.empty()) throw UsageError("increment PDFs need at least one separation");
  for (std::size_t s = 0; s < separations_.size(); ++s) {
    const std::size_t r = separations_[s];
    if (r < 1 || r > largest)
      throw UsageError(cat("increment separation ", r, " is outside 1 .. ", largest,
                           " (half the smallest grid axis)"));
    if (std::find(separations_.begin(), separations_.begin() + s, r) != separations_.begin() + s)
      throw UsageError(cat("increment separation ", r, " is given twice"));
  }
}

template <class Visit>
void IncrementPdf::for_each_run(const double* f, std::size_t r, Visit&& visit) const {
  for (std::size_t axis = 0; axis < dims_.size(); ++axis) {
    // The field as (outer, n, inner) with the axis in the middle; inner runs are contiguous.
    std::size_t outer = 1, inner = 1;
    for (std::size_t a = 0; a < axis; ++a) outer *= dims_[a];
    for (std::size_t a = axis + 1; a < dims_.size(); ++a) inner *= dims_[a];
    const std::size_t n = dims_[axis];
    for (std::size_t o = 0; o < outer; ++o) {
      const double* slab = f + o * n * inner;
      if (inner == 1) {  // along the fastest axis: two runs around the wrap
        visit(slab, slab + r, n - r);
        visit(slab + (n - r), slab, r);
        continue;
      }
      for (std::size_t i = 0; i < n; ++i)
        visit(slab + i * inner, slab + ((i + r) % n) * inner, inner);
    }
  }
}

void IncrementPdf::mean_squares(std::span<const double> field, std::span<double> out) const {
  ensure(field.size() == field_size_ && out.size() == separations_.size(), "increment sizes");
  const double norm = 1.0 / (static_cast<double>(field_size_) * static_cast<double>(dims_.size()));
  for (std::size_t s = 0; s < separations_.size(); ++s) {
    double sum = 0.0;
    for_each_run(field.data(), separations_[s],
                 [&](const double* a, const double* b, std::size_t m) {
                   double run = 0.0;
                   for (std::size_t i = 0; i < m; ++i) run += (b[i] - a[i]) * (b[i] - a[i]);
                   sum += run;
                 });
    out[s] = sum * norm;
  }
}

void IncrementPdf::measure(std::span<const double> field, std::span<const double> scales,
                           std::span<double> out) const {
  ensure(
      field.size() == field_size_ && scales.size() == separations_.size() && out.size() == size(),
      "increment sizes");
  std::fill(out.begin(), out.end(), 0.0);
  const double norm = 1.0 / (static_cast<double>(field_size_) * static_cast<double>(dims_.size()));
  for (std::size_t s = 0; s < separations_.size(); ++s) {
    double* counts = out.data() + s * bins_.size();
    const double inverse = 1.0 / scales[s];
    for_each_run(field.data(), separations_[s],
                 [&](const double* a, const double* b, std::size_t m) {
                   for (std::size_t i = 0; i < m; ++i)
                     counts[bins_.index((b[i] - a[i]) * inverse)] += 1.0;
                 });
    for (std::size_t b = 0; b < bins_.size(); ++b) counts[b] *= norm;
  }
}

}  // namespace ksi::stats
