#include "ksi/features/scattering.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"

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

}  // namespace ksi::features::scattering

namespace ksi::features {

using scattering::complex;
using scattering::ComplexVector;
using scattering::Family;
using scattering::Grid;
using scattering::read_half;
using scattering::RealVector;
using scattering::scatter_half;

namespace {

std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t p = 1;
  for (auto d : dims) p *= d;
  return p;
}

std::size_t half_size_of(const std::vector<std::size_t>& dims) {
  return product(dims) / dims.back() * (dims.back() / 2 + 1);
}

std::size_t wrap(int m, std::size_t n) {
  const long ni = static_cast<long>(n);
  return static_cast<std::size_t>(((m % ni) + ni) % ni);
}

// Index of signed frequency m in the complex array of `dims`.
std::int64_t complex_index(const std::array<int, 3>& m, const std::vector<std::size_t>& dims) {
  std::size_t flat = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) flat = flat * dims[a] + wrap(m[a], dims[a]);
  return static_cast<std::int64_t>(flat);
}

// Index of m in the r2c half array of `dims`, or -1 when m is stored as the conjugate of -m.
std::int32_t half_index(const std::array<int, 3>& m, const std::vector<std::size_t>& dims) {
  const std::size_t last = dims.size() - 1;
  const std::size_t i_last = wrap(m[last], dims[last]);
  if (i_last > dims[last] / 2) return -1;
  std::size_t flat = 0;
  for (std::size_t a = 0; a < last; ++a) flat = flat * dims[a] + wrap(m[a], dims[a]);
  return static_cast<std::int32_t>(flat * (dims[last] / 2 + 1) + i_last);
}

std::string wavelet_label(int j, int l, int dimension, const char* suffix = "") {
  if (dimension == 1) return cat("j", suffix, "=", j);
  return cat("j", suffix, "=", j, ",l", suffix, "=", l);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Families

ScatteringFamilies ScatteringFamilies::parse(const std::string& text) {
  ScatteringFamilies f{false, false, false, false, false};
  if (text == "all") return ScatteringFamilies{};
  if (text == "none") return f;  // other families only (shells, marginal)
  bool any = false;
  for (const std::string& item : split_list(text, '+')) {
    if (item == "mean")
      f.mean = true;
    else if (item == "phi1")
      f.phi1 = true;
    else if (item == "phi2")
      f.phi2 = true;
    else if (item == "phi3")
      f.phi3 = true;
    else if (item == "phi4")
      f.phi4 = true;
    else
      throw UsageError(cat("scattering features: unknown family '", item, "' in families=", text,
                           " (known: mean, phi1, phi2, phi3, phi4, all, none; join with '+')"));
    any = true;
  }
  if (!any) throw UsageError("scattering features: families must name at least one family");
  return f;
}

std::string ScatteringFamilies::text() const {
  if (!(mean || phi1 || phi2 || phi3 || phi4)) return "none";
  std::string s;
  const auto add = [&](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : "+") + std::string(name);
  };
  add(mean, "mean");
  add(phi1, "phi1");
  add(phi2, "phi2");
  add(phi3, "phi3");
  add(phi4, "phi4");
  return s;
}

// ---------------------------------------------------------------------------------------------
// Construction

namespace {

ScatteringOptions resolved(const ItemShape& shape, ScatteringOptions o) {
  if (!shape.is_grid())
    throw UsageError(cat("scattering features need fields on a periodic grid; the items are a ",
                         shape.describe(), " (use polynomial or fourier features for vectors)"));
  const int dim = shape.grid_rank();
  if (o.scales == 0) {
    o.scales = WaveletBank::max_scales(shape.dims());
    if (o.scales < 1)
      throw UsageError(cat("scattering features: the grid (", shape.describe(),
                           ") is too small for one wavelet scale (7 points per axis at least)"));
  }
  if (o.orientations == 0) o.orientations = dim == 1 ? 1 : dim == 2 ? 4 : 3;
  if (o.isotropic && dim == 1)
    throw UsageError("scattering features: the isotropic reduction needs 2D or 3D fields");
  if (!(o.workspace_mb > 0.0))
    throw UsageError("scattering features: workspace_mb must be positive");
  if (o.slant < 0.0) throw UsageError("scattering features: slant must be positive (0: default)");
  if (o.families.text() == "none" && !o.shells && o.marginal == 0 && o.conditional == 0)
    throw UsageError(
        "scattering features: families=none needs shells=true, marginal or conditional bins");
  return o;
}

}  // namespace

