// Structured assembly of sum_b J(x_b) J(x_b)^T and J(x_b) v_b for scattering spectra.
//
// A row r_p of J is a real field; its r2c spectrum R_p = G_p(k) + conj(G_p(-k)) is the sum of
// pieces band-limited to the supports of the wavelets the feature touches (directly through c_x, or
// through the modulus of U_lambda). With Q_p(k) = sqrt(w_k / N) R_p(k) on the r2c half array (w_k =
// 2 for coefficients whose mirror is not stored), <r_p, r_q> = Re sum_k Q_p conj(Q_q): a dot
// product of interleaved real vectors. Columns are ordered by level (the coarsest scale whose
// supports contain the frequency), so a row whose finest scale is s lives in the first prefix[s]
// columns: rows are stored once, grouped into panels by finest scale, and two panels meet on the
// shorter prefix only.
#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"

namespace ksi::features {

namespace {

// Consecutive rows of one panel whose pieces are held together.
struct Unit {
  int panel = 0;
  std::size_t first = 0;
  std::size_t count = 0;
  std::size_t columns = 0;
  std::size_t bytes() const { return count * columns * sizeof(complex); }
};

// A unit's pieces: unit->count rows of unit->columns coefficients.
struct Block {
  const Unit* unit = nullptr;
  complex* q = nullptr;
};

}  // namespace

void ScatteringSpectra::Impl::unit_pieces(scattering::Workspace& ws, int panel,
                                          std::size_t first_row, std::size_t row_count,
                                          std::size_t columns, complex* q_out) const {
  const auto& state = ws.state;
  const Grid& full = *grids[0];
  auto& spectra = ws.spectrum;
  auto& field = ws.field;
  auto& piece = ws.piece;
  auto& gm = ws.gm;
  // Adds the piece val (a gradient w.r.t. conj(c_x) at the support entries of `s`) to row q.
  const auto add_piece = [&](complex* q, const scattering::Support& s, std::size_t e, complex val) {
    const std::int32_t cp = s.column_plus[e], cm = s.column_minus[e];
    if (cp >= 0) q[cp] += column_scale[cp] * val;
    if (cm >= 0) q[cm] += column_scale[cm] * std::conj(val);
  };

  // piece = sum over sources of omega * (c_M of the source's partner, or c_x) on the outer support,
  // read through the support's index tables (no gathered copies: at 128^3 they would take a GB).
  const auto combine = [&](int outer, const scattering::OmegaEntry* begin,
                           const scattering::OmegaEntry* end) {
    const auto& so = supports[outer];
    const std::size_t n = so.psi.size();
    const int last = gathered_rows(outer, any_partner) - 1;
    piece.assign(n, complex(0.0));
    for (const auto* src = begin; src != end; ++src) {
      const Grid& g = src->k == last ? full : *grids[scale_of(src->k)];
      const complex* base = src->k == last ? state.cx.data() : state.cm[src->k].data();
      const std::int32_t* plus = so.plus_on(g);
      const std::int32_t* minus = so.minus_on(g);
      const complex omega = src->omega;
      for (std::size_t e = 0; e < n; ++e) piece[e] += omega * read_half(base, plus[e], minus[e]);
    }
  };

  ScopedPhase phase("fit.features");
  std::fill(q_out, q_out + row_count * columns, complex(0.0));
  std::vector<std::vector<std::pair<std::size_t, const RowPlan::Modulus*>>> jobs(J);
  for (std::size_t i = 0; i < row_count; ++i) {
    const RowPlan& row = rows[panel_rows[panel][first_row + i]];
    complex* q = q_out + i * columns;
    for (const auto& direct : row.direct) {
      const auto& s = supports[direct.outer];
      combine(direct.outer, direct.sources.data(), direct.sources.data() + direct.sources.size());
      for (std::size_t e = 0; e < s.psi.size(); ++e)
        add_piece(q, s, e, piece[e] * (s.psi[e] * s.psi[e]));
    }
    // Pieces through the moduli (a Phi1 term alone is a job with a constant g_M).
    for (const auto& m : row.modulus) jobs[scale_of(m.wavelet)].push_back({i, &m});
  }
  // Pieces through the moduli: one c2r and one c2c per (row, wavelet), batched per grid.
  for (int j = 0; j < J; ++j) {
    const Grid& grid = *grids[j];
    const auto& list = jobs[j];
    const double inv_ng = 1.0 / static_cast<double>(grid.size);
    for (std::size_t first = 0; first < list.size(); first += grid.batch) {
      const std::size_t nb = std::min(grid.batch, list.size() - first);
      spectra.assign(nb * grid.half_size, complex(0.0));
      for (std::size_t t = 0; t < nb; ++t) {
        complex* target = spectra.data() + t * grid.half_size;
        const auto& sources = list[first + t].second->sources;
        for (std::size_t first_source = 0; first_source < sources.size();) {
          // The sources of one outer wavelet: combined on its support, then scattered once.
          const int outer = sources[first_source].outer;
          std::size_t next = first_source;
          while (next < sources.size() && sources[next].outer == outer) ++next;
          combine(outer, sources.data() + first_source, sources.data() + next);
          const auto& so = supports[outer];
          const std::int32_t* plus = so.plus_on(grid);
          const std::int32_t* minus = so.minus_on(grid);
          for (std::size_t e = 0; e < so.psi.size(); ++e)
            scatter_half(target, plus[e], minus[e], piece[e] * (so.psi[e] * so.psi[e]));
          first_source = next;
        }
      }
      gm.resize(nb * grid.size);
      if (nb == grid.batch && grid.real_batch) {
        grid.real_batch->backward_destroying(spectra.data(), gm.data());
      } else {
        for (std::size_t t = 0; t < nb; ++t)
          grid.real_single->backward_destroying(spectra.data() + t * grid.half_size,
                                                gm.data() + t * grid.size);
      }
      field.resize(nb * grid.size);
      for (std::size_t t = 0; t < nb; ++t) {
        const auto* m = list[first + t].second;
        const complex* ph = state.phase[m->wavelet].data();
        const double* g = gm.data() + t * grid.size;
        complex* f = field.data() + t * grid.size;
        const double c = m->phi1 * inv_ng;
        for (std::size_t y = 0; y < grid.size; ++y) f[y] = ph[y] * (g[y] * inv_ng + c);
      }
      if (nb == grid.batch && grid.complex_batch) {
        grid.complex_batch->forward(field.data(), field.data());
      } else {
        for (std::size_t t = 0; t < nb; ++t)
          grid.complex_single->forward(field.data() + t * grid.size, field.data() + t * grid.size);
      }
      for (std::size_t t = 0; t < nb; ++t) {
        const auto [i, m] = list[first + t];
        const auto& s = supports[m->wavelet];
        const complex* f = field.data() + t * grid.size;
        complex* q = q_out + i * columns;
        const double norm = 0.5 * inv_sqrt_a[m->wavelet];
        for (std::size_t e = 0; e < s.psi.size(); ++e)
          add_piece(q, s, e, f[s.grid_index[e]] * (norm * s.psi[e]));
      }
    }
  }
}

void ScatteringSpectra::accumulate(const Matrix& X, const Matrix& V, Matrix& K,
                                   std::span<double> h) const {
  const Impl& I = *impl_;
  std::lock_guard<std::mutex> lock(I.workspace_lock);
  auto& ws = I.workspace;
  ws.release_pass_buffers();
  const std::size_t P = size(), d = shape_.size();
  ensure(X.cols() == d && V.rows() == X.rows() && V.cols() == d && K.rows() == P && K.cols() == P &&
             h.size() == P,
         "scattering accumulate: shapes do not match");
  const Grid& full = *I.grids[0];
  const double inv_n = 1.0 / static_cast<double>(full.size);

  // Units: a panel's rows in pieces of at most a quarter of the workspace.
  std::vector<Unit> units;
  const std::size_t budget = std::max<std::size_t>(I.workspace_bytes, 1);
  for (int a = 0; a < I.J; ++a) {
    const std::size_t rows = I.panel_rows[a].size();
    if (rows == 0) continue;
    const std::size_t columns = I.prefix[a];
    const std::size_t per_unit =
        std::max<std::size_t>(1, budget / 4 / std::max<std::size_t>(1, columns * sizeof(complex)));
    for (std::size_t first = 0; first < rows; first += per_unit)
      units.push_back({a, first, std::min(per_unit, rows - first), columns});
  }
  std::size_t largest_unit = 0, total_bytes = 0;
  for (const auto& u : units) {
    largest_unit = std::max(largest_unit, u.bytes());
    total_bytes += u.bytes();
  }
  std::size_t mean_row = P;
  for (std::size_t p = 0; p < I.rows.size(); ++p)
    if (I.rows[p].is_mean) mean_row = p;

  scattering::ForwardNeeds needs;
  needs.modulus = I.any_modulus;
  needs.phase = I.any_modulus;
  needs.values = false;
  auto& vhat = ws.vhat;
  vhat.resize(full.half_size);
  auto& qv = ws.qv;
  qv.resize(2 * (I.prefix.empty() ? 0 : I.prefix[0]));

  // The pieces of the rows of one unit for the current item.
  const auto compute = [&](const Unit& unit, Block& block) {
    block.unit = &unit;
    I.unit_pieces(ws, unit.panel, unit.first, unit.count, unit.columns, block.q);
  };

  // K(p, q) += <Q_p, Q_q> for the rows of two blocks (x before y in panel order).
  auto& products = ws.products;
  const auto multiply = [&](const Block& x, const Block& y) {
    ScopedPhase phase("fit.syrk");
    const Unit& ux = *x.unit;
    const Unit& uy = *y.unit;
    const auto& rows_x = I.panel_rows[ux.panel];
    const auto& rows_y = I.panel_rows[uy.panel];
    const int rx = static_cast<int>(ux.count), ry = static_cast<int>(uy.count);
    const auto* qx = reinterpret_cast<const double*>(x.q);
    const auto* qy = reinterpret_cast<const double*>(y.q);
    if (x.q == y.q) {
      products.assign(static_cast<std::size_t>(rx) * rx, 0.0);
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, rx, static_cast<int>(2 * ux.columns),
                  1.0, qx, static_cast<int>(2 * ux.columns), 0.0, products.data(), rx);
      for (int i = 0; i < rx; ++i)
        for (int k = i; k < rx; ++k) {
          const std::size_t p = rows_x[ux.first + i], r = rows_x[ux.first + k];
          K(std::min(p, r), std::max(p, r)) += products[static_cast<std::size_t>(i) * rx + k];
        }
      return;
    }
    const std::size_t common = std::min(ux.columns, uy.columns);
    products.assign(static_cast<std::size_t>(rx) * ry, 0.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rx, ry, static_cast<int>(2 * common), 1.0,
                qx, static_cast<int>(2 * ux.columns), qy, static_cast<int>(2 * uy.columns), 0.0,
                products.data(), ry);
    for (int i = 0; i < rx; ++i)
      for (int k = 0; k < ry; ++k) {
        const std::size_t p = rows_x[ux.first + i], r = rows_y[uy.first + k];
        // Every row lives in exactly one block, so p == r cannot occur here.
        K(std::min(p, r), std::max(p, r)) += products[static_cast<std::size_t>(i) * ry + k];
      }
  };

