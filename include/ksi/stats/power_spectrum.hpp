#pragma once
/// @file
/// Isotropic power spectrum of real periodic fields (1D, 2D, 3D) in integer shells of |k|.
///
/// Conventions. The grid has n_a points on axis a and every axis has the physical length L (the
/// item file's `box_size`), so the volume is V = L^D and N = prod n_a. A mode has integer
/// frequencies m (fft::frequency) and wavenumber k = (2 pi / L) m. With the unnormalised transform
/// delta_m = sum_x f(x) exp(-2 pi i m.x / n), the power of a mode is
///
///     P(m) = V |delta_m|^2 / N^2,
///
/// so white noise of variance s^2 has P = s^2 V / N at every k, and Parseval reads
/// mean(f^2) = sum_m P(m) / V. Shell b holds the modes with b - 1/2 <= |m| < b + 1/2 (shell 0 is
/// the mean mode alone); the shell's P is the mean of P(m) over its modes, counting m and -m
/// separately (the r2c half spectrum stores one of each pair, which is given weight 2). Shells 1 ..
/// floor(min n_a / 2) are complete spheres; higher shells reach into the corners of the Fourier
/// cube and are kept so that the Gaussian baseline reproduces every mode of the data.

#include <cstdint>
#include <span>
#include <vector>

#include "ksi/fft/fft.hpp"

namespace ksi::stats {

class PowerSpectrum {
 public:
  /// A spectrum estimator for fields of shape `dims` (1 to 3 axes, each at least 2) in a periodic
  /// box of side `box_size`.
  PowerSpectrum(std::vector<std::size_t> dims, double box_size);

  const std::vector<std::size_t>& dims() const noexcept { return dims_; }
  double box_size() const noexcept { return box_size_; }
  /// V = L^D.
  double volume() const noexcept { return volume_; }
  /// Values N of one field.
  std::size_t field_size() const noexcept { return transform_.real_size(); }
  /// Number of shells, including shell 0 (the mean) and the incomplete corner shells.
  std::size_t shells() const noexcept { return shells_.count(); }
  /// floor(min n_a / 2): shells 1 .. complete_shells() are whole spheres inside the grid.
  std::size_t complete_shells() const noexcept { return complete_shells_; }
  /// Fourier modes per shell (the full spectrum: m and -m both counted).
  const std::vector<double>& shell_modes() const noexcept { return shells_.modes_per_shell(); }
  /// Mean |m| of the modes of each shell, in units of the fundamental 2 pi / L.
  const std::vector<double>& shell_wavenumber() const noexcept { return shells_.mean_wavenumber(); }
  /// Mean |m|^2 of the modes of each shell (for spectral moments such as <|grad f|^2>).
  const std::vector<double>& shell_wavenumber_squared() const noexcept {
    return shells_.mean_wavenumber_squared();
  }
  /// 2 pi / L.
  double fundamental() const noexcept;

  /// Shell-averaged P of one field; power.size() == shells(). Not thread-safe (one workspace).
  void measure(std::span<const double> field, std::span<double> power) const;

  /// Turns unit-variance white noise into a Gaussian field whose every mode has the expected power
  /// of its shell, E P(m) = shell_power[shell(m)], and whose mean is `mean` (shell 0 is ignored).
  /// field.size() == field_size(), shell_power.size() == shells().
  void impose(std::span<double> field, std::span<const double> shell_power, double mean) const;

 private:
  std::vector<std::size_t> dims_;
  double box_size_;
  double volume_;
  fft::RealTransform transform_;
  fft::SpectralShells shells_;
  std::size_t complete_shells_ = 0;
  mutable std::vector<fft::complex> workspace_;
};

}  // namespace ksi::stats
