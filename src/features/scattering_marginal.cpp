// The marginal family of ScatteringSpectra: a soft histogram of the one-point values of the
// coloured field u = C x (scattering.hpp). Everything here is a pointwise map between two FFTs.
#include <algorithm>
#include <cmath>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::features {

namespace {

// h(z) = exp(-d^2 / 2) and h'(z) = -d h / w with d = (z - c) / w. Bins farther than kReach widths
// from a value take exp(-40) of it or less: they are skipped.
constexpr double kReach = 9.0;

// Calls visit(m, d_m, h_m) for the bins m within kReach of the value at s = (z - c_0) / w (so that
// d_m = s - m). The bumps of neighbouring bins differ by the factor exp(d - 1/2) (upwards) or
// exp(-d - 1/2) (downwards), which itself changes by 1/e from bin to bin: three exponentials per
// value instead of one per bin.
template <class Visit>
inline void visit_bins(double s, int bins, Visit&& visit) {
  constexpr double inv_e = 0.36787944117144233;
  const int m0 = static_cast<int>(std::clamp(std::lround(s), 0L, static_cast<long>(bins) - 1));
  const double d0 = s - m0;
  if (!(std::abs(d0) <= kReach)) return;
  const double h0 = std::exp(-0.5 * d0 * d0);
  visit(m0, d0, h0);
  double h = h0, ratio = std::exp(d0 - 0.5), d = d0;
  for (int m = m0 + 1; m < bins && d - 1.0 >= -kReach; ++m) {
    h *= ratio;
    ratio *= inv_e;
    d -= 1.0;
    visit(m, d, h);
  }
  h = h0;
  ratio = std::exp(-d0 - 0.5);
  d = d0;
  for (int m = m0 - 1; m >= 0 && d + 1.0 <= kReach; --m) {
    h *= ratio;
    ratio *= inv_e;
    d += 1.0;
    visit(m, d, h);
  }
}

}  // namespace

void ScatteringSpectra::Impl::setup_marginal(const ScatteringOptions& options,
                                             const ScatteringNormalization& n) {
  auto& M = marginal;
  M.bins = options.marginal;
  if (M.bins < 0 || M.bins > 256)
    throw UsageError(
        cat("scattering features: marginal must be between 0 and 256 bins, not ", M.bins));
  if (M.bins == 0) {
    if (!n.marginal.empty())
      throw InputError("scattering normalisation has marginal constants but no marginal bins");
    return;
  }
  const Grid& full = *grids[0];
  if (!options.colour.empty()) {
    for (const double g : options.colour)
      if (!(g >= 0.0) || !std::isfinite(g))
        throw InputError(cat("scattering features: marginal colour gain ", g,
                             " is not a finite non-negative number"));
    const auto shells = fft::shell_of_modes(full.dims);
    M.colour.resize(full.half_size);
    for (std::size_t k = 0; k < full.half_size; ++k)
      M.colour[k] = shells[k] < options.colour.size() ? options.colour[shells[k]] : 0.0;
  }
  M.inv_mass.assign(M.bins, 1.0);
  if (n.marginal.empty()) return;
  if (n.marginal.size() != 3 + static_cast<std::size_t>(M.bins))
    throw InputError(cat("scattering normalisation has ", n.marginal.size(),
                         " marginal constants; expected ", 3 + M.bins, " (sigma, range, ", M.bins,
                         " bin masses)"));
  M.sigma = n.marginal[0];
  M.low = n.marginal[1];
  M.high = n.marginal[2];
  if (!(M.sigma > 0.0) || !std::isfinite(M.sigma) || !(M.high > M.low) || !std::isfinite(M.low) ||
      !std::isfinite(M.high))
    throw InputError(cat("scattering normalisation: marginal sigma ", M.sigma, " and range [",
                         M.low, ", ", M.high, "] are not valid"));
  for (int m = 0; m < M.bins; ++m) {
    const double mass = n.marginal[3 + m];
    if (!(mass > 0.0) || !std::isfinite(mass))
      throw InputError(
          cat("scattering normalisation: marginal bin mass ", mass, " is not positive"));
    M.inv_mass[m] = 1.0 / mass;
  }
}

void ScatteringSpectra::Impl::coloured_field(const complex* cx, scattering::Workspace& ws) const {
  const Grid& full = *grids[0];
  auto& spectrum = ws.marginal_spectrum;
  spectrum.assign(cx, cx + full.half_size);
  if (!marginal.colour.empty())
    for (std::size_t k = 0; k < full.half_size; ++k) spectrum[k] *= marginal.colour[k];
  ws.marginal_field.resize(full.size);
  full.real_single->backward_destroying(spectrum.data(), ws.marginal_field.data());
}

void ScatteringSpectra::Impl::Marginal::histogram(std::span<const double> u,
                                                  std::span<double> out) const {
  const double inv_sigma = 1.0 / sigma, inv_w = 1.0 / width();
  std::vector<double> sums(bins, 0.0);
  for (const double v : u)
    visit_bins((v * inv_sigma - centre(0)) * inv_w, bins,
               [&](int m, double, double h) { sums[m] += h; });
  const double inv_n = 1.0 / static_cast<double>(u.size());
  for (int m = 0; m < bins; ++m) out[m] = sums[m] * inv_n * inv_mass[m];
}