ScatteringSpectra::Impl::Impl(const ItemShape& shape, const ScatteringOptions& options,
                              const ScatteringNormalization& normalization)
    : bank(shape.dims(), options.scales, options.orientations, options.slant, options.subsample),
      J(options.scales),
      L(options.orientations),
      count(bank.count()),
      families(options.families) {
  any_partner = families.phi3 || families.phi4;
  any_modulus = families.phi1 || any_partner;
  if (!normalization.first_layer.empty() && normalization.first_layer.size() != count + 1)
    throw InputError(cat("scattering normalisation has ", normalization.first_layer.size(),
                         " first-layer constants for ", count, " wavelets and the low-pass"));
  if (!normalization.second_layer.empty() && normalization.second_layer.size() != count * count)
    throw InputError(cat("scattering normalisation has ", normalization.second_layer.size(),
                         " second-layer constants; expected ", count * count));
  inv_sqrt_a.assign(count + 1, 1.0);
  b.assign(count * count, 1.0);
  for (std::size_t l = 0; l < normalization.first_layer.size(); ++l) {
    const double a = normalization.first_layer[l];
    if (!(a > 0.0) || !std::isfinite(a))
      throw InputError(
          cat("scattering normalisation constant a[", l, "] = ", a, " is not positive"));
    inv_sqrt_a[l] = 1.0 / std::sqrt(a);
  }
  for (std::size_t q = 0; q < normalization.second_layer.size(); ++q) {
    const int partner = static_cast<int>(q / count), outer = static_cast<int>(q % count);
    if (partner / L >= outer / L) continue;  // only j' < j is used
    const double v = normalization.second_layer[q];
    if (!(v > 0.0) || !std::isfinite(v))
      throw InputError(cat("scattering normalisation constant b[", partner, ",", outer, "] = ", v,
                           " is not positive"));
    b[q] = v;
  }
  build_catalogue(options.isotropic, options.phi4_diagonal);
  build_tables();
  setup_marginal(options, normalization);
  build_rows();
  setup_conditional(options, normalization);
  setup_shells(options, normalization);
  workspace_bytes = static_cast<std::size_t>(options.workspace_mb * 1048576.0);
}

double ScatteringSpectra::Impl::beta3(int outer, int partner) const {
  return 1.0 / std::sqrt(b[static_cast<std::size_t>(partner) * count + outer]);
}

double ScatteringSpectra::Impl::beta4(int first, int second, int outer) const {
  return 1.0 / std::sqrt(b[static_cast<std::size_t>(first) * count + outer] *
                         b[static_cast<std::size_t>(second) * count + outer]);
}

