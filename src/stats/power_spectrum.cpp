#include "ksi/stats/power_spectrum.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {
namespace {

// The grid's axes, checked before the transform and the shells are built on them.
std::vector<std::size_t> checked_axes(std::vector<std::size_t> dims) {
  if (dims.empty() || dims.size() > 3) throw InputError("power spectra need 1 to 3 grid axes");
  if (*std::min_element(dims.begin(), dims.end()) < 2)
    throw InputError("power spectra need at least 2 points per grid axis");
  return dims;
}

}  // namespace

PowerSpectrum::PowerSpectrum(std::vector<std::size_t> dims, double box_size)
    : dims_(checked_axes(std::move(dims))),
      box_size_(box_size),
      volume_(1.0),
      transform_(dims_),
      shells_(dims_) {
  if (!(box_size_ > 0.0) || !std::isfinite(box_size_))
    throw InputError(cat("box size ", box_size_, " is not a positive length"));
  for (std::size_t a = 0; a < dims_.size(); ++a) volume_ *= box_size_;
  complete_shells_ = *std::min_element(dims_.begin(), dims_.end()) / 2;
  workspace_.resize(transform_.complex_size());
}

double PowerSpectrum::fundamental() const noexcept {
  return 2.0 * std::numbers::pi / box_size_;
}

void PowerSpectrum::measure(std::span<const double> field, std::span<double> power) const {
  ensure(field.size() == field_size() && power.size() == shells(), "power spectrum sizes");
  transform_.forward(field.data(), workspace_.data());
  std::fill(power.begin(), power.end(), 0.0);
  const auto& shell = shells_.of_mode();
  const auto& weight = shells_.weights();
  for (std::size_t q = 0; q < workspace_.size(); ++q)
    power[shell[q]] += weight[q] * std::norm(workspace_[q]);
  const double n = static_cast<double>(field_size());
  const double scale = volume_ / (n * n);
  const auto& modes = shells_.modes_per_shell();
  for (std::size_t b = 0; b < power.size(); ++b) power[b] *= scale / modes[b];
}

void PowerSpectrum::impose(std::span<double> field, std::span<const double> shell_power,
                           double mean) const {
  ensure(field.size() == field_size() && shell_power.size() == shells(), "impose spectrum sizes");
  // White noise of unit variance has E|w_m|^2 = N; the target is E|delta_m|^2 = N^2 P / V, and the
  // unnormalised inverse transform needs a further 1 / N.
  const double n = static_cast<double>(field_size());
  transform_.forward(field.data(), workspace_.data());
  for (std::size_t q = 0; q < workspace_.size(); ++q) {
    const double p = shell_power[shells_.of_mode()[q]];
    if (!(p >= 0.0)) throw InputError(cat("shell power ", p, " is not a power (negative or NaN)"));
    workspace_[q] *= std::sqrt(n * p / volume_) / n;
  }
  workspace_[0] = mean;  // the inverse transform of the constant mode N * mean / N
  transform_.backward_destroying(workspace_.data(), field.data());
}

}  // namespace ksi::stats