void ScatteringSpectra::Impl::marginal_values(scattering::Workspace& ws,
                                              std::span<double> out) const {
  coloured_field(ws.state.cx.data(), ws);
  marginal.histogram(ws.marginal_field, out);
}

void ScatteringSpectra::Impl::marginal_gradient(scattering::Workspace& ws,
                                                std::span<const double> eta,
                                                std::span<double> grad) const {
  const auto& M = marginal;
  const Grid& full = *grids[0];
  coloured_field(ws.state.cx.data(), ws);
  auto& g = ws.marginal_field;
  const double n = static_cast<double>(full.size);
  const double inv_sigma = 1.0 / M.sigma, inv_w = 1.0 / M.width();
  // d/du of eta_m h_m(u / sigma) / (N mass_m), then C^T = C (a real, even filter).
  std::vector<double> weight(M.bins);
  for (int m = 0; m < M.bins; ++m) weight[m] = -eta[m] * M.inv_mass[m] * inv_w * inv_sigma / n;
  for (auto& u : g) {
    double sum = 0.0;
    visit_bins((u * inv_sigma - M.centre(0)) * inv_w, M.bins,
               [&](int m, double d, double h) { sum += weight[m] * d * h; });
    u = sum;
  }
  auto& spectrum = ws.marginal_spectrum;
  spectrum.resize(full.half_size);
  full.real_single->forward(g.data(), spectrum.data());
  for (std::size_t k = 0; k < full.half_size; ++k)
    spectrum[k] *= (M.colour.empty() ? 1.0 : M.colour[k]) / n;
  full.real_single->backward_destroying(spectrum.data(), g.data());
  for (std::size_t y = 0; y < full.size; ++y) grad[y] += g[y];
}

void ScatteringSpectra::Impl::marginal_rows(scattering::Workspace& ws, std::span<const double> x,
                                            bool with_conditional) const {
  const auto& M = marginal;
  const Grid& full = *grids[0];
  const std::size_t columns = prefix.empty() ? 0 : prefix[0];
  const double n = static_cast<double>(full.size);
  const std::size_t D = dense_count();
  ws.marginal_rows.resize(D * columns);
  ws.marginal_rest.resize(D * uncovered.size());
  auto& spectrum = ws.marginal_spectrum;
  spectrum.resize(full.half_size);
  // Row r of the dense rows: its grid field g, colour (marginal bins only), then onto the columns.
  const auto place = [&](std::size_t r, const double* g, bool coloured) {
    full.real_single->forward(g, spectrum.data());
    if (coloured && !M.colour.empty())
      for (std::size_t k = 0; k < full.half_size; ++k) spectrum[k] *= M.colour[k];
    complex* q = ws.marginal_rows.data() + r * columns;
    for (std::size_t c = 0; c < columns; ++c) q[c] = spectrum[column_half[c]] * column_scale[c];
    complex* rest = ws.marginal_rest.data() + r * uncovered.size();
    for (std::size_t i = 0; i < uncovered.size(); ++i)
      rest[i] = spectrum[uncovered[i]] * uncovered_scale[i];
  };
  if (M.bins > 0) {
    coloured_field(ws.state.cx.data(), ws);
    const auto& u = ws.marginal_field;
    const double inv_sigma = 1.0 / M.sigma, inv_w = 1.0 / M.width();
    // Every bin's row field at once (each value touches only its nearby bins), then one r2c per
    // bin.
    auto& rows = ws.marginal_row_field;
    rows.assign(static_cast<std::size_t>(M.bins) * full.size, 0.0);
    std::vector<double> weight(M.bins);
    for (int m = 0; m < M.bins; ++m) weight[m] = -M.inv_mass[m] * inv_w * inv_sigma / n;
    for (std::size_t y = 0; y < full.size; ++y)
      visit_bins((u[y] * inv_sigma - M.centre(0)) * inv_w, M.bins, [&](int m, double d, double h) {
        rows[static_cast<std::size_t>(m) * full.size + y] = weight[m] * d * h;
      });
    for (int m = 0; m < M.bins; ++m)
      place(static_cast<std::size_t>(m), rows.data() + static_cast<std::size_t>(m) * full.size,
            true);
  }
  if (with_conditional && conditional.bins > 0) {
    conditional_jacobian(ws, x);
    for (std::size_t f = 0; f < conditional.count(); ++f)
      place(static_cast<std::size_t>(M.bins) + f, ws.conditional_rows.data() + f * full.size,
            false);
  }
  if (with_conditional && contrast.bins > 0) {
    const std::size_t first = static_cast<std::size_t>(M.bins) + conditional.count();
    contrast_jacobian(ws, x,
                      [&](std::size_t f, const double* row) { place(first + f, row, false); });
  }
}

}  // namespace ksi::features
