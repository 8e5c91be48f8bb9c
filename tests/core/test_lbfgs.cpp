// The L-BFGS minimiser against closed-form minima: a convex quadratic (minimum A^-1 b), the
// Rosenbrock function in 2 and 10 dimensions (minimum at all ones, value 0), and a barrier function
// that is not finite beyond its domain. Every accepted iterate must lower the value.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/lbfgs.hpp"

using namespace ksi;

namespace {

// Records the values of the accepted iterates and checks that they decrease strictly.
struct Descent {
  std::vector<double> values;
  LbfgsObserver observer() {
    return [this](const LbfgsIteration& it) {
      EXPECT_EQ(it.iteration, values.size());
      values.push_back(it.value);
    };
  }
  void expect_strictly_decreasing() const {
    for (std::size_t k = 1; k < values.size(); ++k)
      EXPECT_LT(values[k], values[k - 1]) << "iteration " << k;
  }
};

// f = 1/2 (x - c).A(x - c) with A = tridiag(-1, 2 + a_i, -1), a_i from 0.01 to 10: SPD, condition
// number about 10^3; minimum 0 at c. (Written about its minimum, so that values near it keep their
// relative precision and the gradient can be driven to 1e-10.)
struct Quadratic {
  std::size_t n;
  std::vector<double> diagonal, centre;
  explicit Quadratic(std::size_t size) : n(size), diagonal(size), centre(size) {
    for (std::size_t i = 0; i < n; ++i) {
      diagonal[i] = 2.0 + 0.01 * std::pow(1000.0, double(i) / double(n - 1));
      centre[i] = std::sin(0.3 * double(i)) + 0.5;
    }
  }
  double operator()(std::span<const double> x, std::span<double> g) const {
    double f = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      g[i] = diagonal[i] * (x[i] - centre[i]);
      if (i > 0) g[i] -= x[i - 1] - centre[i - 1];
      if (i + 1 < n) g[i] -= x[i + 1] - centre[i + 1];
      f += 0.5 * (x[i] - centre[i]) * g[i];
    }
    return f;
  }
};

double rosenbrock(std::span<const double> x, std::span<double> g) {
  double f = 0.0;
  std::fill(g.begin(), g.end(), 0.0);
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double u = x[i + 1] - x[i] * x[i], v = 1.0 - x[i];
    f += 100.0 * u * u + v * v;
    g[i] += -400.0 * x[i] * u - 2.0 * v;
    g[i + 1] += 200.0 * u;
  }
  return f;
}

}  // namespace

TEST(Lbfgs, ConvexQuadraticReachesItsClosedFormMinimum) {
  Quadratic q(60);
  std::vector<double> x(q.n, 0.0);
  LbfgsOptions options;
  options.gradient_tolerance = 1e-10;
  Descent descent;
  const auto r = minimize_lbfgs(std::cref(q), x, options, descent.observer());
  EXPECT_EQ(r.status, LbfgsStatus::gradient_small);
  EXPECT_LE(r.gradient_norm, 1e-10);
  // |x - c| <= |grad| / lambda_min(A), lambda_min >= 0.01.
  for (std::size_t i = 0; i < q.n; ++i) EXPECT_NEAR(x[i], q.centre[i], 1e-8) << i;
  EXPECT_LT(r.value, 1e-18);
  EXPECT_LT(r.iterations, 200u);
  EXPECT_EQ(descent.values.size(), r.iterations + 1);
  descent.expect_strictly_decreasing();
}

TEST(Lbfgs, RosenbrockMinimumInTwoAndTenDimensions) {
  for (std::size_t n : {2u, 10u}) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = i % 2 == 0 ? -1.2 : 1.0;  // the classical start
    LbfgsOptions options;
    options.gradient_tolerance = 1e-9;
    Descent descent;
    const auto r = minimize_lbfgs(rosenbrock, x, options, descent.observer());
    EXPECT_EQ(r.status, LbfgsStatus::gradient_small) << n;
    for (double v : x) EXPECT_NEAR(v, 1.0, 1e-8) << n;
    EXPECT_LT(r.value, 1e-18) << n;
    EXPECT_LT(r.iterations, 120u) << n;
    descent.expect_strictly_decreasing();
  }
}

