#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/interpolant/schedule.hpp"

namespace {

// Composite Simpson on a fine grid: an independent reference for the step integrals.
template <class F>
double simpson(F f, double a, double b, int n = 2000) {
  const double h = (b - a) / n;
  double s = f(a) + f(b);
  for (int i = 1; i < n; ++i) s += f(a + i * h) * (i % 2 ? 4.0 : 2.0);
  return s * h / 3.0;
}

class AllSchedules : public testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(AllSchedules, EndpointsAndPositiveGamma) {
  const auto s = ksi::make_schedule(GetParam());
  EXPECT_NEAR(s->alpha(0.0), 1.0, 1e-15);
  EXPECT_NEAR(s->beta(0.0), 0.0, 1e-15);
  EXPECT_NEAR(s->alpha(1.0), 0.0, 1e-15);
  EXPECT_NEAR(s->beta(1.0), 1.0, 1e-15);
  for (double t = 0.0; t <= 1.0; t += 0.05) EXPECT_GT(s->gamma(t), 0.0) << t;
  EXPECT_TRUE(std::isinf(s->optimal_diffusion(0.0)));
  EXPECT_NEAR(s->optimal_diffusion(1.0), 0.0, 1e-15);
}

TEST_P(AllSchedules, DerivativesMatchFiniteDifferences) {
  const auto s = ksi::make_schedule(GetParam());
  const double e = 1e-6;
  for (double t = 0.1; t < 0.95; t += 0.1) {
    EXPECT_NEAR(s->alpha_dot(t), (s->alpha(t + e) - s->alpha(t - e)) / (2 * e), 1e-8);
    EXPECT_NEAR(s->beta_dot(t), (s->beta(t + e) - s->beta(t - e)) / (2 * e), 1e-8);
  }
}

TEST_P(AllSchedules, StepIntegralsMatchIndependentQuadrature) {
  const auto s = ksi::make_schedule(GetParam());
  for (auto [t0, t1] : {std::pair{0.0, 0.05}, std::pair{0.3, 0.45}, std::pair{0.9, 1.0},
                        std::pair{0.0, 1.0}, std::pair{0.5, 0.5001}}) {
    const double h = t1 - t0;
    const auto w = s->step_integrals(t0, t1);
    const double w0 = simpson([&](double u) { return s->beta(u) * (t1 - u) / h; }, t0, t1);
    const double w1 = simpson([&](double u) { return s->beta(u) * (u - t0) / h; }, t0, t1);
    const double v =
        simpson([&](double u) { return 2 * s->alpha(u) * s->beta(u) * s->gamma(u); }, t0, t1);
    const double scale = std::max(h, 1e-300);
    EXPECT_NEAR(w.w0, w0, 1e-12 * scale + 1e-15) << t0 << " " << t1;
    EXPECT_NEAR(w.w1, w1, 1e-12 * scale + 1e-15) << t0 << " " << t1;
    EXPECT_NEAR(w.v, v, 1e-12 * scale + 1e-15) << t0 << " " << t1;
  }
}

INSTANTIATE_TEST_SUITE_P(Schedules, AllSchedules, testing::Values("linear", "trig"));

TEST(Schedule, TrigonometricClosedForms) {
  // gamma = pi / 2 and v = (cos(pi t0) - cos(pi t1)) / 2 for alpha = cos, beta = sin.
  const auto s = ksi::make_schedule("trig");
  EXPECT_NEAR(s->gamma(0.37), std::numbers::pi / 2, 1e-15);
  const auto w = s->step_integrals(0.2, 0.35);
  EXPECT_NEAR(w.v, 0.5 * (std::cos(std::numbers::pi * 0.2) - std::cos(std::numbers::pi * 0.35)),
              1e-14);
}

TEST(Schedule, UnknownNameIsAUsageError) {
  EXPECT_THROW(ksi::make_schedule("cosine"), ksi::UsageError);
}