void ScatteringSpectra::Impl::build_catalogue(bool isotropic, bool phi4_diagonal) {
  const int dim = bank.dimension();
  const int W = static_cast<int>(count);
  if (families.mean) configs.push_back({Family::mean, -1, -1, -1, true});
  if (families.phi1)
    for (int l = 0; l < W; ++l) configs.push_back({Family::phi1, l, -1, -1, true});
  if (families.phi2)
    for (int l = 0; l <= W; ++l)
      configs.push_back({Family::phi2, l, -1, -1, true});  // l = W: low-pass
  if (families.phi3)
    for (int outer = L; outer < W; ++outer)
      for (int partner = 0; partner < scale_of(outer) * L; ++partner)
        configs.push_back({Family::phi3, outer, partner, -1, false});
  if (families.phi4)
    for (int outer = L; outer < W; ++outer)
      for (int first = 0; first < scale_of(outer) * L; ++first)
        for (int second = first; second < scale_of(outer) * L; ++second) {
          if (phi4_diagonal && first % L != second % L) continue;
          configs.push_back({Family::phi4, first, second, outer, first == second});
        }
  configs_by_outer.assign(outer_count(), {});
  for (std::size_t c = 0; c < configs.size(); ++c) {
    config_index[configs[c]] = static_cast<int>(c);
    const Config& k = configs[c];
    if (k.family == Family::mean) mean_config = static_cast<int>(c);
    if (k.family == Family::phi2 || k.family == Family::phi3)
      configs_by_outer[k.a].push_back(static_cast<int>(c));
    if (k.family == Family::phi4) configs_by_outer[k.c].push_back(static_cast<int>(c));
  }

  const auto label = [&](const Config& c) -> std::string {
    const auto w = [&](int lambda, const char* suffix) {
      if (lambda == lowpass()) return std::string("low");
      return wavelet_label(lambda / L, lambda % L, dim, suffix);
    };
    switch (c.family) {
      case Family::mean:
        return "mean";
      case Family::phi1:
        return "Phi1(" + w(c.a, "") + ")";
      case Family::phi2:
        return "Phi2(" + w(c.a, "") + ")";
      case Family::phi3:
        return "Phi3(" + w(c.a, "") + ";" + w(c.b, "'") + ")";
      case Family::phi4:
        return "Phi4(" + w(c.a, "1") + ";" + w(c.b, "2") + ";" + w(c.c, "3") + ")";
    }
    return "?";
  };

  if (!isotropic) {
    for (std::size_t c = 0; c < configs.size(); ++c) {
      const int ci = static_cast<int>(c);
      if (configs[c].real) {
        features.push_back({{{ci, false, 1.0}}, label(configs[c])});
      } else {
        features.push_back({{{ci, false, 1.0}}, "Re " + label(configs[c])});
        features.push_back({{{ci, true, 1.0}}, "Im " + label(configs[c])});
      }
    }
    return;
  }

  // Isotropic reduction: the mean of every coefficient over the rotation group, where a rotation
  // that flips the direction of a U or psi slot conjugates the coefficient (psihat_{-e}(k) =
  // psihat_e(-k), so U_{-e} = conj(U_e) for real x while M_{-e} = M_e).
  const auto group = bank.rotations();
  const double weight = 1.0 / static_cast<double>(group.size());
  const auto rotate = [&](const Config& c, const OrientationMap& g, bool& conj) {
    const auto map = [&](int lambda) {
      return lambda == lowpass() ? lambda : (lambda / L) * L + g.target[lambda % L];
    };
    Config r = c;
    conj = false;
    switch (c.family) {
      case Family::mean:
        break;
      case Family::phi1:
      case Family::phi2:
        r.a = map(c.a);
        break;
      case Family::phi3:
        r.a = map(c.a);
        r.b = map(c.b);
        conj = g.flipped[c.a % L];
        break;
      case Family::phi4:
        r.a = map(c.a);
        r.b = map(c.b);
        r.c = map(c.c);
        conj = g.flipped[c.c % L];
        if (r.a > r.b) {
          std::swap(r.a, r.b);
          conj = !conj;
        }
        break;
    }
    return r;
  };
  std::vector<bool> done(configs.size(), false);
  for (std::size_t c = 0; c < configs.size(); ++c) {
    if (done[c]) continue;
    std::map<int, double> re, im;
    for (const auto& g : group) {
      bool conj = false;
      const Config r = rotate(configs[c], g, conj);
      const auto it = config_index.find(r);
      ensure(it != config_index.end(), "a rotated scattering coefficient is not in the catalogue");
      done[it->second] = true;
      re[it->second] += weight;
      if (!configs[it->second].real) im[it->second] += conj ? -weight : weight;
    }
    Feature real_part{{}, "iso Re " + label(configs[c])};
    for (const auto& [ci, w] : re) real_part.terms.push_back({ci, false, w});
    if (configs[c].real) real_part.name = "iso " + label(configs[c]);
    features.push_back(std::move(real_part));
    Feature imag_part{{}, "iso Im " + label(configs[c])};
    for (const auto& [ci, w] : im)
      if (std::abs(w) > 1e-12) imag_part.terms.push_back({ci, true, w});
    if (!imag_part.terms.empty()) features.push_back(std::move(imag_part));
  }
}