TEST(Lbfgs, EveryHistoryLengthConverges) {
  for (std::size_t m : {1u, 3u, 30u}) {
    std::vector<double> x = {-1.2, 1.0};
    LbfgsOptions options;
    options.history = m;
    options.gradient_tolerance = 1e-9;
    Descent descent;
    const auto r = minimize_lbfgs(rosenbrock, x, options, descent.observer());
    EXPECT_EQ(r.status, LbfgsStatus::gradient_small) << m;
    EXPECT_NEAR(x[0], 1.0, 1e-8) << m;
    EXPECT_NEAR(x[1], 1.0, 1e-8) << m;
    descent.expect_strictly_decreasing();
  }
}

TEST(Lbfgs, StopsAtTheValueTargetAndTheIterationLimit) {
  std::vector<double> x = {-1.2, 1.0};
  LbfgsOptions options;
  options.value_target = 1e-4;
  auto r = minimize_lbfgs(rosenbrock, x, options);
  EXPECT_EQ(r.status, LbfgsStatus::value_reached);
  EXPECT_LE(r.value, 1e-4);
  EXPECT_GT(r.value, 0.0);

  x = {-1.2, 1.0};
  options = LbfgsOptions{};
  options.max_iterations = 5;
  r = minimize_lbfgs(rosenbrock, x, options);
  EXPECT_EQ(r.status, LbfgsStatus::max_iterations);
  EXPECT_EQ(r.iterations, 5u);
}

TEST(Lbfgs, ShortensStepsIntoRegionsWhereTheFunctionIsNotFinite) {
  // f = x - log x on x > 0 (minimum 1 at x = 1), NaN elsewhere: steps that overshoot past 0 are
  // cut back by the line search. Near x = 1, f - 1 ~ (x - 1)^2 / 2 is resolved in double down to
  // |x - 1| ~ 1e-8, so the gradient tolerance is 1e-7.
  const ValueAndGradient barrier = [](std::span<const double> x, std::span<double> g) {
    g[0] = 1.0 - 1.0 / x[0];
    return x[0] - std::log(x[0]);
  };
  std::vector<double> x = {30.0};
  LbfgsOptions options;
  options.gradient_tolerance = 1e-7;
  Descent descent;
  const auto r = minimize_lbfgs(barrier, x, options, descent.observer());
  EXPECT_EQ(r.status, LbfgsStatus::gradient_small);
  EXPECT_NEAR(x[0], 1.0, 2e-7);
  EXPECT_NEAR(r.value, 1.0, 1e-13);
  descent.expect_strictly_decreasing();
}

TEST(Lbfgs, RejectsBadOptionsAndANonFiniteStart) {
  std::vector<double> x = {1.0, 2.0};
  const auto expect_usage = [&](LbfgsOptions options) {
    EXPECT_THROW(minimize_lbfgs(rosenbrock, x, options), UsageError);
  };
  LbfgsOptions o;
  o.history = 0;
  expect_usage(o);
  o = {};
  o.max_iterations = 0;
  expect_usage(o);
  o = {};
  o.curvature = 1e-5;  // below sufficient_decrease
  expect_usage(o);
  o = {};
  o.gradient_tolerance = -1.0;
  expect_usage(o);
  const ValueAndGradient nan = [](std::span<const double>, std::span<double> g) {
    std::fill(g.begin(), g.end(), 0.0);
    return std::numeric_limits<double>::quiet_NaN();
  };
  EXPECT_THROW(minimize_lbfgs(nan, x, LbfgsOptions{}), NumericalError);
}
