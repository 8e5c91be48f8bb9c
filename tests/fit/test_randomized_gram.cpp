// The randomized Gram (issue 14): forward-mode products against the Jacobian, the estimate's
// mean against the exact Gram, a fit with it against the closed-form Gaussian drift, and its
// independence of the number of ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "gaussian_reference.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/fit/guide.hpp"
#include "ksi/fit/solver.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

// J v from the map's Jacobian (its vjp's), the reference of jvp.
std::vector<double> jacobian_times(const features::FeatureMap& map, std::span<const double> x,
                                   std::span<const double> v) {
  Matrix J;
  map.jacobian(x, J);
  std::vector<double> out(map.size(), 0.0);
  for (std::size_t p = 0; p < map.size(); ++p)
    for (std::size_t i = 0; i < x.size(); ++i) out[p] += J(p, i) * v[i];
  return out;
}

double relative(std::span<const double> a, std::span<const double> b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

// Relative Frobenius difference of the upper triangles.
double upper_difference(const Matrix& A, const Matrix& B) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < A.rows(); ++i)
    for (std::size_t j = i; j < A.cols(); ++j) {
      num += (A(i, j) - B(i, j)) * (A(i, j) - B(i, j));
      den += B(i, j) * B(i, j);
    }
  return std::sqrt(num / den);
}

Matrix normal_rows(std::size_t rows, std::size_t cols, std::uint64_t id, double scale = 1.0) {
  Matrix X(rows, cols);
  RandomStream(3, StreamPurpose::test, id).fill_normal(X.values());
  for (auto& v : X.values()) v *= scale;
  return X;
}

}  // namespace

TEST(Jvp, ExactAndForwardDifferenceAgreeWithTheJacobian) {
  const features::RandomFourierFeatures fourier(ItemShape::vector(6), 20, 0.8, 4);
  const features::PolynomialFeatures polynomial(ItemShape::vector(5));
  for (int trial = 0; trial < 3; ++trial) {
    const Matrix xf = normal_rows(2, 6, 10 + trial);
    std::vector<double> phi_f(fourier.size()), jv(fourier.size());
    fourier.evaluate(xf.row(0), phi_f);
    fourier.jvp(xf.row(0), phi_f, xf.row(1), jv);  // the exact override
    EXPECT_LT(relative(jv, jacobian_times(fourier, xf.row(0), xf.row(1))), 1e-13);
    // The default (the forward difference from phi(x)): for polynomials of degree 2 its error is
    // the step times the curvature, 1e-8 relative. Far from the origin too: the step follows |x|.
    const Matrix xp = normal_rows(2, 5, 20 + trial, trial == 2 ? 1e3 : 1.0);
    std::vector<double> phi_p(polynomial.size()), jp(polynomial.size());
    polynomial.evaluate(xp.row(0), phi_p);
    polynomial.jvp(xp.row(0), phi_p, xp.row(1), jp);
    EXPECT_LT(relative(jp, jacobian_times(polynomial, xp.row(0), xp.row(1))), 1e-6);
    // The default on a map that is not a polynomial: Fourier features through the base class.
    std::vector<double> fd(fourier.size());
    fourier.features::FeatureMap::jvp(xf.row(0), phi_f, xf.row(1), fd);
    EXPECT_LT(relative(fd, jv), 1e-6);
    // It is the difference from the phi_x it is given (not from an evaluation of its own).
    std::vector<double> shifted = phi_f, off(fourier.size());
    for (auto& value : shifted) value += 1e-6;
    fourier.features::FeatureMap::jvp(xf.row(0), shifted, xf.row(1), off);
    EXPECT_GT(relative(off, jv), 1e-3);
  }
}