void ScatteringSpectra::Impl::build_tables() {
  // One plan set per distinct grid.
  std::map<std::size_t, std::shared_ptr<Grid>> by_factor;
  grids.resize(J);
  for (int j = 0; j < J; ++j) {
    const std::size_t factor = bank.subsampling(j);
    auto& grid = by_factor[factor];
    if (!grid) {
      grid = std::make_shared<Grid>();
      grid->id = static_cast<int>(by_factor.size()) - 1;  // factors grow with j
      grid->dims = bank.grid_dims(j);
      grid->size = product(grid->dims);
      grid->half_size = half_size_of(grid->dims);
      // Batches near 32 MB: large enough to amortise per-call overhead, small enough for 3D grids.
      grid->batch =
          std::clamp<std::size_t>((std::size_t{32} << 20) / (grid->size * sizeof(complex)), 1, 16);
      grid->real_single = std::make_unique<fft::RealTransform>(grid->dims, 1);
      grid->complex_single = std::make_unique<fft::ComplexTransform>(grid->dims, 1);
      if (grid->batch > 1) {
        grid->real_batch = std::make_unique<fft::RealTransform>(grid->dims, grid->batch);
        grid->complex_batch = std::make_unique<fft::ComplexTransform>(grid->dims, grid->batch);
      }
    }
    grids[j] = grid;
  }
  ensure(bank.subsampling(0) == 1, "the finest scale must live on the full grid");

  supports.resize(outer_count());
  for (std::size_t lambda = 0; lambda < outer_count(); ++lambda) {
    const Wavelet& w = lambda < count ? bank.wavelet(lambda) : bank.lowpass_support();
    auto& s = supports[lambda];
    s.scale = w.scale;
    s.psi = w.values;
    const std::size_t n = w.values.size();
    const int tables = grids[w.scale]->id + 1;
    s.grid_index.resize(n);
    s.plus.assign(tables, std::vector<std::int32_t>(n));
    s.minus.assign(tables, std::vector<std::int32_t>(n));
    for (std::size_t e = 0; e < n; ++e) {
      const auto m = bank.frequency(w.support[e]);
      const std::array<int, 3> neg{-m[0], -m[1], -m[2]};
      s.grid_index[e] = static_cast<std::int32_t>(complex_index(m, grids[w.scale]->dims));
      for (int j = 0; j <= w.scale; ++j) {
        const Grid& g = *grids[j];
        s.plus[g.id][e] = half_index(m, g.dims);
        s.minus[g.id][e] = half_index(neg, g.dims);
      }
    }
  }

  // Gram columns: the level of a full-grid r2c coefficient is the coarsest scale whose supports
  // (or their mirror images) contain it; ordering by level, coarsest first, makes the columns a row
  // touches (all levels >= its finest scale) a prefix.
  const Grid& full = *grids[0];
  std::vector<int> level(full.half_size, -1);
  for (std::size_t lambda = 0; lambda < outer_count(); ++lambda) {
    const auto& s = supports[lambda];
    for (std::size_t e = 0; e < s.psi.size(); ++e) {
      if (s.plus[0][e] >= 0) level[s.plus[0][e]] = std::max(level[s.plus[0][e]], s.scale);
      if (s.minus[0][e] >= 0) level[s.minus[0][e]] = std::max(level[s.minus[0][e]], s.scale);
    }
  }
  std::vector<std::vector<std::int32_t>> by_level(J);
  for (std::size_t k = 0; k < full.half_size; ++k)
    if (level[k] >= 0) by_level[level[k]].push_back(static_cast<std::int32_t>(k));
  std::vector<std::int32_t> position(full.half_size, -1);
  prefix.assign(J, 0);
  const std::size_t n_last = full.dims.back(), h_last = n_last / 2 + 1;
  const double N = static_cast<double>(full.size);
  // sqrt(w_k / N): a coefficient without its mirror in the half array stands for two of the full
  // spectrum (w_k = 2).
  const auto scale_of_coefficient = [&](std::size_t k) {
    const std::size_t i_last = k % h_last;
    const bool self_mirrored = i_last == 0 || (n_last % 2 == 0 && i_last == n_last / 2);
    return std::sqrt((self_mirrored ? 1.0 : 2.0) / N);
  };
  for (int lev = J - 1; lev >= 0; --lev) {
    for (const auto k : by_level[lev]) {
      position[k] = static_cast<std::int32_t>(column_half.size());
      column_half.push_back(k);
      column_scale.push_back(scale_of_coefficient(static_cast<std::size_t>(k)));
    }
    prefix[lev] = column_half.size();
  }
  for (std::size_t k = 0; k < full.half_size; ++k)
    if (position[k] < 0) {
      uncovered.push_back(static_cast<std::int32_t>(k));
      uncovered_scale.push_back(scale_of_coefficient(k));
    }
  for (auto& s : supports) {
    const std::size_t n = s.psi.size();
    s.column_plus.resize(n);
    s.column_minus.resize(n);
    for (std::size_t e = 0; e < n; ++e) {
      s.column_plus[e] = s.plus[0][e] >= 0 ? position[s.plus[0][e]] : -1;
      s.column_minus[e] = s.minus[0][e] >= 0 ? position[s.minus[0][e]] : -1;
    }
  }
}

