#pragma once
// An independent, slow evaluation of scattering spectra for tests: filters turned into spatial
// kernels by naive DFT sums, U_lambda by direct circular convolution on the full grid and then
// sampled on each scale's grid, second-layer filtering on the coarse grids by naive DFTs, and all
// spatial means as plain averages of products. Only the filter values (WaveletBank) are shared with
// the library.
#include <complex>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include "ksi/features/scattering.hpp"

namespace ksi::test {

using cplx = std::complex<double>;

struct Lattice {
  std::vector<std::size_t> dims;
  std::size_t size() const {
    std::size_t s = 1;
    for (auto d : dims) s *= d;
    return s;
  }
  std::vector<std::size_t> coords(std::size_t flat) const {
    std::vector<std::size_t> c(dims.size());
    for (std::size_t a = dims.size(); a-- > 0;) {
      c[a] = flat % dims[a];
      flat /= dims[a];
    }
    return c;
  }
  std::size_t flat(const std::vector<std::size_t>& c) const {
    std::size_t f = 0;
    for (std::size_t a = 0; a < dims.size(); ++a) f = f * dims[a] + c[a] % dims[a];
    return f;
  }
};

// Naive separable DFT on the lattice: sign -1 forward (sum_y f(y) e^{-i k y}), +1 backward
// (unnormalised). O(N sum n_a): slow, but shares nothing with FFTW.
inline std::vector<cplx> naive_dft(std::vector<cplx> f, const Lattice& lattice, int sign) {
  const std::size_t n = lattice.size();
  std::size_t stride = n;
  for (std::size_t a = 0; a < lattice.dims.size(); ++a) {
    const std::size_t na = lattice.dims[a];
    stride /= na;
    std::vector<cplx> twiddle(na), line(na);
    for (std::size_t t = 0; t < na; ++t)
      twiddle[t] = std::polar(1.0, sign * 2.0 * std::numbers::pi * static_cast<double>(t) / na);
    for (std::size_t base = 0; base < n; ++base) {
      if ((base / stride) % na != 0) continue;  // first element of a line along axis a
      for (std::size_t k = 0; k < na; ++k) {
        cplx sum = 0.0;
        for (std::size_t y = 0; y < na; ++y) sum += f[base + y * stride] * twiddle[(k * y) % na];
        line[k] = sum;
      }
      for (std::size_t k = 0; k < na; ++k) f[base + k * stride] = line[k];
    }
  }
  return f;
}

// The filter's values at the lattice's frequency indices (supports lie strictly inside coarse
// grids).
inline std::vector<cplx> filter_on(const features::WaveletBank& bank, const features::Wavelet& w,
                                   const Lattice& lattice) {
  std::vector<cplx> hat(lattice.size(), 0.0);
  for (std::size_t e = 0; e < w.values.size(); ++e) {
    std::vector<std::size_t> c(lattice.dims.size());
    const auto m = bank.frequency(w.support[e]);
    for (std::size_t a = 0; a < c.size(); ++a) {
      const long na = static_cast<long>(lattice.dims[a]);
      c[a] = static_cast<std::size_t>(((m[a] % na) + na) % na);
    }
    hat[lattice.flat(c)] = w.values[e];
  }
  return hat;
}

// Spatial kernel psi(y) = (1/N) sum_k psihat(k) e^{i k y} on the lattice.
inline std::vector<cplx> kernel_on(const features::WaveletBank& bank, const features::Wavelet& w,
                                   const Lattice& lattice) {
  auto k = naive_dft(filter_on(bank, w, lattice), lattice, +1);
  for (auto& v : k) v /= static_cast<double>(lattice.size());
  return k;
}

// (f * k)(y) = sum_z f(z) k(y - z) on the lattice, by direct summation.
inline std::vector<cplx> convolve(const std::vector<cplx>& f, const std::vector<cplx>& k,
                                  const Lattice& lattice) {
  const std::size_t n = lattice.size(), dim = lattice.dims.size();
  std::vector<std::vector<std::size_t>> coords(n);
  for (std::size_t y = 0; y < n; ++y) coords[y] = lattice.coords(y);
  std::vector<cplx> out(n, 0.0);
  for (std::size_t y = 0; y < n; ++y) {
    cplx sum = 0.0;
    for (std::size_t z = 0; z < n; ++z) {
      std::size_t flat = 0;
      for (std::size_t a = 0; a < dim; ++a)
        flat = flat * lattice.dims[a] +
               (coords[y][a] + lattice.dims[a] - coords[z][a]) % lattice.dims[a];
      sum += f[z] * k[flat];
    }
    out[y] = sum;
  }
  return out;
}

// f * psi on the lattice through naive DFTs: DFT(f) psihat, transformed back.
inline std::vector<cplx> filter_field(const std::vector<cplx>& f, const features::WaveletBank& bank,
                                      const features::Wavelet& w, const Lattice& lattice) {
  auto spectrum = naive_dft(f, lattice, -1);
  const auto hat = filter_on(bank, w, lattice);
  for (std::size_t q = 0; q < spectrum.size(); ++q) spectrum[q] *= hat[q];
  auto out = naive_dft(spectrum, lattice, +1);
  for (auto& v : out) v /= static_cast<double>(lattice.size());
  return out;
}

// Values on `coarse` of a field given on `fine` (coarse = fine subsampled by `ratio`).
inline std::vector<cplx> sample(const std::vector<cplx>& f, const Lattice& fine,
                                const Lattice& coarse, std::size_t ratio) {
  std::vector<cplx> out(coarse.size());
  for (std::size_t y = 0; y < coarse.size(); ++y) {
    auto c = coarse.coords(y);
    for (auto& v : c) v *= ratio;
    out[y] = f[fine.flat(c)];
  }
  return out;
}

inline cplx mean_product(const std::vector<cplx>& a, const std::vector<cplx>& b) {
  cplx s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * std::conj(b[i]);
  return s / static_cast<double>(a.size());
}

/// Raw coefficients keyed by feature name ("mean", "Phi1(j=0,l=1)", "Re Phi3(...)", ...), following
/// the names of ScatteringSpectra without the isotropic reduction.
inline std::map<std::string, double> reference_scattering(const features::ScatteringSpectra& map,
                                                          const std::vector<double>& x) {
  const auto& bank = map.bank();
  const auto& norm = map.normalization();
  const int J = bank.scales(), L = bank.orientations(), dim = bank.dimension();
  const std::size_t W = bank.count();
  const Lattice full{bank.dims()};
  std::vector<cplx> xc(x.begin(), x.end());
  std::vector<std::vector<cplx>> U(W), M(W);
  std::vector<Lattice> grid(W);
  for (std::size_t l = 0; l < W; ++l) {
    const auto& w = bank.wavelet(l);
    grid[l] = Lattice{bank.grid_dims(w.scale)};
    auto u = convolve(xc, kernel_on(bank, w, full), full);
    const double a = norm.first_layer.empty() ? 1.0 : norm.first_layer[l];
    for (auto& v : u) v /= std::sqrt(a);
    U[l] = sample(u, full, grid[l], bank.subsampling(w.scale));
    M[l].resize(U[l].size());
    for (std::size_t y = 0; y < U[l].size(); ++y) M[l][y] = std::abs(U[l][y]);
  }
  const auto b = [&](std::size_t partner, std::size_t outer) {
    return norm.second_layer.empty() ? 1.0 : norm.second_layer[partner * W + outer];
  };
  const auto label = [&](std::size_t l, const char* suffix) {
    const int j = static_cast<int>(l) / L, o = static_cast<int>(l) % L;
    if (dim == 1) return "j" + std::string(suffix) + "=" + std::to_string(j);
    return "j" + std::string(suffix) + "=" + std::to_string(j) + ",l" + suffix + "=" +
           std::to_string(o);
  };
  std::map<std::string, double> out;
  double mean = 0.0;
  for (double v : x) mean += v;
  out["mean"] = mean / static_cast<double>(x.size());
  {
    // Power below the wavelets' band: the low-pass support excludes k = 0, so the mean drops out.
    const auto low = convolve(xc, kernel_on(bank, bank.lowpass_support(), full), full);
    const double a = norm.first_layer.empty() ? 1.0 : norm.first_layer[W];
    out["Phi2(low)"] = mean_product(low, low).real() / a;
  }
  for (std::size_t l = 0; l < W; ++l) {
    out["Phi1(" + label(l, "") + ")"] =
        mean_product(M[l], std::vector<cplx>(M[l].size(), 1.0)).real();
    out["Phi2(" + label(l, "") + ")"] = mean_product(U[l], U[l]).real();
  }
  // M_lambda' * psi_lambda on lambda''s grid, sampled on lambda's grid.
  const auto second = [&](std::size_t partner, std::size_t outer) {
    const auto v = filter_field(M[partner], bank, bank.wavelet(outer), grid[partner]);
    const std::size_t ratio =
        bank.subsampling(bank.wavelet(outer).scale) / bank.subsampling(bank.wavelet(partner).scale);
    return sample(v, grid[partner], grid[outer], ratio);
  };
  for (std::size_t outer = L; outer < W; ++outer) {
    const int j = static_cast<int>(outer) / L;
    std::vector<std::vector<cplx>> V(static_cast<std::size_t>(j * L));
    for (std::size_t p = 0; p < V.size(); ++p) V[p] = second(p, outer);
    for (std::size_t p = 0; p < V.size(); ++p) {
      const cplx phi3 = mean_product(U[outer], V[p]) / std::sqrt(b(p, outer));
      const std::string name = "Phi3(" + label(outer, "") + ";" + label(p, "'") + ")";
      out["Re " + name] = phi3.real();
      out["Im " + name] = phi3.imag();
    }
    for (std::size_t p1 = 0; p1 < V.size(); ++p1)
      for (std::size_t p2 = p1; p2 < V.size(); ++p2) {
        const cplx phi4 = mean_product(V[p1], V[p2]) / std::sqrt(b(p1, outer) * b(p2, outer));
        const std::string name =
            "Phi4(" + label(p1, "1") + ";" + label(p2, "2") + ";" + label(outer, "3") + ")";
        if (p1 == p2) {
          out[name] = phi4.real();
        } else {
          out["Re " + name] = phi4.real();
          out["Im " + name] = phi4.imag();
        }
      }
  }
  return out;
}

}  // namespace ksi::test
