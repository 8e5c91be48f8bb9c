#pragma once
// Stationary Gaussian fields with a smooth spectrum and their exact second-order moments, the
// reference of the Minkowski-functional and increment tests. White noise w (unit variance) is
// filtered in Fourier space, f = F^-1[g(|k|) F[w]], so E|f_m|^2 = N g(|k_m|)^2 and
//
//     <f^2> = (1/N) sum_m g_m^2,   <|grad f|^2> = (1/N) sum_m |k_m|^2 g_m^2,
//     <(f(x + r e_a) - f(x))^2> = (2/N) sum_m g_m^2 (1 - cos(2 pi m_a r / n_a)),
//
// sums over every mode of the full grid, k = 2 pi m / L (the gradient of the trigonometric
// interpolant).
#include <cmath>
#include <functional>
#include <numbers>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::test {

class SmoothGaussianFields {
 public:
  /// amplitude(k): g at physical wavenumber |k|.
  SmoothGaussianFields(std::vector<std::size_t> dims, double box,
                       std::function<double(double)> amplitude)
      : dims_(std::move(dims)), box_(box), amplitude_(std::move(amplitude)) {
    size_ = 1;
    for (auto n : dims_) size_ *= n;
  }

  std::size_t size() const { return size_; }

  Matrix draw(std::uint64_t seed, std::size_t count) const {
    const fft::RealTransform transform(dims_);
    const auto cdims = transform.complex_dims();
    std::vector<double> gain(transform.complex_size());
    std::vector<std::size_t> index(dims_.size(), 0);
    for (std::size_t q = 0; q < gain.size(); ++q) {
      gain[q] = amplitude_(wavenumber(index)) / static_cast<double>(size_);
      for (std::size_t a = dims_.size(); a-- > 0;) {
        if (++index[a] < cdims[a]) break;
        index[a] = 0;
      }
    }
    Matrix fields(count, size_);
    std::vector<fft::complex> spectrum(transform.complex_size());
    for (std::size_t i = 0; i < count; ++i) {
      RandomStream stream(seed, StreamPurpose::test, i);
      auto row = fields.row(i);
      stream.fill_normal(row);
      transform.forward(row.data(), spectrum.data());
      for (std::size_t q = 0; q < spectrum.size(); ++q) spectrum[q] *= gain[q];
      transform.backward_destroying(spectrum.data(), row.data());
    }
    return fields;
  }

  double variance() const {
    return sum([](const std::vector<long>&, double) { return 1.0; });
  }
  double gradient_variance() const {
    return sum([](const std::vector<long>&, double k) { return k * k; });
  }
  /// Mean over the axes of the increment variance at separation r.
  double increment_variance(std::size_t r) const {
    return sum([&](const std::vector<long>& m, double) {
      double s = 0.0;
      for (std::size_t a = 0; a < dims_.size(); ++a)
        s += 2.0 * (1.0 - std::cos(2.0 * std::numbers::pi * static_cast<double>(m[a]) *
                                   static_cast<double>(r) / static_cast<double>(dims_[a])));
      return s / static_cast<double>(dims_.size());
    });
  }

 private:
  double wavenumber(const std::vector<std::size_t>& index) const {
    double k2 = 0.0;
    for (std::size_t a = 0; a < dims_.size(); ++a) {
      const double k =
          2.0 * std::numbers::pi * static_cast<double>(fft::frequency(index[a], dims_[a])) / box_;
      k2 += k * k;
    }
    return std::sqrt(k2);
  }

  // (1/N) sum over all modes of g^2 weight(m, |k|).
  template <class Weight>
  double sum(Weight&& weight) const {
    std::vector<std::size_t> index(dims_.size(), 0);
    std::vector<long> m(dims_.size());
    double total = 0.0;
    for (std::size_t q = 0; q < size_; ++q) {
      for (std::size_t a = 0; a < dims_.size(); ++a) m[a] = fft::frequency(index[a], dims_[a]);
      const double k = wavenumber(index);
      const double g = amplitude_(k);
      total += g * g * weight(m, k);
      for (std::size_t a = dims_.size(); a-- > 0;) {
        if (++index[a] < dims_[a]) break;
        index[a] = 0;
      }
    }
    return total / static_cast<double>(size_);
  }

  std::vector<std::size_t> dims_;
  double box_;
  std::function<double(double)> amplitude_;
  std::size_t size_;
};

}  // namespace ksi::test
