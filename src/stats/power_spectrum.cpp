#include "ksi/stats/power_spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {

PowerSpectrum::PowerSpectrum(std::vector<std::size_t> dims, double box_size)
    : dims_(std::move(dims)), box_size_(box_size), volume_(1.0), transform_(dims_) {
  if (dims_.empty() || dims_.size() > 3) throw InputError("power spectra need 1 to 3 grid axes");
  if (*std::min_element(dims_.begin(), dims_.end()) < 2)
    throw InputError("power spectra need at least 2 points per grid axis");
  if (!(box_size_ > 0.0) || !std::isfinite(box_size_))
    throw InputError(cat("box size ", box_size_, " is not a positive length"));
  for (std::size_t a = 0; a < dims_.size(); ++a) volume_ *= box_size_;
  complete_shells_ = *std::min_element(dims_.begin(), dims_.end()) / 2;

  // Walk the half spectrum in storage order (row-major, last axis n/2 + 1 long).
  const auto cdims = transform_.complex_dims();
  const std::size_t last = dims_.back();
  mode_shell_.resize(transform_.complex_size());
  mode_weight_.resize(transform_.complex_size());
  std::vector<std::size_t> index(dims_.size(), 0);
  for (std::size_t q = 0; q < mode_shell_.size(); ++q) {
    double m2 = 0.0;
    for (std::size_t a = 0; a < dims_.size(); ++a) {
      const double f = static_cast<double>(fft::frequency(index[a], dims_[a]));
      m2 += f * f;
    }
    // |m|^2 is an integer, so |m| never falls on a half-integer shell boundary.
    const auto shell = static_cast<std::uint32_t>(std::lround(std::sqrt(m2)));
    const std::size_t j = index.back();
    const bool self_conjugate = j == 0 || (last % 2 == 0 && j == last / 2);
    mode_shell_[q] = shell;
    mode_weight_[q] = self_conjugate ? 1.0 : 2.0;
    if (shell >= shell_modes_.size()) {
      shell_modes_.resize(shell + 1, 0.0);
      shell_wavenumber_.resize(shell + 1, 0.0);
      shell_wavenumber_squared_.resize(shell + 1, 0.0);
    }
    shell_modes_[shell] += mode_weight_[q];
    shell_wavenumber_[shell] += mode_weight_[q] * std::sqrt(m2);
    shell_wavenumber_squared_[shell] += mode_weight_[q] * m2;
    for (std::size_t a = dims_.size(); a-- > 0;) {
      if (++index[a] < cdims[a]) break;
      index[a] = 0;
    }
  }
  // Every shell up to the corner of the cube holds modes (|m| grows by less than 1 between
  // neighbouring grid points), so none is empty.
  for (std::size_t b = 0; b < shell_modes_.size(); ++b) {
    ensure(shell_modes_[b] > 0.0, "empty power-spectrum shell");
    shell_wavenumber_[b] /= shell_modes_[b];
    shell_wavenumber_squared_[b] /= shell_modes_[b];
  }
  workspace_.resize(transform_.complex_size());
}

double PowerSpectrum::fundamental() const noexcept {
  return 2.0 * std::numbers::pi / box_size_;
}

void PowerSpectrum::measure(std::span<const double> field, std::span<double> power) const {
  ensure(field.size() == field_size() && power.size() == shells(), "power spectrum sizes");
  transform_.forward(field.data(), workspace_.data());
  std::fill(power.begin(), power.end(), 0.0);
  for (std::size_t q = 0; q < workspace_.size(); ++q)
    power[mode_shell_[q]] += mode_weight_[q] * std::norm(workspace_[q]);
  const double n = static_cast<double>(field_size());
  const double scale = volume_ / (n * n);
  for (std::size_t b = 0; b < power.size(); ++b) power[b] *= scale / shell_modes_[b];
}

void PowerSpectrum::impose(std::span<double> field, std::span<const double> shell_power,
                           double mean) const {
  ensure(field.size() == field_size() && shell_power.size() == shells(), "impose spectrum sizes");
  // White noise of unit variance has E|w_m|^2 = N; the target is E|delta_m|^2 = N^2 P / V, and the
  // unnormalised inverse transform needs a further 1 / N.
  const double n = static_cast<double>(field_size());
  transform_.forward(field.data(), workspace_.data());
  for (std::size_t q = 0; q < workspace_.size(); ++q) {
    const double p = shell_power[mode_shell_[q]];
    if (!(p >= 0.0)) throw InputError(cat("shell power ", p, " is not a power (negative or NaN)"));
    workspace_[q] *= std::sqrt(n * p / volume_) / n;
  }
  workspace_[0] = mean;  // the inverse transform of the constant mode N * mean / N
  transform_.backward_destroying(workspace_.data(), field.data());
}

}  // namespace ksi::stats