  // The marginal family's rows (scattering.hpp) are full-grid fields: held whole for the item,
  // they meet every scattering row once (in the first window pass) and each other and the mean on
  // every coefficient, including those outside the Gram columns.
  const std::size_t F = I.features.size();
  // marginal bins, then conditional and contrast features
  const int B = static_cast<int>(I.dense_count());
  const std::size_t all_columns = I.prefix.empty() ? 0 : I.prefix[0];
  const auto multiply_marginal = [&](const Block& x) {
    ScopedPhase phase("fit.syrk");
    const Unit& ux = *x.unit;
    const auto& rows_x = I.panel_rows[ux.panel];
    const int rx = static_cast<int>(ux.count);
    products.assign(static_cast<std::size_t>(rx) * B, 0.0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rx, B, static_cast<int>(2 * ux.columns),
                1.0, reinterpret_cast<const double*>(x.q), static_cast<int>(2 * ux.columns),
                reinterpret_cast<const double*>(ws.marginal_rows.data()),
                static_cast<int>(2 * all_columns), 0.0, products.data(), B);
    for (int i = 0; i < rx; ++i)
      for (int m = 0; m < B; ++m)
        K(rows_x[ux.first + i], F + m) += products[static_cast<std::size_t>(i) * B + m];
  };
  const auto marginal_terms = [&] {
    ScopedPhase phase("fit.syrk");
    const auto* q = reinterpret_cast<const double*>(ws.marginal_rows.data());
    products.assign(static_cast<std::size_t>(B) * B, 0.0);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, B, static_cast<int>(2 * all_columns), 1.0,
                q, static_cast<int>(2 * all_columns), 0.0, products.data(), B);
    std::vector<double> hv(B, 0.0);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, B, static_cast<int>(2 * all_columns), 1.0, q,
                static_cast<int>(2 * all_columns), qv.data(), 1, 0.0, hv.data(), 1);
    const std::size_t U = I.uncovered.size();
    const complex* rest = ws.marginal_rest.data();
    std::vector<complex> v_rest(U);  // the velocity on the same coefficients, weighted alike
    for (std::size_t u = 0; u < U; ++u) v_rest[u] = vhat[I.uncovered[u]] * I.uncovered_scale[u];
    for (int m = 0; m < B; ++m) {
      for (int k = m; k < B; ++k) {
        double sum = products[static_cast<std::size_t>(m) * B + k];
        for (std::size_t u = 0; u < U; ++u)
          sum += (rest[m * U + u] * std::conj(rest[k * U + u])).real();
        K(F + m, F + k) += sum;
      }
      double hm = hv[m];
      for (std::size_t u = 0; u < U; ++u) hm += (rest[m * U + u] * std::conj(v_rest[u])).real();
      h[F + m] += hm;
      // The mean's row is 1/N everywhere: only k = 0 (uncovered[0]) meets it.
      if (mean_row < P) K(mean_row, F + m) += std::sqrt(inv_n) * rest[m * U].real();
    }
  };
  ensure(B == 0 || (!I.uncovered.empty() && I.uncovered[0] == 0),
         "scattering accumulate: k = 0 must lie outside the Gram columns");

  // The shell family's rows (scattering.hpp) are disjoint, one shell each: each Gram column (and
  // uncovered coefficient) holds one row's value, so their products with any row are sums over that
  // row's columns segmented by shell, O(columns) per row instead of a GEMM with every shell row.
  const auto& SH = I.shells;
  const std::size_t S0 = SH.first, SN = SH.count();
  const auto multiply_shells = [&](const Block& x) {
    ScopedPhase phase("fit.syrk");
    const Unit& ux = *x.unit;
    const auto& rows_x = I.panel_rows[ux.panel];
    std::vector<double> sums(SN);
    for (std::size_t i = 0; i < ux.count; ++i) {
      std::fill(sums.begin(), sums.end(), 0.0);
      const complex* q = x.q + i * ux.columns;
      for (std::size_t c = 0; c < ux.columns; ++c)
        if (const auto f = SH.of_column[c]; f >= 0)
          sums[f] += (q[c] * std::conj(ws.shell_rows[c])).real();
      const std::size_t p = rows_x[ux.first + i];
      for (std::size_t f = 0; f < SN; ++f) K(p, S0 + f) += sums[f];
    }
  };
  const auto shell_terms = [&] {
    ScopedPhase phase("fit.syrk");
    const std::size_t U = I.uncovered.size();
    std::vector<double> diagonal(SN, 0.0), velocity(SN, 0.0);
    for (std::size_t c = 0; c < all_columns; ++c)
      if (const auto f = SH.of_column[c]; f >= 0) {
        const complex r = ws.shell_rows[c];
        diagonal[f] += std::norm(r);
        velocity[f] += r.real() * qv[2 * c] + r.imag() * qv[2 * c + 1];
      }
    for (std::size_t u = 0; u < U; ++u)
      if (const auto f = SH.of_uncovered[u]; f >= 0) {
        const complex r = ws.shell_rest[u];
        diagonal[f] += std::norm(r);
        velocity[f] += (r * std::conj(vhat[I.uncovered[u]] * I.uncovered_scale[u])).real();
      }
    for (std::size_t f = 0; f < SN; ++f) {
      K(S0 + f, S0 + f) += diagonal[f];
      h[S0 + f] += velocity[f];
    }
    // The marginal rows meet each shell row on its coefficients.
    for (int m = 0; m < B; ++m) {
      std::fill(diagonal.begin(), diagonal.end(), 0.0);
      const complex* q = ws.marginal_rows.data() + static_cast<std::size_t>(m) * all_columns;
      for (std::size_t c = 0; c < all_columns; ++c)
        if (const auto f = SH.of_column[c]; f >= 0)
          diagonal[f] += (q[c] * std::conj(ws.shell_rows[c])).real();
      const complex* rest = ws.marginal_rest.data() + static_cast<std::size_t>(m) * U;
      for (std::size_t u = 0; u < U; ++u)
        if (const auto f = SH.of_uncovered[u]; f >= 0)
          diagonal[f] += (rest[u] * std::conj(ws.shell_rest[u])).real();
      for (std::size_t f = 0; f < SN; ++f) K(F + m, S0 + f) += diagonal[f];
    }
  };

  const auto project_velocity = [&](const Block& x) {
    ScopedPhase phase("fit.syrk");
    const Unit& ux = *x.unit;
    std::vector<double> out(ux.count, 0.0);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(ux.count),
                static_cast<int>(2 * ux.columns), 1.0, reinterpret_cast<const double*>(x.q),
                static_cast<int>(2 * ux.columns), qv.data(), 1, 0.0, out.data(), 1);
    for (std::size_t i = 0; i < ux.count; ++i) h[I.panel_rows[ux.panel][ux.first + i]] += out[i];
  };

  // The window's units live in one arena (at most the budget) and a streamed unit in its own
  // buffer, both reused from item to item and call to call.
  ws.streamed.resize(total_bytes > budget ? largest_unit / sizeof(complex) : 0);
  for (std::size_t item = 0; item < X.rows(); ++item) {
    {
      ScopedPhase phase("fit.features");
      I.forward(X.row(item), needs, ws);
      full.real_single->forward(V.row(item).data(), vhat.data());
      for (std::size_t c = 0; c < I.column_half.size(); ++c) {
        const complex v = vhat[I.column_half[c]] * I.column_scale[c];
        qv[2 * c] = v.real();
        qv[2 * c + 1] = v.imag();
      }
    }
    if (mean_row < P) {
      // The mean's gradient is 1/N everywhere: |r|^2 = 1/N and <r, v> = vhat(0) / N.
      K(mean_row, mean_row) += inv_n;
      h[mean_row] += vhat[0].real() * inv_n;
    }
    if (B > 0) {
      {
        ScopedPhase phase("fit.features");
        I.marginal_rows(ws, X.row(item));
      }
      marginal_terms();
    }
    if (SN > 0) {
      {
        ScopedPhase phase("fit.features");
        I.shell_rows(ws);
      }
      shell_terms();
    }
    // Windows: hold as many consecutive units as the budget allows, stream the later ones past
    // them (recomputing their pieces), then move the window on.
    std::size_t start = 0, remaining = total_bytes;
    while (start < units.size()) {
      std::vector<Block> window;
      std::size_t held = 0, next = start;
      const bool all_fit = remaining <= budget;
      while (next < units.size()) {
        const std::size_t need = held + units[next].bytes() + (all_fit ? 0 : largest_unit);
        if (next > start && need > budget) break;
        held += units[next].bytes();
        ++next;
      }
      if (ws.window.size() * sizeof(complex) < held) ws.window.resize(held / sizeof(complex));
      for (std::size_t u = start, offset = 0; u < next; ++u) {
        window.push_back({nullptr, ws.window.data() + offset});
        offset += units[u].count * units[u].columns;
        compute(units[u], window.back());
        if (B > 0 && start == 0) multiply_marginal(window.back());
        if (SN > 0 && start == 0) multiply_shells(window.back());
        remaining -= units[u].bytes();
      }
      for (std::size_t a = 0; a < window.size(); ++a) {
        project_velocity(window[a]);
        for (std::size_t b = a; b < window.size(); ++b) multiply(window[a], window[b]);
      }
      if (next < units.size()) {
        Block streamed{nullptr, ws.streamed.data()};
        for (std::size_t u = next; u < units.size(); ++u) {
          compute(units[u], streamed);
          if (B > 0 && start == 0) multiply_marginal(streamed);
          if (SN > 0 && start == 0) multiply_shells(streamed);
          for (const auto& held_block : window) multiply(held_block, streamed);
        }
      }
      start = next;
    }
  }
}

