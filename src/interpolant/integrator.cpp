#include "ksi/interpolant/integrator.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {
namespace {

void check_finite(const Matrix& X, double t) {
  for (double v : X.values())
    if (!std::isfinite(v))
      throw NumericalError(sformat("a sample became non-finite at t = %.4f (try more --steps)", t));
}

// D = lambda D* SDE in Y = beta^lambda X form with the Heun corrector (METHOD section 3 for
// lambda = 1, where the weights are those of Schedule::step_integrals and b enters as 2 b).
void step_optimal(const Schedule& s, double lambda, double t0, double t1,
                  const DriftFunction& drift, const NoiseFunction& noise, PathState& state) {
  Matrix& X = state.X;
  Matrix& Y = state.Y;
  const std::size_t n = X.rows(), d = X.cols();
  const StepIntegrals w = s.scaled_step_integrals(t0, t1, lambda);
  const double sv = std::sqrt(std::max(w.v, 0.0));
  const double b1 = lambda == 1.0 ? s.beta(t1) : std::pow(s.beta(t1), lambda);
  const double c = 1.0 + lambda;
  Matrix B0, B1, Xs(n, d), xi(n, d);
  noise(xi);
  drift(t0, Side::right, X, B0);
  for (std::size_t q = 0; q < X.size(); ++q)
    Xs.data()[q] = (Y.data()[q] + c * B0.data()[q] * (w.w0 + w.w1) + sv * xi.data()[q]) / b1;
  drift(t1, Side::left, Xs, B1);
  for (std::size_t q = 0; q < X.size(); ++q) {
    Y.data()[q] += c * (B0.data()[q] * w.w0 + B1.data()[q] * w.w1) + sv * xi.data()[q];
    X.data()[q] = Y.data()[q] / b1;
  }
}

// Probability-flow ODE dX = b dt, Heun.
void step_ode(double t0, double t1, const DriftFunction& drift, PathState& state) {
  Matrix& X = state.X;
  const double h = t1 - t0;
  Matrix B0, B1, Xs(X.rows(), X.cols());
  drift(t0, Side::right, X, B0);
  for (std::size_t q = 0; q < X.size(); ++q) Xs.data()[q] = X.data()[q] + h * B0.data()[q];
  drift(t1, Side::left, Xs, B1);
  for (std::size_t q = 0; q < X.size(); ++q) X.data()[q] += 0.5 * h * (B0.data()[q] + B1.data()[q]);
}

// dX = [b + D s] dt + sqrt(2 D) dW with s = (beta b - beta' x) / (alpha gamma), Euler-Maruyama.
// The drift is evaluated at the left end of each step, so alpha_t > 0 wherever s is used.
void step_constant(const Schedule& s, double D, double t0, double t1, const DriftFunction& drift,
                   const NoiseFunction& noise, PathState& state) {
  Matrix& X = state.X;
  const double h = t1 - t0;
  const double a = s.alpha(t0), b = s.beta(t0), bd = s.beta_dot(t0), g = s.gamma(t0);
  Matrix B, xi(X.rows(), X.cols());
  noise(xi);
  drift(t0, Side::right, X, B);
  const double sd = std::sqrt(2.0 * D * h);
  for (std::size_t q = 0; q < X.size(); ++q) {
    const double x = X.data()[q], bq = B.data()[q];
    const double score = (b * bq - bd * x) / (a * g);
    X.data()[q] = x + h * (bq + D * score) + sd * xi.data()[q];
  }
}

}  // namespace

Integrator parse_integrator(const std::string& name) {
  return parse_choice<Integrator>("integrator", name,
                                  {{"optimal", Integrator::optimal_sde},
                                   {"dstar", Integrator::optimal_sde},
                                   {"sde", Integrator::optimal_sde},
                                   {"ode", Integrator::ode},
                                   {"constant", Integrator::constant_sde}});
}

std::string to_string(Integrator integrator) {
  switch (integrator) {
    case Integrator::optimal_sde:
      return "optimal";
    case Integrator::ode:
      return "ode";
    case Integrator::constant_sde:
      return "constant";
  }
  return "?";
}

PathState PathState::start(Matrix X0) {
  PathState state;
  state.Y = Matrix(X0.rows(), X0.cols(), 0.0);
  state.X = std::move(X0);
  return state;
}

void Dynamics::validate(const std::string& prefix) const {
  if (!(diffusion >= 0.0) || !std::isfinite(diffusion))
    throw UsageError(cat("--", prefix, "diffusion must be non-negative"));
  if (!(diffusion_scale >= 0.5) || !std::isfinite(diffusion_scale))
    throw UsageError(
        cat("--", prefix, "diffusion-scale must be at least 0.5, not ", diffusion_scale));
}

double Dynamics::drift_weight(const Schedule& schedule, double t) const {
  switch (integrator) {
    case Integrator::optimal_sde:
      return 1.0 + diffusion_scale;
    case Integrator::ode:
      return 1.0;
    case Integrator::constant_sde:
      return 1.0 + diffusion * schedule.beta(t) / (schedule.alpha(t) * schedule.gamma(t));
  }
  return 1.0;
}

void integrator_step(const Dynamics& dynamics, const Schedule& schedule, double t0, double t1,
                     const DriftFunction& drift, const NoiseFunction& noise, PathState& state) {
  switch (dynamics.integrator) {
    case Integrator::optimal_sde:
      step_optimal(schedule, dynamics.diffusion_scale, t0, t1, drift, noise, state);
      break;
    case Integrator::ode:
      step_ode(t0, t1, drift, state);
      break;
    case Integrator::constant_sde:
      step_constant(schedule, dynamics.diffusion, t0, t1, drift, noise, state);
      break;
  }
  check_finite(state.X, t1);
}

std::vector<double> integration_grid(const std::vector<double>& times, std::size_t steps,
                                     double ramp_fraction) {
  std::vector<double> grid{0.0};
  // Equal steps from the last node to b (clipped to 1), b included: ceil(steps (b - a)) of them,
  // at least one; nothing where b is not past the last node.
  const auto cut = [&](double b) {
    const double a = grid.back();
    b = std::min(b, 1.0);
    if (!(b > a)) return;
    const auto n = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(static_cast<double>(steps) * (b - a) - 1e-9)));
    for (std::size_t i = 1; i < n; ++i) grid.push_back(a + (b - a) * static_cast<double>(i) / n);
    grid.push_back(b);
  };
  const bool ramp = ramp_fraction > 0.0 && ramp_fraction < 1.0;
  if (!times.empty()) cut(times.front());
  for (std::size_t k = 0; k + 1 < times.size(); ++k) {
    // Ramp eta bends at t_k + f (t_{k+1} - t_k) too (not on the first interval, which holds row 0).
    if (ramp && k > 0) cut(times[k] + ramp_fraction * (times[k + 1] - times[k]));
    cut(times[k + 1]);
  }
  cut(1.0);
  return grid;
}

}  // namespace ksi