TEST(RandomizedGram, ItsMeanIsTheExactGramAndItsErrorFallsAsOneOverRootProbes) {
  const features::RandomFourierFeatures map(ItemShape::vector(6), 12, 0.8, 5);
  const std::size_t P = map.size();
  const Matrix X = normal_rows(3, 6, 1), V = normal_rows(3, 6, 2);
  Matrix exact(P, P);
  std::vector<double> h_exact(P, 0.0);
  map.accumulate(X, V, exact, h_exact);
  map.finalize_gram(exact);
  const auto estimate = [&](std::size_t probes, std::uint64_t seed, std::vector<double>& h) {
    Matrix K(P, P);
    h.assign(P, 0.0);
    features::accumulate_randomized(
        map, X, V, probes,
        [&](std::size_t r, std::size_t j) {
          return RandomStream(seed, StreamPurpose::gram_probe, r, 0, j);
        },
        K, h);
    return K;
  };
  std::vector<double> h;
  // h is the exact J v (one forward-mode product per row), whatever the probes.
  const Matrix many = estimate(40000, 1, h);
  EXPECT_LT(relative(h, h_exact), 1e-13);
  // The estimate's standard error with m probes is about sqrt(2 / m) of K's entries.
  const double error_many = upper_difference(many, exact);
  EXPECT_LT(error_many, 0.02);
  double error_few = 0.0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed)
    error_few += upper_difference(estimate(400, 10 + seed, h), exact) / 4.0;
  // 100 times the probes: about 10 times less error (not a fixed bias).
  EXPECT_GT(error_few, 4.0 * error_many);
  EXPECT_LT(error_few, 0.2);
}

TEST(RandomizedGram, FitRecoversTheClosedFormGaussianDrift) {
  // Polynomial features hold the Gaussian drift exactly; the randomized Gram's fit must find it
  // within a few times the exact Gram's Monte Carlo error (a biased or mis-scaled estimate would
  // not: its eta solves another system).
  const auto& comm = test::World::comm();
  const std::size_t d = 4, items = 6000;
  const auto g = synth::random_gaussian(d, 7);
  fit::FitOptions options;
  options.times = 5;
  options.draws = 2;
  const auto fit_with = [&](const std::string& gram, std::size_t probes) {
    options.gram = gram;
    options.gram_probes = probes;
    const auto range = par::block_range(items, comm.rank(), comm.size());
    const Matrix local = synth::draw_gaussian(g, 1, range.begin, range.size());
    return fit::fit_model(local, range.begin, items,
                          std::make_unique<features::PolynomialFeatures>(ItemShape::vector(d)),
                          ItemShape::vector(d), Standardization{}, options, comm);
  };
  const Model exact = fit_with("exact", 1);
  const Model randomized = fit_with("randomized", 8);
  EXPECT_EQ(randomized.fit_settings().text("gram"), "randomized");
  for (std::size_t k = 1; k + 1 < exact.times().size(); ++k) {
    const double t = exact.times()[k];
    const Matrix X = test::interpolant_points(g, exact.schedule(), t, 500);
    const Matrix truth = test::gaussian_drift_at(g, exact.schedule(), t, X);
    const double error_exact = test::relative_difference(test::drift_at(exact, t, X), truth);
    const double error_randomized =
        test::relative_difference(test::drift_at(randomized, t, X), truth);
    EXPECT_LT(error_randomized, 0.05) << "t = " << t;
    EXPECT_LT(error_randomized, 2.5 * error_exact + 0.005) << "t = " << t;
  }
}

TEST(RandomizedGram, EtaIsBitwiseIndependentOfTheNumberOfRanks) {
  // Probes keyed by (seed, item, draw, time, probe): the same batches hold the same probes on any
  // number of ranks. 601 items in batches of 7: every rank of 1-3 assembles some.
  const auto& world = test::World::comm();
  const auto self = par::Comm::self();
  const auto g = synth::random_gaussian(3, 21);
  fit::FitOptions options;
  options.times = 9;
  options.draws = 3;
  options.batch = 21;
  options.gram = "randomized";
  options.gram_probes = 3;
  const std::size_t items = 601;
  const auto fit_on = [&](const par::Comm& comm) {
    return test::fit_spread(
        g, items, 4,
        std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(3), 40, 0.7, 3),
        options, comm);
  };
  const Model parallel = fit_on(world);
  const Model serial = fit_on(self);
  EXPECT_EQ(test::relative_difference(parallel.eta(), serial.eta()), 0.0);
}

