#pragma once
/// @file
/// PETSc solves of the per-time normal equations (K + ridge I) eta = h (METHOD section 2), on one
/// rank (dense Cholesky) or on a group of ranks (PETSc's ScaLAPACK matrix type). The KSP has the
/// options prefix `fit_`, so `--petsc "-fit_ksp_type cg -fit_pc_type jacobi"` changes the solver.

#include <span>
#include <string>

#include "ksi/core/matrix.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::fit {

/// Initialises PETSc on a communicator (after MPI) with extra options, finalises it on destruction.
class PetscSession {
 public:
  explicit PetscSession(const par::Comm& comm, const std::string& options = "");
  ~PetscSession();
  PetscSession(const PetscSession&) = delete;
  PetscSession& operator=(const PetscSession&) = delete;

 private:
  bool owns_ = false;
};

struct SolveResult {
  double residual = 0.0;    ///< |A eta - h| / |h|, A = K + ridge I (+ the penalty)
  double lambda_min = 0.0;  ///< estimates for K + ridge I (Lanczos on A and on A^-1)
  double lambda_max = 0.0;
  double ridge = 0.0;  ///< the absolute ridge added to the diagonal
};

/// Solves (K + lambda tr(K)/P I + tr(K)/P diag(penalty)) eta = h on this rank. K is symmetric (the
/// upper triangle is read); `penalty` (empty: none) holds a further relative ridge per feature.
/// NumericalError if K has no positive trace or the solve fails.
SolveResult solve_normal_equations(const Matrix& K, std::span<const double> h,
                                   double relative_ridge, std::span<double> eta,
                                   std::span<const double> penalty = {});

/// The same solve distributed over `group` with PETSc's ScaLAPACK matrix: K and h are read on the
/// group's rank 0 (ignored elsewhere), eta is returned on the group's rank 0. Collective over
/// group.
SolveResult solve_normal_equations_distributed(const Matrix& K, std::span<const double> h,
                                               double relative_ridge, std::span<double> eta,
                                               const par::Comm& group,
                                               std::span<const double> penalty = {});

}  // namespace ksi::fit
