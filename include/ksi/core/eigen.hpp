#pragma once
/// @file
/// Eigen-decomposition of small dense symmetric matrices (cyclic Jacobi rotations).
///
/// For the calibration's shell-by-shell covariances (tens of rows): deterministic (the same bits
/// for the same input on every rank, which a threaded LAPACK does not promise), accurate to a few
/// ulps of the largest eigenvalue, O(n^3) per sweep with about 10 sweeps.

#include <vector>

#include "ksi/core/matrix.hpp"

namespace ksi {

struct SymmetricEigen {
  std::vector<double> values;  ///< eigenvalues, largest first
  Matrix vectors;              ///< n x n, column j the unit eigenvector of values[j]
};

/// Eigenvalues and eigenvectors of the symmetric matrix `a` (only its upper triangle is read).
/// InputError if `a` is not square or has non-finite entries.
SymmetricEigen symmetric_eigen(const Matrix& a);

}  // namespace ksi
