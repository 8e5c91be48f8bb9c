// Pipeline accuracy on a Gaussian target, where the exact drift is known in closed form (METHOD
// sections 2 and 4), and independence of the fit from the number of ranks.
#include <gtest/gtest.h>

#include <cmath>

#include "gaussian_reference.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/fit/fit.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

Model fit_gaussian(const synth::Gaussian& g, std::size_t items, std::size_t draws,
                   std::uint64_t data_seed, fit::FitOptions options, const par::Comm& comm) {
  const std::size_t d = g.mean.size();
  const auto range = par::block_range(items, comm.rank(), comm.size());
  const Matrix local = synth::draw_gaussian(g, data_seed, range.begin, range.size());
  options.draws = draws;
  return fit::fit_model(local, range.begin, items,
                        std::make_unique<features::PolynomialFeatures>(ItemShape::vector(d)),
                        ItemShape::vector(d), Standardization{}, options, comm);
}

double rms_relative(const Matrix& A, const Matrix& B) {
  return test::relative_difference(A, B);
}

double relative_eta_difference(const Model& a, const Model& b) {
  return test::relative_difference(a.eta(), b.eta());
}

class GaussianDrift : public testing::TestWithParam<std::size_t> {};

}  // namespace

TEST_P(GaussianDrift, FittedDriftMatchesClosedFormWithinMonteCarloError) {
  const std::size_t d = GetParam();
  const auto& comm = test::World::comm();
  const auto g = synth::random_gaussian(d, 3 + d);
  fit::FitOptions options;
  options.times = 6;
  const std::size_t items = 6000 + 1500 * d;
  options.seed = 1;
  const Model a = fit_gaussian(g, items, 2, 1, options, comm);
  options.seed = 2;
  const Model b = fit_gaussian(g, items, 2, 2, options, comm);
  for (std::size_t k = 0; k < a.times().size(); ++k) {
    const double t = a.times()[k];
    const Matrix X = test::interpolant_points(g, a.schedule(), t, 500);
    const Matrix exact = test::gaussian_drift_at(g, a.schedule(), t, X);
    const Matrix fa = test::drift_at(a, t, X), fb = test::drift_at(b, t, X);
    const double error = rms_relative(fa, exact);
    // Two independent fits differ by sqrt(2) times the Monte Carlo error of one.
    const double mc_error = rms_relative(fa, fb) / std::sqrt(2.0);
    EXPECT_LT(error, 3.0 * mc_error) << "d = " << d << ", t = " << t;
    EXPECT_LT(error, 0.05) << "d = " << d << ", t = " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Dimensions, GaussianDrift, testing::Values(2, 4, 8, 16));

TEST(FitRanks, EtaIsBitwiseIndependentOfTheNumberOfRanks) {
  // Fourier features with few items: an ill-conditioned Gram (condition ~ 1 / ridge), where any
  // rounding difference in K would show in eta at 1e-8. Batches aligned to the global item index
  // and double-double sums make K, and so eta, the same bits on any number of ranks.
  const auto& world = test::World::comm();
  const auto self = par::Comm::self();
  const auto g = synth::random_gaussian(3, 21);
  fit::FitOptions options;
  options.times = 9;
  options.draws = 3;
  options.batch = 21;  // 7 items per batch: batches straddle the plain block boundaries
  const std::size_t items = 601;
  const auto fit_on = [&](const par::Comm& comm) {
    return test::fit_spread(
        g, items, 4,
        std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(3), 80, 0.7, 3),
        options, comm);
  };
  const Model parallel = fit_on(world);
  const Model serial = fit_on(self);
  EXPECT_EQ(relative_eta_difference(parallel, serial), 0.0);
  // The Gram matrices are far from trivially conditioned, so this is a real test.
  const auto& dg = serial.diagnostics()[4];
  EXPECT_GT(dg.lambda_max / dg.lambda_min, 1e5);
}

TEST(Standardization, BitwiseIndependentOfTheNumberOfRanks) {
  const auto& world = test::World::comm();
  const auto self = par::Comm::self();
  const auto g = synth::random_gaussian(4, 25);
  const auto range = par::block_range(1001, world.rank(), world.size());
  Matrix local = synth::draw_gaussian(g, 5, range.begin, range.size());
  Matrix all = synth::draw_gaussian(g, 5, 0, 1001);
  const auto a = Standardization::fit(local, ItemShape::vector(4), "scalar", world);
  const auto b = Standardization::fit(all, ItemShape::vector(4), "scalar", self);
  EXPECT_EQ(a.mean, b.mean);
  EXPECT_EQ(a.scale, b.scale);
}

