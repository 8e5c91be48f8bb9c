#pragma once
/// @file
/// Interpolant schedules I_t = alpha_t z + beta_t x1 (METHOD section 1) and the step integrals of
/// the D* integrator (METHOD section 3).

#include <memory>
#include <string>
#include <vector>

#include "ksi/core/params.hpp"

namespace ksi {

/// Integrals over one step [t0, t1] of the Y = beta X integrator, h = t1 - t0:
/// w0 = int beta_u (t1 - u)/h du, w1 = int beta_u (u - t0)/h du, v = int 2 alpha_u beta_u gamma_u
/// du.
struct StepIntegrals {
  double w0 = 0.0;
  double w1 = 0.0;
  double v = 0.0;
};

/// alpha, beta with alpha_0 = 1, beta_0 = 0, alpha_1 = 0, beta_1 = 1 and gamma > 0 on (0, 1).
class Schedule {
 public:
  virtual ~Schedule() = default;

  /// Name as stored in model files and accepted by `--schedule`.
  virtual std::string name() const = 0;
  virtual double alpha(double t) const = 0;
  virtual double beta(double t) const = 0;
  virtual double alpha_dot(double t) const = 0;
  virtual double beta_dot(double t) const = 0;

  /// gamma_t = alpha_t beta'_t - alpha'_t beta_t.
  double gamma(double t) const { return alpha(t) * beta_dot(t) - alpha_dot(t) * beta(t); }
  /// The optimal diffusion D*_t = alpha_t gamma_t / beta_t (infinite at t = 0).
  double optimal_diffusion(double t) const;

  /// w0, w1, v of one step. The default uses 16-point Gauss-Legendre quadrature, exact to
  /// round-off for the smooth schedules here; schedules override it with closed forms.
  virtual StepIntegrals step_integrals(double t0, double t1) const;
  /// The integrals of the SDE with a multiple `scale` of D* in the form Y = beta^scale X
  /// (integrator.hpp): w0, w1 with beta^scale in place of beta, v = int 2 scale alpha gamma
  /// beta^(2 scale - 1). scale 1 is step_integrals; scale must be at least 1/2 (the integrand of v
  /// is then bounded at t = 0).
  StepIntegrals scaled_step_integrals(double t0, double t1, double scale) const;

  /// Parameters that, with name(), rebuild this schedule through make_schedule.
  virtual Params params() const { return {}; }
};

/// alpha = 1 - t, beta = t, gamma = 1.
class LinearSchedule final : public Schedule {
 public:
  std::string name() const override { return "linear"; }
  double alpha(double t) const override { return 1.0 - t; }
  double beta(double t) const override { return t; }
  double alpha_dot(double) const override { return -1.0; }
  double beta_dot(double) const override { return 1.0; }
  StepIntegrals step_integrals(double t0, double t1) const override;
};

/// alpha = cos(pi t / 2), beta = sin(pi t / 2), gamma = pi / 2.
class TrigonometricSchedule final : public Schedule {
 public:
  std::string name() const override { return "trig"; }
  double alpha(double t) const override;
  double beta(double t) const override;
  double alpha_dot(double t) const override;
  double beta_dot(double t) const override;
};

/// Builds a schedule from its name ("linear", "trig"); UsageError for an unknown name.
std::unique_ptr<Schedule> make_schedule(const std::string& name, const Params& params = {});
/// Names make_schedule accepts.
std::vector<std::string> schedule_names();

}  // namespace ksi
