// Checkpoint and restart of the fit: a run stopped by a signal and resumed (on the same or another
// number of ranks) gives bitwise the eta of an uninterrupted run; a checkpoint of another
// configuration is refused naming what differs.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "ksi/core/error.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/par/signals.hpp"
#include "ksi/synth/vectors.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

// Polynomial features that raise a stop request (as SIGUSR1 would) on rank 0 at the n-th batch.
class StopAfter final : public features::FeatureMap {
 public:
  StopAfter(std::size_t d, int batches, bool on_this_rank)
      : inner_(ItemShape::vector(d)), remaining_(batches), active_(on_this_rank) {}
  std::string kind() const override { return inner_.kind(); }
  std::size_t size() const override { return inner_.size(); }
  const ItemShape& input_shape() const override { return inner_.input_shape(); }
  void evaluate(std::span<const double> x, std::span<double> phi) const override {
    inner_.evaluate(x, phi);
  }
  void vjp(std::span<const double> x, std::span<const double> eta,
           std::span<double> g) const override {
    inner_.vjp(x, eta, g);
  }
  void accumulate(const Matrix& X, const Matrix& V, Matrix& K, std::span<double> h) const override {
    inner_.accumulate(X, V, K, h);
    if (active_ && --remaining_ == 0) par::request_stop();
  }
  std::size_t preferred_batch() const override { return 8; }
  features::FeatureSpec spec() const override { return inner_.spec(); }

 private:
  features::PolynomialFeatures inner_;
  mutable int remaining_;
  bool active_;
};

struct FitRun {
  synth::Gaussian g = synth::random_gaussian(3, 40);
  std::size_t items = 400;
  fit::FitOptions options;
  FitRun() {
    options.times = 6;
    options.draws = 2;
    options.checkpoint.every_seconds = 0;
  }
  Model run(const par::Comm& comm, std::unique_ptr<features::FeatureMap> map) const {
    const auto range = fit::assembly_item_range(items, fit::items_per_batch(options, *map),
                                                comm.rank(), comm.size());
    const Matrix local = synth::draw_gaussian(g, 1, range.begin, range.size());
    return fit::fit_model(local, range.begin, items, std::move(map), ItemShape::vector(3),
                          Standardization{}, options, comm);
  }
  std::unique_ptr<features::FeatureMap> plain() const {
    return std::make_unique<StopAfter>(3, -1, false);
  }
  std::unique_ptr<features::FeatureMap> stopping(int after, const par::Comm& comm) const {
    return std::make_unique<StopAfter>(3, after, comm.is_root());
  }
};

}  // namespace

TEST(FitCheckpoint, StoppedAndResumedEqualsUninterruptedBitwise) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("ckpt");
  FitRun s;
  const Model reference = s.run(comm, s.plain());
  for (const std::size_t chunk_budget_times : {6u, 2u}) {
    FitRun run = s;
    const std::size_t P = reference.features().size();
    // chunk_budget_times times per chunk: stops then fall in the first or a later chunk.
    run.options.memory_mb =
        (2.0 * P * P * 8 + (chunk_budget_times + 0.5) * (P * (P + 1) / 2 + 3 * P + 1) * 16) /
        1048576.0;
    run.options.checkpoint.path = dir.path("fit.checkpoint" + std::to_string(chunk_budget_times));
    for (int stop_at : {1, 7, 30}) {
      std::filesystem::remove(run.options.checkpoint.path);
      test::expect_interrupted([&] { run.run(comm, run.stopping(stop_at, comm)); });
      ASSERT_TRUE(std::filesystem::exists(run.options.checkpoint.path));
      run.options.checkpoint.resume = true;
      const Model resumed = run.run(comm, run.plain());
      run.options.checkpoint.resume = false;
      EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0)
          << "chunk " << chunk_budget_times << " stop " << stop_at;
      // The finished chunks' feature targets come from the checkpoint.
      EXPECT_EQ(test::relative_difference(resumed.targets().mean, reference.targets().mean), 0.0);
      EXPECT_EQ(test::relative_difference(resumed.targets().variance, reference.targets().variance),
                0.0);
      EXPECT_EQ(test::relative_difference(resumed.targets().rhs, reference.targets().rhs), 0.0);
    }
  }
}

