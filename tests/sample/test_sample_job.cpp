// Sampling runs: outputs bitwise independent of ranks and of interruptions; partial outputs of an
// interrupted run are resumed (on any number of ranks), never silently dropped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "gaussian_reference.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/items.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/signals.hpp"
#include "ksi/sample/calibration.hpp"
#include "ksi/sample/job.hpp"
#include "ksi/sample/sample.hpp"
#include "support/test_support.hpp"

using namespace ksi;
namespace fs = std::filesystem;

namespace {

struct SamplingRun {
  Model model = test::exact_gaussian_model(synth::random_gaussian(3, 50), "linear", 21);
  sample::SampleOptions options;
  sample::SampleJob job;
  SamplingRun() {
    options.steps = 10;
    options.batch = 8;
    job.count = 61;
    job.flush_every_seconds = 0;
  }
  void run(const par::Comm& comm) const { sample::run_sampling(model, options, job, comm); }
};

Matrix read_all(const std::string& path, const par::Comm& comm) {
  return io::read_items(path, comm, par::Range{0, 61}).values;
}

}  // namespace

TEST(SamplingRun, InterruptedAndResumedEqualsUninterruptedBitwise) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("samplejob");
  SamplingRun reference;
  reference.job.out = dir.path("reference.h5");
  reference.run(comm);

  SamplingRun run;
  run.job.out = dir.path("resumed.h5");
  par::request_stop();  // as if SIGUSR1 arrived during the first batch
  test::expect_interrupted([&] { run.run(comm); });
  EXPECT_TRUE(fs::exists(run.job.out + ".partial"));
  EXPECT_FALSE(fs::exists(run.job.out));
  // Without --resume or --force the partial output is never dropped.
  try {
    run.run(comm);
    FAIL() << "partial output overwritten";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::io);
  }
  run.job.resume = true;
  run.run(comm);
  EXPECT_FALSE(fs::exists(run.job.out + ".partial"));
  const Matrix a = read_all(reference.job.out, comm), b = read_all(run.job.out, comm);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(double)));
}

TEST(SamplingRun, ResumesOnAnotherNumberOfRanks) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("samplejob2");
  SamplingRun reference;
  reference.job.out = dir.path("reference.h5");
  const auto self = par::Comm::self();
  if (comm.is_root()) reference.run(self);
  comm.barrier();
  SamplingRun run;
  run.job.out = dir.path("resumed.h5");
  par::request_stop();
  test::expect_interrupted([&] { run.run(comm); });
  run.job.resume = true;
  if (comm.is_root()) {
    run.run(self);
    const Matrix a = read_all(reference.job.out, self), b = read_all(run.job.out, self);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(double)));
  }
  comm.barrier();
}

TEST(SamplingRun, RampModelOnItsGridIsTheSameOnAnyNumberOfRanks) {
  // eta ramping over a quarter of each interval: the sampler steps through the model's grid (a node
  // at every grid time and ramp end). 8 batches of 8: every rank of 1-3 integrates some. The same
  // bytes as one rank alone, and not the bytes of equal steps (the grid path is the one taken).
  const auto& comm = test::World::comm();
  test::ScratchDir dir("samplejob_ramp");
  const auto ramp_run = [](sample::StepGrid grid) {
    SamplingRun r;
    r.model.set_eta_interpolation(EtaInterpolation::ramp);
    r.model.set_eta_ramp_fraction(0.25);
    r.options.step_grid = grid;
    return r;
  };
  SamplingRun ranks = ramp_run(sample::StepGrid::model);
  ranks.job.out = dir.path("ranks.h5");
  ranks.run(comm);
  const auto self = par::Comm::self();
  if (comm.is_root()) {
    SamplingRun one = ramp_run(sample::StepGrid::model);
    one.job.out = dir.path("one.h5");
    one.run(self);
    SamplingRun uniform = ramp_run(sample::StepGrid::uniform);
    uniform.job.out = dir.path("uniform.h5");
    uniform.run(self);
    const Matrix a = read_all(ranks.job.out, self), b = read_all(one.job.out, self),
                 u = read_all(uniform.job.out, self);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(double)));
    double differ = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i)
      differ = std::max(differ, std::abs(a.data()[i] - u.data()[i]));
    EXPECT_GT(differ, 1e-6) << "the model grid gave the equal steps' samples";
  }
  comm.barrier();
}

