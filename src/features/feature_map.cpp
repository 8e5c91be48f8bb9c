#include "ksi/features/feature_map.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/phase_timer.hpp"

namespace ksi::features {

void FeatureMap::evaluate_and_vjp(std::span<const double> x, std::span<double> phi,
                                  const EtaOfPhi& eta_of, std::span<double> grad) const {
  evaluate(x, phi);
  std::vector<double> eta(phi.size());
  eta_of(phi, eta);
  vjp(x, eta, grad);
}

void FeatureMap::vjp_batch(const Matrix& X, std::span<const double> eta, Matrix& G) const {
  G.resize(X.rows(), X.cols());
  for (std::size_t b = 0; b < X.rows(); ++b) vjp(X.row(b), eta, G.row(b));
}

void FeatureMap::jacobian(std::span<const double> x, Matrix& J) const {
  const std::size_t P = size();
  J.resize(P, x.size());
  std::vector<double> unit(P, 0.0);
  for (std::size_t p = 0; p < P; ++p) {
    unit[p] = 1.0;
    vjp(x, unit, J.row(p));
    unit[p] = 0.0;
  }
}

void FeatureMap::jvp(std::span<const double> x, std::span<const double> phi_x,
                     std::span<const double> v, std::span<double> jv) const {
  const std::size_t P = size(), d = x.size();
  ensure(v.size() == d && jv.size() == P && phi_x.size() == P, "jvp: shapes do not match");
  // The step s = kForwardStep |x| / |v| (kForwardStep sqrt(d) / |v| when x = 0).
  double xx = 0.0, vv = 0.0;
  for (std::size_t i = 0; i < d; ++i) {
    xx += x[i] * x[i];
    vv += v[i] * v[i];
  }
  if (vv == 0.0) {
    std::fill(jv.begin(), jv.end(), 0.0);
    return;
  }
  const double s = kForwardStep * std::sqrt((xx > 0.0 ? xx : static_cast<double>(d)) / vv);
  std::vector<double> shifted(d);
  for (std::size_t i = 0; i < d; ++i) shifted[i] = x[i] + s * v[i];
  evaluate(shifted, jv);
  for (std::size_t p = 0; p < P; ++p) jv[p] = (jv[p] - phi_x[p]) / s;
}

void accumulate_randomized(const FeatureMap& map, const Matrix& X, const Matrix& V,
                           std::size_t probes, const ProbeStream& probe, Matrix& K,
                           std::span<double> h, Matrix* phi_rows) {
  const std::size_t P = map.size(), d = X.cols(), B = X.rows();
  ensure(V.rows() == B && V.cols() == d && K.rows() == P && K.cols() == P && h.size() == P &&
             probes > 0,
         "accumulate_randomized: shapes do not match");
  if (phi_rows) phi_rows->resize(B, P);
  // U holds J s for up to `capacity` probes (about 32 MB); each full block goes into K in one syrk,
  // scaled by 1/m. The blocks depend on B and P alone, so the sums are the same on any rank.
  const std::size_t capacity = std::max<std::size_t>(1, (std::size_t{4} << 20) / P);
  Matrix U(std::min(capacity, B * probes), P);
  std::size_t filled = 0;
  const auto flush = [&] {
    if (filled == 0) return;
    ScopedPhase phase("fit.syrk");
    const int n = static_cast<int>(P), k = static_cast<int>(filled);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0 / static_cast<double>(probes),
                U.data(), n, 1.0, K.data(), n);
    filled = 0;
  };
  std::vector<double> s(d), jv(P), phi_x(P);
  for (std::size_t r = 0; r < B; ++r) {
    {
      ScopedPhase phase("fit.features");
      map.evaluate(X.row(r), phi_x);
      if (phi_rows) std::copy(phi_x.begin(), phi_x.end(), phi_rows->row(r).begin());
      map.jvp(X.row(r), phi_x, V.row(r), jv);
      for (std::size_t p = 0; p < P; ++p) h[p] += jv[p];
    }
    for (std::size_t j = 0; j < probes; ++j) {
      {
        // (Its own scope: the flush below is fit.syrk's time, not counted in fit.features too.)
        ScopedPhase phase("fit.features");
        RandomStream stream = probe(r, j);
        for (std::size_t i = 0; i < d; i += 64) {
          std::uint64_t bits = stream.bits();
          for (std::size_t b = i; b < std::min(d, i + 64); ++b, bits >>= 1)
            s[b] = (bits & 1) ? 1.0 : -1.0;
        }
        map.jvp(X.row(r), phi_x, s, U.row(filled));
      }
      if (++filled == U.rows()) flush();
    }
  }
  flush();
}

void FeatureMap::accumulate(const Matrix& X, const Matrix& V, Matrix& K,
                            std::span<double> h) const {
  const std::size_t P = size(), d = X.cols(), B = X.rows();
  ensure(V.rows() == B && V.cols() == d && K.rows() == P && K.cols() == P && h.size() == P,
         "accumulate: shapes do not match");
  // Stack the Jacobians of several items side by side, A = [J_1 ... J_m] (P x m d), so that one
  // syrk adds sum_b J_b J_b^T; keep A near 32 MB.
  const std::size_t per_block =
      std::max<std::size_t>(1, (std::size_t{4} << 20) / std::max<std::size_t>(1, P * d));
  const std::size_t nb = std::min(B, per_block);
  Matrix A(P, nb * d);
  std::vector<double> v(nb * d);
  Matrix J;
  for (std::size_t start = 0; start < B; start += nb) {
    const std::size_t m = std::min(nb, B - start);
    {
      ScopedPhase phase("fit.features");
      for (std::size_t b = 0; b < m; ++b) {
        jacobian(X.row(start + b), J);
        for (std::size_t p = 0; p < P; ++p)
          std::copy(J.row(p).begin(), J.row(p).end(), A.row(p).begin() + static_cast<long>(b * d));
        std::copy(V.row(start + b).begin(), V.row(start + b).end(),
                  v.begin() + static_cast<long>(b * d));
      }
    }
    ScopedPhase phase("fit.syrk");
    const int n = static_cast<int>(P), k = static_cast<int>(m * d), lda = static_cast<int>(nb * d);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1.0, A.data(), lda, 1.0, K.data(),
                n);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0, A.data(), lda, v.data(), 1, 1.0, h.data(),
                1);
  }
}

std::vector<std::string> FeatureMap::feature_names() const {
  std::vector<std::string> names;
  for (std::size_t p = 0; p < size(); ++p) names.push_back("phi[" + std::to_string(p) + "]");
  return names;
}

}  // namespace ksi::features
