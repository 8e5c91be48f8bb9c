// The conditional family of ScatteringSpectra (scattering.hpp): the wavelet energy of each scale
// averaged within soft bins of the field's own values,
//
//     cond_{j,m} = < E_j(y) h_m(z(y)) > / a_{j,m},   E_j = sum_l |U_{j,l}|^2,   z = u / sigma,
//
// so the map sees where (at which levels of the field) the small-scale fluctuations live: shot
// noise in voids, sharp peaks, intermittent bursts. Wavelet moduli averaged over space (Phi1, Phi2)
// and their linear couplings to larger scales (Phi3) cannot tell a U-shaped dependence on the
// level. With conditional_moment = modulus the family bins M_j = sum_l |U_{j,l}| instead of E_j
// (the adjoint's factor on U is w / |U| instead of 2 w), with `both` the E_j then the M_j. The
// U_{j,l} are taken on the full grid (one c2c per wavelet), so the values and gradients are exact
// for every scale whatever the scattering map's subsampling.
#include <algorithm>
#include <cmath>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::features {

using scattering::bump;

void ScatteringSpectra::Impl::setup_conditional(const ScatteringOptions& options,
                                                const ScatteringNormalization& n) {
  auto& C = conditional;
  if (!C.configure(options.conditional, J, n.conditional, "conditional")) return;
  C.energy = options.conditional_moment != ConditionalMoment::modulus;
  C.modulus = options.conditional_moment != ConditionalMoment::energy;
  C.wavelet_scales = J;
  C.scales = J * (static_cast<int>(C.energy) + static_cast<int>(C.modulus));
  // Full-grid complex indices of every wavelet's support (the scale grids' tables are coarser).
  const Grid& full = *grids[0];
  C.index.resize(count);
  for (std::size_t lambda = 0; lambda < count; ++lambda) {
    const Wavelet& w = bank.wavelet(lambda);
    C.index[lambda].resize(w.support.size());
    for (std::size_t e = 0; e < w.support.size(); ++e) {
      const auto m = bank.frequency(w.support[e]);
      std::int64_t flat = 0;
      for (std::size_t a = 0; a < full.dims.size(); ++a) {
        const long ni = static_cast<long>(full.dims[a]);
        flat = flat * ni + ((m[a] % ni) + ni) % ni;
      }
      C.index[lambda][e] = static_cast<std::int32_t>(flat);
    }
  }
  C.read_constants(n.conditional, "conditional");
}

bool ScatteringSpectra::Impl::Conditional::configure(int bins_, int scales_,
                                                     const std::vector<double>& constants,
                                                     const char* family) {
  bins = bins_;
  scales = scales_;
  if (bins < 0 || bins > 64)
    throw UsageError(
        cat("scattering features: ", family, " must be between 0 and 64 bins, not ", bins));
  if (bins == 0 && !constants.empty())
    throw InputError(
        cat("scattering normalisation has ", family, " constants but no ", family, " bins"));
  return bins > 0;
}

void ScatteringSpectra::Impl::Conditional::read_constants(const std::vector<double>& constants,
                                                          const char* family) {
  inv_mass.assign(count(), 1.0);
  if (constants.empty()) return;
  if (constants.size() != 3 + count())
    throw InputError(cat("scattering normalisation has ", constants.size(), " ", family,
                         " constants; expected ", 3 + count()));
  sigma = constants[0];
  low = constants[1];
  high = constants[2];
  if (!(sigma > 0.0) || !std::isfinite(sigma) || !(high > low))
    throw InputError(
        cat("scattering normalisation: the ", family, " family's sigma and range are not valid"));
  for (std::size_t f = 0; f < count(); ++f) {
    const double a = constants[3 + f];
    if (!(a > 0.0) || !std::isfinite(a))
      throw InputError(
          cat("scattering normalisation: ", family, " constant ", a, " is not positive"));
    inv_mass[f] = 1.0 / a;
  }
}

void ScatteringSpectra::Impl::conditional_energies(scattering::Workspace& ws) const {
  // E_j on the full grid from c_x (after forward): U_{j,l} = B[c_x psihat / sqrt(a_lambda)].
  const auto& C = conditional;
  const Grid& full = *grids[0];
  ws.energy.assign(static_cast<std::size_t>(C.scales) * full.size, 0.0);
  ws.wavelet_fields.resize(count * full.size);
  for (std::size_t lambda = 0; lambda < count; ++lambda) {
    const auto& s = supports[lambda];
    complex* u = ws.wavelet_fields.data() + lambda * full.size;
    std::fill(u, u + full.size, complex(0.0));
    const std::int32_t* plus = s.plus_on(full);
    const std::int32_t* minus = s.minus_on(full);
    const double norm = inv_sqrt_a[lambda];
    for (std::size_t e = 0; e < s.psi.size(); ++e)
      u[C.index[lambda][e]] = read_half(ws.state.cx.data(), plus[e], minus[e]) * (s.psi[e] * norm);
    full.complex_single->backward(u, u);
    // Every binned field of this wavelet's scale: its energy, its modulus, or both.
    for (int f = scale_of(static_cast<int>(lambda)); f < C.scales; f += C.wavelet_scales) {
      double* field = ws.energy.data() + static_cast<std::size_t>(f) * full.size;
      if (C.is_modulus(f))
        for (std::size_t y = 0; y < full.size; ++y) field[y] += std::abs(u[y]);
      else
        for (std::size_t y = 0; y < full.size; ++y) field[y] += std::norm(u[y]);
    }
  }
}