void ScatteringSpectra::Impl::build_rows() {
  using scattering::OmegaEntry;
  using scattering::RowPlan;
  rows.resize(features.size());
  panel_rows.assign(J, {});
  for (std::size_t p = 0; p < features.size(); ++p) {
    RowPlan& row = rows[p];
    row.feature = p;
    std::map<int, RowPlan::Modulus> modulus;
    std::map<int, RowPlan::Direct> direct;
    const auto add_modulus = [&](int wavelet) -> RowPlan::Modulus& {
      auto& m = modulus[wavelet];
      m.wavelet = wavelet;
      return m;
    };
    const auto add_direct = [&](int outer) -> RowPlan::Direct& {
      auto& d = direct[outer];
      d.outer = outer;
      return d;
    };
    for (const auto& term : features[p].terms) {
      const Config& c = configs[term.config];
      const complex w = term.imag ? complex(0.0, term.coef) : complex(term.coef, 0.0);
      switch (c.family) {
        case Family::mean:
          row.is_mean = true;
          break;
        case Family::phi1:
          add_modulus(c.a).phi1 += term.coef;
          break;
        case Family::phi2: {
          const int last = partners_of(c.a);
          add_direct(c.a).sources.push_back(
              {c.a, last, complex(term.coef * inv_sqrt_a[c.a] * inv_sqrt_a[c.a])});
          break;
        }
        case Family::phi3: {
          const int last = partners_of(c.a);
          const complex v = w * (beta3(c.a, c.b) * inv_sqrt_a[c.a]);
          add_direct(c.a).sources.push_back({c.a, c.b, 0.5 * v});
          add_modulus(c.b).sources.push_back({c.a, last, 0.5 * std::conj(v)});
          break;
        }
        case Family::phi4: {
          const complex v = w * beta4(c.a, c.b, c.c);
          if (c.a == c.b) {
            add_modulus(c.a).sources.push_back({c.c, c.a, complex(v.real())});
          } else {
            add_modulus(c.a).sources.push_back({c.c, c.b, 0.5 * v});
            add_modulus(c.b).sources.push_back({c.c, c.a, 0.5 * std::conj(v)});
          }
          break;
        }
      }
    }
    int finest = J;
    // Sources sorted by outer wavelet: accumulate combines each outer's sources on its support and
    // scatters them once.
    const auto by_outer = [](const scattering::OmegaEntry& a, const scattering::OmegaEntry& b) {
      return a.outer != b.outer ? a.outer < b.outer : a.k < b.k;
    };
    for (auto& [wavelet, m] : modulus) {
      finest = std::min(finest, scale_of(wavelet));
      std::sort(m.sources.begin(), m.sources.end(), by_outer);
      row.modulus.push_back(std::move(m));
    }
    for (auto& [outer, d] : direct) {
      finest = std::min(finest, scale_of(outer));
      row.direct.push_back(std::move(d));
    }
    if (row.is_mean) {
      ensure(row.modulus.empty() && row.direct.empty(), "the mean feature mixes with others");
      continue;
    }
    ensure(finest < J, "a scattering feature without wavelet pieces");
    row.finest_scale = finest;
    panel_rows[finest].push_back(p);
  }
}

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

ScatteringSpectra::ScatteringSpectra(const ItemShape& shape, const ScatteringOptions& options,
                                     ScatteringNormalization normalization)
    : shape_(shape), options_(resolved(shape, options)), normalization_(std::move(normalization)) {
  impl_ = std::make_unique<Impl>(shape_, options_, normalization_);
  options_.slant = impl_->bank.slant();
}

ScatteringSpectra::~ScatteringSpectra() = default;

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
  if (conditional.bins > 0) {
    const Grid& full = *grids[0];
    ComplexVector G(full.half_size, complex(0.0));
    std::vector<double> pointwise(full.size, 0.0), through_wavelets(full.size);
    conditional_gradient(
        ws, x,
        eta.subspan(features.size() + static_cast<std::size_t>(marginal.bins), conditional.count()),
        G.data(), pointwise);
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
    if (!normalization_.conditional.empty())
      s.arrays["conditional_calibration"] = normalization_.conditional;
  }
  if (options_.marginal > 0) {
    s.params.set("marginal", options_.marginal);
    if (!options_.colour.empty()) s.arrays["marginal_colour"] = options_.colour;
    if (!normalization_.marginal.empty())
      s.arrays["marginal_calibration"] = normalization_.marginal;
  }
  return s;
}

