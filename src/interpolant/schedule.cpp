#include "ksi/interpolant/schedule.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {
namespace {

// 16-point Gauss-Legendre nodes and weights on [-1, 1] (positive half; symmetric).
constexpr std::array<double, 8> kNodes = {0.0950125098376374401853193, 0.2816035507792589132304605,
                                          0.4580167776572273863424194, 0.6178762444026437484466718,
                                          0.7554044083550030338951012, 0.8656312023878317438804679,
                                          0.9445750230732325760779884, 0.9894009349916499325961542};
constexpr std::array<double, 8> kWeights = {
    0.1894506104550684962853967, 0.1826034150449235888667637, 0.1691565193950025381893121,
    0.1495959888165767320815017, 0.1246289712555338720524763, 0.0951585116824927848099251,
    0.0622535239386478928628438, 0.0271524594117540948517806};

}  // namespace

double Schedule::optimal_diffusion(double t) const {
  const double b = beta(t);
  if (b <= 0.0) return std::numeric_limits<double>::infinity();
  return alpha(t) * gamma(t) / b;
}

StepIntegrals Schedule::step_integrals(double t0, double t1) const {
  const double h = t1 - t0;
  const double mid = 0.5 * (t0 + t1);
  StepIntegrals s;
  for (std::size_t i = 0; i < kNodes.size(); ++i) {
    for (double sign : {-1.0, 1.0}) {
      const double u = mid + sign * 0.5 * h * kNodes[i];
      const double w = 0.5 * h * kWeights[i];
      const double b = beta(u);
      s.w0 += w * b * (t1 - u) / h;
      s.w1 += w * b * (u - t0) / h;
      s.v += w * 2.0 * alpha(u) * b * gamma(u);
    }
  }
  return s;
}

StepIntegrals Schedule::scaled_step_integrals(double t0, double t1, double scale) const {
  if (scale == 1.0) return step_integrals(t0, t1);
  if (!(scale >= 0.5))
    throw UsageError(cat("the diffusion scale must be at least 0.5, not ", scale));
  const double h = t1 - t0;
  const double mid = 0.5 * (t0 + t1);
  StepIntegrals s;
  for (std::size_t i = 0; i < kNodes.size(); ++i) {
    for (double sign : {-1.0, 1.0}) {
      const double u = mid + sign * 0.5 * h * kNodes[i];
      const double w = 0.5 * h * kWeights[i];
      const double b = std::max(beta(u), 0.0);
      const double bl = std::pow(b, scale);
      s.w0 += w * bl * (t1 - u) / h;
      s.w1 += w * bl * (u - t0) / h;
      s.v += w * 2.0 * scale * alpha(u) * gamma(u) * std::pow(b, 2.0 * scale - 1.0);
    }
  }
  return s;
}

StepIntegrals LinearSchedule::step_integrals(double t0, double t1) const {
  // Closed forms with the factor h taken out analytically (no cancellation for small steps).
  const double h = t1 - t0;
  StepIntegrals s;
  s.w0 = h * (t1 + 2.0 * t0) / 6.0;
  s.w1 = h * (2.0 * t1 + t0) / 6.0;
  s.v = h * (t1 + t0) - 2.0 * h * (t1 * t1 + t1 * t0 + t0 * t0) / 3.0;
  return s;
}

namespace {
constexpr double kHalfPi = 0.5 * std::numbers::pi;
}

double TrigonometricSchedule::alpha(double t) const {
  return std::cos(kHalfPi * t);
}
double TrigonometricSchedule::beta(double t) const {
  return std::sin(kHalfPi * t);
}
double TrigonometricSchedule::alpha_dot(double t) const {
  return -kHalfPi * std::sin(kHalfPi * t);
}
double TrigonometricSchedule::beta_dot(double t) const {
  return kHalfPi * std::cos(kHalfPi * t);
}

std::vector<std::string> schedule_names() {
  return {"linear", "trig"};
}

std::unique_ptr<Schedule> make_schedule(const std::string& name, const Params&) {
  if (name == "linear") return std::make_unique<LinearSchedule>();
  if (name == "trig" || name == "trigonometric") return std::make_unique<TrigonometricSchedule>();
  throw UsageError(cat("unknown interpolant schedule '", name, "' (known: linear, trig)"));
}

}  // namespace ksi