void ScatteringSpectra::Impl::conditional_values(scattering::Workspace& ws,
                                                 std::span<const double> x, const Conditional& C,
                                                 std::span<double> out) const {
  conditional_energies(ws);
  binned_means(C, x, ws.energy.data(), false, out);
}

void ScatteringSpectra::Impl::binned_means(const Conditional& C, std::span<const double> x,
                                           const double* fields, bool absolute,
                                           std::span<double> out) const {
  const std::size_t N = grids[0]->size;
  std::fill(out.begin(), out.end(), 0.0);
  const double inv_sigma = 1.0 / C.sigma, inv_w = 1.0 / C.width();
  std::vector<double> h(C.bins);
  for (std::size_t y = 0; y < N; ++y) {
    const double z = x[y] * inv_sigma;
    for (int m = 0; m < C.bins; ++m) h[m] = bump((z - C.centre(m)) * inv_w);
    for (int j = 0; j < C.scales; ++j) {
      double f = fields[static_cast<std::size_t>(j) * N + y];
      if (absolute) f = std::abs(f);
      for (int m = 0; m < C.bins; ++m) out[static_cast<std::size_t>(j) * C.bins + m] += f * h[m];
    }
  }
  const double inv_n = 1.0 / static_cast<double>(N);
  for (std::size_t f = 0; f < out.size(); ++f) out[f] *= inv_n * C.inv_mass[f];
}

void ScatteringSpectra::Impl::binned_gradient(scattering::Workspace& ws, const Conditional& C,
                                              std::span<const double> x,
                                              std::span<const double> eta, const double* fields,
                                              std::span<double> pointwise) const {
  const std::size_t N = grids[0]->size;
  const double inv_sigma = 1.0 / C.sigma, inv_w = 1.0 / C.width();
  const double inv_n = 1.0 / static_cast<double>(N);
  ws.weights.assign(static_cast<std::size_t>(C.scales) * N, 0.0);
  for (std::size_t y = 0; y < N; ++y) {
    const double z = x[y] * inv_sigma;
    double through_bins = 0.0;
    for (int m = 0; m < C.bins; ++m) {
      const double d = (z - C.centre(m)) * inv_w;
      const double b = bump(d), db = -d * b * inv_w * inv_sigma;  // dh/du
      for (int j = 0; j < C.scales; ++j) {
        const std::size_t f = static_cast<std::size_t>(j) * C.bins + m;
        const double c = eta[f] * C.inv_mass[f] * inv_n;
        if (c == 0.0) continue;
        ws.weights[static_cast<std::size_t>(j) * N + y] += c * b;
        through_bins += c * db * fields[static_cast<std::size_t>(j) * N + y];
      }
    }
    pointwise[y] += through_bins;
  }
}

void ScatteringSpectra::Impl::conditional_gradient(scattering::Workspace& ws,
                                                   std::span<const double> x,
                                                   std::span<const double> eta, complex* G,
                                                   std::span<double> pointwise) const {
  // Through the bins: sum_{j,m} eta_jm E_j h_m'(z) / (sigma N a_jm), a pointwise term. Through the
  // wavelets: for each (j, l), G += 0.5 / sqrt(a) (psihat S + mirror), S = FFT(2 W_j U_{j,l}) with
  // W_j = sum_m eta_jm h_m(z) / (N a_jm), the adjoint of x -> U (as the scattering map's backward).
  const auto& C = conditional;
  const Grid& full = *grids[0];
  conditional_energies(ws);
  binned_gradient(ws, C, x, eta, ws.energy.data(), pointwise);
  for (std::size_t lambda = 0; lambda < count; ++lambda) {
    // The weights of every binned field of this wavelet's scale: its energy, modulus, or both.
    const int j = scale_of(static_cast<int>(lambda));
    complex* u = ws.wavelet_fields.data() + lambda * full.size;
    for (std::size_t y = 0; y < full.size; ++y) {
      double factor = 0.0;
      for (int f = j; f < C.scales; f += C.wavelet_scales)
        factor +=
            C.adjoint_factor(f, u[y], ws.weights[static_cast<std::size_t>(f) * full.size + y]);
      u[y] *= factor;
    }
    full.complex_single->forward(u, u);
    const auto& s = supports[lambda];
    const std::int32_t* plus = s.plus_on(full);
    const std::int32_t* minus = s.minus_on(full);
    const double norm = 0.5 * inv_sqrt_a[lambda];
    for (std::size_t e = 0; e < s.psi.size(); ++e)
      scatter_half(G, plus[e], minus[e], u[C.index[lambda][e]] * (norm * s.psi[e]));
  }
}

