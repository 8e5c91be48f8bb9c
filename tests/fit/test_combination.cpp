// Fitted models as features (model/combination.hpp): the exact Gaussian member against the closed
// form, the weights a combination recovers where the true drift is a known sum of its members, rank
// invariance, and the combined model's file.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "gaussian_reference.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/io/output.hpp"
#include "ksi/model/combination.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

// A polynomial model on `times` uniform times with the given eta (its drift is linear in eta).
Model polynomial_model(std::size_t d, Matrix eta) {
  std::vector<double> grid(eta.rows());
  for (std::size_t k = 0; k < grid.size(); ++k) grid[k] = double(k) / double(grid.size() - 1);
  return Model(std::make_unique<features::PolynomialFeatures>(ItemShape::vector(d)),
               make_schedule("linear"), ItemShape::vector(d), Standardization{}, std::move(grid),
               std::move(eta));
}

std::vector<Model> copies(const std::vector<Matrix>& etas, std::size_t d) {
  std::vector<Model> out;
  for (const auto& e : etas) out.push_back(polynomial_model(d, e));
  return out;
}

// The combination of members with etas `etas` (and the Gaussian member) fitted on `items` draws of
// g, dealt to the ranks of `comm` as the fit deals them.
Model fit_combination(const synth::Gaussian& g, const std::vector<Matrix>& etas, bool gaussian,
                      std::size_t items, fit::FitOptions options, const par::Comm& comm) {
  const std::size_t d = g.mean.size();
  const ItemShape shape = ItemShape::vector(d);
  const auto make = [&](const Matrix& local, bool with_gaussian) {
    std::optional<GaussianDrift> gauss;
    if (with_gaussian) gauss = GaussianDrift::estimate(local, shape, comm);
    std::vector<std::string> names;
    for (std::size_t m = 0; m < etas.size(); ++m) names.push_back("m" + std::to_string(m));
    return std::make_unique<DriftCombination>(nullptr, copies(etas, d), names, std::move(gauss),
                                              make_schedule("linear"), shape);
  };
  const std::size_t per_batch = fit::items_per_batch(options, *make(Matrix(0, d), false));
  const auto range = fit::assembly_item_range(items, per_batch, comm.rank(), comm.size());
  const Matrix local = synth::draw_gaussian(g, 11, range.begin, range.size());
  return fit::fit_model(local, range.begin, items, make(local, gaussian), shape, Standardization{},
                        options, comm);
}

}  // namespace

TEST(GaussianMember, VectorDriftIsTheClosedForm) {
  const auto g = synth::random_gaussian(5, 41);
  const GaussianDrift drift(ItemShape::vector(5), g.mean,
                            {g.covariance.values().begin(), g.covariance.values().end()});
  for (const char* name : {"linear", "trig"}) {
    const auto s = make_schedule(name);
    for (double t : {0.0, 0.1, 0.5, 0.93, 1.0}) {
      const Matrix X = test::interpolant_points(g, *s, t, 50);
      Matrix B;
      drift.drift(*s, t, X, B);
      EXPECT_LT(test::relative_difference(B, test::gaussian_drift_at(g, *s, t, X)), 1e-11)
          << name << " t = " << t;
    }
  }
}

TEST(GaussianMember, EstimatedMomentsAreTheSampleMomentsOnAnyNumberOfRanks) {
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(4, 42);
  const std::size_t n = 301;
  const auto range = par::block_range(n, world.rank(), world.size());
  const Matrix local = synth::draw_gaussian(g, 3, range.begin, range.size());
  const Matrix all = synth::draw_gaussian(g, 3, 0, n);
  const auto parallel = GaussianDrift::estimate(local, ItemShape::vector(4), world);
  const auto serial = GaussianDrift::estimate(all, ItemShape::vector(4), par::Comm::self());
  EXPECT_EQ(parallel.mean(), serial.mean());
  EXPECT_EQ(parallel.covariance(), serial.covariance());
  const auto mean = test::mean_of(all);
  const Matrix cov = test::covariance_of(all);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(serial.mean()[i], mean[i], 1e-12);
    for (std::size_t j = 0; j < 4; ++j)  // covariance_of divides by n - 1, the estimate by n
      EXPECT_NEAR(serial.covariance()[i * 4 + j], cov(i, j) * double(n - 1) / double(n), 1e-12);
  }
}

