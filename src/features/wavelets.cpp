#include "ksi/features/wavelets.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::features {
namespace {

constexpr double kPi = std::numbers::pi;

// Signed frequency of index i on an axis of n points, with the Nyquist index as +n/2.
int signed_frequency(std::size_t i, std::size_t n) {
  return i <= n / 2 ? static_cast<int>(i) : static_cast<int>(i) - static_cast<int>(n);
}

std::size_t index_of(int m, std::size_t n) {
  const long ni = static_cast<long>(n);
  return static_cast<std::size_t>(((m % ni) + ni) % ni);
}

std::size_t flat_index(const std::array<int, 3>& m, const std::vector<std::size_t>& dims) {
  std::size_t flat = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) flat = flat * dims[a] + index_of(m[a], dims[a]);
  return flat;
}

std::size_t product(const std::vector<std::size_t>& dims) {
  std::size_t p = 1;
  for (auto d : dims) p *= d;
  return p;
}

// Calls f(m) for every signed frequency vector of the grid, in row-major order of the indices.
template <class F>
void for_each_frequency(const std::vector<std::size_t>& dims, F&& f) {
  std::array<int, 3> m{0, 0, 0};
  const std::size_t d = dims.size();
  const std::size_t n0 = dims[0], n1 = d > 1 ? dims[1] : 1, n2 = d > 2 ? dims[2] : 1;
  for (std::size_t i0 = 0; i0 < n0; ++i0) {
    m[0] = signed_frequency(i0, n0);
    for (std::size_t i1 = 0; i1 < n1; ++i1) {
      if (d > 1) m[1] = signed_frequency(i1, n1);
      for (std::size_t i2 = 0; i2 < n2; ++i2) {
        if (d > 2) m[2] = signed_frequency(i2, n2);
        f(m);
      }
    }
  }
}

// Mean of g over the representatives of a grid frequency: on a Nyquist index (m = n/2, n even) both
// +pi and -pi, so that functions of the frequency keep their symmetries under k -> -k on the grid.
template <class G>
double alias_symmetric(const std::array<int, 3>& m, const std::vector<std::size_t>& dims, G&& g) {
  std::array<double, 3> k{0.0, 0.0, 0.0};
  int nyquist[3];
  int count = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) {
    k[a] = 2.0 * kPi * m[a] / static_cast<double>(dims[a]);
    if (dims[a] % 2 == 0 && static_cast<std::size_t>(m[a]) == dims[a] / 2)
      nyquist[count++] = static_cast<int>(a);
  }
  if (count == 0) return g(k);
  double sum = 0.0;
  for (int mask = 0; mask < (1 << count); ++mask) {
    auto kk = k;
    for (int b = 0; b < count; ++b)
      if (mask & (1 << b)) kk[nyquist[b]] = -kk[nyquist[b]];
    sum += g(kk);
  }
  return sum / static_cast<double>(1 << count);
}

}  // namespace

double WaveletBank::sigma(int scale) {
  return 0.8 * std::ldexp(1.0, scale);
}
double WaveletBank::xi(int scale) {
  return 0.75 * kPi / std::ldexp(1.0, scale);
}

int WaveletBank::max_scales(const std::vector<std::size_t>& dims) {
  if (dims.empty()) return 0;
  const double n = static_cast<double>(*std::min_element(dims.begin(), dims.end()));
  if (n < 6.4) return 0;
  return static_cast<int>(std::floor(std::log2(n / 6.4) + 1e-12)) + 1;
}

