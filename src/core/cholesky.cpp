#include "ksi/core/cholesky.hpp"

#include <limits>

#include "ksi/core/error.hpp"

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotrs_(const char* uplo, const int* n, const int* nrhs, const double* a, const int* lda,
             double* b, const int* ldb, int* info);
}

namespace ksi {
namespace {

int checked_size(const Matrix& a) {
  ensure(a.rows() == a.cols(), "Cholesky factorisation of a non-square matrix");
  ensure(a.rows() <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
         "Cholesky factorisation of a matrix too large for LAPACK");
  return static_cast<int>(a.rows());
}

}  // namespace

// A row-major upper triangle is the column-major lower triangle: LAPACK's "L".
bool cholesky_factor(Matrix& a) {
  const int n = checked_size(a);
  if (n == 0) return true;
  int info = 0;
  dpotrf_("L", &n, a.data(), &n, &info);
  ensure(info >= 0, "dpotrf: an invalid argument");
  return info == 0;
}

void cholesky_solve(const Matrix& factor, std::span<double> b) {
  const int n = checked_size(factor), one = 1;
  ensure(b.size() == factor.rows(), "Cholesky solve: a right-hand side of the wrong size");
  if (n == 0) return;
  int info = 0;
  dpotrs_("L", &n, &one, factor.data(), &n, b.data(), &n, &info);
  ensure(info == 0, "dpotrs: an invalid argument");
}

}  // namespace ksi