TEST(GaussianMember, FieldDriftActsOnEachFourierModeWithItsShellGain) {
  // A plane wave of wavenumber (2, 1) lies in shell round(sqrt 5) = 2; the drift of
  // x = c + A cos(k . r) is beta' mu + g_t(lambda_2) (x - beta mu) with the closed-form gain.
  const std::vector<std::size_t> dims{16, 16};
  const ItemShape shape = ItemShape::grid(dims);
  const fft::SpectralShells shells(dims);
  std::vector<double> variance(shells.count());
  for (std::size_t s = 0; s < variance.size(); ++s) variance[s] = 0.3 + 0.7 * double(s);
  const double mu = 0.4;
  const GaussianDrift drift(shape, {mu}, variance);
  const auto sched = make_schedule("linear");
  for (double t : {0.0, 0.3, 0.8, 1.0}) {
    const double a = sched->alpha(t), b = sched->beta(t), ad = sched->alpha_dot(t),
                 bd = sched->beta_dot(t);
    const double lambda = variance[2];
    const double gain = (a * ad + b * bd * lambda) / (a * a + b * b * lambda);
    const double c = 1.7;
    Matrix X(1, 256), B;
    for (std::size_t i = 0; i < 16; ++i)
      for (std::size_t j = 0; j < 16; ++j)
        X(0, i * 16 + j) = c + std::cos(2 * std::numbers::pi * (2.0 * i + 1.0 * j) / 16.0);
    drift.drift(*sched, t, X, B);
    // The constant c sits on k = 0 (shell 0, variance 0.3).
    const double gain0 = (a * ad + b * bd * variance[0]) / (a * a + b * b * variance[0]);
    for (std::size_t i = 0; i < 256; ++i) {
      const double wave = X(0, i) - c;
      EXPECT_NEAR(B(0, i), bd * mu + gain0 * (c - b * mu) + gain * wave, 1e-12) << "t = " << t;
    }
  }
}

TEST(GaussianMember, FieldShellVariancesAreTheDataSpectrum) {
  const auto& world = test::World::comm();
  const std::vector<std::size_t> dims{16, 16};
  const auto amplitude = [](std::size_t s) { return 1.0 / (1.0 + 0.3 * double(s)); };
  const std::size_t n = 200;
  const auto range = par::block_range(n, world.rank(), world.size());
  const Matrix local =
      test::isotropic_gaussian_fields(dims, 5, range.begin, range.size(), amplitude);
  const auto g = GaussianDrift::estimate(local, ItemShape::grid(dims), world);
  const fft::SpectralShells shells(dims);
  // Shells 2..8 hold 12-50 modes each: 200 fields give each variance to a few percent.
  for (std::size_t s = 2; s <= 8; ++s)
    EXPECT_NEAR(g.covariance()[s] / (amplitude(s) * amplitude(s)), 1.0, 0.05) << "shell " << s;
  EXPECT_NEAR(g.mean()[0], 0.0, 0.01);
}