TEST(SamplingRun, PartialOutputOfAnotherRunIsRefused) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("samplejob3");
  SamplingRun run;
  run.job.out = dir.path("samples.h5");
  par::request_stop();
  test::expect_interrupted([&] { run.run(comm); });
  run.job.resume = true;
  run.options.seed = 9;
  try {
    run.run(comm);
    FAIL() << "foreign partial output accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("seed = 1 there, 9 here"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(run.job.out + ".partial"));  // still there for the right run
}

TEST(SamplingRun, DefaultBatchDependsOnTheModelOnly) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("samplebatch");
  SamplingRun automatic;
  automatic.options.batch = 0;                             // --batch 0, the CLI default
  EXPECT_EQ(sample::default_batch(automatic.model), 64u);  // small items: 64 per batch
  automatic.job.out = dir.path("automatic.h5");
  automatic.run(comm);
  SamplingRun explicit_batch;
  explicit_batch.options.batch = 64;
  explicit_batch.job.out = dir.path("explicit.h5");
  explicit_batch.run(comm);
  const Matrix a = read_all(automatic.job.out, comm), b = read_all(explicit_batch.job.out, comm);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(double)));
}

TEST(SamplingRun, SamplesBeyondTheCopulaTablesEndsAreRecordedAndCounted) {
  // A drift of zero in copula units: the D* sampler ends at white N(0, 1) states (trig schedule:
  // the noise's variance integrates to 1); shell powers 1/4 colour them by 1/2 and the mean 0.5 is
  // added: each value's Gaussian level is z / 2 + 0.5. A table over [-1, 1] leaves P(z < -3) +
  // P(z > 1) = 0.160 of the values beyond its ends (0.375 without the colouring, 0.046 without the
  // mean); one over [-6, 6] none. The table is the identity, clamped at its ends: a sample's
  // recorded fraction is exactly its share of data values at +-1 (rows placed by sample id).
  const auto& comm = test::World::comm();
  test::ScratchDir dir("samplejob-escaped");
  const std::vector<std::size_t> dims{16, 16};
  const auto model_with_table = [&](double half_width) {
    Standardization st;
    st.mode = "copula";
    st.mean = 0.5;
    st.shell_power.assign(fft::SpectralShells(dims).count(), 0.25);
    for (int i = -100; i <= 100; ++i) {
      st.marginal.z.push_back(half_width * i / 100.0);
      st.marginal.x.push_back(half_width * i / 100.0);
    }
    const ItemShape shape = ItemShape::grid(dims);
    auto features = std::make_unique<features::RandomFourierFeatures>(shape, 4, 1.0, 7);
    Matrix eta(2, features->size(), 0.0);
    return Model(std::move(features), make_schedule("trig"), shape, std::move(st), {0.0, 1.0},
                 std::move(eta));
  };
  sample::SampleOptions options;
  options.steps = 8;
  options.batch = 5;  // 4 batches: rounds where some ranks have none, a short last batch
  sample::SampleJob job;
  job.count = 16;
  job.flush_every_seconds = 0;
  for (const double half_width : {1.0, 6.0}) {
    job.out = dir.path(sformat("escaped-%g.h5", half_width));
    sample::run_sampling(model_with_table(half_width), options, job, comm);
    io::File file = io::File::open(job.out, comm);
    const io::Group group = file.root().open_group("sde");
    const auto fraction = group.read_reals("escaped_fraction");
    ASSERT_EQ(fraction.size(), job.count);
    const Matrix fields = io::read_items(job.out, comm, par::Range{0, job.count}).values;
    double mean = 0.0;
    for (std::size_t i = 0; i < job.count; ++i) {
      std::size_t clamped = 0;
      for (const double v : fields.row(i)) clamped += std::abs(v) == half_width ? 1 : 0;
      EXPECT_EQ(fraction[i], static_cast<double>(clamped) / static_cast<double>(fields.cols()))
          << "sample " << i;
      mean += fraction[i] / static_cast<double>(job.count);
    }
    if (half_width == 1.0) {
      for (const double f : fraction) EXPECT_GT(f, sample::kEscapedWarning);
      EXPECT_NEAR(mean, 0.160, 0.025);  // sd of the mean 0.006
      EXPECT_EQ(group.integer_attribute("run_away"), 16);
    } else {
      EXPECT_EQ(mean, 0.0);
      EXPECT_EQ(group.integer_attribute("run_away"), 0);
    }
  }
}

