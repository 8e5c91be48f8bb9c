#pragma once
// features-internal: sin over arrays, written as straight-line arithmetic so loops over it
// vectorise (glibc's sin is a scalar call per element and dominated the Fourier-feature cost).
// Accurate to a few ulp for |x| < 2^29: Cody-Waite reduction by 2 pi, reflection into [-pi/2,
// pi/2], odd Taylor polynomial to degree 21 (truncation < 3e-17).
#include <algorithm>
#include <cmath>
#include <cstddef>

namespace ksi::features::detail {

[[gnu::always_inline]] inline double sine(double x) {
  constexpr double kInverseTwoPi = 0.15915494309189533577;
  // 2 pi = kTwoPi1 + kTwoPi2 + kTwoPi3 with 24-bit leading parts, so n * kTwoPi1 and n * kTwoPi2
  // are exact for |n| < 2^29 (Cody-Waite).
  constexpr double kTwoPi1 = 6.2831854820251465;
  constexpr double kTwoPi2 = -1.7484555314695172e-07;
  constexpr double kTwoPi3 = -6.8604979977715316e-15;
  constexpr double kPi = 3.141592653589793;
  constexpr double kPiLow = 1.2246467991473532e-16;
  constexpr double kRoundShift = 0x1.8p52;
  const double n = (x * kInverseTwoPi + kRoundShift) - kRoundShift;        // nearest integer
  const double reduced = ((x - n * kTwoPi1) - n * kTwoPi2) - n * kTwoPi3;  // in [-pi, pi]
  // sin(r) = sin(sign(r) pi - r): fold |r| > pi/2 into [-pi/2, pi/2] without branches.
  const double magnitude = std::fabs(reduced);
  const double r = std::copysign(std::min(magnitude, (kPi - magnitude) + kPiLow), reduced);
  const double r2 = r * r;
  double p = -1.0 / 51090942171709440000.0;  // -1/21!
  p = p * r2 + 1.0 / 121645100408832000.0;   // 1/19!
  p = p * r2 - 1.0 / 355687428096000.0;      // -1/17!
  p = p * r2 + 1.0 / 1307674368000.0;        // 1/15!
  p = p * r2 - 1.0 / 6227020800.0;           // -1/13!
  p = p * r2 + 1.0 / 39916800.0;             // 1/11!
  p = p * r2 - 1.0 / 362880.0;               // -1/9!
  p = p * r2 + 1.0 / 5040.0;                 // 1/7!
  p = p * r2 - 1.0 / 120.0;                  // -1/5!
  p = p * r2 + 1.0 / 6.0;                    // 1/3!
  return r - r * r2 * p;
}

/// values[i] = scale * sin(values[i] + shift).
inline void scaled_sine(double* values, std::size_t n, double scale, double shift) {
#pragma GCC ivdep
  for (std::size_t i = 0; i < n; ++i) values[i] = scale * sine(values[i] + shift);
}

}  // namespace ksi::features::detail