std::vector<std::string> ScatteringSpectra::feature_names() const {
  std::vector<std::string> names;
  names.reserve(impl_->features.size());
  for (const auto& f : impl_->features) names.push_back(f.name);
  for (int m = 0; m < impl_->marginal.bins; ++m)
    names.push_back(sformat("marginal %d (z = %.3g)", m, impl_->marginal.centre(m)));
  for (int j = 0; j < impl_->conditional.scales; ++j)
    for (int m = 0; m < impl_->conditional.bins; ++m)
      names.push_back(
          sformat("conditional energy j=%d bin %d (z = %.3g)", j, m, impl_->conditional.centre(m)));
  for (const int shell : impl_->shells.shell)
    names.push_back(sformat("shell power |k| = %d", shell));
  return names;
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
    o.marginal = static_cast<int>(params.integer("marginal", 0));
    o.shells = params.flag("shells", false);  // models older than the family have none
    o.conditional = static_cast<int>(params.integer("conditional", 0));
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
  try {
    return std::make_unique<ScatteringSpectra>(shape, o, std::move(n));
  } catch (const UsageError& e) {
    throw InputError(cat("the stored scattering feature map does not fit items of shape ",
                         shape.describe(), ": ", e.what()));
  }
}

ScatteringNormalization ScatteringSpectra::calibrate(const Matrix& local_items,
                                                     const par::Comm& comm) const {
  ensure(normalization_.first_layer.empty() && normalization_.second_layer.empty() &&
             normalization_.marginal.empty() && normalization_.shells.empty() &&
             normalization_.conditional.empty(),
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
  return n;
}

std::vector<double> ScatteringSpectra::calibrate_marginal(const Matrix& local_items,
                                                          const par::Comm& comm) const {
  // sigma (rms of u = C x), the range of z = u / sigma (clipped to +-8), then the bins' data
  // masses; per-item sums in item order and exact min / max, so every rank count gives the same
  // bits.
  const Impl& I = *impl_;
  const int bins = I.marginal.bins;
  const std::size_t N = I.grids[0]->size;
  scattering::ForwardNeeds cx_only;
  cx_only.modulus = cx_only.phase = cx_only.values = false;
  std::vector<double> local_squares(local_items.rows());
  double low = std::numeric_limits<double>::infinity(), high = -low;
  par::collective(comm, [&] {
    std::lock_guard<std::mutex> lock(I.workspace_lock);
    for (std::size_t i = 0; i < local_items.rows(); ++i) {
      I.forward(local_items.row(i), cx_only, I.workspace);
      I.coloured_field(I.workspace.state.cx.data(), I.workspace);
      double sum = 0.0;
      for (const double u : I.workspace.marginal_field) {
        sum += u * u;
        low = std::min(low, u);
        high = std::max(high, u);
      }
      local_squares[i] = sum;
    }
  });
  std::vector<double> constants = scattering::value_scale(local_squares, low, high, N, comm,
                                                          "marginal features: the coloured data");
  constants.resize(3 + bins, 1.0);
  // The bins' masses with the range fixed (unit masses: the histogram values themselves).
  Impl::Marginal fixed = I.marginal;
  fixed.sigma = constants[0];
  fixed.low = constants[1];
  fixed.high = constants[2];
  fixed.inv_mass.assign(bins, 1.0);
  std::vector<double> local_mass(local_items.rows() * bins);
  par::collective(comm, [&] {
    std::lock_guard<std::mutex> lock(I.workspace_lock);
    for (std::size_t i = 0; i < local_items.rows(); ++i) {
      I.forward(local_items.row(i), cx_only, I.workspace);
      I.coloured_field(I.workspace.state.cx.data(), I.workspace);
      fixed.histogram(I.workspace.marginal_field,
                      std::span<double>(local_mass.data() + i * bins, bins));
    }
  });
  const auto masses = comm.allgatherv(local_mass);
  const std::size_t items = masses.size() / bins;
  std::vector<double> mass(bins, 0.0);
  for (std::size_t i = 0; i < items; ++i)
    for (int m = 0; m < bins; ++m) mass[m] += masses[i * bins + m];
  const double largest = *std::max_element(mass.begin(), mass.end());
  for (int m = 0; m < bins; ++m)
    constants[3 + m] = std::max(mass[m] / static_cast<double>(items), 1e-3 * largest / items);
  return constants;
}

}  // namespace ksi::features
