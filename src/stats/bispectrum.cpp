#include "ksi/stats/bispectrum.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {
namespace {

std::string describe(const std::vector<std::size_t>& dims) {
  std::string text;
  for (std::size_t a = 0; a < dims.size(); ++a) text += (a ? " x " : "") + std::to_string(dims[a]);
  return text;
}

}  // namespace

const char* to_string(Bispectrum::Shape shape) {
  return shape == Bispectrum::Shape::equilateral ? "equilateral" : "squeezed";
}

std::size_t Bispectrum::largest_kmax(const std::vector<std::size_t>& dims) {
  const std::size_t n = *std::min_element(dims.begin(), dims.end());
  // kmax + 1/2 <= n / 3  <=>  6 kmax + 3 <= 2 n.
  return 2 * n >= 3 ? (2 * n - 3) / 6 : 0;
}

Bispectrum::Bispectrum(std::vector<std::size_t> dims, double box_size, std::size_t bins,
                       std::size_t kmax)
    : dims_(std::move(dims)), box_size_(box_size), volume_(1.0), kmax_(kmax), transform_(dims_) {
  if (dims_.size() < 2 || dims_.size() > 3)
    throw InputError("the bispectrum is measured on 2D and 3D grids");
  if (!(box_size_ > 0.0) || !std::isfinite(box_size_))
    throw InputError(cat("box size ", box_size_, " is not a positive length"));
  const std::size_t largest = largest_kmax(dims_);
  if (kmax_ < 1 || kmax_ > largest)
    throw UsageError(cat("bispectrum kmax ", kmax_, " is outside 1 .. ", largest, " for ",
                         describe(dims_), " grids (kmax + 1/2 <= n/3 keeps triangles unaliased)"));
  if (bins < 1 || bins > kmax_)
    throw UsageError(cat("bispectrum bins ", bins, " is outside 1 .. kmax = ", kmax_,
                         " (bins at least one unit of k wide)"));
  for (std::size_t a = 0; a < dims_.size(); ++a) volume_ *= box_size_;

  // Bin b holds e_b <= |m| < e_(b+1), e_b = (bins + 2 b kmax) / (2 bins); compared in integers as
  // 4 bins^2 |m|^2 >= (bins + 2 b kmax)^2, since |m|^2 is an integer.
  const auto edge_squared = [&](std::size_t b) {
    const auto e = static_cast<long long>(bins + 2 * b * kmax_);
    return e * e;
  };
  const auto scale = static_cast<long long>(4 * bins * bins);
  bin_members_.assign(bins, {});
  member_weight_.assign(bins, {});
  bin_modes_.assign(bins, 0.0);
  bin_wavenumber_.assign(bins, 0.0);
  const auto cdims = transform_.complex_dims();
  const std::size_t last = dims_.back();
  std::vector<std::size_t> index(dims_.size(), 0);
  for (std::size_t q = 0; q < transform_.complex_size(); ++q) {
    long long m2 = 0;
    for (std::size_t a = 0; a < dims_.size(); ++a) {
      const long f = fft::frequency(index[a], dims_[a]);
      m2 += static_cast<long long>(f) * f;
    }
    if (scale * m2 >= edge_squared(0) && scale * m2 < edge_squared(bins)) {
      std::size_t b = 0;
      while (scale * m2 >= edge_squared(b + 1)) ++b;
      const std::size_t j = index.back();
      const double weight = j == 0 || (last % 2 == 0 && j == last / 2) ? 1.0 : 2.0;
      bin_members_[b].push_back(q);
      member_weight_[b].push_back(weight);
      bin_modes_[b] += weight;
      bin_wavenumber_[b] += weight * std::sqrt(static_cast<double>(m2));
    }
    for (std::size_t a = dims_.size(); a-- > 0;) {
      if (++index[a] < cdims[a]) break;
      index[a] = 0;
    }
  }
  for (std::size_t b = 0; b < bins; ++b) {
    ensure(bin_modes_[b] > 0.0, "empty bispectrum bin");  // bins are at least one unit wide
    bin_wavenumber_[b] /= bin_modes_[b];
  }

  spectrum_.resize(transform_.complex_size());
  scratch_.resize(transform_.complex_size());
  largest_.resize(transform_.real_size());
  filtered_.resize(transform_.real_size());
  // Triangle counts: the estimator's sums for delta_m = 1 on every mode.
  const std::vector<fft::complex> ones(transform_.complex_size(), 1.0);
  const double n = static_cast<double>(transform_.real_size());
  std::vector<double> equilateral(bins, 0.0), squeezed(bins, 0.0);
  filter(ones.data(), 0, largest_.data());
  for (std::size_t b = 0; b < bins; ++b) {
    const double* f = largest_.data();
    if (b > 0) {
      filter(ones.data(), b, filtered_.data());
      f = filtered_.data();
    }
    double cubes = 0.0, squeezes = 0.0;
    for (std::size_t x = 0; x < filtered_.size(); ++x) {
      cubes += f[x] * f[x] * f[x];
      squeezes += largest_[x] * f[x] * f[x];
    }
    equilateral[b] = std::round(cubes / n);
    squeezed[b] = std::round(squeezes / n);
  }
  for (std::size_t b = 0; b < bins; ++b)
    if (equilateral[b] > 0.0)
      configurations_.push_back({Shape::equilateral, {b, b, b}, equilateral[b]});
  for (std::size_t b = 1; b < bins; ++b)
    if (squeezed[b] > 0.0) configurations_.push_back({Shape::squeezed, {0, b, b}, squeezed[b]});
}

