#pragma once
/// @file
/// Double-double (compensated) sums. Sums of many doubles depend on their order at the level of the
/// last bit; in double-double the order changes the result by about 1e-32 relative, so the sum
/// rounded to double is the same for any partition of the terms (up to ties of probability ~1e-16).
/// ksi sums Gram matrices and data statistics this way, so fits are bitwise independent of the rank
/// count.

#include <span>

namespace ksi {

struct DoubleDouble {
  double hi = 0.0;
  double lo = 0.0;

  /// Adds one double (Knuth's two-sum, then renormalisation).
  void add(double x) noexcept {
    const double s = hi + x;
    const double bp = s - hi;
    const double err = (hi - (s - bp)) + (x - bp);
    lo += err;
    const double t = s + lo;
    lo = lo - (t - s);
    hi = t;
  }
  /// Adds another double-double.
  void add(const DoubleDouble& other) noexcept {
    const double s = hi + other.hi;
    const double bp = s - hi;
    const double err = (hi - (s - bp)) + (other.hi - bp);
    lo += err + other.lo;
    const double t = s + lo;
    lo = lo - (t - s);
    hi = t;
  }
  /// The sum rounded to double.
  double value() const noexcept { return hi; }
};

/// Adds values[i] into sums[i] for every i.
inline void add_into(std::span<DoubleDouble> sums, std::span<const double> values) noexcept {
  for (std::size_t i = 0; i < sums.size(); ++i) sums[i].add(values[i]);
}

}  // namespace ksi