TEST(Combination, RecoversTheWeightsOfMembersThatSumToTheExactDrift) {
  // Members A = b* - R and B = R (R a linear drift correlated with b*): b* = A + B, so the
  // combination's eta is (1, 1) at every time up to Monte Carlo error. Without the cross term
  // E[A . B] the weights would be 1 + E[A.B]/E[A.A] (0.2-0.9 away here); evaluating the members at
  // another time than the system's would miss as well.
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(3, 43);
  const std::size_t T = 9;
  const Model exact = test::exact_gaussian_model(g, "linear", T);
  Matrix R(T, exact.eta().cols()), A(T, exact.eta().cols());
  RandomStream noise(8, StreamPurpose::test, 1);
  for (std::size_t k = 0; k < T; ++k)
    for (std::size_t p = 0; p < R.cols(); ++p) {
      R(k, p) = 0.6 * exact.eta()(k, p) + 0.3 * noise.normal();
      A(k, p) = exact.eta()(k, p) - R(k, p);
    }
  fit::FitOptions options;
  options.times = T;
  options.draws = 4;
  const Model model = fit_combination(g, {A, R}, false, 6000, options, world);
  ASSERT_EQ(model.features().size(), 2u);
  for (std::size_t k = 0; k < T; ++k) {
    EXPECT_NEAR(model.eta()(k, 0), 1.0, 0.03) << "t = " << model.times()[k];
    EXPECT_NEAR(model.eta()(k, 1), 1.0, 0.03) << "t = " << model.times()[k];
  }
  // With the exact Gaussian member beside a wrong drift, the weight goes to the Gaussian.
  const Model with_gaussian = fit_combination(g, {R}, true, 6000, options, world);
  for (std::size_t k = 0; k < T; ++k) {
    EXPECT_NEAR(with_gaussian.eta()(k, 0), 0.0, 0.03) << "t = " << with_gaussian.times()[k];
    EXPECT_NEAR(with_gaussian.eta()(k, 1), 1.0, 0.03) << "t = " << with_gaussian.times()[k];
  }
  // The combined drift is the exact one.
  const Matrix X = test::interpolant_points(g, model.schedule(), 0.5, 200);
  Matrix B;
  model.drift(0.5, X, B);
  EXPECT_LT(test::relative_difference(B, test::gaussian_drift_at(g, model.schedule(), 0.5, X)),
            0.03);
}

TEST(Combination, FitIsBitwiseIndependentOfTheNumberOfRanks) {
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(3, 44);
  const std::size_t T = 5;
  const Model exact = test::exact_gaussian_model(g, "linear", T);
  Matrix half = exact.eta();
  for (auto& v : half.values()) v *= 0.5;
  fit::FitOptions options;
  options.times = T;
  options.draws = 3;
  options.batch = 21;  // 7 items per batch: every rank holds batches
  const Model parallel = fit_combination(g, {half, exact.eta()}, true, 301, options, world);
  const Model serial =
      fit_combination(g, {half, exact.eta()}, true, 301, options, par::Comm::self());
  EXPECT_EQ(test::relative_difference(parallel.eta(), serial.eta()), 0.0);
  EXPECT_GT(test::relative_difference(parallel.eta(), Matrix(T, 3, 0.0)), 0.0);
}

TEST(Combination, ModelFileHoldsItsMembers) {
  const auto& world = test::World::comm();
  const test::ScratchDir dir("combination");
  const auto g = synth::random_gaussian(2, 45);
  const Model exact = test::exact_gaussian_model(g, "linear", 5);
  Matrix third = exact.eta();
  for (auto& v : third.values()) v /= 3.0;
  fit::FitOptions options;
  options.times = 5;
  const Model model = fit_combination(g, {third}, true, 500, options, world);
  const Model back = test::written_and_read(model, dir.path("c.h5"), world);
  EXPECT_EQ(back.identity(), model.identity());
  EXPECT_EQ(back.features().kind(), "models");
  EXPECT_EQ(back.features().feature_names(),
            (std::vector<std::string>{"drift(m0)", "drift(gaussian)"}));
  for (double t : {0.0, 0.37, 1.0}) {
    const Matrix X = test::interpolant_points(g, model.schedule(), t, 20);
    EXPECT_EQ(test::relative_difference(test::drift_at(model, t, X), test::drift_at(back, t, X)),
              0.0)
        << "t = " << t;
  }
}

