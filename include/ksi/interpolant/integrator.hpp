#pragma once
/// @file
/// One step of the generative dynamics (METHOD section 3) for a batch of paths, given the drift as
/// a function: the D* SDE in the Y = beta X form with its Heun corrector, the probability-flow ODE
/// (Heun), and a constant diffusion (Euler-Maruyama). The sampler, the spectral calibration and the
/// guided passes of the fit step paths with it; the caller owns the drift and the noise streams.

#include <functional>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/interpolant/schedule.hpp"

namespace ksi {

enum class Integrator {
  optimal_sde,   ///< D* diffusion in the Y = beta X form, Heun predictor-corrector (default)
  ode,           ///< probability-flow ODE (D = 0), Heun
  constant_sde,  ///< constant diffusion D, Euler-Maruyama on the original equation
};
/// "optimal" (also "dstar", "sde"), "ode", "constant"; UsageError otherwise.
Integrator parse_integrator(const std::string& name);
std::string to_string(Integrator integrator);

/// Which one-sided limit a drift that jumps at some times (eta constant between grid times) takes
/// at such a time: a step on [t0, t1] evaluates its start from the right and its end from the left,
/// so it sees only the drift of its own interval.
enum class Side { left, right };
/// B = b_t(X) for every row of X, the limit from `side` where b jumps at t.
using DriftFunction = std::function<void(double t, Side side, const Matrix& X, Matrix& B)>;
/// Fills xi (one row per path) with standard normals, each row from its own path's stream.
using NoiseFunction = std::function<void(Matrix& xi)>;

/// The state of a batch of paths (rows): X, and for the optimal integrator Y = beta_t^lambda X (Y =
/// 0 at t = 0, where X is the initial draw that D* = infinity forgets).
struct PathState {
  Matrix X;
  Matrix Y;
  /// Paths starting at t = 0 from X0 (rows).
  static PathState start(Matrix X0);
};

/// How paths are integrated: the integrator, D of the constant-diffusion SDE, and the multiple
/// lambda of D* of the optimal one. With D = lambda D* the SDE dX = [(1 + lambda) b -
/// lambda (beta'/beta) X] dt + sqrt(2 lambda alpha gamma / beta) dW keeps the interpolant's
/// marginals for exact b; in Y = beta^lambda X it has no singular term, dY = (1 + lambda)
/// beta^lambda b dt + beta^lambda sqrt(2 lambda alpha gamma / beta) dW, and is stepped like D*
/// (lambda = 1) with the step integrals of Schedule::scaled_step_integrals. lambda > 1 adds noise
/// (and a stronger pull of the score), lambda < 1 less (at least 1/2).
struct Dynamics {
  Integrator integrator = Integrator::optimal_sde;
  double diffusion = 1.0;        ///< D of Integrator::constant_sde
  double diffusion_scale = 1.0;  ///< lambda of Integrator::optimal_sde
  /// UsageError for a negative D or lambda below 1/2, naming `--<prefix>diffusion` or
  /// `--<prefix>diffusion-scale`.
  void validate(const std::string& prefix = "") const;
  /// The weight of b in dX at time t: 1 + lambda (optimal), 1 (ode), 1 + D beta_t / (alpha_t
  /// gamma_t) (constant: the score's share, which grows without bound as t -> 1; take it inside an
  /// interval, not at t = 1).
  double drift_weight(const Schedule& schedule, double t) const;
};

/// Advances `state` from t0 to t1 (one step). The noise is drawn once per step (optimal and
/// constant integrators), so a path's numbers are consumed in the same order whatever its batch.
/// NumericalError if a value becomes non-finite.
void integrator_step(const Dynamics& dynamics, const Schedule& schedule, double t0, double t1,
                     const DriftFunction& drift, const NoiseFunction& noise, PathState& state);

/// The steps of paths through a drift that bends or jumps at known times (a model's grid times,
/// the ends of ramp eta): the nodes 0, every grid time in (0, 1) and 1, each span between nodes
/// cut into ceil(steps x its length) equal steps (at least one). With `ramp_fraction` f in (0, 1)
/// (ramp eta) every interval (t_k, t_{k+1}] but the first also has a node where its ramp ends,
/// t_k + f (t_{k+1} - t_k). No step straddles a bend: a Heun step whose predictor and corrector
/// see two pieces of eta(t) takes an update at once (a quarter ramp inside one step diverged in
/// the guided passes, docs/fidelity.md). `times` ascending. The guided passes and the sampler
/// (SampleOptions::step_grid) step through this grid, so a sampler of the guide's step count
/// integrates the model the guide measured.
std::vector<double> integration_grid(const std::vector<double>& times, std::size_t steps,
                                     double ramp_fraction = 0.0);

}  // namespace ksi
