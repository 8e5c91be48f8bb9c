// Dynamics::drift_weight is the weight of b in one step of each integrator: the guided passes turn
// a moment error over an interval into a drift correction through it. A step evaluates a drift that
// jumps at its ends on its own interval only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "ksi/interpolant/integrator.hpp"
#include "ksi/interpolant/schedule.hpp"

using namespace ksi;

namespace {

// (X(b + delta) - X(b)) / (h delta) of one step from t0 to t0 + h: the step's weight on b.
double weight_of_step(const Dynamics& dynamics, const Schedule& schedule, double t0, double h) {
  const double delta = 1e-3;
  const auto step = [&](double offset) {
    PathState state = PathState::start(Matrix(1, 3, 0.7));
    const DriftFunction drift = [&](double, Side, const Matrix& X, Matrix& B) {
      B = Matrix(X.rows(), X.cols(), 0.2 + offset);  // a drift that does not depend on X
    };
    const NoiseFunction noise = [](Matrix& xi) { xi.fill(0.0); };
    integrator_step(dynamics, schedule, t0, t0 + h, drift, noise, state);
    return state.X(0, 1);
  };
  return (step(delta) - step(0.0)) / (h * delta);
}

}  // namespace

TEST(DriftWeight, IsTheWeightOfTheDriftInOneStep) {
  const auto schedule = make_schedule("trig");
  for (const double t0 : {0.1, 0.5, 0.9, 0.99}) {
    Dynamics constant;
    constant.integrator = Integrator::constant_sde;
    constant.diffusion = 0.7;
    const double expected = constant.drift_weight(*schedule, t0);
    EXPECT_NEAR(weight_of_step(constant, *schedule, t0, 1e-4), expected, 1e-6 * expected)
        << "t = " << t0;
    // The score's share grows without bound as t -> 1 (it was taken as 1).
    if (t0 >= 0.9) EXPECT_GT(expected, 2.0) << "t = " << t0;
    Dynamics ode;
    ode.integrator = Integrator::ode;
    EXPECT_NEAR(weight_of_step(ode, *schedule, t0, 1e-4), ode.drift_weight(*schedule, t0), 1e-6);
  }
  Dynamics optimal;
  optimal.diffusion_scale = 1.0;
  EXPECT_EQ(optimal.drift_weight(*schedule, 0.5), 2.0);  // the D* SDE's 2 b - (beta'/beta) X
}

// A drift that jumps at t0 (eta constant between grid times): a step on [t0, t1] must see only the
// value of its own interval, so its start is taken from the right and its end from the left. The
// left limit at the start (the interval before) used to enter half of the first Heun step.
TEST(IntegratorStep, EvaluatesAJumpingDriftOnItsOwnInterval) {
  const auto schedule = make_schedule("trig");
  const double t0 = 0.4, t1 = 0.45;
  for (const Integrator integrator :
       {Integrator::optimal_sde, Integrator::ode, Integrator::constant_sde}) {
    std::vector<std::pair<double, Side>> calls;
    // 5 on [t0, t1] (the step's interval), 1 before t0.
    const DriftFunction jumping = [&](double t, Side side, const Matrix& X, Matrix& B) {
      calls.emplace_back(t, side);
      const bool before = t < t0 || (t == t0 && side == Side::left);
      B = Matrix(X.rows(), X.cols(), before ? 1.0 : 5.0);
    };
    const DriftFunction constant = [](double, Side, const Matrix& X, Matrix& B) {
      B = Matrix(X.rows(), X.cols(), 5.0);
    };
    const NoiseFunction noise = [](Matrix& xi) { xi.fill(0.0); };
    Dynamics dynamics;
    dynamics.integrator = integrator;
    PathState a = PathState::start(Matrix(1, 2, 0.3)), b = a;
    // Start both paths at t0 from the same state (Y = beta X for the optimal integrator).
    a.Y = Matrix(1, 2, 0.3 * schedule->beta(t0));
    b.Y = a.Y;
    integrator_step(dynamics, *schedule, t0, t1, jumping, noise, a);
    integrator_step(dynamics, *schedule, t0, t1, constant, noise, b);
    EXPECT_EQ(a.X(0, 0), b.X(0, 0)) << to_string(integrator);
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.front().first, t0);
    EXPECT_EQ(calls.front().second, Side::right) << to_string(integrator);
    if (calls.size() > 1) {
      EXPECT_EQ(calls.back().first, t1);
      EXPECT_EQ(calls.back().second, Side::left) << to_string(integrator);
    }
  }
}

TEST(IntegrationGrid, StepsNeverStraddleABendOfEta) {
  const std::vector<double> times{0.0, 0.1, 0.4, 0.5, 1.0};
  // Linear, step, hybrid: eta bends or jumps at the grid times only.
  const auto plain = integration_grid(times, 10);
  const std::vector<double> want{0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  ASSERT_EQ(plain.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(plain[i], want[i], 1e-15) << i;
  // A quarter ramp: a node where each ramp ends (t_k + (t_{k+1} - t_k) / 4, not on the first
  // interval), each side cut into ceil(10 x its length) steps.
  const auto ramp = integration_grid(times, 10, 0.25);
  for (std::size_t i = 1; i < ramp.size(); ++i) ASSERT_LT(ramp[i - 1], ramp[i]) << i;
  for (const double t : times)
    EXPECT_TRUE(std::find(ramp.begin(), ramp.end(), t) != ramp.end()) << t;
  for (std::size_t k = 1; k + 1 < times.size(); ++k) {
    const double end = times[k] + 0.25 * (times[k + 1] - times[k]);
    EXPECT_TRUE(std::find(ramp.begin(), ramp.end(), end) != ramp.end()) << k;
  }
  EXPECT_TRUE(std::find(ramp.begin(), ramp.end(), 0.025) == ramp.end()) << "row 0 on (t_0, t_1]";
  // (0, .1]: 1 step; (.1, .175], (.175, .4]: 1 + 3; (.4, .425], (.425, .5]: 1 + 1;
  // (.5, .625], (.625, 1]: 2 + 4.
  EXPECT_EQ(ramp.size(), 1u + 1u + 4u + 2u + 6u);
  // A ramp over the whole interval bends at the grid times only.
  const auto whole = integration_grid(times, 10, 1.0);
  ASSERT_EQ(whole.size(), plain.size());
  // Grid times that do not reach 0 and 1 (a model of other times): the grid still spans [0, 1].
  const auto inner = integration_grid({0.2, 0.5}, 4);
  const std::vector<double> spans{0.0, 0.2, 0.35, 0.5, 0.75, 1.0};
  ASSERT_EQ(inner.size(), spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) EXPECT_NEAR(inner[i], spans[i], 1e-15) << i;
}
