#pragma once
/// @file
/// Structure functions of real periodic fields along the grid axes:
///
///     S_p(r) = (1 / D) sum_a (1 / N) sum_x |f(x + r e_a) - f(x)|^p,   p = 2 .. 6, r = 1 .. R,
///
/// with r in grid points (the physical separation is r L / n_a), the increments taken periodically
/// and averaged over all D axes. Absolute increments are used for every order, as for scaling
/// exponents (the signed third-order law of turbulence is not what is compared here).

#include <span>
#include <vector>

namespace ksi::stats {

class StructureFunctions {
 public:
  static constexpr int kMinOrder = 2;
  static constexpr int kMaxOrder = 6;

  /// For fields of shape `dims`; separations r = 1 .. R with R = max_separation, or floor(min n_a /
  /// 2) when max_separation is 0 (InputError when it exceeds that: increments would wrap around).
  StructureFunctions(std::vector<std::size_t> dims, std::size_t max_separation = 0);

  std::size_t orders() const noexcept { return kMaxOrder - kMinOrder + 1; }
  std::size_t separations() const noexcept { return max_separation_; }
  /// Values of S for one field: orders() x separations().
  std::size_t size() const noexcept { return orders() * separations(); }

  /// out[(p - kMinOrder) * separations() + (r - 1)] = S_p(r); out.size() == size().
  void measure(std::span<const double> field, std::span<double> out) const;

 private:
  std::vector<std::size_t> dims_;
  std::size_t field_size_;
  std::size_t max_separation_;
};

}  // namespace ksi::stats