TEST(SampleOptionsCheck, EachSettingIsCheckedOnceAndNamesItsOption) {
  // One check per options struct, its message naming the option of the command that sets it.
  EXPECT_EQ(test::validation_message<sample::SampleOptions>([](auto&) {}), "");
  EXPECT_EQ(test::usage_error_of([] {
              sample::SampleOptions o;
              o.steps = 0;
              o.validate("guide-");
            }),
            "--guide-steps must be at least 1");
  EXPECT_NE(test::usage_error_of([] {
              sample::SampleOptions o;
              o.diffusion_scale = 0.25;
              o.validate("calibrate-");
            }).find("--calibrate-diffusion-scale must be at least 0.5"),
            std::string::npos);
  EXPECT_EQ(test::validation_message<sample::SampleOptions>([](auto& o) { o.diffusion = -1.0; }),
            "--diffusion must be non-negative");
  EXPECT_EQ(test::validation_message<sample::SampleJob>([](auto&) {}), "");
  EXPECT_EQ(test::validation_message<sample::SampleJob>([](auto& j) { j.count = 0; }),
            "--count must be positive");
  EXPECT_EQ(
      test::validation_message<sample::SampleJob>([](auto& j) { j.flush_every_seconds = -1.0; }),
      "--flush-every must be >= 0");
  EXPECT_EQ(test::validation_message<sample::CalibrationOptions>([](auto&) {}), "");
  EXPECT_EQ(test::validation_message<sample::CalibrationOptions>([](auto& c) { c.tolerance = 0; }),
            "--calibrate-tolerance must be positive");
  EXPECT_EQ(test::validation_message<sample::CalibrationOptions>(
                [](auto& c) { c.checkpoint.every_seconds = -5; }),
            "--checkpoint-every must be a finite number of seconds >= 0");
  EXPECT_EQ(test::validation_message<sample::CalibrationOptions>([](auto& c) {
              c.checkpoint.every_seconds = std::numeric_limits<double>::infinity();
            }),
            "--checkpoint-every must be a finite number of seconds >= 0");
}

TEST(SampleOptionsCheck, AnInterruptedRunsStateIsRefusedWithoutResumeOrForce) {
  const auto& comm = test::World::comm();
  const test::ScratchDir dir("interrupted");
  const std::string partial = dir.path("s.h5.partial");
  io::check_interrupted(partial, "partial output", false, false, comm);  // none there: fine
  if (comm.is_root()) std::ofstream(partial) << "x";
  comm.barrier();
  try {
    io::check_interrupted(partial, "partial output", false, false, comm);
    ADD_FAILURE() << "an interrupted run's state was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::io);
    EXPECT_EQ(std::string(e.what()), "partial output " + partial +
                                         " of an interrupted run exists: use --resume to "
                                         "continue it, or --force to start over");
  }
  EXPECT_NO_THROW(io::check_interrupted(partial, "partial output", true, false, comm));
  EXPECT_NO_THROW(io::check_interrupted(partial, "partial output", false, true, comm));
}
