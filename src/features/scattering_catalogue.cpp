/// @file
/// The scattering spectra's catalogue: the feature families, the resolved options, and the
/// tables the transforms read (which wavelet products and envelopes make each feature, their
/// half-spectrum indices, and the rows of the Gram kernels).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "features/scattering_impl.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/features/scattering.hpp"

namespace ksi::features {

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
  if (!(o.bin_tail >= 0.0 && o.bin_tail < 0.5))
    throw UsageError(
        cat("scattering features: bin_tail must be a quantile in [0, 0.5), not ", o.bin_tail));
  if (o.bin_tail > 0.0 && o.marginal == 0 && o.conditional == 0 && o.contrast == 0)
    throw UsageError(
        "scattering features: bin_tail places the bins of the marginal, conditional or contrast "
        "family, and the map has none");
  if (o.conditional_moment != ConditionalMoment::energy && o.conditional == 0)
    throw UsageError(
        "scattering features: conditional_moment chooses what the conditional family bins, and the "
        "map has no conditional bins");
  if (o.families.text() == "none" && !o.shells && o.marginal == 0 && o.conditional == 0 &&
      o.contrast == 0)
    throw UsageError(
        "scattering features: families=none needs shells=true, marginal, conditional or contrast "
        "bins");
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
  setup_contrast(options, normalization);
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

ScatteringSpectra::ScatteringSpectra(const ItemShape& shape, const ScatteringOptions& options,
                                     ScatteringNormalization normalization)
    : shape_(shape), options_(resolved(shape, options)), normalization_(std::move(normalization)) {
  impl_ = std::make_unique<Impl>(shape_, options_, normalization_);
  options_.slant = impl_->bank.slant();
}

ScatteringSpectra::~ScatteringSpectra() = default;

}  // namespace ksi::features
