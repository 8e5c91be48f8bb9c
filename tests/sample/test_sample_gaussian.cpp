// The integrators of METHOD section 3 on a Gaussian target: with the exact drift (a polynomial
// model whose eta is the closed form) the D* Heun scheme converges as METHOD reports, and a fitted
// model reproduces the target's mean and covariance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "gaussian_reference.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/sample/sample.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

double covariance_error(const Matrix& samples, const synth::Gaussian& g) {
  return test::relative_difference(test::covariance_of(samples), g.covariance);
}

double mean_error(const Matrix& samples, const synth::Gaussian& g) {
  const auto m = test::mean_of(samples);
  double num = 0, trace = 0;
  for (std::size_t k = 0; k < m.size(); ++k) {
    num += (m[k] - g.mean[k]) * (m[k] - g.mean[k]);
    trace += g.covariance(k, k);
  }
  return std::sqrt(num / trace);  // in units of the typical standard deviation
}

Matrix draw(const Model& model, sample::Integrator integrator, std::size_t steps, std::size_t n,
            double diffusion = 1.0) {
  sample::SampleOptions options;
  options.steps = steps;
  options.integrator = integrator;
  options.diffusion = diffusion;
  options.batch = 4096;
  options.seed = 11;
  return sample::generate(model, options, 0, n);
}

}  // namespace

TEST(OptimalSde, ConvergesWithStepsOnTheExactDrift) {
  const auto g = synth::random_gaussian(3, 5);
  const Model exact = test::exact_gaussian_model(g, "linear", 2001);
  const std::size_t n = 200000;  // sampling error of the covariance ~ 0.3%
  const double e5 = covariance_error(draw(exact, sample::Integrator::optimal_sde, 5, n), g);
  const double e10 = covariance_error(draw(exact, sample::Integrator::optimal_sde, 10, n), g);
  const double e20 = covariance_error(draw(exact, sample::Integrator::optimal_sde, 20, n), g);
  std::printf("D* Heun relative covariance error: %.4f (5 steps) %.4f (10) %.4f (20)\n", e5, e10,
              e20);
  // METHOD section 3 reports 0.054, 0.010, 0.005 on its d = 3 check.
  EXPECT_LT(e5, 0.10);
  EXPECT_LT(e10, 0.03);
  EXPECT_LT(e20, 0.012);
  EXPECT_GT(e5, e20);
  EXPECT_LT(mean_error(draw(exact, sample::Integrator::optimal_sde, 20, n), g), 0.01);
}

