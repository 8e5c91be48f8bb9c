#include "ksi/core/eigen.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {

SymmetricEigen symmetric_eigen(const Matrix& input) {
  const std::size_t n = input.rows();
  if (input.cols() != n)
    throw InputError(cat("eigen-decomposition of a ", n, " x ", input.cols(), " matrix"));
  Matrix a(n, n), v(n, n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    v(i, i) = 1.0;
    for (std::size_t j = i; j < n; ++j) {
      if (!std::isfinite(input(i, j)))
        throw InputError("eigen-decomposition of a matrix with non-finite entries");
      a(i, j) = a(j, i) = input(i, j);
    }
  }
  // Cyclic sweeps of rotations that zero a(p, q) (Rutishauser's form, as in Golub and Van
  // Loan 8.5), until the off-diagonal mass is at round-off relative to the diagonal.
  for (int sweep = 0; sweep < 64; ++sweep) {
    double off = 0.0, diagonal = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      diagonal += a(i, i) * a(i, i);
      for (std::size_t j = i + 1; j < n; ++j) off += a(i, j) * a(i, j);
    }
    if (off <= 1e-30 * diagonal || off == 0.0) break;
    for (std::size_t p = 0; p + 1 < n; ++p) {
      for (std::size_t q = p + 1; q < n; ++q) {
        if (a(p, q) == 0.0) continue;
        const double theta = (a(q, q) - a(p, p)) / (2.0 * a(p, q));
        const double t =
            (theta >= 0.0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // columns p, q of a
          const double akp = a(k, p), akq = a(k, q);
          a(k, p) = c * akp - s * akq;
          a(k, q) = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // rows p, q of a
          const double apk = a(p, k), aqk = a(q, k);
          a(p, k) = c * apk - s * aqk;
          a(q, k) = s * apk + c * aqk;
        }
        for (std::size_t k = 0; k < n; ++k) {
          const double vkp = v(k, p), vkq = v(k, q);
          v(k, p) = c * vkp - s * vkq;
          v(k, q) = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return a(i, i) > a(j, j); });
  SymmetricEigen out;
  out.values.resize(n);
  out.vectors = Matrix(n, n);
  for (std::size_t j = 0; j < n; ++j) {
    out.values[j] = a(order[j], order[j]);
    for (std::size_t k = 0; k < n; ++k) out.vectors(k, j) = v(k, order[j]);
  }
  return out;
}

}  // namespace ksi
