#include "ksi/fit/solver.hpp"

#include <petscksp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "par/native_comm.hpp"

namespace ksi::fit {
namespace {

// Every PETSc call goes through this check; PETSc's own handler only returns the code.
void petsc_check(PetscErrorCode code, const char* call) {
  if (code == 0) return;
  const char* text = nullptr;
  PetscErrorMessage(code, &text, nullptr);
  throw NumericalError(cat("PETSc call ", call, " failed: ", text ? text : "unknown error"));
}
#define KSI_PETSC(call) petsc_check((call), #call)

// Move-only owners of PETSc objects.
template <class T, PetscErrorCode (*Destroy)(T*)>
class PetscObjectHandle {
 public:
  PetscObjectHandle() = default;
  ~PetscObjectHandle() {
    if (object_) Destroy(&object_);
  }
  PetscObjectHandle(const PetscObjectHandle&) = delete;
  PetscObjectHandle& operator=(const PetscObjectHandle&) = delete;
  T* out() { return &object_; }
  T get() const { return object_; }

 private:
  T object_ = nullptr;
};
using MatHandle = PetscObjectHandle<Mat, MatDestroy>;
using VecHandle = PetscObjectHandle<Vec, VecDestroy>;
using KspHandle = PetscObjectHandle<KSP, KSPDestroy>;
using ScatterHandle = PetscObjectHandle<VecScatter, VecScatterDestroy>;

double trace_of(const Matrix& K) {
  double trace = 0.0;
  for (std::size_t i = 0; i < K.rows(); ++i) trace += K(i, i);
  return trace;
}

double absolute_ridge(const Matrix& K, double relative_ridge) {
  const double trace = trace_of(K);
  if (!std::isfinite(trace))
    throw NumericalError("the Gram matrix contains NaN or infinite values");
  if (!(trace > 0.0))
    throw NumericalError(
        "the Gram matrix is zero: the features have no gradient on the data (check the feature "
        "map)");
  return relative_ridge * trace / static_cast<double>(K.rows());
}

// tr(K)/P penalty[i] for each feature i (all 0 when penalty is empty).
std::vector<double> absolute_penalty(const Matrix& K, std::span<const double> penalty) {
  std::vector<double> extra(K.rows(), 0.0);
  if (penalty.empty()) return extra;
  const double unit = absolute_ridge(K, 1.0);
  for (std::size_t i = 0; i < extra.size(); ++i) extra[i] = penalty[i] * unit;
  return extra;
}

void make_ksp(MPI_Comm comm, Mat A, KSP* ksp) {
  KSI_PETSC(KSPCreate(comm, ksp));
  KSI_PETSC(KSPSetOperators(*ksp, A, A));
  KSI_PETSC(KSPSetType(*ksp, KSPPREONLY));
  PC pc;
  KSI_PETSC(KSPGetPC(*ksp, &pc));
  KSI_PETSC(PCSetType(pc, PCCHOLESKY));
  KSI_PETSC(KSPSetOptionsPrefix(*ksp, "fit_"));
  KSI_PETSC(KSPSetFromOptions(*ksp));
}

// Largest eigenvalue of the symmetric tridiagonal matrix (diag a, off-diagonal b) by Sturm
// bisection.
double largest_tridiagonal_eigenvalue(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t k = a.size();
  double lo = a[0], hi = a[0];
  for (std::size_t i = 0; i < k; ++i) {
    const double r = (i > 0 ? std::abs(b[i - 1]) : 0.0) + (i + 1 < k ? std::abs(b[i]) : 0.0);
    lo = std::min(lo, a[i] - r);
    hi = std::max(hi, a[i] + r);
  }
  // count(x) = number of eigenvalues below x.
  const auto count_below = [&](double x) {
    std::size_t count = 0;
    double q = a[0] - x;
    if (q < 0) ++count;
    for (std::size_t i = 1; i < k; ++i) {
      const double denom = q != 0.0 ? q : 1e-300;
      q = a[i] - x - b[i - 1] * b[i - 1] / denom;
      if (q < 0) ++count;
    }
    return count;
  };
  for (int it = 0; it < 200 && hi - lo > 1e-15 * std::max(std::abs(lo), std::abs(hi)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (count_below(mid) == k)
      hi = mid;
    else
      lo = mid;
  }
  return 0.5 * (lo + hi);
}

// Largest eigenvalue of a symmetric positive operator: Lanczos with full reorthogonalisation from a
// fixed, rank-independent start vector; the extreme Ritz value converges in a few dozen steps.
template <class Apply>
double largest_ritz_value(Vec like, Apply apply) {
  PetscInt n = 0;
  KSI_PETSC(VecGetSize(like, &n));
  const int steps = static_cast<int>(std::min<PetscInt>(n, 40));
  std::vector<VecHandle> basis(static_cast<std::size_t>(steps) + 1);
  for (auto& v : basis) KSI_PETSC(VecDuplicate(like, v.out()));
  {
    Vec u = basis[0].get();
    PetscInt lo = 0, hi = 0;
    KSI_PETSC(VecGetOwnershipRange(u, &lo, &hi));
    PetscScalar* x;
    KSI_PETSC(VecGetArray(u, &x));
    for (PetscInt i = lo; i < hi; ++i)
      x[i - lo] = 1.0 + 0.5 * std::sin(0.7 * static_cast<double>(i));
    KSI_PETSC(VecRestoreArray(u, &x));
    PetscReal norm;
    KSI_PETSC(VecNormalize(u, &norm));
  }
  std::vector<double> alpha, beta;
  for (int j = 0; j < steps; ++j) {
    Vec w = basis[static_cast<std::size_t>(j) + 1].get();
    apply(basis[static_cast<std::size_t>(j)].get(), w);
    PetscScalar a = 0;
    KSI_PETSC(VecDot(w, basis[static_cast<std::size_t>(j)].get(), &a));
    alpha.push_back(a);
    for (int i = 0; i <= j; ++i) {  // full reorthogonalisation
      PetscScalar c = 0;
      KSI_PETSC(VecDot(w, basis[static_cast<std::size_t>(i)].get(), &c));
      KSI_PETSC(VecAXPY(w, -c, basis[static_cast<std::size_t>(i)].get()));
    }
    PetscReal norm = 0;
    KSI_PETSC(VecNormalize(w, &norm));
    if (j + 1 == steps || norm <= 1e-14 * std::abs(alpha.front())) break;
    beta.push_back(norm);
  }
  beta.resize(alpha.size() > 0 ? alpha.size() - 1 : 0);
  return largest_tridiagonal_eigenvalue(alpha, beta);
}

// Solves, then measures the residual and estimates the extreme eigenvalues of A
// (Lanczos on A, and on A^{-1} through the factored KSP).
SolveResult solve_and_diagnose(KSP ksp, Mat A, Vec b, Vec x, double ridge) {
  SolveResult result;
  result.ridge = ridge;
  KSI_PETSC(KSPSetUp(ksp));
  KSPConvergedReason reason;
  KSI_PETSC(KSPSolve(ksp, b, x));
  KSI_PETSC(KSPGetConvergedReason(ksp, &reason));
  if (reason < 0) throw NumericalError(cat("solve failed (", KSPConvergedReasons[reason], ")"));
  VecHandle r;
  KSI_PETSC(VecDuplicate(b, r.out()));
  KSI_PETSC(MatMult(A, x, r.get()));
  KSI_PETSC(VecAXPY(r.get(), -1.0, b));
  PetscReal rnorm = 0, bnorm = 0;
  KSI_PETSC(VecNorm(r.get(), NORM_2, &rnorm));
  KSI_PETSC(VecNorm(b, NORM_2, &bnorm));
  result.residual = bnorm > 0 ? rnorm / bnorm : rnorm;

  result.lambda_max =
      largest_ritz_value(b, [&](Vec in, Vec out) { KSI_PETSC(MatMult(A, in, out)); });
  const double inverse_max =
      largest_ritz_value(b, [&](Vec in, Vec out) { KSI_PETSC(KSPSolve(ksp, in, out)); });
  result.lambda_min = inverse_max > 0 ? 1.0 / inverse_max : 0.0;
  return result;
}

// Solves with `ridge` by attempt(ridge) (filling eta; `eta_here` is what this rank holds of it),
// retrying with 100 times the ridge, at most 6 times, after a NumericalError (a Cholesky breakdown:
// K numerically indefinite beyond the ridge) or a non-finite eta. `all_ok(ok)` makes the outcome
// the same on every rank that solves together (identity for one rank). The last error is raised.
template <class Attempt, class AllOk>
SolveResult solve_with_growing_ridge(double ridge, std::span<const double> eta_here,
                                     Attempt&& attempt, AllOk&& all_ok) {
  for (int tries = 0;; ++tries) {
    SolveResult result;
    std::exception_ptr failure;
    try {
      result = attempt(ridge);
      for (const double e : eta_here)
        if (!std::isfinite(e)) throw NumericalError("the solution eta is not finite");
    } catch (const NumericalError&) {
      failure = std::current_exception();
    }
    if (all_ok(!failure)) return result;
    if (tries >= 6) {
      if (failure) std::rethrow_exception(failure);
      throw NumericalError("the solution eta is not finite");
    }
    ridge *= 100.0;
  }
}

}  // namespace

PetscSession::PetscSession(const par::Comm& comm, const std::string& options) {
  PetscBool initialized = PETSC_FALSE;
  PetscInitialized(&initialized);
  if (!initialized) {
    PETSC_COMM_WORLD = par::native(comm);
    // ksi installs its own signal handlers (checkpoint on SIGUSR1/SIGTERM).
    KSI_PETSC(PetscOptionsInsertString(nullptr, "-no_signal_handler"));
    KSI_PETSC(PetscInitializeNoArguments());
    owns_ = true;
    PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  }
  if (!options.empty()) {
    const PetscErrorCode code = PetscOptionsInsertString(nullptr, options.c_str());
    if (code != 0) throw UsageError(cat("PETSc options '", options, "' are malformed"));
  }
}

PetscSession::~PetscSession() {
  if (owns_) PetscFinalize();
}

SolveResult solve_normal_equations(const Matrix& K, std::span<const double> h,
                                   double relative_ridge, std::span<double> eta,
                                   std::span<const double> penalty) {
  const std::size_t P = K.rows();
  ensure(K.cols() == P && h.size() == P && eta.size() == P, "solve: shapes do not match");
  ensure(penalty.empty() || penalty.size() == P, "solve: penalty of the wrong size");
  const std::vector<double> extra = absolute_penalty(K, penalty);
  const auto attempt = [&](double ridge) {
    MatHandle A;
    KSI_PETSC(MatCreateSeqDense(PETSC_COMM_SELF, static_cast<PetscInt>(P), static_cast<PetscInt>(P),
                                nullptr, A.out()));
    PetscScalar* a;
    KSI_PETSC(MatDenseGetArrayWrite(A.get(), &a));
    for (std::size_t j = 0; j < P; ++j)
      for (std::size_t i = 0; i < P; ++i)
        a[i + j * P] = (i <= j ? K(i, j) : K(j, i)) + (i == j ? ridge + extra[i] : 0.0);
    KSI_PETSC(MatDenseRestoreArrayWrite(A.get(), &a));
    KSI_PETSC(MatAssemblyBegin(A.get(), MAT_FINAL_ASSEMBLY));
    KSI_PETSC(MatAssemblyEnd(A.get(), MAT_FINAL_ASSEMBLY));
    KSI_PETSC(MatSetOption(A.get(), MAT_SPD, PETSC_TRUE));
    VecHandle b, x;
    KSI_PETSC(VecCreateSeq(PETSC_COMM_SELF, static_cast<PetscInt>(P), b.out()));
    KSI_PETSC(VecDuplicate(b.get(), x.out()));
    PetscScalar* pb;
    KSI_PETSC(VecGetArray(b.get(), &pb));
    for (std::size_t i = 0; i < P; ++i) pb[i] = h[i];
    KSI_PETSC(VecRestoreArray(b.get(), &pb));
    KspHandle ksp;
    make_ksp(PETSC_COMM_SELF, A.get(), ksp.out());
    SolveResult result = solve_and_diagnose(ksp.get(), A.get(), b.get(), x.get(), ridge);
    const PetscScalar* px;
    KSI_PETSC(VecGetArrayRead(x.get(), &px));
    for (std::size_t i = 0; i < P; ++i) eta[i] = px[i];
    KSI_PETSC(VecRestoreArrayRead(x.get(), &px));
    return result;
  };
  return solve_with_growing_ridge(absolute_ridge(K, relative_ridge), eta, attempt,
                                  [](bool ok) { return ok; });
}

SolveResult solve_normal_equations_distributed(const Matrix& K, std::span<const double> h,
                                               double relative_ridge, std::span<double> eta,
                                               const par::Comm& group,
                                               std::span<const double> penalty) {
  const MPI_Comm comm = par::native(group);
  std::int64_t P = group.is_root() ? static_cast<std::int64_t>(K.rows()) : 0;
  group.bcast(P, 0);
  double ridge = 0.0;
  std::vector<double> extra;  // read on the root, which inserts the rows
  std::exception_ptr failure;
  if (group.is_root()) {
    try {
      ensure(penalty.empty() || penalty.size() == K.rows(), "solve: penalty of the wrong size");
      ridge = absolute_ridge(K, relative_ridge);
      extra = absolute_penalty(K, penalty);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  group.raise_if_any(failure);
  group.bcast(ridge, 0);

  // One attempt with `ridge` (collective over the group; eta on the root), retried as the serial
  // solve's (solve_with_growing_ridge), the outcome agreed by the group.
  const auto attempt_with = [&](double ridge) {
    MatHandle A;
    // MatCreateScaLAPACK sets the equal-block PETSc layout that ScaLAPACK's grid requires.
    KSI_PETSC(MatCreateScaLAPACK(comm, PETSC_DECIDE, PETSC_DECIDE, static_cast<PetscInt>(P),
                                 static_cast<PetscInt>(P), 0, 0, A.out()));
    if (group.is_root()) {
      // The root inserts the whole matrix; assembly sends each block to its ScaLAPACK owner.
      std::vector<PetscInt> columns(static_cast<std::size_t>(P));
      std::vector<PetscScalar> row(static_cast<std::size_t>(P));
      for (PetscInt j = 0; j < P; ++j) columns[static_cast<std::size_t>(j)] = j;
      for (std::size_t i = 0; i < static_cast<std::size_t>(P); ++i) {
        for (std::size_t j = 0; j < static_cast<std::size_t>(P); ++j)
          row[j] = (i <= j ? K(i, j) : K(j, i)) + (i == j ? ridge + extra[i] : 0.0);
        const PetscInt r = static_cast<PetscInt>(i);
        KSI_PETSC(MatSetValues(A.get(), 1, &r, static_cast<PetscInt>(P), columns.data(), row.data(),
                               INSERT_VALUES));
      }
    }
    KSI_PETSC(MatAssemblyBegin(A.get(), MAT_FINAL_ASSEMBLY));
    KSI_PETSC(MatAssemblyEnd(A.get(), MAT_FINAL_ASSEMBLY));
    VecHandle x, b;
    KSI_PETSC(MatCreateVecs(A.get(), x.out(), b.out()));
    if (group.is_root()) {
      std::vector<PetscInt> index(static_cast<std::size_t>(P));
      for (PetscInt i = 0; i < P; ++i) index[static_cast<std::size_t>(i)] = i;
      KSI_PETSC(
          VecSetValues(b.get(), static_cast<PetscInt>(P), index.data(), h.data(), INSERT_VALUES));
    }
    KSI_PETSC(VecAssemblyBegin(b.get()));
    KSI_PETSC(VecAssemblyEnd(b.get()));
    KspHandle ksp;
    KSI_PETSC(KSPCreate(comm, ksp.out()));
    KSI_PETSC(KSPSetOperators(ksp.get(), A.get(), A.get()));
    KSI_PETSC(KSPSetType(ksp.get(), KSPPREONLY));
    PC pc;
    KSI_PETSC(KSPGetPC(ksp.get(), &pc));
    KSI_PETSC(PCSetType(pc, PCCHOLESKY));
    KSI_PETSC(PCFactorSetMatSolverType(pc, MATSOLVERSCALAPACK));
    KSI_PETSC(KSPSetOptionsPrefix(ksp.get(), "fit_"));
    KSI_PETSC(KSPSetFromOptions(ksp.get()));
    SolveResult result = solve_and_diagnose(ksp.get(), A.get(), b.get(), x.get(), ridge);
    ScatterHandle scatter;
    VecHandle gathered;
    KSI_PETSC(VecScatterCreateToZero(x.get(), scatter.out(), gathered.out()));
    KSI_PETSC(
        VecScatterBegin(scatter.get(), x.get(), gathered.get(), INSERT_VALUES, SCATTER_FORWARD));
    KSI_PETSC(
        VecScatterEnd(scatter.get(), x.get(), gathered.get(), INSERT_VALUES, SCATTER_FORWARD));
    if (group.is_root()) {
      const PetscScalar* px;
      KSI_PETSC(VecGetArrayRead(gathered.get(), &px));
      for (std::size_t i = 0; i < static_cast<std::size_t>(P); ++i) eta[i] = px[i];
      KSI_PETSC(VecRestoreArrayRead(gathered.get(), &px));
    }
    return result;
  };
  return solve_with_growing_ridge(
      ridge, group.is_root() ? eta.first(static_cast<std::size_t>(P)) : std::span<double>(),
      attempt_with, [&](bool ok) { return group.allreduce_max(ok ? 0.0 : 1.0) == 0.0; });
}

}  // namespace ksi::fit