void ScatteringSpectra::Impl::conditional_jacobian(scattering::Workspace& ws,
                                                   std::span<const double> x) const {
  // Row (j, m): only the wavelets of scale j carry its weight W = h_m / (N a_jm): L c2c per row.
  const auto& C = conditional;
  const Grid& full = *grids[0];
  conditional_energies(ws);
  const double inv_n = 1.0 / static_cast<double>(full.size);
  ws.conditional_rows.assign(C.count() * full.size, 0.0);
  std::vector<double> h(full.size), dh(full.size);
  ComplexVector field(full.size), G(full.half_size);
  for (int m = 0; m < C.bins; ++m) {
    C.bin_fields(m, x, h, dh);
    for (int fj = 0; fj < C.scales; ++fj) {
      const int j = fj % C.wavelet_scales;  // the wavelets' scale of binned field fj
      const std::size_t f = static_cast<std::size_t>(fj) * C.bins + m;
      const double c = C.inv_mass[f] * inv_n;
      std::fill(G.begin(), G.end(), complex(0.0));
      for (std::size_t lambda = static_cast<std::size_t>(j * L);
           lambda < static_cast<std::size_t>((j + 1) * L); ++lambda) {
        const complex* u = ws.wavelet_fields.data() + lambda * full.size;
        for (std::size_t y = 0; y < full.size; ++y)
          field[y] = u[y] * C.adjoint_factor(fj, u[y], c * h[y]);
        full.complex_single->forward(field.data(), field.data());
        const auto& s = supports[lambda];
        const std::int32_t* plus = s.plus_on(full);
        const std::int32_t* minus = s.minus_on(full);
        const double norm = 0.5 * inv_sqrt_a[lambda];
        for (std::size_t e = 0; e < s.psi.size(); ++e)
          scatter_half(G.data(), plus[e], minus[e], field[C.index[lambda][e]] * (norm * s.psi[e]));
      }
      double* row = ws.conditional_rows.data() + f * full.size;
      full.real_single->backward_destroying(G.data(), row);
      const double* e = ws.energy.data() + static_cast<std::size_t>(fj) * full.size;
      for (std::size_t y = 0; y < full.size; ++y) row[y] = row[y] * inv_n + c * dh[y] * e[y];
    }
  }
}

std::vector<double> ScatteringSpectra::Impl::calibrate_binned(const Matrix& local_items,
                                                              const Conditional& C, double tail,
                                                              const char* subject,
                                                              const BinnedValues& values,
                                                              const par::Comm& comm) const {
  const std::size_t count = C.count();
  std::vector<double> constants =
      scattering::item_value_scale(local_items, grids[0]->size, tail, comm, subject);
  Conditional fixed = C;
  fixed.sigma = constants[0];
  fixed.low = constants[1];
  fixed.high = constants[2];
  fixed.inv_mass.assign(count, 1.0);
  // The per-item values with unit constants.
  std::vector<double> local(local_items.rows() * count);
  scattering::ForwardNeeds cx_only;
  cx_only.modulus = cx_only.phase = cx_only.values = false;
  par::collective(comm, [&] {
    std::lock_guard<std::mutex> lock(workspace_lock);
    for (std::size_t i = 0; i < local_items.rows(); ++i) {
      forward(local_items.row(i), cx_only, workspace);
      values(workspace, local_items.row(i), fixed,
             std::span<double>(local.data() + i * count, count));
    }
  });
  const std::vector<double> mean = scattering::floored_item_means(local, count, comm);
  constants.insert(constants.end(), mean.begin(), mean.end());
  return constants;
}

std::vector<double> ScatteringSpectra::calibrate_conditional(const Matrix& local_items,
                                                             const par::Comm& comm) const {
  // a_jm: the data means of <E_j h_m>.
  const Impl& I = *impl_;
  return I.calibrate_binned(
      local_items, I.conditional, options_.bin_tail, "conditional features: the data",
      [&](scattering::Workspace& ws, std::span<const double> x, const Impl::Conditional& C,
          std::span<double> out) { I.conditional_values(ws, x, C, out); },
      comm);
}

}  // namespace ksi::features
