#pragma once
/// @file
/// Dense Cholesky factorisation and solves (LAPACK dpotrf / dpotrs) of a symmetric positive
/// definite matrix held as the upper triangle of a row-major Matrix (ksi's layout of Gram
/// matrices).
#include <span>

#include "ksi/core/matrix.hpp"

namespace ksi {

/// Factors `a` (n x n; its upper triangle is read, the strict lower triangle is overwritten) in
/// place. False if `a` is not positive definite (the contents are then undefined).
bool cholesky_factor(Matrix& a);

/// Solves A y = b in place with the factor of cholesky_factor; b.size() == n.
void cholesky_solve(const Matrix& factor, std::span<double> b);

}  // namespace ksi
