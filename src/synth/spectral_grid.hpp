#pragma once
// Wavenumbers of the half-spectrum (r2c) layout shared by the field generators: an array of shape
// n x ... x n x (n/2 + 1), last axis fastest, holding the modes m = fft::frequency(i, n) along full
// axes and m = 0..n/2 along the last one.
#include <cstddef>
#include <vector>

#include "ksi/fft/fft.hpp"

namespace ksi::synth::detail {

/// Signed integer wavenumbers of a full axis of n points (0, 1, ..., n/2, -(n/2 - 1), ..., -1).
inline std::vector<double> full_axis(std::size_t n) {
  std::vector<double> m(n);
  for (std::size_t i = 0; i < n; ++i) m[i] = static_cast<double>(fft::frequency(i, n));
  return m;
}

/// Wavenumbers 0..n/2 of the halved last axis.
inline std::vector<double> half_axis(std::size_t n) {
  std::vector<double> m(n / 2 + 1);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<double>(i);
  return m;
}

/// The same as full_axis / half_axis but with the Nyquist wavenumber (n even) set to zero: the
/// multiplier of an odd derivative, whose Nyquist coefficient has no real-valued meaning.
inline std::vector<double> odd_derivative(std::vector<double> m, std::size_t n) {
  if (n % 2 == 0)
    for (auto& v : m)
      if (v == static_cast<double>(n / 2) || v == -static_cast<double>(n / 2)) v = 0.0;
  return m;
}

/// Multiplicity of a mode of the last (halved) axis in the full spectrum of a real field: modes
/// with 0 < m < n/2 stand for themselves and their conjugates.
inline double half_axis_weight(std::size_t index, std::size_t n) {
  return (index == 0 || (n % 2 == 0 && index == n / 2)) ? 1.0 : 2.0;
}

}  // namespace ksi::synth::detail
