#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>

#include "ksi/core/error.hpp"

// Williamson's (1980) three-stage, third-order, two-register Runge-Kutta scheme, as used by the
// pseudo-spectral solvers. For dy/dt = G(t, y), stage s:
//     dy <- A[s] dy + dt G(t + C[s] dt, y),   y <- y + B[s] dy.
// With an integrating factor the solvers advance v = exp(-L (t - t_n)) u, so the stage values of u
// are exp(L C[s] dt) v.

namespace ksi::synth::detail {

inline constexpr int kRkStages = 3;
inline constexpr double kRkA[kRkStages] = {0.0, -5.0 / 9.0, -153.0 / 128.0};
inline constexpr double kRkB[kRkStages] = {1.0 / 3.0, 15.0 / 16.0, 8.0 / 15.0};
inline constexpr double kRkC[kRkStages] = {0.0, 1.0 / 3.0, 3.0 / 4.0};

// The stepping driver the pseudo-spectral solvers share. A solver provides
//     void nonlinear(double shift, bool measure_speed);  // stage tendency at t + shift
//     void update(double a, double b, double dt, double shift, double step, bool last);
//     double max_speed() const;  // largest speed seen by the last measuring nonlinear()
//     double cfl() const;  std::size_t grid() const;  double turnover_time() const;
//     void count_step(double dt);  // time += dt, steps += 1
// and the driver takes the steps: CFL-limited (the speed measured at stage 0) unless dt is fixed.
template <class Solver>
double take_step(Solver& solver, double fixed_dt, double max_dt) {
  double dt = fixed_dt;
  for (int s = 0; s < kRkStages; ++s) {
    const double shift = kRkC[s] * dt;  // kRkC[0] = 0: the first stage needs no dt
    solver.nonlinear(shift, s == 0);
    if (s == 0 && fixed_dt <= 0.0) {
      const double dx = 2.0 * std::numbers::pi / static_cast<double>(solver.grid());
      const double speed = solver.max_speed();
      dt = std::min(speed > 0.0 ? solver.cfl() * dx / speed : max_dt, max_dt);
    }
    solver.update(kRkA[s], kRkB[s], dt, shift, dt, s == kRkStages - 1);
  }
  solver.count_step(dt);
  return dt;
}

// One step of a fixed dt > 0 (`who` names the solver in the error).
template <class Solver>
void fixed_step(Solver& solver, double dt, const char* who) {
  if (!(dt > 0.0) || !std::isfinite(dt))
    throw InternalError(std::string(who) + "::step: dt must be positive");
  take_step(solver, dt, dt);
}

// The CFL time step of the current state (one non-linear evaluation).
template <class Solver>
double stable_time_step(Solver& solver) {
  solver.nonlinear(0.0, true);
  const double dx = 2.0 * std::numbers::pi / static_cast<double>(solver.grid());
  const double speed = solver.max_speed();
  return speed > 0.0 ? solver.cfl() * dx / speed : 1.0;
}

// CFL-limited steps over `duration` (the last one shortened to end on it).
template <class Solver>
void advance(Solver& solver, double duration) {
  double remaining = duration;
  while (remaining > 1e-12 * duration) remaining -= take_step(solver, 0.0, remaining);
}

// CFL-limited steps until `turnovers` large-eddy turnover times (measured as the flow goes) passed.
template <class Solver>
void advance_turnovers(Solver& solver, double turnovers) {
  double done = 0.0;
  while (done < turnovers) {
    const double turnover = solver.turnover_time();
    if (!(turnover > 0.0))
      throw NumericalError("the flow has no energy left: cannot measure turnover times");
    done += take_step(solver, 0.0, 10.0 * turnover) / turnover;
  }
}

}  // namespace ksi::synth::detail