TEST(FitCheckpoint, StoppedTwiceThenResumed) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("ckpt2");
  FitRun s;
  const Model reference = s.run(comm, s.plain());
  s.options.checkpoint.path = dir.path("fit.checkpoint");
  test::expect_interrupted([&] { s.run(comm, s.stopping(3, comm)); });
  s.options.checkpoint.resume = true;
  test::expect_interrupted([&] { s.run(comm, s.stopping(5, comm)); });
  const Model resumed = s.run(comm, s.plain());
  EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
}

TEST(FitCheckpoint, ResumesOnAnotherNumberOfRanks) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("ckpt3");
  FitRun s;
  const Model reference = s.run(comm, s.plain());
  s.options.checkpoint.path = dir.path("fit.checkpoint");
  test::expect_interrupted([&] { s.run(comm, s.stopping(4, comm)); });
  s.options.checkpoint.resume = true;
  if (comm.is_root()) {
    const auto self = par::Comm::self();
    const Model resumed = s.run(self, s.plain());
    EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
  }
  comm.barrier();
}

TEST(FitCheckpoint, IntervalCheckpointsChangeNothing) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("ckpt4");
  FitRun s;
  const Model reference = s.run(comm, s.plain());
  s.options.checkpoint.path = dir.path("fit.checkpoint");
  s.options.checkpoint.every_seconds = 1e-9;  // after every batch
  const Model checkpointed = s.run(comm, s.plain());
  EXPECT_EQ(test::relative_difference(checkpointed.eta(), reference.eta()), 0.0);
  EXPECT_TRUE(std::filesystem::exists(s.options.checkpoint.path));
}

TEST(FitCheckpoint, AnotherConfigurationIsRefusedNamingTheDifference) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("ckpt5");
  FitRun s;
  s.options.checkpoint.path = dir.path("fit.checkpoint");
  test::expect_interrupted([&] { s.run(comm, s.stopping(2, comm)); });
  s.options.checkpoint.resume = true;
  s.options.draws = 3;
  try {
    s.run(comm, s.plain());
    FAIL() << "a foreign checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("draws = 2 there, 3 here"), std::string::npos) << e.what();
  }
}

TEST(FitTargets, MomentsOfTheLastTimeAreTheTrainingFeatures) {
  // At t = 1 every pair is I_1 = x1: the stored feature moments there are the mean and variance of
  // the training items' features, which the model also stores one by one in item order.
  const auto& comm = test::World::comm();
  FitRun s;
  const Model model = s.run(comm, s.plain());
  const Matrix& phi = model.training_features();
  ASSERT_EQ(phi.rows(), s.items);
  ASSERT_EQ(phi.cols(), model.features().size());
  const std::size_t T = model.times().size(), P = phi.cols();
  const Matrix first_items = synth::draw_gaussian(s.g, 1, 0, 3);
  std::vector<double> expected(P);
  for (std::size_t i = 0; i < 3; ++i) {
    model.features().evaluate(first_items.row(i), expected);
    for (std::size_t p = 0; p < P; ++p) EXPECT_EQ(phi(i, p), expected[p]) << "item " << i;
  }
  for (std::size_t p = 0; p < P; ++p) {
    double mean = 0.0, square = 0.0;
    for (std::size_t i = 0; i < phi.rows(); ++i) {
      mean += phi(i, p);
      square += phi(i, p) * phi(i, p);
    }
    mean /= static_cast<double>(phi.rows());
    const double variance = square / static_cast<double>(phi.rows()) - mean * mean;
    EXPECT_NEAR(model.targets().mean(T - 1, p), mean, 1e-12 * (1.0 + std::abs(mean))) << p;
    EXPECT_NEAR(model.targets().variance(T - 1, p), variance, 1e-9 * (1.0 + variance)) << p;
  }
  // The right-hand sides are those of the normal equations: K eta = h up to the ridge.
  EXPECT_GT(test::relative_difference(model.targets().rhs, Matrix(T, P, 0.0)), 0.5);
  // The same targets on one rank.
  if (comm.is_root()) {
    const Model alone = s.run(par::Comm::self(), s.plain());
    EXPECT_EQ(test::relative_difference(alone.targets().mean, model.targets().mean), 0.0);
    EXPECT_EQ(test::relative_difference(alone.training_features(), model.training_features()), 0.0);
  }
  comm.barrier();
}
