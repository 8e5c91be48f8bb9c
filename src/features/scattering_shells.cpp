// The shell family of ScatteringSpectra: one feature per spectral shell, the shell's mean power
// (scattering.hpp). Its rows are the field's projections on the shells: diagonal in Fourier space.
#include <algorithm>
#include <cmath>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::features {

void ScatteringSpectra::Impl::setup_shells(const ScatteringOptions& options,
                                           const ScatteringNormalization& n) {
  auto& S = shells;
  S.first = features.size() + dense_count();
  if (!options.shells) {
    if (!n.shells.empty())
      throw InputError("scattering normalisation has shell powers but the shell family is off");
    return;
  }
  const Grid& full = *grids[0];
  const fft::SpectralShells grid_shells(full.dims);
  const std::size_t count = grid_shells.count();
  if (!n.shells.empty() && n.shells.size() != count)
    throw InputError(cat("scattering normalisation has ", n.shells.size(),
                         " shell powers for a grid of ", count, " shells"));
  const auto& modes = grid_shells.modes_per_shell();
  std::vector<std::int32_t> feature_of_shell(count, -1);
  const double N = static_cast<double>(full.size);
  for (std::size_t s = 1; s < count; ++s) {
    const double a = n.shells.empty() ? 1.0 : n.shells[s];
    if (!std::isfinite(a) || a < 0.0)
      throw InputError(
          cat("scattering normalisation: shell power a[", s, "] = ", a, " is not valid"));
    if (!(a > 0.0) || !(modes[s] > 0.0)) continue;  // no data power: no feature
    feature_of_shell[s] = static_cast<std::int32_t>(S.shell.size());
    S.shell.push_back(static_cast<int>(s));
    S.value.push_back(N / (a * modes[s]));
  }
  S.of_half.resize(full.half_size);
  S.weight = grid_shells.weights();
  for (std::size_t k = 0; k < full.half_size; ++k)
    S.of_half[k] = feature_of_shell[grid_shells.of_mode()[k]];
  S.of_column.resize(column_half.size());
  for (std::size_t c = 0; c < column_half.size(); ++c) S.of_column[c] = S.of_half[column_half[c]];
  S.of_uncovered.resize(uncovered.size());
  for (std::size_t u = 0; u < uncovered.size(); ++u) S.of_uncovered[u] = S.of_half[uncovered[u]];
}

void ScatteringSpectra::Impl::shell_values(const scattering::ForwardState& state,
                                           std::span<double> out) const {
  const auto& S = shells;
  std::vector<double> sums(S.count(), 0.0);
  for (std::size_t k = 0; k < S.of_half.size(); ++k)
    if (S.of_half[k] >= 0) sums[S.of_half[k]] += S.weight[k] * std::norm(state.cx[k]);
  for (std::size_t f = 0; f < S.count(); ++f) out[f] = S.value[f] * sums[f];
}

void ScatteringSpectra::Impl::shell_gradient(const scattering::ForwardState& state,
                                             std::span<const double> eta, complex* G) const {
  // d/dx of value_f sum w_k |c_x(k)|^2: the r2c spectrum 2 value_f c_x(k) N / N on the shell.
  const auto& S = shells;
  for (std::size_t k = 0; k < S.of_half.size(); ++k)
    if (const auto f = S.of_half[k]; f >= 0) G[k] += (2.0 * eta[f] * S.value[f]) * state.cx[k];
}

void ScatteringSpectra::Impl::shell_rows(scattering::Workspace& ws) const {
  const auto& S = shells;
  const auto& cx = ws.state.cx;
  ws.shell_rows.resize(column_half.size());
  for (std::size_t c = 0; c < column_half.size(); ++c) {
    const auto f = S.of_column[c];
    ws.shell_rows[c] =
        f >= 0 ? (2.0 * S.value[f] * column_scale[c]) * cx[column_half[c]] : complex(0.0);
  }
  ws.shell_rest.resize(uncovered.size());
  for (std::size_t u = 0; u < uncovered.size(); ++u) {
    const auto f = S.of_uncovered[u];
    ws.shell_rest[u] =
        f >= 0 ? (2.0 * S.value[f] * uncovered_scale[u]) * cx[uncovered[u]] : complex(0.0);
  }
}

std::vector<double> ScatteringSpectra::calibrate_shells(const Matrix& local_items,
                                                        const par::Comm& comm) const {
  // The data mean of each shell's power, per-item values summed in item order (the same bits for
  // any number of ranks); shells with less than 1e-13 of the largest shell's power get no feature.
  const Impl& I = *impl_;
  const Grid& full = *I.grids[0];
  const fft::SpectralShells grid_shells(full.dims);
  const std::size_t count = grid_shells.count();
  const double N = static_cast<double>(full.size);
  std::vector<double> local(local_items.rows() * count, 0.0);
  scattering::ForwardNeeds cx_only;
  cx_only.modulus = cx_only.phase = cx_only.values = false;
  par::collective(comm, [&] {
    std::lock_guard<std::mutex> lock(I.workspace_lock);
    for (std::size_t i = 0; i < local_items.rows(); ++i) {
      I.forward(local_items.row(i), cx_only, I.workspace);
      const auto& cx = I.workspace.state.cx;
      double* power = local.data() + i * count;
      for (std::size_t k = 0; k < cx.size(); ++k)
        power[grid_shells.of_mode()[k]] += grid_shells.weights()[k] * std::norm(cx[k]) * N;
    }
  });
  const auto all = comm.allgatherv(local);
  const std::size_t items = all.size() / count;
  std::vector<double> mean(count, 0.0);
  for (std::size_t i = 0; i < items; ++i)
    for (std::size_t s = 0; s < count; ++s) mean[s] += all[i * count + s];
  const auto& modes = grid_shells.modes_per_shell();
  for (std::size_t s = 0; s < count; ++s)
    mean[s] = modes[s] > 0 && items > 0 ? mean[s] / (static_cast<double>(items) * modes[s]) : 0.0;
  mean[0] = 0.0;  // the mean value has its own feature
  const double largest = *std::max_element(mean.begin(), mean.end());
  if (!(largest > 0.0))
    throw par::CollectiveError(ExitCode::input,
                               "shell features: the data have no power on any shell", 0);
  for (auto& a : mean)
    if (!(a > 1e-13 * largest)) a = 0.0;
  return mean;
}

}  // namespace ksi::features