TEST(FitRanks, DistributedScalapackSolveEqualsSerialSolve) {
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(5, 22);
  fit::FitOptions options;
  options.times = 5;
  const Model sequential = fit_gaussian(g, 400, 2, 5, options, world);
  options.distributed_threshold = 1;  // every time on a ScaLAPACK group when there are >= 2 ranks
  const Model distributed = fit_gaussian(g, 400, 2, 5, options, world);
  EXPECT_LT(relative_eta_difference(sequential, distributed), 1e-10);
  for (std::size_t k = 0; k < distributed.times().size(); ++k) {
    EXPECT_LT(distributed.diagnostics()[k].residual, 1e-10);
    EXPECT_NEAR(distributed.diagnostics()[k].captured, sequential.diagnostics()[k].captured, 1e-10);
  }
}

TEST(FitChunks, ChunkingTimesToAMemoryBudgetChangesNothing) {
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(4, 23);
  fit::FitOptions options;
  options.times = 7;
  const Model whole = fit_gaussian(g, 300, 2, 6, options, world);
  const std::size_t P = whole.features().size();
  // Two times per chunk: fixed 2 P^2 doubles, then P(P+1)/2 + P + 1 double-doubles per time.
  options.memory_mb =
      (2.0 * double(P * P * 8) + 2.5 * double((P * (P + 1) / 2 + P + 1) * 16)) / 1048576.0;
  ASSERT_EQ(fit::plan_fit(P, 7, world.size(), options).chunk_size, 2u);
  const Model chunked = fit_gaussian(g, 300, 2, 6, options, world);
  EXPECT_EQ(relative_eta_difference(whole, chunked), 0.0);
}

TEST(FitDiagnostics, ResidualsConditionAndCapturedFraction) {
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(3, 24);
  fit::FitOptions options;
  options.times = 5;
  const Model model = fit_gaussian(g, 3000, 2, 7, options, world);
  for (std::size_t k = 0; k < model.times().size(); ++k) {
    const auto& dg = model.diagnostics()[k];
    EXPECT_LT(dg.residual, 1e-12);
    EXPECT_GT(dg.lambda_min, 0.0);
    EXPECT_GE(dg.lambda_max, dg.lambda_min);
    // With the exact drift in the span, R^2 = E|b|^2 / E|dI/dt|^2 (< 1: dI/dt is noisy given I_t).
    const double t = model.times()[k];
    const Matrix X = test::interpolant_points(g, model.schedule(), t, 4000);
    const Matrix b = test::gaussian_drift_at(g, model.schedule(), t, X);
    double b2 = 0;
    for (double v : b.values()) b2 += v * v;
    b2 /= double(X.rows());
    EXPECT_NEAR(dg.captured, b2 / dg.velocity_sq, 0.05) << "t = " << t;
    EXPECT_LT(dg.captured, 1.0);
  }
}

TEST(FitOptions, EachSettingIsCheckedOnceNamingItsOption) {
  // FitOptions::validate is what fit_model and `ksi fit` both call before any file is touched.
  const auto message = test::validation_message<fit::FitOptions>;
  EXPECT_EQ(message([](fit::FitOptions&) {}), "");
  EXPECT_NE(message([](fit::FitOptions& o) { o.draws = 0; }).find("--draws"), std::string::npos);
  EXPECT_NE(message([](fit::FitOptions& o) { o.ridge = -1.0; }).find("--ridge"), std::string::npos);
  EXPECT_NE(message([](fit::FitOptions& o) { o.ridge = std::nan(""); }).find("--ridge"),
            std::string::npos);
  EXPECT_NE(message([](fit::FitOptions& o) { o.times = 1; }).find("--times"), std::string::npos);
  EXPECT_NE(message([](fit::FitOptions& o) { o.time_grid = "log"; }).find("time grid"),
            std::string::npos);
  EXPECT_NE(message([](fit::FitOptions& o) { o.schedule = "cubic"; }), "");
  EXPECT_NE(message([](fit::FitOptions& o) { o.memory_mb = 0.0; }).find("--memory-mb"),
            std::string::npos);
  EXPECT_NE(
      message([](fit::FitOptions& o) { o.checkpoint.every_seconds = -1.0; }).find("--checkpoint"),
      std::string::npos);
}