void ScatteringSpectra::jacobian(std::span<const double> x, Matrix& J) const {
  // Every row from its r2c spectrum R: the structured pieces of the scattering rows (R = Q /
  // sqrt(w_k / N) on the Gram columns), the marginal rows' spectra and the shells' (2 value_f c_x
  // on the shell), each brought to the grid by one c2r: P inverse FFTs instead of P vjp's.
  const Impl& I = *impl_;
  std::lock_guard<std::mutex> lock(I.workspace_lock);
  auto& ws = I.workspace;
  ws.release_pass_buffers();
  const std::size_t P = size(), d = shape_.size();
  ensure(x.size() == d, "scattering jacobian: the field has the wrong size");
  if (J.rows() != P || J.cols() != d) J = Matrix(P, d);
  const Grid& full = *I.grids[0];
  const double inv_n = 1.0 / static_cast<double>(full.size);
  scattering::ForwardNeeds needs;
  needs.modulus = I.any_modulus;
  needs.phase = I.any_modulus;
  needs.values = false;
  I.forward(x, needs, ws);
  ComplexVector half(full.half_size), q;
  const auto to_row = [&](std::size_t p) {
    auto row = J.row(p);
    full.real_single->backward_destroying(half.data(), row.data());
    for (auto& v : row) v *= inv_n;
  };
  for (int a = 0; a < I.J; ++a) {
    const auto& rows = I.panel_rows[a];
    if (rows.empty()) continue;
    const std::size_t columns = I.prefix[a];
    q.resize(rows.size() * columns);
    I.unit_pieces(ws, a, 0, rows.size(), columns, q.data());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::fill(half.begin(), half.end(), complex(0.0));
      for (std::size_t c = 0; c < columns; ++c)
        half[I.column_half[c]] = q[i * columns + c] / I.column_scale[c];
      to_row(rows[i]);
    }
  }
  for (std::size_t p = 0; p < I.rows.size(); ++p)
    if (I.rows[p].is_mean) std::fill(J.row(p).begin(), J.row(p).end(), inv_n);
  const std::size_t F = I.features.size(), all_columns = I.prefix.empty() ? 0 : I.prefix[0];
  if (I.conditional.bins > 0) {
    I.conditional_jacobian(ws, x);
    const std::size_t first = F + static_cast<std::size_t>(I.marginal.bins);
    for (std::size_t f = 0; f < I.conditional.count(); ++f)
      std::copy_n(ws.conditional_rows.data() + f * full.size, full.size, J.row(first + f).data());
  }
  if (I.contrast.bins > 0) {
    const std::size_t first = I.contrast_first();
    I.contrast_jacobian(ws, x, [&](std::size_t f, const double* row) {
      std::copy_n(row, full.size, J.row(first + f).data());
    });
  }
  if (I.marginal.bins > 0) {
    I.marginal_rows(ws, x, false);
    const std::size_t U = I.uncovered.size();
    for (int m = 0; m < I.marginal.bins; ++m) {
      const complex* rq = ws.marginal_rows.data() + static_cast<std::size_t>(m) * all_columns;
      const complex* rest = ws.marginal_rest.data() + static_cast<std::size_t>(m) * U;
      for (std::size_t c = 0; c < all_columns; ++c)
        half[I.column_half[c]] = rq[c] / I.column_scale[c];
      for (std::size_t u = 0; u < U; ++u) half[I.uncovered[u]] = rest[u] / I.uncovered_scale[u];
      to_row(F + static_cast<std::size_t>(m));
    }
  }
  const auto& SH = I.shells;
  for (std::size_t f = 0; f < SH.count(); ++f) {
    std::fill(half.begin(), half.end(), complex(0.0));
    for (std::size_t k = 0; k < full.half_size; ++k)
      if (SH.of_half[k] == static_cast<std::int32_t>(f))
        half[k] = (2.0 * SH.value[f]) * ws.state.cx[k];
    to_row(SH.first + f);
  }
}

}  // namespace ksi::features