std::vector<std::array<int, 3>> WaveletBank::cube_directions(int orientations) {
  std::vector<std::array<int, 3>> d{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  if (orientations >= 7) {
    d.push_back({1, 1, 1});
    d.push_back({1, 1, -1});
    d.push_back({1, -1, 1});
    d.push_back({1, -1, -1});
  }
  if (orientations >= 13) {
    d.push_back({1, 1, 0});
    d.push_back({1, -1, 0});
    d.push_back({1, 0, 1});
    d.push_back({1, 0, -1});
    d.push_back({0, 1, 1});
    d.push_back({0, 1, -1});
  }
  return d;
}

double WaveletBank::default_slant(int dimension, int orientations) {
  if (dimension <= 1) return 1.0;
  if (dimension == 2) return 4.0 / std::max(1, orientations);
  // Smallest angle between two (unsigned) directions of the set.
  const auto dirs = cube_directions(orientations);
  double smallest = kPi / 2;
  for (std::size_t a = 0; a < dirs.size(); ++a)
    for (std::size_t b = a + 1; b < dirs.size(); ++b) {
      double dot = 0, na = 0, nb = 0;
      for (int i = 0; i < 3; ++i) {
        dot += dirs[a][i] * dirs[b][i];
        na += dirs[a][i] * dirs[a][i];
        nb += dirs[b][i] * dirs[b][i];
      }
      smallest = std::min(smallest, std::acos(std::abs(dot) / std::sqrt(na * nb)));
    }
  return 4.0 * smallest / kPi;
}

WaveletBank::WaveletBank(std::vector<std::size_t> dims, int scales, int orientations, double slant,
                         bool subsample)
    : dims_(std::move(dims)), scales_(scales), orientations_(orientations) {
  const int dim = static_cast<int>(dims_.size());
  if (dim < 1 || dim > 3) throw UsageError(cat("wavelets need a grid of 1 to 3 axes, not ", dim));
  const std::size_t n_min = *std::min_element(dims_.begin(), dims_.end());
  const int J_max = max_scales(dims_);
  if (scales_ < 1)
    throw UsageError(cat("scattering features: J must be at least 1, not ", scales_));
  if (scales_ > J_max)
    throw UsageError(
        sformat("scattering features: J = %d scales need at least %.0f grid points per "
                "axis (the coarsest wavelet spans 8 sigma = 6.4 x 2^(J-1) points), but "
                "the grid has n = %zu; use J <= %d",
                scales_, std::ceil(6.4 * std::ldexp(1.0, scales_ - 1)), n_min, std::max(J_max, 0)));
  if (dim == 1 && orientations_ != 1)
    throw UsageError(
        cat("scattering features: 1D fields have one analytic wavelet per scale (L = 1), not L = ",
            orientations_));
  if (dim == 2 && (orientations_ < 1 || orientations_ > 32))
    throw UsageError(
        cat("scattering features: L must be between 1 and 32 in 2D, not ", orientations_));
  if (dim == 3 && orientations_ != 3 && orientations_ != 7 && orientations_ != 13)
    throw UsageError(
        cat("scattering features: L must be 3, 7 or 13 in 3D (the cube's face, body and "
            "edge axes), not ",
            orientations_));
  if (product(dims_) > std::numeric_limits<std::uint32_t>::max())
    throw UsageError(cat("scattering features: grids of more than 2^32 points are not supported (",
                         product(dims_), " points)"));
  slant_ = slant > 0.0 ? slant : default_slant(dim, orientations_);

  // Directions. In 2D the second half is the first rotated by exactly 90 degrees, so that grid
  // rotations map the filters onto each other without rounding differences in the directions.
  directions_.assign(orientations_, {0.0, 0.0, 0.0});
  if (dim == 1) {
    directions_[0] = {1.0, 0.0, 0.0};
  } else if (dim == 2) {
    const int L = orientations_;
    for (int l = 0; l < L; ++l) {
      if (L % 2 == 0 && l >= L / 2) {
        const auto& e = directions_[l - L / 2];
        directions_[l] = {-e[1], e[0], 0.0};
      } else if (l == 0) {
        directions_[l] = {1.0, 0.0, 0.0};
      } else {
        const double angle = kPi * l / L;
        directions_[l] = {std::cos(angle), std::sin(angle), 0.0};
      }
    }
  } else {
    const auto dirs = cube_directions(orientations_);
    for (int l = 0; l < orientations_; ++l) {
      const double norm = std::sqrt(static_cast<double>(
          dirs[l][0] * dirs[l][0] + dirs[l][1] * dirs[l][1] + dirs[l][2] * dirs[l][2]));
      for (int i = 0; i < 3; ++i) directions_[l][i] = dirs[l][i] / norm;
    }
  }

  // Supports: only frequencies inside a box around each envelope can exceed the truncation.
  const double radius_in_sigmas = std::sqrt(2.0 * std::log(1.0 / truncation()));
  wavelets_.resize(static_cast<std::size_t>(scales_ * orientations_));
  for (int j = 0; j < scales_; ++j)
    for (int l = 0; l < orientations_; ++l) {
      Wavelet& w = wavelets_[static_cast<std::size_t>(j * orientations_ + l)];
      w.scale = j;
      w.orientation = l;
      const double reach = radius_in_sigmas * std::max(1.0, slant_) / sigma(j);
      std::vector<std::vector<int>> axis_frequencies(dim);
      for (int a = 0; a < dim; ++a) {
        const double kmax = xi(j) * std::abs(directions_[l][a]) + reach;
        for (std::size_t i = 0; i < dims_[a]; ++i) {
          const int m = signed_frequency(i, dims_[a]);
          if (2.0 * kPi * std::abs(m) / static_cast<double>(dims_[a]) <= kmax + 1e-12)
            axis_frequencies[a].push_back(m);
        }
        std::sort(axis_frequencies[a].begin(), axis_frequencies[a].end());
      }
      std::array<int, 3> m{0, 0, 0};
      const auto visit = [&] {
        if (m[0] == 0 && m[1] == 0 && m[2] == 0) return;  // psihat(0) = 0 by construction
        const double v = alias_symmetric(
            m, dims_, [&](const std::array<double, 3>& k) { return morlet(j, l, k); });
        if (std::abs(v) >= truncation()) {
          w.support.push_back(static_cast<std::uint32_t>(flat_index(m, dims_)));
          w.values.push_back(v);
        }
      };
      for (int m0 : axis_frequencies[0]) {
        m[0] = m0;
        if (dim == 1) {
          visit();
          continue;
        }
        for (int m1 : axis_frequencies[1]) {
          m[1] = m1;
          if (dim == 2) {
            visit();
            continue;
          }
          for (int m2 : axis_frequencies[2]) {
            m[2] = m2;
            visit();
          }
        }
      }
    }

  // The low-pass without its mean mode, truncated like the wavelets.
  lowpass_.scale = scales_ - 1;
  {
    const double s = sigma(scales_ - 1);
    const double reach = radius_in_sigmas / s;
    std::array<int, 3> m{0, 0, 0};
    std::vector<int> axis[3];
    for (int a = 0; a < dim; ++a)
      for (std::size_t i = 0; i < dims_[a]; ++i) {
        const int f = signed_frequency(i, dims_[a]);
        if (2.0 * kPi * std::abs(f) / static_cast<double>(dims_[a]) <= reach + 1e-12)
          axis[a].push_back(f);
      }
    for (int a = dim; a < 3; ++a) axis[a] = {0};
    for (int m0 : axis[0])
      for (int m1 : axis[1])
        for (int m2 : axis[2]) {
          m = {m0, m1, m2};
          if (m0 == 0 && m1 == 0 && m2 == 0) continue;
          const double v = alias_symmetric(m, dims_, [&](const std::array<double, 3>& k) {
            return std::exp(-0.5 * s * s * (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]));
          });
          if (v >= truncation()) {
            lowpass_.support.push_back(static_cast<std::uint32_t>(flat_index(m, dims_)));
            lowpass_.values.push_back(v);
          }
        }
  }

  // Grids: the largest power-of-two subsampling whose band strictly contains every support of the
  // scale (|m_a| < n_a / (2 s)), so U_lambda is computed exactly on the coarse grid.
  factors_.assign(scales_, 1);
  for (int j = 1; j < scales_ && subsample; ++j) {
    std::array<int, 3> reach{0, 0, 0};
    for (int l = 0; l < orientations_; ++l)
      for (const std::uint32_t index : wavelet(j, l).support) {
        const auto m = frequency(index);
        for (int a = 0; a < dim; ++a) reach[a] = std::max(reach[a], std::abs(m[a]));
      }
    std::size_t s = 1;
    while (true) {
      const std::size_t next = 2 * s;
      bool fits = true;
      for (int a = 0; a < dim; ++a)
        if (dims_[a] % next != 0 || 2 * next * static_cast<std::size_t>(reach[a]) >= dims_[a])
          fits = false;
      if (!fits) break;
      s = next;
    }
    factors_[j] = s;
  }
}