TEST(RandomizedGram, FourierFitIsNotFinalizedAgainAndMatchesTheExactGramFit) {
  // Fourier features' exact sums need finalize_gram (a Hadamard factor); the randomized K is final
  // and must not get it. With many probes per pair the two fits' drifts agree.
  const auto& comm = test::World::comm();
  const auto g = synth::random_gaussian(3, 5);
  const std::size_t items = 3000;
  fit::FitOptions options;
  options.times = 5;
  options.draws = 2;
  options.ridge = 1e-6;
  const auto fit_with = [&](const std::string& gram) {
    options.gram = gram;
    options.gram_probes = 64;
    return test::fit_spread(
        g, items, 6,
        std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(3), 30, 1.0, 2),
        options, comm);
  };
  const Model exact = fit_with("exact");
  const Model randomized = fit_with("randomized");
  for (std::size_t k = 1; k + 1 < exact.times().size(); ++k) {
    const double t = exact.times()[k];
    const Matrix X = test::interpolant_points(g, exact.schedule(), t, 400);
    EXPECT_LT(
        test::relative_difference(test::drift_at(randomized, t, X), test::drift_at(exact, t, X)),
        0.05)
        << "t = " << t;
  }
}

TEST(RandomizedGram, GuidedPassesTakeTheEnsembleGramInFinalUnits) {
  // The guided passes' K^q: Fourier features' exact sums need finalize_gram (a Hadamard factor),
  // the randomized estimate must not get it. With tau large and w = 1 a full update re-solves eta
  // from K^q and the one-shot right-hand side, so on Gaussian data (where the one-shot drift is
  // close to the exact one and the ensemble follows the interpolant) the guided drift stays close
  // to the exact drift; with a K^q in the wrong units it is far off.
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const auto g = synth::random_gaussian(3, 5);
  fit::FitOptions options;
  options.times = 5;
  options.draws = 2;
  options.ridge = 1e-6;
  const auto oneshot = [&] {
    return test::fit_spread(
        g, 3000, 6,
        std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(3), 30, 1.0, 2),
        options, comm);
  };
  const auto error_of = [&](const Model& model) {
    double worst = 0.0;
    for (std::size_t k = 1; k + 1 < model.times().size(); ++k) {
      const double t = model.times()[k];
      const Matrix X = test::interpolant_points(g, model.schedule(), t, 400);
      worst = std::max(
          worst, test::relative_difference(test::drift_at(model, t, X),
                                           test::gaussian_drift_at(g, model.schedule(), t, X)));
    }
    return worst;
  };
  const double one_shot_error = error_of(oneshot());
  for (const std::size_t probes : {std::size_t{0}, std::size_t{64}}) {
    Model model = oneshot();
    fit::GuideOptions guide;
    guide.passes = 1;
    guide.ensemble = 600;
    guide.batch = 100;
    guide.gram_members = 0;  // all
    guide.gram_probes = probes;
    guide.steps = 20;
    guide.tau = 1e9;
    guide.damping = 1.0;
    guide.tolerance = 0.0;
    fit::guide_model(model, guide, comm);
    const double error = error_of(model);
    // Measured: 0.48 for both against the one-shot's 0.33; with the raw K^q, 32.
    EXPECT_LT(error, 2.0 * one_shot_error) << "probes " << probes;
  }
}

TEST(RandomizedGram, GuidedPassesRefuseARankDeficientEnsembleGram) {
  const features::RandomFourierFeatures map(ItemShape::vector(3), 40, 1.0, 2);
  fit::GuideOptions options;
  options.passes = 1;
  options.ensemble = 8;
  options.gram_members = 0;
  options.gram_probes = 4;  // 8 members x 4 probes = 32 < 40
  const std::string message = test::usage_error_of([&] { fit::check_guidable(map, options); });
  EXPECT_NE(message.find("rank at most 32, below its P = 40"), std::string::npos) << message;
  options.gram_probes = 5;
  EXPECT_EQ(test::usage_error_of([&] { fit::check_guidable(map, options); }), "");
}

TEST(RandomizedGram, OptionsAreChecked) {
  const auto message = test::validation_message<fit::FitOptions>;
  EXPECT_NE(message([](fit::FitOptions& o) { o.gram = "sketch"; }).find("--gram"),
            std::string::npos);
  EXPECT_NE(message([](fit::FitOptions& o) {
              o.gram = "randomized";
              o.gram_probes = 0;
            }).find("--gram-probes"),
            std::string::npos);
}