TEST(OptimalSde, ReproducesTheConvergenceFiguresOfMethodSection3) {
  // A standard normal target in d = 3: METHOD reports 0.054, 0.010 and 0.005 for 5, 10 and 20
  // steps.
  const auto g = synth::make_gaussian({0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  const Model exact = test::exact_gaussian_model(g, "linear", 2001);
  const std::size_t n = 400000;
  const double e5 = covariance_error(draw(exact, sample::Integrator::optimal_sde, 5, n), g);
  const double e10 = covariance_error(draw(exact, sample::Integrator::optimal_sde, 10, n), g);
  const double e20 = covariance_error(draw(exact, sample::Integrator::optimal_sde, 20, n), g);
  std::printf("N(0, I): %.4f (5 steps) %.4f (10) %.4f (20)\n", e5, e10, e20);
  EXPECT_NEAR(e5, 0.054, 0.015);
  EXPECT_NEAR(e10, 0.010, 0.007);
  EXPECT_NEAR(e20, 0.005, 0.003);
}

TEST(OptimalSde, TrigonometricScheduleToo) {
  const auto g = synth::random_gaussian(4, 6);
  const Model exact = test::exact_gaussian_model(g, "trig", 2001);
  const Matrix x = draw(exact, sample::Integrator::optimal_sde, 40, 100000);
  EXPECT_LT(covariance_error(x, g), 0.015);
  EXPECT_LT(mean_error(x, g), 0.01);
}

TEST(OptimalSde, AnyMultipleOfTheOptimalDiffusionKeepsTheTarget) {
  // D = lambda D* in Y = beta^lambda X: the same law for exact b, more or less noise on the way.
  const auto g = synth::random_gaussian(3, 9);
  const Model exact = test::exact_gaussian_model(g, "trig", 2001);
  for (const double lambda : {0.5, 2.0, 4.0}) {
    sample::SampleOptions options;
    options.steps = 60;
    options.diffusion_scale = lambda;
    options.batch = 4096;
    options.seed = 12;
    const Matrix x = sample::generate(exact, options, 0, 100000);
    EXPECT_LT(covariance_error(x, g), 0.02) << "lambda " << lambda;
    EXPECT_LT(mean_error(x, g), 0.01) << "lambda " << lambda;
  }
  // A wrong weight of the drift (b instead of (1 + lambda) b) would miss the covariance by far: the
  // check can fail. And lambda below 1/2 is refused.
  sample::SampleOptions bad;
  bad.diffusion_scale = 0.25;
  EXPECT_THROW(sample::generate(exact, bad, 0, 4), UsageError);
}

TEST(ProbabilityFlowOde, ReproducesTheTarget) {
  const auto g = synth::random_gaussian(3, 7);
  const Model exact = test::exact_gaussian_model(g, "linear", 2001);
  const Matrix x = draw(exact, sample::Integrator::ode, 40, 100000);
  EXPECT_LT(covariance_error(x, g), 0.015);
  EXPECT_LT(mean_error(x, g), 0.01);
}

TEST(ConstantDiffusion, ReproducesTheTargetWithEnoughSteps) {
  const auto g = synth::random_gaussian(3, 8);
  const Model exact = test::exact_gaussian_model(g, "linear", 2001);
  const Matrix x = draw(exact, sample::Integrator::constant_sde, 400, 100000, 0.5);
  EXPECT_LT(covariance_error(x, g), 0.03);
  EXPECT_LT(mean_error(x, g), 0.02);
}

TEST(Sampling, SamplesDependOnlyOnSeedAndId) {
  const auto g = synth::random_gaussian(2, 9);
  const Model exact = test::exact_gaussian_model(g, "linear", 11);
  sample::SampleOptions options;
  options.steps = 7;
  options.batch = 1;  // one sample per batch: no BLAS blocking differences
  const Matrix all = sample::generate(exact, options, 0, 10);
  const Matrix tail = sample::generate(exact, options, 6, 4);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t k = 0; k < 2; ++k) EXPECT_EQ(all(6 + i, k), tail(i, k));
  options.seed = 2;
  const Matrix other = sample::generate(exact, options, 0, 10);
  EXPECT_NE(all(0, 0), other(0, 0));
}

TEST(FittedModel, TwentyThousandSamplesReproduceCovarianceAndMean) {
  const auto& comm = test::World::comm();
  for (std::size_t d : {3u, 8u}) {
    const auto g = synth::random_gaussian(d, 30 + d);
    const std::size_t items = 20000;
    const auto range = par::block_range(items, comm.rank(), comm.size());
    const Matrix local = synth::draw_gaussian(g, 3, range.begin, range.size());
    fit::FitOptions options;
    options.times = 21;
    options.draws = 2;
    const Model model =
        fit::fit_model(local, range.begin, items,
                       std::make_unique<features::PolynomialFeatures>(ItemShape::vector(d)),
                       ItemShape::vector(d), Standardization{}, options, comm);
    const Matrix x = draw(model, sample::Integrator::optimal_sde, 20, 20000);
    EXPECT_LT(covariance_error(x, g), 0.04) << "d = " << d;
    EXPECT_LT(mean_error(x, g), 0.03) << "d = " << d;
  }
}

// A drift that does not depend on x and jumps (step eta) or ramps between grid times: an ODE path
// moves by the integral of b, which Heun steps get exactly on the model's grid (b is constant or
// linear on every step) and not with equal steps, one of which straddles the bend at t = 0.37.
TEST(StepGrid, NoStepStraddlesABendOfEta) {
  const std::vector<double> times{0.0, 0.37, 1.0};
  const auto model_with = [&](double drift_before, double drift_after,
                              EtaInterpolation interpolation) {
    // One coordinate, features (x, x^2): b = eta_x. Row 0 holds on (0, 0.37), row 1 after (step)
    // or from the end of a half-interval ramp on (ramp).
    Matrix eta(3, 2, 0.0);
    eta(0, 0) = drift_before;
    eta(1, 0) = eta(2, 0) = drift_after;
    Model m(std::make_unique<features::PolynomialFeatures>(ItemShape::vector(1)),
            make_schedule("linear"), ItemShape::vector(1), Standardization{}, times,
            std::move(eta));
    m.set_eta_interpolation(interpolation);
    if (interpolation == EtaInterpolation::ramp) m.set_eta_ramp_fraction(0.5);
    return m;
  };
  sample::SampleOptions options;
  options.steps = 10;
  options.integrator = sample::Integrator::ode;
  options.seed = 5;
  for (const EtaInterpolation interpolation : {EtaInterpolation::step, EtaInterpolation::ramp}) {
    const Model model = model_with(1.0, -2.0, interpolation);
    // The integral of b by the midpoint rule on cells of 1e-5, whose edges hold both bends (0.37
    // and the ramp's end 0.685): exact for b constant or linear on each cell.
    const std::size_t cells = 100000;
    double integral = 0.0;
    Matrix x(1, 1, 0.0), b;
    for (std::size_t i = 0; i < cells; ++i) {
      model.drift((static_cast<double>(i) + 0.5) / cells, x, b);
      integral += b(0, 0) / cells;
    }
    const Matrix start =
        sample::generate_states(model_with(0.0, 0.0, interpolation), options, 0, 3);
    const auto moved = [&](sample::StepGrid grid) {
      sample::SampleOptions o = options;
      o.step_grid = grid;
      const Matrix end = sample::generate_states(model, o, 0, 3);
      double worst = 0.0;
      for (std::size_t i = 0; i < 3; ++i)
        worst = std::max(worst, std::abs(end(i, 0) - start(i, 0) - integral));
      return worst;
    };
    const std::string name = to_string(interpolation);
    EXPECT_LT(moved(sample::StepGrid::model), 1e-9) << name;
    EXPECT_GT(moved(sample::StepGrid::uniform), 1e-3) << name;
    options.step_grid = sample::StepGrid::model;
    // (0, 0.37]: 4 steps, (0.37, 1]: 7; the ramp's end cuts the second into 4 + 4.
    EXPECT_EQ(sample::sample_grid(model, options).size() - 1,
              interpolation == EtaInterpolation::step ? 11u : 12u)
        << name;
  }
  // Linear eta keeps equal steps.
  EXPECT_EQ(sample::sample_grid(model_with(1.0, -2.0, EtaInterpolation::linear), options).size(),
            11u);
}
