#pragma once
// A smooth non-Gaussian test field shared by the scattering tests and benchmarks (header-only: the
// benchmarks do not link the test support library).
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::test {

/// exp of a white field from RandomStream(seed, test, id) smoothed by exp(-|k|^2 / 0.8) (k in
/// radians per grid point) and scaled to standard deviation 0.8, minus 1: its scattering
/// coefficients are far from degenerate.
inline std::vector<double> smooth_lognormal_field(const std::vector<std::size_t>& dims,
                                                  std::uint64_t seed, std::uint64_t id) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<double> g(n);
  RandomStream stream(seed, StreamPurpose::test, id);
  stream.fill_normal(g);
  fft::RealTransform t(dims);
  std::vector<fft::complex> spectrum(t.complex_size());
  t.forward(g.data(), spectrum.data());
  const std::size_t n_last = dims.back(), h_last = n_last / 2 + 1;
  for (std::size_t q = 0; q < spectrum.size(); ++q) {
    std::size_t rest = q / h_last;
    double k2 = std::pow(2.0 * std::numbers::pi * fft::frequency(q % h_last, n_last) / n_last, 2);
    for (std::size_t a = dims.size() - 1; a-- > 0;) {
      k2 += std::pow(2.0 * std::numbers::pi * fft::frequency(rest % dims[a], dims[a]) / dims[a], 2);
      rest /= dims[a];
    }
    spectrum[q] *= std::exp(-k2 / 0.8);
  }
  t.backward(spectrum.data(), g.data());
  double var = 0.0;
  for (double v : g) var += v * v;
  const double scale = 0.8 / std::sqrt(var / static_cast<double>(n));
  for (auto& v : g) v = std::exp(scale * v) - 1.0;
  return g;
}

}  // namespace ksi::test
