/// @file
/// The scattering spectra's normalisation: the per-coefficient scales measured on the training
/// items (every rank count gives the same bits) and the value ranges of the marginal bins.
#include <algorithm>
#include <cmath>
#include <limits>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/features/scattering.hpp"

namespace ksi::features::scattering {

std::vector<double> value_scale(std::span<const double> local_squares, double low, double high,
                                std::size_t size, const par::Comm& comm, const char* subject) {
  const auto squares = comm.allgatherv(local_squares);
  low = comm.allreduce_min(low);
  high = comm.allreduce_max(high);
  double total = 0.0;
  for (const double v : squares) total += v;
  const double sigma = std::sqrt(total / (static_cast<double>(squares.size()) * size));
  if (!(sigma > 0.0) || !std::isfinite(sigma))
    throw par::CollectiveError(ExitCode::input,
                               std::string(subject) + " are constant or not finite", 0);
  return {sigma, std::max(low / sigma, -8.0), std::min(high / sigma, 8.0)};
}

void tail_range(std::vector<double>& constants, double q, const ItemValues& visit,
                const par::Comm& comm) {
  if (!(q > 0.0)) return;
  constexpr std::size_t kBins = std::size_t{1} << 16;
  const double inv_sigma = 1.0 / constants[0], low = constants[1], high = constants[2];
  if (!(high > low)) return;
  const double per_unit = static_cast<double>(kBins) / (high - low);
  std::vector<std::int64_t> counts(kBins, 0);
  par::collective(comm, [&] {
    visit([&](std::span<const double> values) {
      for (const double v : values) {
        const double b = std::floor((v * inv_sigma - low) * per_unit);
        ++counts[static_cast<std::size_t>(std::clamp(b, 0.0, static_cast<double>(kBins - 1)))];
      }
    });
  });
  comm.allreduce_sum(std::span<std::int64_t>(counts));
  std::int64_t total = 0;
  for (const auto c : counts) total += c;
  // The value below which `target` of the counts lie.
  const auto quantile = [&](double target) {
    double below = 0.0;
    for (std::size_t b = 0; b < kBins; ++b) {
      const double c = static_cast<double>(counts[b]);
      if (c > 0.0 && below + c >= target)
        return low + (static_cast<double>(b) + (target - below) / c) / per_unit;
      below += c;
    }
    return high;
  };
  const double n = static_cast<double>(total);
  const double tail_low = quantile(q * n), tail_high = quantile((1.0 - q) * n);
  if (!(tail_high > tail_low)) return;
  constants[1] = tail_low;
  constants[2] = tail_high;
}

std::vector<double> item_value_scale(const Matrix& local_items, std::size_t size, double tail,
                                     const par::Comm& comm, const char* subject) {
  std::vector<double> local_squares(local_items.rows());
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (std::size_t i = 0; i < local_items.rows(); ++i) {
    double sum = 0.0;
    for (const double u : local_items.row(i)) {
      sum += u * u;
      low = std::min(low, u);
      high = std::max(high, u);
    }
    local_squares[i] = sum;
  }
  std::vector<double> constants = value_scale(local_squares, low, high, size, comm, subject);
  tail_range(
      constants, tail,
      [&](const std::function<void(std::span<const double>)>& each) {
        for (std::size_t i = 0; i < local_items.rows(); ++i) each(local_items.row(i));
      },
      comm);
  return constants;
}

std::vector<double> floored_item_means(const std::vector<double>& local, std::size_t count,
                                       const par::Comm& comm) {
  const auto all = comm.allgatherv(local);
  const std::size_t items = all.size() / count;
  std::vector<double> mean(count, 0.0);
  for (std::size_t i = 0; i < items; ++i)
    for (std::size_t f = 0; f < count; ++f) mean[f] += all[i * count + f];
  double largest = 0.0;
  for (auto& v : mean) largest = std::max(largest, v /= static_cast<double>(items));
  for (auto& v : mean) v = std::max(v, kBinMassFloor * largest);
  return mean;
}

}  // namespace ksi::features::scattering