std::array<int, 3> WaveletBank::frequency(std::uint32_t index) const {
  std::array<int, 3> m{0, 0, 0};
  std::size_t rest = index;
  for (std::size_t a = dims_.size(); a-- > 0;) {
    m[a] = signed_frequency(rest % dims_[a], dims_[a]);
    rest /= dims_[a];
  }
  return m;
}

const Wavelet& WaveletBank::wavelet(int scale, int orientation) const {
  return wavelets_[static_cast<std::size_t>(scale * orientations_ + orientation)];
}

std::vector<std::size_t> WaveletBank::grid_dims(int scale) const {
  auto d = dims_;
  for (auto& n : d) n /= factors_[scale];
  return d;
}

double WaveletBank::morlet(int scale, int orientation, const std::array<double, 3>& k) const {
  const auto& e = directions_[orientation];
  const double s = sigma(scale), x = xi(scale);
  const double inv_slant_sq = 1.0 / (slant_ * slant_);
  const auto envelope = [&](const std::array<double, 3>& v) {
    const double parallel = v[0] * e[0] + v[1] * e[1] + v[2] * e[2];
    double perp_sq = 0.0;
    for (int a = 0; a < 3; ++a) {
      const double p = v[a] - parallel * e[a];
      perp_sq += p * p;
    }
    return std::exp(-0.5 * s * s * (parallel * parallel + perp_sq * inv_slant_sq));
  };
  const double kappa = std::exp(-0.5 * s * s * x * x);
  const std::array<double, 3> shifted{k[0] - x * e[0], k[1] - x * e[1], k[2] - x * e[2]};
  return envelope(shifted) - kappa * envelope(k);
}

