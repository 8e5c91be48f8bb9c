// The contrast family of ScatteringSpectra (scattering.hpp): the field's contrast with its
// surroundings at each scale, averaged within soft bins of the field's own values,
//
//     contrast_{j,m} = < g_j h_m(u / sigma) > / a_{j,m},   g_j = D_j u = u - G_{R_j} * u,
//
// G_R the Gaussian low-pass exp(-|omega|^2 R^2 / 2) of radius R_j = 2^j cells. Low values lie below
// almost any neighbourhood (g_j < 0), and for a Gaussian field E[g_j | u] is proportional to u at
// every scale, fixed by the spectrum; what tells a flat basin bottom (g_j near 0 at small j, far
// below 0 at large j) from an isolated dip (far below 0 already at small j) is how the contrast at
// a level grows with the scale, which this family holds and the spectrum, the one-point law and
// the level-resolved energies do not. Every value is a linear filter of the field weighted
// pointwise, so the gradient and the rows need r2c / c2r pairs only (no wavelet transforms).
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numbers>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::features {

namespace {

using scattering::bump;

// |omega_k|^2 (radians per cell, squared) of every r2c coefficient of a row-major grid.
std::vector<double> frequency_squared(const std::vector<std::size_t>& dims, std::size_t half) {
  const std::size_t D = dims.size();
  std::vector<std::size_t> extent(dims);
  extent[D - 1] = dims[D - 1] / 2 + 1;
  std::vector<double> out(half);
  std::vector<std::size_t> at(D, 0);
  for (std::size_t k = 0; k < half; ++k) {
    double sum = 0.0;
    for (std::size_t a = 0; a < D; ++a) {
      const long n = static_cast<long>(dims[a]);
      long m = static_cast<long>(at[a]);
      if (m > n / 2) m -= n;
      const double omega = 2.0 * std::numbers::pi * static_cast<double>(m) / static_cast<double>(n);
      sum += omega * omega;
    }
    out[k] = sum;
    for (std::size_t a = D; a-- > 0;) {  // next index, last axis fastest
      if (++at[a] < extent[a]) break;
      at[a] = 0;
    }
  }
  return out;
}

}  // namespace

void ScatteringSpectra::Impl::setup_contrast(const ScatteringOptions& options,
                                             const ScatteringNormalization& n) {
  auto& C = contrast;
  if (!C.configure(options.contrast, J, n.contrast, "contrast")) return;
  const Grid& full = *grids[0];
  const std::vector<double> w2 = frequency_squared(full.dims, full.half_size);
  contrast_filter.resize(static_cast<std::size_t>(C.scales) * full.half_size);
  for (int j = 0; j < C.scales; ++j) {
    const double radius = std::ldexp(1.0, j);
    double* d = contrast_filter.data() + static_cast<std::size_t>(j) * full.half_size;
    for (std::size_t k = 0; k < full.half_size; ++k)
      d[k] = -std::expm1(-0.5 * w2[k] * radius * radius);
  }
  C.read_constants(n.contrast, "contrast");
}

void ScatteringSpectra::Impl::contrast_contrasts(scattering::Workspace& ws) const {
  // c_x = r2c(x) / N, so the unnormalised c2r of d_j c_x is D_j x.
  const Grid& full = *grids[0];
  const auto& C = contrast;
  ws.contrast_fields.resize(static_cast<std::size_t>(C.scales) * full.size);
  ws.contrast_spectrum.resize(full.half_size);
  for (int j = 0; j < C.scales; ++j) {
    const double* d = contrast_filter.data() + static_cast<std::size_t>(j) * full.half_size;
    for (std::size_t k = 0; k < full.half_size; ++k)
      ws.contrast_spectrum[k] = ws.state.cx[k] * d[k];
    full.real_single->backward_destroying(
        ws.contrast_spectrum.data(),
        ws.contrast_fields.data() + static_cast<std::size_t>(j) * full.size);
  }
}

void ScatteringSpectra::Impl::contrast_values(scattering::Workspace& ws, std::span<const double> x,
                                              const Conditional& C, std::span<double> out,
                                              bool absolute) const {
  contrast_contrasts(ws);
  binned_means(C, x, ws.contrast_fields.data(), absolute, out);
}

void ScatteringSpectra::Impl::contrast_gradient(scattering::Workspace& ws,
                                                std::span<const double> x,
                                                std::span<const double> eta, complex* G,
                                                std::span<double> pointwise) const {
  // d/du of sum_{j,m} c_jm sum_y g_j(y) h_m(z(y)), c_jm = eta_jm / (N a_jm): through the bins the
  // pointwise sum_{j,m} c_jm g_j h_m'; through the filters D_j W_j with W_j = sum_m c_jm h_m (D_j
  // is symmetric), whose r2c spectrum d_j r2c(W_j) goes into G (the caller's c2r / N).
  const auto& C = contrast;
  const Grid& full = *grids[0];
  contrast_contrasts(ws);
  binned_gradient(ws, C, x, eta, ws.contrast_fields.data(), pointwise);
  ws.contrast_spectrum.resize(full.half_size);
  for (int j = 0; j < C.scales; ++j) {
    full.real_single->forward(ws.weights.data() + static_cast<std::size_t>(j) * full.size,
                              ws.contrast_spectrum.data());
    const double* d = contrast_filter.data() + static_cast<std::size_t>(j) * full.half_size;
    for (std::size_t k = 0; k < full.half_size; ++k) G[k] += ws.contrast_spectrum[k] * d[k];
  }
}

void ScatteringSpectra::Impl::contrast_jacobian(scattering::Workspace& ws,
                                                std::span<const double> x,
                                                const ContrastRow& take) const {
  // Row (j, m) = (D_j h_m + g_j h_m') / (N a_jm): one r2c per bin, one c2r per row, each row handed
  // on as soon as it is made (one row held, not J B of them).
  const auto& C = contrast;
  const Grid& full = *grids[0];
  contrast_contrasts(ws);
  const double inv_n = 1.0 / static_cast<double>(full.size);
  ws.contrast_rows.resize(full.size);
  std::vector<double> h(full.size), dh(full.size);
  ComplexVector H(full.half_size), filtered(full.half_size);
  for (int m = 0; m < C.bins; ++m) {
    C.bin_fields(m, x, h, dh);
    full.real_single->forward(h.data(), H.data());
    for (int j = 0; j < C.scales; ++j) {
      const std::size_t f = static_cast<std::size_t>(j) * C.bins + m;
      const double c = C.inv_mass[f] * inv_n;
      const double* d = contrast_filter.data() + static_cast<std::size_t>(j) * full.half_size;
      for (std::size_t k = 0; k < full.half_size; ++k) filtered[k] = H[k] * (d[k] * inv_n);
      double* row = ws.contrast_rows.data();
      full.real_single->backward_destroying(filtered.data(), row);  // D_j h_m
      const double* g = ws.contrast_fields.data() + static_cast<std::size_t>(j) * full.size;
      for (std::size_t y = 0; y < full.size; ++y) row[y] = c * (row[y] + g[y] * dh[y]);
      take(f, row);
    }
  }
}

std::vector<double> ScatteringSpectra::calibrate_contrast(const Matrix& local_items,
                                                          const par::Comm& comm) const {
  // a_jm: the data means of <|g_j| h_m>.
  const Impl& I = *impl_;
  return I.calibrate_binned(
      local_items, I.contrast, options_.bin_tail, "contrast features: the data",
      [&](scattering::Workspace& ws, std::span<const double> x, const Impl::Conditional& C,
          std::span<double> out) { I.contrast_values(ws, x, C, out, true); },
      comm);
}

}  // namespace ksi::features