TEST(Combination, GramWithAnotherMapIsTheDenseSumOfItsRows) {
  // Base rows from random Fourier features (whose raw sums need finalize_gram) beside a model and
  // the Gaussian member: K and h against sum_r j_r j_r^T and sum_r j_r . v_r of the dense rows.
  const auto g = synth::random_gaussian(3, 46);
  const ItemShape shape = ItemShape::vector(3);
  const Model exact = test::exact_gaussian_model(g, "linear", 5);
  const Matrix data = synth::draw_gaussian(g, 12, 0, 40);
  std::vector<Model> members;
  members.push_back(polynomial_model(3, exact.eta()));
  const DriftCombination map(std::make_unique<features::RandomFourierFeatures>(shape, 12, 0.8, 5),
                             std::move(members), {"exact"},
                             GaussianDrift::estimate(data, shape, par::Comm::self()),
                             make_schedule("linear"), shape);
  const std::size_t P = map.size();
  ASSERT_EQ(P, 14u);
  const double t = 0.4;
  const Matrix X = test::interpolant_points(g, *make_schedule("linear"), t, 30);
  Matrix V(30, 3);
  RandomStream noise(9, StreamPurpose::test, 2);
  for (auto& v : V.values()) v = noise.normal();
  Matrix K(P, P, 0.0);
  std::vector<double> h(P, 0.0);
  map.accumulate_at(t, X, V, K, h);
  map.finalize_gram(K);
  Matrix Kd(P, P, 0.0), J;
  std::vector<double> hd(P, 0.0);
  Matrix rows(P, 3), B0, B1;
  map.member_drift(0, t, X, B0);
  map.member_drift(1, t, X, B1);
  for (std::size_t r = 0; r < 30; ++r) {
    map.base()->jacobian(X.row(r), J);
    for (std::size_t p = 0; p < 12; ++p)
      for (std::size_t i = 0; i < 3; ++i) rows(p, i) = J(p, i);
    for (std::size_t i = 0; i < 3; ++i) {
      rows(12, i) = B0(r, i);
      rows(13, i) = B1(r, i);
    }
    for (std::size_t p = 0; p < P; ++p) {
      for (std::size_t q = p; q < P; ++q)
        for (std::size_t i = 0; i < 3; ++i) Kd(p, q) += rows(p, i) * rows(q, i);
      for (std::size_t i = 0; i < 3; ++i) hd[p] += rows(p, i) * V(r, i);
    }
  }
  double scale = 0.0;
  for (std::size_t p = 0; p < P; ++p) scale = std::max(scale, std::abs(Kd(p, p)));
  for (std::size_t p = 0; p < P; ++p) {
    for (std::size_t q = p; q < P; ++q)
      EXPECT_NEAR(K(p, q), Kd(p, q), 1e-12 * scale) << p << "," << q;
    EXPECT_NEAR(h[p], hd[p], 1e-12 * scale) << p;
  }
  // A drift of the combination is the base's plus the members' weighted drifts.
  std::vector<double> eta(P, 0.0);
  eta[3] = 0.7;
  eta[12] = 2.0;
  eta[13] = -0.5;
  Matrix G, Gb;
  map.vjp_batch_at(t, X, eta, G);
  std::vector<double> eta_base(eta.begin(), eta.begin() + 12);
  map.base()->vjp_batch(X, eta_base, Gb);
  for (std::size_t r = 0; r < 30; ++r)
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(G(r, i), Gb(r, i) + 2.0 * B0(r, i) - 0.5 * B1(r, i), 1e-12);
}

TEST(Combination, GaussianMemberAloneHasWeightOneAndNoneWhereItsDriftVanishes) {
  // With the trig schedule the exact Gaussian drift is beta' mu + g (x - beta mu) with g = 0 and
  // beta' = 0 at t = 1: the member has no energy there and its weight is 0 (not a failed solve or
  // round-off over round-off); elsewhere it is the exact drift, so its weight is 1.
  const auto& world = test::World::comm();
  const auto g = synth::random_gaussian(3, 47);
  const ItemShape shape = ItemShape::vector(3);
  fit::FitOptions options;
  options.times = 7;
  options.draws = 4;
  options.schedule = "trig";
  const std::size_t items = 4000;
  const auto range = par::block_range(items, world.rank(), world.size());
  const Matrix local = synth::draw_gaussian(g, 13, range.begin, range.size());
  auto map = std::make_unique<DriftCombination>(
      nullptr, std::vector<Model>{}, std::vector<std::string>{},
      GaussianDrift::estimate(local, shape, world), make_schedule("trig"), shape);
  const std::size_t per_batch = fit::items_per_batch(options, *map);
  const auto mine = fit::assembly_item_range(items, per_batch, world.rank(), world.size());
  const Matrix dealt = synth::draw_gaussian(g, 13, mine.begin, mine.size());
  const Model model = fit::fit_model(dealt, mine.begin, items, std::move(map), shape,
                                     Standardization{}, options, world);
  const std::size_t T = model.times().size();
  EXPECT_EQ(model.eta()(T - 1, 0), 0.0);
  for (std::size_t k = 0; k + 1 < T; ++k)
    EXPECT_NEAR(model.eta()(k, 0), 1.0, 0.03) << "t = " << model.times()[k];
}
