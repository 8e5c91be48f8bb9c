// The drifting generator: the pair sums against direct double loops, the Gaussian field against
// finite differences of log KDEs, the generated distributions against their data, and equality of
// results across rank counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/drifting/drifting.hpp"
#include "ksi/drifting/particles_file.hpp"
#include "ksi/io/items.hpp"
#include "ksi/synth/vectors.hpp"
#include "support/test_support.hpp"

namespace ksi::drifting {
namespace {

using test::World;

// Rows of a full matrix that tile_range assigns to this rank of `comm`.
Matrix local_rows(const Matrix& all, std::size_t tile, const par::Comm& comm) {
  const par::Range range = tile_range(all.rows(), tile, comm.rank(), comm.size());
  Matrix local(range.size(), all.cols());
  for (std::size_t i = 0; i < range.size(); ++i)
    for (std::size_t k = 0; k < all.cols(); ++k) local(i, k) = all(range.begin + i, k);
  return local;
}

Matrix normal_rows(std::size_t n, std::size_t d, double scale, double offset, std::uint64_t id) {
  Matrix X(n, d);
  RandomStream stream(11, StreamPurpose::test, id);
  for (double& v : X.values()) v = offset + scale * stream.normal();
  return X;
}

// log of (1/|S|) sum_{y in S, y != skip} k(x, y), in long double so that far points do not
// underflow; the independent reference of the tests.
long double log_kde(const double* x, const Matrix& S, Kernel kernel, double h, std::size_t skip) {
  std::vector<long double> exponents;
  for (std::size_t j = 0; j < S.rows(); ++j) {
    if (j == skip) continue;
    long double r2 = 0.0L;
    for (std::size_t k = 0; k < S.cols(); ++k) {
      const long double diff = static_cast<long double>(x[k]) - S(j, k);
      r2 += diff * diff;
    }
    exponents.push_back(kernel == Kernel::gauss ? -r2 / (2.0L * h * h) : -std::sqrt(r2) / h);
  }
  const long double top = *std::max_element(exponents.begin(), exponents.end());
  long double sum = 0.0L;
  for (long double e : exponents) sum += std::exp(e - top);
  return top + std::log(sum / static_cast<long double>(exponents.size()));
}

// Direct mean shift sum k (y - x) / sum k over S (without row `skip`), in long double.
std::vector<double> direct_mean_shift(const double* x, const Matrix& S, Kernel kernel, double h,
                                      std::size_t skip) {
  const std::size_t d = S.cols();
  std::vector<long double> exponents(S.rows(), -INFINITY);
  long double top = -INFINITY;
  for (std::size_t j = 0; j < S.rows(); ++j) {
    if (j == skip) continue;
    long double r2 = 0.0L;
    for (std::size_t k = 0; k < d; ++k) {
      const long double diff = static_cast<long double>(S(j, k)) - x[k];
      r2 += diff * diff;
    }
    exponents[j] = kernel == Kernel::gauss ? -r2 / (2.0L * h * h) : -std::sqrt(r2) / h;
    top = std::max(top, exponents[j]);
  }
  long double weight = 0.0L;
  std::vector<long double> shift(d, 0.0L);
  for (std::size_t j = 0; j < S.rows(); ++j) {
    if (j == skip) continue;
    const long double w = std::exp(exponents[j] - top);
    weight += w;
    for (std::size_t k = 0; k < d; ++k) shift[k] += w * (static_cast<long double>(S(j, k)) - x[k]);
  }
  std::vector<double> out(d, 0.0);
  if (weight > 0.0L)
    for (std::size_t k = 0; k < d; ++k) out[k] = static_cast<double>(shift[k] / weight);
  return out;
}

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

TEST(DriftingLayout, TileRangesCoverEveryRowOnceInWholeTiles) {
  for (std::size_t count : {0u, 1u, 7u, 64u, 65u, 1000u})
    for (int size : {1, 2, 3, 5}) {
      std::size_t next = 0;
      for (int rank = 0; rank < size; ++rank) {
        const par::Range r = tile_range(count, 16, rank, size);
        EXPECT_EQ(r.begin, next);
        EXPECT_TRUE(r.begin % 16 == 0 || r.begin == count);
        next = r.end;
      }
      EXPECT_EQ(next, count);
    }
  EXPECT_DOUBLE_EQ(rule_bandwidth(10000, 1, 2.0, 0.5), 2.0 * 0.5 * std::pow(10000.0, -0.2));
}

TEST(DriftingLayout, OrderedSumsAndMomentsMatchDirectOnes) {
  const auto& comm = World::comm();
  const Matrix all = normal_rows(203, 3, 1.5, 2.0, 1);
  const Matrix local = local_rows(all, 16, comm);
  const Moments moments = compute_moments(local, all.rows(), 16, true, comm);
  const auto mean = test::mean_of(all);
  const Matrix covariance = test::covariance_of(all);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(moments.mean[k], mean[k], 1e-13);
  EXPECT_LT(test::relative_difference(moments.covariance, covariance), 1e-13);
  EXPECT_NEAR(moments.sigma,
              std::sqrt((covariance(0, 0) + covariance(1, 1) + covariance(2, 2)) / 3.0), 1e-13);
  const Moments diagonal_only = compute_moments(local, all.rows(), 16, false, comm);
  EXPECT_NEAR(diagonal_only.sigma, moments.sigma, 1e-13);

  std::vector<double> values(local.rows());
  for (std::size_t i = 0; i < local.rows(); ++i) values[i] = local(i, 0);
  double direct = 0.0;
  for (std::size_t i = 0; i < all.rows(); ++i) direct += all(i, 0);
  EXPECT_NEAR(ordered_sum(values, all.rows(), 16, comm), direct, 1e-11);
}

struct FieldCase {
  Kernel kernel;
  bool self_interaction;
  std::size_t dimension;
};

class DriftingField : public testing::TestWithParam<FieldCase> {};

// Both kernels, with and without the self term, against a direct long-double double loop. One
// particle sits 40 bandwidths away from everything, where plain exponentials underflow.
TEST_P(DriftingField, MeanShiftsMatchDirectDoubleLoop) {
  const auto& comm = World::comm();
  const auto [kernel, self, d] = GetParam();
  const std::size_t tile = 16;
  const double h = 0.4;
  const Matrix data = normal_rows(157, d, 1.0, 0.5, 2);
  Matrix particles = normal_rows(83, d, 1.3, 0.0, 3);
  for (std::size_t k = 0; k < d; ++k)
    particles(5, k) = 40.0 * h * (kernel == Kernel::gauss ? 1.0 : 20.0);
  const DriftField field(local_rows(data, tile, comm), data.rows(), kernel, h, self, tile, comm);
  const Matrix local = local_rows(particles, tile, comm);
  Matrix toward_data, toward_model, velocity;
  field.mean_shifts(local, particles.rows(), toward_data, toward_model);
  field.velocity(local, particles.rows(), velocity);
  const par::Range range = tile_range(particles.rows(), tile, comm.rank(), comm.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < range.size(); ++i) {
    const std::size_t g = range.begin + i;
    const auto m_data = direct_mean_shift(particles.row(g).data(), data, kernel, h, kNone);
    const auto m_model =
        direct_mean_shift(particles.row(g).data(), particles, kernel, h, self ? kNone : g);
    for (std::size_t k = 0; k < d; ++k) {
      worst =
          std::max(worst, std::abs(toward_data(i, k) - m_data[k]) / (1.0 + std::abs(m_data[k])));
      worst =
          std::max(worst, std::abs(toward_model(i, k) - m_model[k]) / (1.0 + std::abs(m_model[k])));
      EXPECT_DOUBLE_EQ(velocity(i, k), toward_data(i, k) - toward_model(i, k));
    }
  }
  // Far-away exponents (~ -10^4) carry their own rounding of ~1e-12 relative into the weights.
  EXPECT_LT(worst, 1e-11);
}

INSTANTIATE_TEST_SUITE_P(Kernels, DriftingField,
                         testing::Values(FieldCase{Kernel::gauss, true, 1},
                                         FieldCase{Kernel::gauss, false, 2},
                                         FieldCase{Kernel::gauss, true, 5},
                                         FieldCase{Kernel::laplace, true, 2},
                                         FieldCase{Kernel::laplace, false, 3}));

// METHOD section 7: with the Gaussian kernel v = h^2 (grad log KDE_data - grad log KDE_model). The
// gradients here are central finite differences of log KDEs summed directly: they share nothing
// with the mean-shift code but the definition of the kernel.
TEST(DriftingField, GaussianFieldIsScaledDifferenceOfKdeScores) {
  const auto& comm = World::comm();
  const std::size_t tile = 32, d = 2;
  const Matrix data = normal_rows(240, d, 1.0, 0.7, 4);
  const Matrix particles = normal_rows(130, d, 1.5, 0.0, 5);
  for (bool self : {true, false}) {
    const double h = 0.35;
    const DriftField field(local_rows(data, tile, comm), data.rows(), Kernel::gauss, h, self, tile,
                           comm);
    Matrix velocity;
    field.velocity(local_rows(particles, tile, comm), particles.rows(), velocity);
    const par::Range range = tile_range(particles.rows(), tile, comm.rank(), comm.size());
    const double step = 1e-5;
    for (std::size_t i = 0; i < range.size(); ++i) {
      const std::size_t g = range.begin + i;
      for (std::size_t k = 0; k < d; ++k) {
        double plus[2] = {particles(g, 0), particles(g, 1)};
        double minus[2] = {particles(g, 0), particles(g, 1)};
        plus[k] += step;
        minus[k] -= step;
        const std::size_t skip = self ? kNone : g;
        const long double score_data = (log_kde(plus, data, Kernel::gauss, h, kNone) -
                                        log_kde(minus, data, Kernel::gauss, h, kNone)) /
                                       (2.0L * step);
        const long double score_model = (log_kde(plus, particles, Kernel::gauss, h, skip) -
                                         log_kde(minus, particles, Kernel::gauss, h, skip)) /
                                        (2.0L * step);
        const double expected = static_cast<double>(h * h * (score_data - score_model));
        EXPECT_NEAR(velocity(i, k), expected, 1e-7 * (1.0 + std::abs(expected)))
            << "particle " << g << " axis " << k << " self " << self;
      }
    }
  }
}

// The Laplace field is not a scaled KDE score difference: the same check must fail for it, which
// shows the finite-difference check above can tell the two apart.
TEST(DriftingField, LaplaceFieldIsNotAScoreDifference) {
  const auto& comm = World::comm();
  const std::size_t tile = 32, d = 2;
  const Matrix data = normal_rows(240, d, 1.0, 0.7, 4);
  const Matrix particles = normal_rows(64, d, 1.5, 0.0, 5);
  const double h = 0.35;
  const DriftField field(local_rows(data, tile, comm), data.rows(), Kernel::laplace, h, true, tile,
                         comm);
  Matrix velocity;
  field.velocity(local_rows(particles, tile, comm), particles.rows(), velocity);
  const par::Range range = tile_range(particles.rows(), tile, comm.rank(), comm.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < range.size(); ++i) {
    const std::size_t g = range.begin + i;
    double plus[2] = {particles(g, 0) + 1e-5, particles(g, 1)};
    double minus[2] = {particles(g, 0) - 1e-5, particles(g, 1)};
    const long double score = (log_kde(plus, data, Kernel::laplace, h, kNone) -
                               log_kde(minus, data, Kernel::laplace, h, kNone) -
                               log_kde(plus, particles, Kernel::laplace, h, kNone) +
                               log_kde(minus, particles, Kernel::laplace, h, kNone)) /
                              2e-5L;
    worst = std::max(worst, std::abs(velocity(i, 0) - static_cast<double>(h * h * score)));
  }
  EXPECT_GT(comm.allreduce_max(worst), 1e-2);
}

TEST(DriftingEnergy, MatchesDirectVStatistic) {
  const auto& comm = World::comm();
  const std::size_t tile = 8;
  const Matrix X = normal_rows(61, 3, 1.0, 0.0, 6);
  const Matrix Y = normal_rows(45, 3, 1.2, 0.3, 7);
  const EnergyDistance energy(local_rows(Y, tile, comm), Y.rows(), tile, comm);
  const double computed = energy(local_rows(X, tile, comm), X.rows());
  const auto mean_distance = [](const Matrix& A, const Matrix& B) {
    double sum = 0.0;
    for (std::size_t i = 0; i < A.rows(); ++i)
      for (std::size_t j = 0; j < B.rows(); ++j) {
        double r2 = 0.0;
        for (std::size_t k = 0; k < A.cols(); ++k) r2 += (A(i, k) - B(j, k)) * (A(i, k) - B(j, k));
        sum += std::sqrt(r2);
      }
    return sum / (static_cast<double>(A.rows()) * static_cast<double>(B.rows()));
  };
  const double expected = 2.0 * mean_distance(X, Y) - mean_distance(X, X) - mean_distance(Y, Y);
  EXPECT_NEAR(computed, expected, 1e-12);
  EXPECT_NEAR(computed, test::energy_distance(X, Y), 1e-12);
  EXPECT_NEAR(energy.reference_spread(), mean_distance(Y, Y), 1e-12);
}

DriftResult run(const Matrix& data, const DriftOptions& options, const par::Comm& comm,
                const Matrix* test_set = nullptr, double* energy_of_data = nullptr) {
  const Matrix local = local_rows(data, options.tile, comm);
  if (!test_set) return drift(local, data.rows(), options, nullptr, comm);
  const EnergyDistance energy(local_rows(*test_set, options.tile, comm), test_set->rows(),
                              options.tile, comm);
  if (energy_of_data) *energy_of_data = energy(local, data.rows());
  return drift(local, data.rows(), options, &energy, comm);
}

// Gaussian data N(m, S): particles started from N(0, I) must end with the data's mean and
// covariance within the sampling error of M data items (standard errors sqrt(S_kk / M) and about
// sqrt(2 / M) relative for the covariance).
TEST(DriftingGenerator, GaussianDataMeanAndCovarianceAreRecovered) {
  const auto& comm = World::comm();
  struct Case {
    std::vector<double> mean, covariance;
  };
  const Case cases[] = {{{1.5}, {0.49}}, {{1.0, -2.0}, {1.0, 0.6, 0.6, 0.8}}};
  for (const auto& c : cases) {
    const auto g = synth::make_gaussian(c.mean, c.covariance);
    const std::size_t d = c.mean.size(), M = 1200;
    const Matrix data = synth::draw_gaussian(g, 3, 0, M);
    DriftOptions options;
    options.init = Initialization::standard;
    options.iterations = 300;
    options.tolerance = 1e-5;
    const DriftResult result = run(data, options, comm);
    const Matrix particles = test::gather_rows(result.particles, comm);
    ASSERT_EQ(particles.rows(), M);
    EXPECT_LT(result.diagnostics.residual_velocity.back(),
              1e-2 * result.diagnostics.residual_velocity.front());
    const auto mean = test::mean_of(particles);
    const auto data_mean = test::mean_of(data);
    const Matrix covariance = test::covariance_of(particles);
    const Matrix data_covariance = test::covariance_of(data);
    for (std::size_t k = 0; k < d; ++k)
      EXPECT_NEAR(mean[k], data_mean[k], 2.0 * std::sqrt(data_covariance(k, k) / M))
          << "d = " << d << " axis " << k;
    EXPECT_LT(test::relative_difference(covariance, data_covariance), 2.0 * std::sqrt(2.0 / M))
        << "d = " << d;
  }
}

// A two-component mixture, both kernels: the energy distance of the particles to held-out data is
// within about twice that of the training data itself.
TEST(DriftingGenerator, MixtureMatchesHeldOutDataInEnergyDistance) {
  const auto& comm = World::comm();
  const auto mixture = synth::make_mixture(2, 2, 2.5, 0.5, 7);
  const Matrix data = synth::draw_mixture(mixture, 21, 0, 1000);
  const Matrix held_out = synth::draw_mixture(mixture, 22, 0, 1000);
  for (Kernel kernel : {Kernel::gauss, Kernel::laplace}) {
    DriftOptions options;
    options.kernel = kernel;
    options.iterations = 200;
    options.energy_every = 50;
    double data_energy = 0.0;
    const DriftResult result = run(data, options, comm, &held_out, &data_energy);
    const auto& energies = result.diagnostics.energy_distance;
    ASSERT_FALSE(energies.empty());
    EXPECT_GT(energies.front(), 4.0 * data_energy) << to_string(kernel) << ": start already close";
    EXPECT_LT(energies.back(), 2.0 * data_energy) << to_string(kernel);
  }
}

// The same particles, bitwise, for any number of ranks (README): the run on all ranks against runs
// on one rank and, with three or more ranks, on two. 257 particles in tiles of 16: every rank holds
// tiles of particles and of data, and the ring visits them in another order on every rank count.
TEST(DriftingGenerator, ParticlesAreIndependentOfTheNumberOfRanks) {
  const auto& world = World::comm();
  const Matrix data = normal_rows(301, 3, 1.0, 0.5, 8);
  for (Kernel kernel : {Kernel::gauss, Kernel::laplace})
    for (bool self : {true, false}) {
      DriftOptions options;
      options.kernel = kernel;
      options.self_interaction = self;
      options.particles = 257;
      options.tile = 16;
      options.iterations = 30;
      options.init = Initialization::standard;
      const DriftResult all = run(data, options, world);
      const par::Comm single = par::Comm::self();
      const DriftResult serial = run(data, options, single);
      double worst = 0.0;
      for (std::size_t i = 0; i < all.range.size(); ++i)
        for (std::size_t k = 0; k < 3; ++k)
          worst = std::max(
              worst, std::abs(all.particles(i, k) - serial.particles(all.range.begin + i, k)));
      EXPECT_EQ(worst, 0.0) << to_string(kernel) << " self " << self;
      EXPECT_EQ(all.diagnostics.residual_velocity, serial.diagnostics.residual_velocity);
      EXPECT_GT(all.range.size(), 0u);  // work on every rank
      if (world.size() >= 3) {
        const par::Comm pair = world.split(world.rank() < 2 ? 0 : 1, world.rank());
        const DriftResult two = run(data, options, pair);
        if (world.rank() < 2)
          for (std::size_t i = 0; i < two.range.size(); ++i)
            for (std::size_t k = 0; k < 3; ++k)
              EXPECT_EQ(two.particles(i, k), serial.particles(two.range.begin + i, k));
      }
    }
}

TEST(DriftingGenerator, RejectsBadSettings) {
  const auto& comm = World::comm();
  const Matrix data = normal_rows(40, 2, 1.0, 0.0, 9);
  DriftOptions options;
  options.step = -1.0;
  EXPECT_THROW(run(data, options, comm), UsageError);
  options = DriftOptions{};
  options.tile = 12;
  EXPECT_THROW(run(data, options, comm), UsageError);
  options = DriftOptions{};
  // Errors agreed by all ranks arrive as CollectiveError carrying the exit code of their class.
  const auto exit_code_of = [&](const DriftOptions& o, const Matrix& d) {
    try {
      run(d, o, comm);
    } catch (const Error& e) {
      return e.code();
    }
    return ExitCode::success;
  };
  Matrix constant(40, 2, 1.0);
  EXPECT_EQ(exit_code_of(options, constant), ExitCode::input);  // no spread for the bandwidth rule
  options.bandwidth = 0.5;
  EXPECT_EQ(exit_code_of(options, constant), ExitCode::input);  // singular covariance
  options.init = Initialization::standard;
  options.iterations = 2;
  EXPECT_NO_THROW(run(constant, options, comm));
  EXPECT_THROW(parse_kernel("cauchy"), UsageError);
}

TEST(DriftingGenerator, EachSettingIsCheckedOnceNamingItsOption) {
  // DriftOptions::validate is what drift() and `ksi drift` both call: one check, one message.
  const auto message = test::validation_message<DriftOptions>;
  EXPECT_EQ(message([](DriftOptions&) {}), "");
  EXPECT_NE(message([](DriftOptions& o) { o.tile = 12; }).find("--tile"), std::string::npos);
  EXPECT_NE(message([](DriftOptions& o) { o.step = 0.0; }).find("--step"), std::string::npos);
  EXPECT_NE(message([](DriftOptions& o) { o.step = std::nan(""); }).find("--step"),
            std::string::npos);
  EXPECT_NE(message([](DriftOptions& o) { o.tolerance = -1.0; }).find("--tolerance"),
            std::string::npos);
  EXPECT_NE(message([](DriftOptions& o) { o.bandwidth = -0.5; }).find("--bandwidth must"),
            std::string::npos);
  // With a fixed bandwidth the rule's constant is unused, but a nonsensical one is still an error.
  EXPECT_NE(message([](DriftOptions& o) {
              o.bandwidth = 0.5;
              o.bandwidth_constant = 0.0;
            }).find("--bandwidth-constant"),
            std::string::npos);
  // What depends on the data's dimension: once, for drift() and `ksi drift` alike.
  DriftOptions o;
  EXPECT_NO_THROW(o.validate_dimension(1024));
  EXPECT_NE(test::usage_error_of([&] { o.validate_dimension(1025); }).find("--init standard"),
            std::string::npos);
  o.init = Initialization::standard;
  EXPECT_NO_THROW(o.validate_dimension(1 << 20));
}

}  // namespace
// The particles file: the particles as items, in place on any number of ranks, with the run's
// settings and diagnostics; an existing file is kept without --force.
TEST(ParticlesFile, HoldsTheParticlesAndTheRunAndNeverOverwritesWithoutForce) {
  const auto& comm = World::comm();
  test::ScratchDir dir("particles");
  const auto g = synth::make_gaussian({0.5, -1.0}, {1.0, 0.2, 0.2, 0.5});
  const Matrix data = synth::draw_gaussian(g, 3, 0, 40),
               test_set = synth::draw_gaussian(g, 4, 0, 30);
  DriftOptions options;
  options.iterations = 5;
  options.tile = 8;  // 5 tiles of particles: work on every rank of up to 3
  double data_energy = 0.0;
  const DriftResult result = run(data, options, comm, &test_set, &data_energy);
  ParticlesFile file;
  file.path = dir.path("p.h5");
  file.shape = ItemShape::vector(2);
  file.data_path = "data.h5";
  file.test_path = "test.h5";
  file.data_items = 40;
  file.data_energy = data_energy;
  write_particles(file, options, result, comm);
  const auto back = io::read_items(file.path, comm, result.range);
  EXPECT_EQ(test::relative_difference(back.values, result.particles), 0.0);
  {
    io::File f = io::File::open(file.path, comm);
    const io::Group root = f.root();
    EXPECT_EQ(root.text_attribute("ksi_file_kind"), "particles");
    EXPECT_EQ(root.text_attribute("test"), "test.h5");
    EXPECT_EQ(root.integer_attribute("updates"), static_cast<std::int64_t>(result.updates));
    EXPECT_EQ(root.real_attribute("bandwidth"), result.bandwidth);
    const io::Group diag = root.open_group("diagnostics");
    EXPECT_EQ(diag.read_reals("residual_velocity"), result.diagnostics.residual_velocity);
    EXPECT_EQ(diag.real_attribute("data_to_test_energy_distance"), data_energy);
  }
  Matrix other = result.particles;
  for (double& v : other.values()) v += 1.0;
  DriftResult changed = result;
  changed.particles = other;
  EXPECT_THROW(write_particles(file, options, changed, comm), Error);
  EXPECT_EQ(test::relative_difference(io::read_items(file.path, comm, result.range).values,
                                      result.particles),
            0.0)
      << "the existing file is kept";
}

}  // namespace ksi::drifting