std::vector<double> WaveletBank::filter(int scale, int orientation) const {
  std::vector<double> out(product(dims_), 0.0);
  const Wavelet& w = wavelet(scale, orientation);
  for (std::size_t e = 0; e < w.values.size(); ++e) out[w.support[e]] = w.values[e];
  return out;
}

std::vector<double> WaveletBank::lowpass() const {
  std::vector<double> out(product(dims_));
  const double s = sigma(scales_ - 1);
  std::size_t q = 0;
  for_each_frequency(dims_, [&](const std::array<int, 3>& m) {
    out[q++] = alias_symmetric(m, dims_, [&](const std::array<double, 3>& k) {
      return std::exp(-0.5 * s * s * (k[0] * k[0] + k[1] * k[1] + k[2] * k[2]));
    });
  });
  return out;
}

std::vector<double> WaveletBank::littlewood_paley() const {
  auto sum = lowpass();
  for (auto& v : sum) v *= v;
  for (const Wavelet& w : wavelets_)
    for (std::size_t e = 0; e < w.values.size(); ++e) {
      const auto m = frequency(w.support[e]);
      const double half_energy = 0.5 * w.values[e] * w.values[e];
      sum[w.support[e]] += half_energy;
      sum[flat_index({-m[0], -m[1], -m[2]}, dims_)] += half_energy;
    }
  return sum;
}

std::vector<OrientationMap> WaveletBank::rotations() const {
  std::vector<OrientationMap> maps;
  const int L = orientations_;
  if (dimension() == 1) {
    maps.push_back({{0}, {false}});
    return maps;
  }
  if (dimension() == 2) {
    for (int k = 0; k < 2 * L; ++k) {
      OrientationMap g{std::vector<int>(L), std::vector<bool>(L)};
      for (int l = 0; l < L; ++l) {
        const int t = (l + k) % (2 * L);
        g.target[l] = t < L ? t : t - L;
        g.flipped[l] = t >= L;
      }
      maps.push_back(std::move(g));
    }
    return maps;
  }
  // The 24 signed permutation matrices of determinant +1.
  const auto dirs = cube_directions(L);
  const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  const int parity[6] = {1, -1, -1, 1, 1, -1};
  for (int p = 0; p < 6; ++p)
    for (int signs = 0; signs < 8; ++signs) {
      int sign[3];
      int det = parity[p];
      for (int i = 0; i < 3; ++i) {
        sign[i] = (signs >> i) & 1 ? -1 : 1;
        det *= sign[i];
      }
      if (det != 1) continue;
      OrientationMap g{std::vector<int>(L), std::vector<bool>(L)};
      for (int l = 0; l < L; ++l) {
        // (R v)_i = sign_i v_{perm_i}
        std::array<int, 3> v{};
        for (int i = 0; i < 3; ++i) v[i] = sign[i] * dirs[l][perms[p][i]];
        bool flipped = false;
        for (int i = 0; i < 3; ++i)
          if (v[i] != 0) {
            flipped = v[i] < 0;
            break;
          }
        if (flipped)
          for (auto& c : v) c = -c;
        const auto it = std::find(dirs.begin(), dirs.end(), v);
        ensure(it != dirs.end(), "cube rotation maps a direction outside the set");
        g.target[l] = static_cast<int>(it - dirs.begin());
        g.flipped[l] = flipped;
      }
      maps.push_back(std::move(g));
    }
  return maps;
}

}  // namespace ksi::features