double Bispectrum::fundamental() const noexcept {
  return 2.0 * std::numbers::pi / box_size_;
}

void Bispectrum::filter(const fft::complex* modes, std::size_t bin, double* out) const {
  std::fill(scratch_.begin(), scratch_.end(), fft::complex(0.0));
  for (std::size_t q : bin_members_[bin]) scratch_[q] = modes[q];
  transform_.backward_destroying(scratch_.data(), out);
}

void Bispectrum::measure(std::span<const double> field, std::span<double> bispectrum,
                         std::span<double> reduced) const {
  ensure(field.size() == transform_.real_size() && bispectrum.size() == configurations_.size() &&
             reduced.size() == configurations_.size(),
         "bispectrum sizes");
  const std::size_t bins = bin_modes_.size();
  const double n = static_cast<double>(transform_.real_size());
  transform_.forward(field.data(), spectrum_.data());
  std::vector<double> power(bins, 0.0), cubes(bins, 0.0), squeezes(bins, 0.0);
  for (std::size_t b = 0; b < bins; ++b) {
    for (std::size_t i = 0; i < bin_members_[b].size(); ++i)
      power[b] += member_weight_[b][i] * std::norm(spectrum_[bin_members_[b][i]]);
    power[b] *= volume_ / (n * n * bin_modes_[b]);
  }
  filter(spectrum_.data(), 0, largest_.data());
  for (std::size_t b = 0; b < bins; ++b) {
    const double* f = largest_.data();
    if (b > 0) {
      filter(spectrum_.data(), b, filtered_.data());
      f = filtered_.data();
    }
    double c = 0.0, s = 0.0;
    for (std::size_t x = 0; x < filtered_.size(); ++x) {
      const double f2 = f[x] * f[x];
      c += f2 * f[x];
      s += largest_[x] * f2;
    }
    cubes[b] = c;
    squeezes[b] = s;
  }
  const double scale = volume_ * volume_ / (n * n * n * n);
  for (std::size_t c = 0; c < configurations_.size(); ++c) {
    const auto& config = configurations_[c];
    const std::size_t b = config.bins[2];
    const bool equilateral = config.shape == Shape::equilateral;
    bispectrum[c] = scale * (equilateral ? cubes[b] : squeezes[b]) / config.triangles;
    const double p0 = power[config.bins[0]], p = power[b];
    reduced[c] = bispectrum[c] / (p * p + 2.0 * p0 * p);  // equilateral: p0 = p, so 3 p^2
  }
}

}  // namespace ksi::stats
