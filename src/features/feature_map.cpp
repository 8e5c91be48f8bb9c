#include "ksi/features/feature_map.hpp"

#include <cblas.h>

#include <algorithm>

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
