/// @file
/// The scattering spectra's transform: the forward pass (wavelet bank, envelopes, the feature
/// values) and its adjoint (the vector-Jacobian product), batched over the grid's FFT plans, and
/// the FeatureMap interface on them. The catalogue the transform reads is built in
/// scattering_catalogue.cpp; the normalisation is measured in scattering_normalization.cpp.
#include "ksi/features/scattering.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "features/scattering_impl.hpp"
#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"

namespace ksi::features {

// ---------------------------------------------------------------------------------------------
// Forward pass

namespace {

// Runs `transform(first, count)` over jobs [0, n) in groups that use the grid's batched plans.
template <class Body>
void in_batches(const Grid& grid, std::size_t n, Body&& body) {
  for (std::size_t first = 0; first < n; first += grid.batch)
    body(first, std::min(grid.batch, n - first));
}

void complex_backward(const Grid& grid, complex* data, std::size_t n) {
  if (n == grid.batch && grid.complex_batch) {
    grid.complex_batch->backward(data, data);
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    grid.complex_single->backward(data + i * grid.size, data + i * grid.size);
}

void complex_forward(const Grid& grid, complex* data, std::size_t n) {
  if (n == grid.batch && grid.complex_batch) {
    grid.complex_batch->forward(data, data);
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    grid.complex_single->forward(data + i * grid.size, data + i * grid.size);
}

void real_forward(const Grid& grid, const double* in, complex* out, std::size_t n) {
  if (n == grid.batch && grid.real_batch) {
    grid.real_batch->forward(in, out);
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    grid.real_single->forward(in + i * grid.size, out + i * grid.half_size);
}

void real_backward_destroying(const Grid& grid, complex* in, double* out, std::size_t n) {
  if (n == grid.batch && grid.real_batch) {
    grid.real_batch->backward_destroying(in, out);
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    grid.real_single->backward_destroying(in + i * grid.half_size, out + i * grid.size);
}

}  // namespace

void ScatteringSpectra::Impl::forward(std::span<const double> x,
                                      const scattering::ForwardNeeds& needs,
                                      scattering::Workspace& ws) const {
  auto& state = ws.state;
  const Grid& full = *grids[0];
  state.cx.resize(full.half_size);
  full.real_single->forward(x.data(), state.cx.data());
  const double inv_n = 1.0 / static_cast<double>(full.size);
  for (auto& c : state.cx) c *= inv_n;
  state.cm.resize(count);
  state.phase.resize(count);

  if (needs.modulus || needs.phase) {
    auto& u = ws.u;
    auto& modulus = ws.modulus;
    auto& spectrum = ws.spectrum;
    for (int j = 0; j < J; ++j) {
      const Grid& grid = *grids[j];
      const double inv_ng = 1.0 / static_cast<double>(grid.size);
      in_batches(grid, static_cast<std::size_t>(L), [&](std::size_t first, std::size_t nb) {
        u.assign(nb * grid.size, complex(0.0));
        for (std::size_t i = 0; i < nb; ++i) {
          const std::size_t lambda = static_cast<std::size_t>(j * L) + first + i;
          const auto& s = supports[lambda];
          complex* ui = u.data() + i * grid.size;
          const double norm = inv_sqrt_a[lambda];
          const std::int32_t* plus = s.plus_on(full);
          const std::int32_t* minus = s.minus_on(full);
          for (std::size_t e = 0; e < s.psi.size(); ++e)
            ui[s.grid_index[e]] = read_half(state.cx.data(), plus[e], minus[e]) * (s.psi[e] * norm);
        }
        complex_backward(grid, u.data(), nb);
        modulus.resize(nb * grid.size);
        for (std::size_t q = 0; q < nb * grid.size; ++q)
          modulus[q] = std::sqrt(u[q].real() * u[q].real() + u[q].imag() * u[q].imag());
        if (needs.phase)
          for (std::size_t i = 0; i < nb; ++i) {
            const std::size_t lambda = static_cast<std::size_t>(j * L) + first + i;
            auto& ph = state.phase[lambda];
            ph.resize(grid.size);
            const complex* ui = u.data() + i * grid.size;
            const double* mi = modulus.data() + i * grid.size;
            // The modulus is not differentiable at 0; its subgradient 0 is used there.
            for (std::size_t q = 0; q < grid.size; ++q)
              ph[q] = mi[q] > 0.0 ? ui[q] * (1.0 / mi[q]) : complex(0.0);
          }
        spectrum.resize(nb * grid.half_size);
        real_forward(grid, modulus.data(), spectrum.data(), nb);
        for (std::size_t i = 0; i < nb; ++i) {
          const std::size_t lambda = static_cast<std::size_t>(j * L) + first + i;
          auto& cm = state.cm[lambda];
          cm.resize(grid.half_size);
          const complex* si = spectrum.data() + i * grid.half_size;
          for (std::size_t q = 0; q < grid.half_size; ++q) cm[q] = si[q] * inv_ng;
        }
      });
    }
  }
  if (needs.values) values(ws);
}

void ScatteringSpectra::Impl::gather(const scattering::ForwardState& state, int outer, int rows,
                                     std::size_t first, std::size_t count,
                                     ComplexVector& out) const {
  const auto& s = supports[outer];
  out.resize(static_cast<std::size_t>(rows) * count);
  for (int r = 0; r + 1 < rows; ++r) {
    const Grid& g = *grids[scale_of(r)];
    const complex* cm = state.cm[r].data();
    const std::int32_t* plus = s.plus_on(g) + first;
    const std::int32_t* minus = s.minus_on(g) + first;
    complex* row = out.data() + static_cast<std::size_t>(r) * count;
    for (std::size_t e = 0; e < count; ++e) row[e] = read_half(cm, plus[e], minus[e]);
  }
  const std::int32_t* plus = s.plus_on(*grids[0]) + first;
  const std::int32_t* minus = s.minus_on(*grids[0]) + first;
  complex* last = out.data() + static_cast<std::size_t>(rows - 1) * count;
  for (std::size_t e = 0; e < count; ++e) last[e] = read_half(state.cx.data(), plus[e], minus[e]);
}

void ScatteringSpectra::Impl::gather_weighted(scattering::Workspace& ws, int outer, int rows,
                                              std::size_t first, std::size_t count,
                                              bool squared) const {
  const auto& s = supports[outer];
  gather(ws.state, outer, rows, first, count, ws.gathered);
  auto& weighted = ws.weighted;
  weighted.resize(static_cast<std::size_t>(rows) * count);
  for (int r = 0; r < rows; ++r)
    for (std::size_t e = 0; e < count; ++e) {
      const double psi = s.psi[first + e];
      weighted[r * count + e] = ws.gathered[r * count + e] * (squared ? psi * psi : psi);
    }
}

void ScatteringSpectra::Impl::values(scattering::Workspace& ws) const {
  auto& state = ws.state;
  state.raw.assign(configs.size(), complex(0.0));
  if (mean_config >= 0) state.raw[mean_config] = complex(state.cx[0].real());
  for (std::size_t ci = 0; ci < configs.size(); ++ci)
    if (configs[ci].family == Family::phi1)
      state.raw[ci] = complex(state.cm[configs[ci].a][0].real());
  // Per outer support, the Hermitian matrix (A o psihat)(A o psihat)^H (upper triangle) holds its
  // Phi2, Phi3 and Phi4.
  for (std::size_t lambda = 0; lambda < outer_count(); ++lambda) {
    if (configs_by_outer[lambda].empty()) continue;
    const int outer = static_cast<int>(lambda);
    const int rows = gathered_rows(outer, any_partner);
    const auto& s = supports[lambda];
    const std::size_t n = s.psi.size();
    auto& gram = ws.gram;
    gram.assign(static_cast<std::size_t>(rows * rows), complex(0.0));
    const std::size_t slice = gather_slice(rows);
    for (std::size_t first = 0; first < n; first += slice) {
      const std::size_t m = std::min(slice, n - first);
      gather_weighted(ws, outer, rows, first, m, false);
      cblas_zherk(CblasRowMajor, CblasUpper, CblasNoTrans, rows, static_cast<int>(m), 1.0,
                  ws.weighted.data(), static_cast<int>(m), first == 0 ? 0.0 : 1.0, gram.data(),
                  rows);
    }
    const int last = rows - 1;
    for (const int ci : configs_by_outer[lambda]) {
      const Config& c = configs[ci];
      complex v(0.0);
      if (c.family == Family::phi2) {
        v = complex(gram[last * rows + last].real() * inv_sqrt_a[c.a] * inv_sqrt_a[c.a]);
      } else if (c.family == Family::phi3) {
        v = std::conj(gram[c.b * rows + last]) * (beta3(c.a, c.b) * inv_sqrt_a[c.a]);
      } else {
        v = gram[c.a * rows + c.b] * beta4(c.a, c.b, c.c);
        if (c.real) v = complex(v.real());
      }
      state.raw[ci] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward pass: grad of sum_c Re(conj(w_c) F_c)

void ScatteringSpectra::Impl::backward(scattering::Workspace& ws, std::span<const complex> w,
                                       std::span<const double> shell_eta,
                                       std::span<double> grad) const {
  const auto& state = ws.state;
  const Grid& full = *grids[0];
  auto& G = ws.gradient;
  G.assign(full.half_size, complex(0.0));
  auto& H = ws.H;
  H.resize(count);
  std::vector<bool> has_h(count, false), active(count, false);
  std::vector<double> constant(count, 0.0);
  if (mean_config >= 0) G[0] += w[mean_config].real();
  for (std::size_t ci = 0; ci < configs.size(); ++ci)
    if (configs[ci].family == Family::phi1 && w[ci] != complex(0.0)) {
      const int a = configs[ci].a;
      constant[a] += w[ci].real() / static_cast<double>(grids[scale_of(a)]->size);
      active[a] = true;
    }

  // Per outer support: Omega from the weights, Hon = Omega (A o psihat^2); partner rows of Hon
  // feed H, the last row feeds G.
  auto& omega = ws.gram;
  for (std::size_t lambda = 0; lambda < outer_count(); ++lambda) {
    const int outer = static_cast<int>(lambda);
    bool any = false;
    for (const int ci : configs_by_outer[lambda]) any = any || w[ci] != complex(0.0);
    if (!any) continue;
    const int rows = gathered_rows(outer, any_partner), last = rows - 1;
    omega.assign(static_cast<std::size_t>(rows * rows), complex(0.0));
    for (const int ci : configs_by_outer[lambda]) {
      const complex wc = w[ci];
      const Config& c = configs[ci];
      if (c.family == Family::phi2) {
        omega[last * rows + last] += wc.real() * inv_sqrt_a[c.a] * inv_sqrt_a[c.a];
      } else if (c.family == Family::phi3) {
        const complex v = wc * (beta3(c.a, c.b) * inv_sqrt_a[c.a]);
        omega[last * rows + c.b] += 0.5 * v;
        omega[c.b * rows + last] += 0.5 * std::conj(v);
      } else {
        const complex v = wc * beta4(c.a, c.b, c.c);
        if (c.a == c.b) {
          omega[c.a * rows + c.a] += v.real();
        } else {
          omega[c.a * rows + c.b] += 0.5 * v;
          omega[c.b * rows + c.a] += 0.5 * std::conj(v);
        }
      }
    }
    const auto& s = supports[lambda];
    const std::size_t n = s.psi.size();
    if (n == 0) continue;
    std::vector<bool> row_used(rows, false);
    for (int r = 0; r < rows; ++r)
      for (int k = 0; k < rows; ++k)
        row_used[r] = row_used[r] || omega[r * rows + k] != complex(0.0);
    for (int r = 0; r + 1 < rows; ++r)
      if (row_used[r] && !has_h[r]) {
        H[r].assign(grids[scale_of(r)]->half_size, complex(0.0));
        has_h[r] = active[r] = true;
      }
    const std::size_t slice = gather_slice(rows);
    for (std::size_t first = 0; first < n; first += slice) {
      const std::size_t m = std::min(slice, n - first);
      gather_weighted(ws, outer, rows, first, m, true);
      auto& hon = ws.hon;
      hon.resize(static_cast<std::size_t>(rows) * m);
      const complex one(1.0), zero(0.0);
      cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, static_cast<int>(m), rows, &one,
                  omega.data(), rows, ws.weighted.data(), static_cast<int>(m), &zero, hon.data(),
                  static_cast<int>(m));
      for (int r = 0; r < rows; ++r) {
        if (!row_used[r]) continue;
        const complex* h = hon.data() + static_cast<std::size_t>(r) * m;
        const Grid& g = r == last ? full : *grids[scale_of(r)];
        complex* target = r == last ? G.data() : H[r].data();
        const std::int32_t* plus = s.plus_on(g) + first;
        const std::int32_t* minus = s.minus_on(g) + first;
        for (std::size_t e = 0; e < m; ++e) scatter_half(target, plus[e], minus[e], h[e]);
      }
    }
  }

  // Through the moduli: g_M = c2r(H) / N_G + constant, then G += psihat / (2 sqrt(a)) FFT(phase
  // g_M).
  auto& gm = ws.gm;
  auto& spectra = ws.spectrum;
  auto& field = ws.field;
  for (int j = 0; j < J; ++j) {
    const Grid& grid = *grids[j];
    std::vector<int> todo;
    for (int l = 0; l < L; ++l)
      if (active[j * L + l]) todo.push_back(j * L + l);
    in_batches(grid, todo.size(), [&](std::size_t first, std::size_t nb) {
      spectra.assign(nb * grid.half_size, complex(0.0));
      for (std::size_t i = 0; i < nb; ++i)
        if (has_h[todo[first + i]])
          std::copy(H[todo[first + i]].begin(), H[todo[first + i]].end(),
                    spectra.begin() + static_cast<long>(i * grid.half_size));
      gm.resize(nb * grid.size);
      real_backward_destroying(grid, spectra.data(), gm.data(), nb);
      field.resize(nb * grid.size);
      const double inv_ng = 1.0 / static_cast<double>(grid.size);
      for (std::size_t i = 0; i < nb; ++i) {
        const int lambda = todo[first + i];
        const complex* ph = state.phase[lambda].data();
        const double* gi = gm.data() + i * grid.size;
        complex* fi = field.data() + i * grid.size;
        const double c = constant[lambda];
        for (std::size_t q = 0; q < grid.size; ++q) fi[q] = ph[q] * (gi[q] * inv_ng + c);
      }
      complex_forward(grid, field.data(), nb);
      for (std::size_t i = 0; i < nb; ++i) {
        const int lambda = todo[first + i];
        const auto& s = supports[lambda];
        const complex* fi = field.data() + i * grid.size;
        const double norm = 0.5 * inv_sqrt_a[lambda];
        const std::int32_t* plus = s.plus_on(full);
        const std::int32_t* minus = s.minus_on(full);
        for (std::size_t e = 0; e < s.psi.size(); ++e)
          scatter_half(G.data(), plus[e], minus[e], fi[s.grid_index[e]] * (norm * s.psi[e]));
      }
    });
  }

  if (!shell_eta.empty()) shell_gradient(state, shell_eta, G.data());
  full.real_single->backward_destroying(G.data(), grad.data());
  const double inv_n = 1.0 / static_cast<double>(full.size);
  for (auto& v : grad) v *= inv_n;
}

// ---------------------------------------------------------------------------------------------
// FeatureMap interface

std::size_t ScatteringSpectra::size() const {
  return impl_->features.size() + impl_->dense_count() + impl_->shells.count();
}

const WaveletBank& ScatteringSpectra::bank() const {
  return impl_->bank;
}

void ScatteringSpectra::Impl::feature_values(scattering::Workspace& ws, std::span<const double> x,
                                             std::span<double> phi) const {
  const auto& state = ws.state;
  for (std::size_t p = 0; p < features.size(); ++p) {
    double v = 0.0;
    for (const auto& t : features[p].terms) {
      const complex r = state.raw[t.config];
      v += t.coef * (t.imag ? r.imag() : r.real());
    }
    phi[p] = v;
  }
  if (marginal.bins > 0) marginal_values(ws, phi.subspan(features.size()));
  if (conditional.bins > 0)
    conditional_values(ws, x, conditional,
                       phi.subspan(features.size() + static_cast<std::size_t>(marginal.bins),
                                   conditional.count()));
  if (contrast.bins > 0)
    contrast_values(ws, x, contrast, phi.subspan(contrast_first(), contrast.count()));
  if (shells.count() > 0) shell_values(state, phi.subspan(shells.first, shells.count()));
}

void ScatteringSpectra::Impl::gradient(scattering::Workspace& ws, std::span<const double> x,
                                       std::span<const double> eta, std::span<double> grad) const {
  std::vector<complex> w(configs.size(), complex(0.0));
  for (std::size_t p = 0; p < features.size(); ++p)
    for (const auto& t : features[p].terms)
      w[t.config] += t.imag ? complex(0.0, t.coef * eta[p]) : complex(t.coef * eta[p], 0.0);
  backward(ws, w, eta.subspan(shells.first, shells.count()), grad);
  if (marginal.bins > 0) marginal_gradient(ws, eta.subspan(features.size()), grad);
  if (conditional.bins > 0 || contrast.bins > 0) {
    const Grid& full = *grids[0];
    ComplexVector G(full.half_size, complex(0.0));
    std::vector<double> pointwise(full.size, 0.0), through_wavelets(full.size);
    if (conditional.bins > 0)
      conditional_gradient(ws, x,
                           eta.subspan(features.size() + static_cast<std::size_t>(marginal.bins),
                                       conditional.count()),
                           G.data(), pointwise);
    if (contrast.bins > 0)
      contrast_gradient(ws, x, eta.subspan(contrast_first(), contrast.count()), G.data(),
                        pointwise);
    full.real_single->backward_destroying(G.data(), through_wavelets.data());
    const double inv_n = 1.0 / static_cast<double>(full.size);
    for (std::size_t y = 0; y < full.size; ++y)
      grad[y] += through_wavelets[y] * inv_n + pointwise[y];
  }
}

void ScatteringSpectra::evaluate(std::span<const double> x, std::span<double> phi) const {
  ScopedPhase phase("features.scattering.evaluate");
  std::lock_guard<std::mutex> lock(impl_->workspace_lock);
  auto& ws = impl_->workspace;
  ws.release_gram_buffers();
  scattering::ForwardNeeds needs;
  needs.modulus = impl_->any_modulus;
  impl_->forward(x, needs, ws);
  impl_->feature_values(ws, x, phi);
}

void ScatteringSpectra::vjp(std::span<const double> x, std::span<const double> eta,
                            std::span<double> grad) const {
  ScopedPhase phase("features.scattering.vjp");
  std::lock_guard<std::mutex> lock(impl_->workspace_lock);
  auto& ws = impl_->workspace;
  ws.release_gram_buffers();
  scattering::ForwardNeeds needs;
  needs.modulus = impl_->any_modulus;
  needs.phase = impl_->any_modulus;
  needs.values = false;
  impl_->forward(x, needs, ws);
  impl_->gradient(ws, x, eta, grad);
}

void ScatteringSpectra::evaluate_and_vjp(std::span<const double> x, std::span<double> phi,
                                         const EtaOfPhi& eta_of, std::span<double> grad) const {
  ScopedPhase phase("features.scattering.evaluate_and_vjp");
  std::lock_guard<std::mutex> lock(impl_->workspace_lock);
  auto& ws = impl_->workspace;
  ws.release_gram_buffers();
  scattering::ForwardNeeds needs;
  needs.modulus = impl_->any_modulus;
  needs.phase = impl_->any_modulus;
  impl_->forward(x, needs, ws);
  impl_->feature_values(ws, x, phi);
  std::vector<double> eta(phi.size());
  eta_of(phi, eta);
  impl_->gradient(ws, x, eta, grad);
}

std::size_t ScatteringSpectra::preferred_batch() const {
  // accumulate works item by item, so the batch only has to amortise the fit loop. Batches are the
  // fit's unit of work over ranks, of checkpoints and of stop requests: keep them small (2 MB of
  // inputs, one field of 64^3) so that many ranks get work and a SIGUSR1 is answered within
  // seconds; the per-batch overhead (a double-double add of P^2/2 values per time) is negligible
  // next to it.
  return std::clamp<std::size_t>((std::size_t{2} << 20) / (sizeof(double) * shape_.size()), 1, 32);
}

void ScatteringSpectra::layer_powers(std::span<const double> x, std::span<double> first,
                                     std::span<double> second) const {
  std::lock_guard<std::mutex> lock(impl_->workspace_lock);
  auto& ws = impl_->workspace;
  scattering::ForwardNeeds needs;
  needs.modulus = true;
  needs.values = false;
  impl_->forward(x, needs, ws);
  const std::size_t W = impl_->count;
  std::fill(first.begin(), first.end(), 0.0);
  std::fill(second.begin(), second.end(), 0.0);
  for (std::size_t lambda = 0; lambda <= W; ++lambda) {
    const int outer = static_cast<int>(lambda);
    const auto& s = impl_->supports[lambda];
    const std::size_t n = s.psi.size();
    const int rows = impl_->gathered_rows(outer, true);
    std::vector<double> sums(rows, 0.0);
    const std::size_t slice = Impl::gather_slice(rows);
    for (std::size_t first_entry = 0; first_entry < n; first_entry += slice) {
      const std::size_t m = std::min(slice, n - first_entry);
      impl_->gather(ws.state, outer, rows, first_entry, m, ws.gathered);
      for (int r = 0; r < rows; ++r) {
        double sum = sums[r];  // summed in entry order, as over the whole support at once
        for (std::size_t e = 0; e < m; ++e) {
          const complex v = ws.gathered[r * m + e];
          const double psi = s.psi[first_entry + e];
          sum += (v.real() * v.real() + v.imag() * v.imag()) * psi * psi;
        }
        sums[r] = sum;
      }
    }
    for (int r = 0; r < rows; ++r) {
      const double sum = sums[r];
      if (r + 1 == rows)
        first[lambda] = sum;
      else
        second[static_cast<std::size_t>(r) * W + lambda] = sum;
    }
  }
}

FeatureSpec ScatteringSpectra::spec() const {
  FeatureSpec s;
  s.kind = kind();
  s.params.set("J", options_.scales);
  s.params.set("L", options_.orientations);
  s.params.set("slant", options_.slant);
  s.params.set("families", options_.families.text());
  s.params.set("isotropic", options_.isotropic);
  s.params.set("phi4_diagonal", options_.phi4_diagonal);
  s.params.set("subsample", options_.subsample);
  // The Gram's row windows follow the budget, and with them the rounding of K: a map rebuilt from
  // the model (ksi guide, microcanonical) keeps it, so its sums are the same bits.
  if (options_.workspace_mb != ScatteringOptions{}.workspace_mb)
    s.params.set("workspace_mb", options_.workspace_mb);
  if (!normalization_.first_layer.empty())
    s.arrays["first_layer_power"] = normalization_.first_layer;
  if (!normalization_.second_layer.empty())
    s.arrays["second_layer_power"] = normalization_.second_layer;
  if (options_.shells) {
    s.params.set("shells", true);
    if (!normalization_.shells.empty()) s.arrays["shell_power"] = normalization_.shells;
  }
  if (options_.conditional > 0) {
    s.params.set("conditional", options_.conditional);
    if (options_.conditional_moment != ConditionalMoment::energy)
      s.params.set("conditional_moment", to_string(options_.conditional_moment));
    if (!normalization_.conditional.empty())
      s.arrays["conditional_calibration"] = normalization_.conditional;
  }
  if (options_.contrast > 0) {
    s.params.set("contrast", options_.contrast);
    if (!normalization_.contrast.empty())
      s.arrays["contrast_calibration"] = normalization_.contrast;
  }
  if (options_.bin_tail > 0.0) s.params.set("bin_tail", options_.bin_tail);
  if (options_.marginal > 0) {
    s.params.set("marginal", options_.marginal);
    if (!options_.colour.empty()) s.arrays["marginal_colour"] = options_.colour;
    if (!normalization_.marginal.empty())
      s.arrays["marginal_calibration"] = normalization_.marginal;
  }
  return s;
}

ConditionalMoment parse_conditional_moment(const std::string& name) {
  return parse_choice<ConditionalMoment>("scattering conditional_moment", name,
                                         {{"energy", ConditionalMoment::energy},
                                          {"modulus", ConditionalMoment::modulus},
                                          {"both", ConditionalMoment::both}});
}

std::string to_string(ConditionalMoment moment) {
  switch (moment) {
    case ConditionalMoment::energy:
      return "energy";
    case ConditionalMoment::modulus:
      return "modulus";
    case ConditionalMoment::both:
      return "both";
  }
  return "energy";
}

std::vector<std::string> ScatteringSpectra::feature_names() const {
  std::vector<std::string> names;
  names.reserve(impl_->features.size());
  for (const auto& f : impl_->features) names.push_back(f.name);
  for (int m = 0; m < impl_->marginal.bins; ++m)
    names.push_back(sformat("marginal %d (z = %.3g)", m, impl_->marginal.centre(m)));
  const auto& C = impl_->conditional;
  for (int f = 0; f < C.scales; ++f)
    for (int m = 0; m < C.bins; ++m)
      names.push_back(sformat("conditional %s j=%d bin %d (z = %.3g)",
                              C.is_modulus(f) ? "modulus" : "energy", f % C.wavelet_scales, m,
                              C.centre(m)));
  for (int j = 0; j < impl_->contrast.scales; ++j)
    for (int m = 0; m < impl_->contrast.bins; ++m)
      names.push_back(sformat("contrast j=%d bin %d (z = %.3g)", j, m, impl_->contrast.centre(m)));
  for (const int shell : impl_->shells.shell)
    names.push_back(sformat("shell power |k| = %d", shell));
  return names;
}

std::vector<std::size_t> ScatteringSpectra::bin_features() const {
  // The bins follow the scattering features, in the order of feature_names.
  const std::size_t first = impl_->features.size();
  const std::size_t count = impl_->dense_count();
  std::vector<std::size_t> bins(count);
  for (std::size_t i = 0; i < count; ++i) bins[i] = first + i;
  return bins;
}

std::unique_ptr<ScatteringSpectra> ScatteringSpectra::from_spec(const FeatureSpec& spec,
                                                                const ItemShape& shape) {
  Params params = spec.params;
  params.set_context("stored scattering feature map");
  ScatteringOptions o;
  try {
    o.scales = static_cast<int>(params.integer("J"));
    o.orientations = static_cast<int>(params.integer("L"));
    o.slant = params.real("slant");
    o.families = ScatteringFamilies::parse(params.text("families"));
    o.isotropic = params.flag("isotropic", false);
    o.phi4_diagonal = params.flag("phi4_diagonal", false);
    o.subsample = params.flag("subsample", true);
    o.workspace_mb = params.real("workspace_mb", o.workspace_mb);
    o.marginal = static_cast<int>(params.integer("marginal", 0));
    o.shells = params.flag("shells", false);  // models older than the family have none
    o.conditional = static_cast<int>(params.integer("conditional", 0));
    o.conditional_moment = parse_conditional_moment(params.text("conditional_moment", "energy"));
    o.contrast = static_cast<int>(params.integer("contrast", 0));
    o.bin_tail = params.real("bin_tail", 0.0);
  } catch (const UsageError& e) {
    throw InputError(e.what());
  }
  if (auto it = spec.arrays.find("marginal_colour"); it != spec.arrays.end()) o.colour = it->second;
  ScatteringNormalization n;
  if (auto it = spec.arrays.find("first_layer_power"); it != spec.arrays.end())
    n.first_layer = it->second;
  if (auto it = spec.arrays.find("second_layer_power"); it != spec.arrays.end())
    n.second_layer = it->second;
  if (auto it = spec.arrays.find("marginal_calibration"); it != spec.arrays.end())
    n.marginal = it->second;
  if (auto it = spec.arrays.find("shell_power"); it != spec.arrays.end()) n.shells = it->second;
  if (auto it = spec.arrays.find("conditional_calibration"); it != spec.arrays.end())
    n.conditional = it->second;
  if (auto it = spec.arrays.find("contrast_calibration"); it != spec.arrays.end())
    n.contrast = it->second;
  try {
    return std::make_unique<ScatteringSpectra>(shape, o, std::move(n));
  } catch (const UsageError& e) {
    throw InputError(cat("the stored scattering feature map does not fit items of shape ",
                         shape.describe(), ": ", e.what()));
  }
}

}  // namespace ksi::features