namespace ksi::features {

ScatteringNormalization ScatteringSpectra::calibrate(const Matrix& local_items,
                                                     const par::Comm& comm) const {
  ensure(normalization_.first_layer.empty() && normalization_.second_layer.empty() &&
             normalization_.marginal.empty() && normalization_.shells.empty() &&
             normalization_.conditional.empty() && normalization_.contrast.empty(),
         "scattering calibration needs an unnormalised map");
  // Per-item powers are gathered in item order and summed in that order, so every rank count gives
  // the same bits.
  const ScatteringSpectra& raw_map = *this;
  const ScatteringOptions& options = options_;
  const std::size_t W = raw_map.impl_->count;
  const std::size_t first_count = W + 1;  // wavelets and the low-pass
  const std::size_t per_item = first_count + W * W;
  std::vector<double> local(local_items.rows() * per_item, 0.0);
  par::collective(comm, [&] {
    for (std::size_t i = 0; i < local_items.rows(); ++i) {
      std::span<double> out(local.data() + i * per_item, per_item);
      raw_map.layer_powers(local_items.row(i), out.subspan(0, first_count),
                           out.subspan(first_count));
    }
  });
  const auto all = comm.allgatherv(local);
  const std::size_t items = all.size() / per_item;
  if (items == 0)
    throw par::CollectiveError(ExitCode::input, "no data items to calibrate scattering features on",
                               0);
  std::vector<double> mean(per_item, 0.0);
  for (std::size_t i = 0; i < items; ++i)
    for (std::size_t q = 0; q < per_item; ++q) mean[q] += all[i * per_item + q];
  for (auto& v : mean) v /= static_cast<double>(items);

  const int L = raw_map.impl_->L;
  ScatteringNormalization n;
  n.first_layer.assign(mean.begin(), mean.begin() + static_cast<long>(first_count));
  n.second_layer.assign(W * W, 1.0);
  const auto orbit_average = [&](auto&& key_of, std::vector<double>& values, auto&& valid) {
    // Replaces every value by the mean over its orbit under the rotation group.
    const auto group = raw_map.bank().rotations();
    std::vector<double> out = values;
    for (std::size_t q = 0; q < values.size(); ++q) {
      if (!valid(q)) continue;
      double sum = 0.0;
      for (const auto& g : group) sum += values[key_of(q, g)];
      out[q] = sum / static_cast<double>(group.size());
    }
    values = std::move(out);
  };
  const auto rotate_wavelet = [&](std::size_t lambda, const OrientationMap& g) {
    if (lambda == W) return lambda;  // the low-pass is isotropic
    return (lambda / L) * L + static_cast<std::size_t>(g.target[lambda % L]);
  };
  if (options.isotropic)
    orbit_average([&](std::size_t q, const OrientationMap& g) { return rotate_wavelet(q, g); },
                  n.first_layer, [](std::size_t) { return true; });
  // Data without power at some wavelet would make its features blow up: keep constants above a
  // tiny fraction of the largest.
  const double a_max = *std::max_element(n.first_layer.begin(), n.first_layer.end());
  for (auto& a : n.first_layer) a = std::max(a, 1e-12 * a_max);
  double b_max = 0.0;
  for (std::size_t partner = 0; partner < W; ++partner)
    for (std::size_t outer = 0; outer < W; ++outer)
      if (partner / L < outer / L) {
        const double v = mean[first_count + partner * W + outer] / n.first_layer[partner];
        n.second_layer[partner * W + outer] = v;
        b_max = std::max(b_max, v);
      }
  const auto pair_valid = [&](std::size_t q) { return (q / W) / L < (q % W) / L; };
  if (options.isotropic)
    orbit_average(
        [&](std::size_t q, const OrientationMap& g) {
          return rotate_wavelet(q / W, g) * W + rotate_wavelet(q % W, g);
        },
        n.second_layer, pair_valid);
  for (std::size_t q = 0; q < W * W; ++q)
    if (pair_valid(q))
      n.second_layer[q] = std::max(n.second_layer[q], 1e-12 * std::max(b_max, 1e-300));
  if (!(a_max > 0.0))
    throw par::CollectiveError(ExitCode::input, "the data have no power at any wavelet scale", 0);
  if (raw_map.impl_->marginal.bins > 0) n.marginal = calibrate_marginal(local_items, comm);
  if (options.shells) n.shells = calibrate_shells(local_items, comm);
  if (options.conditional > 0) n.conditional = calibrate_conditional(local_items, comm);
  if (options.contrast > 0) n.contrast = calibrate_contrast(local_items, comm);
  return n;
}

std::vector<double> ScatteringSpectra::calibrate_marginal(const Matrix& local_items,
                                                          const par::Comm& comm) const {
  // sigma (rms of u = C x), the range of z = u / sigma (clipped to +-8; with bin_tail its
  // quantiles), then the bins' data masses; per-item sums in item order and exact min / max, so
  // every rank count gives the same bits.
  const Impl& I = *impl_;
  const int bins = I.marginal.bins;
  const std::size_t N = I.grids[0]->size;
  scattering::ForwardNeeds cx_only;
  cx_only.modulus = cx_only.phase = cx_only.values = false;
  // Hands each local item's coloured field u = C x to `use(i, u)`, in item order.
  const auto each_coloured = [&](auto&& use) {
    std::lock_guard<std::mutex> lock(I.workspace_lock);
    for (std::size_t i = 0; i < local_items.rows(); ++i) {
      I.forward(local_items.row(i), cx_only, I.workspace);
      I.coloured_field(I.workspace.state.cx.data(), I.workspace);
      use(i, std::span<const double>(I.workspace.marginal_field));
    }
  };
  std::vector<double> local_squares(local_items.rows());
  double low = std::numeric_limits<double>::infinity(), high = -low;
  par::collective(comm, [&] {
    each_coloured([&](std::size_t i, std::span<const double> u) {
      double sum = 0.0;
      for (const double v : u) {
        sum += v * v;
        low = std::min(low, v);
        high = std::max(high, v);
      }
      local_squares[i] = sum;
    });
  });
  std::vector<double> constants = scattering::value_scale(local_squares, low, high, N, comm,
                                                          "marginal features: the coloured data");
  scattering::tail_range(
      constants, options_.bin_tail,
      [&](const std::function<void(std::span<const double>)>& each) {
        each_coloured([&](std::size_t, std::span<const double> u) { each(u); });
      },
      comm);
  constants.resize(3 + bins, 1.0);
  // The bins' masses with the range fixed (unit masses: the histogram values themselves).
  Impl::Marginal fixed = I.marginal;
  fixed.sigma = constants[0];
  fixed.low = constants[1];
  fixed.high = constants[2];
  fixed.inv_mass.assign(bins, 1.0);
  std::vector<double> local_mass(local_items.rows() * bins);
  par::collective(comm, [&] {
    each_coloured([&](std::size_t i, std::span<const double> u) {
      fixed.histogram(u, std::span<double>(local_mass.data() + i * bins, bins));
    });
  });
  const auto masses = comm.allgatherv(local_mass);
  const std::size_t items = masses.size() / bins;
  std::vector<double> mass(bins, 0.0);
  for (std::size_t i = 0; i < items; ++i)
    for (int m = 0; m < bins; ++m) mass[m] += masses[i * bins + m];
  const double largest = *std::max_element(mass.begin(), mass.end());
  for (int m = 0; m < bins; ++m)
    constants[3 + m] =
        std::max(mass[m] / static_cast<double>(items), kBinMassFloor * largest / items);
  return constants;
}

}  // namespace ksi::features
