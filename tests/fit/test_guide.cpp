// The shell family and the guided passes: Gaussian fields with the shell family alone get the exact
// Gaussian drift and its spectrum; on log-normal fields the one-shot fit's feature moments drift
// off along the sampler's paths and the guided passes bring them back; guided models are the same
// bits on any number of ranks; an interrupted guided fit resumes from its checkpoint to the same
// eta.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/fit/guide.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/signals.hpp"
#include "ksi/sample/sample.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

constexpr std::size_t kSide = 16;
const std::vector<std::size_t> kDims{kSide, kSide};

// Per-mode power of the Gaussian fields: none on the mean, 4 / (1 + s)^2 on shell s.
double gaussian_power(std::size_t shell) {
  return shell == 0 ? 0.0 : 4.0 / ((1.0 + shell) * (1.0 + shell));
}

Matrix gaussian_fields(std::size_t first, std::size_t count) {
  return test::isotropic_gaussian_fields(
      kDims, 21, first, count, [](std::size_t s) { return std::sqrt(gaussian_power(s)); });
}

// Log-normal fields: exp(0.8 g) of the same Gaussian fields, mean removed.
Matrix lognormal_fields(std::size_t first, std::size_t count) {
  Matrix X = gaussian_fields(first, count);
  for (double& v : X.values()) v = std::exp(0.8 * v) - 1.0;
  return X;
}

struct FitSetup {
  std::size_t items = 0;
  std::function<Matrix(std::size_t, std::size_t)> data;
  Params map;
  fit::FitOptions options;
};

Model fit_on(const FitSetup& s, const par::Comm& comm) {
  const ItemShape shape = ItemShape::grid(kDims);
  // The map is normalised on the first 4 fields, dealt to ranks like any data.
  const auto first4 = par::block_range(4, comm.rank(), comm.size());
  auto probe = features::build_feature_map("scattering", s.map, shape,
                                           s.data(first4.begin, first4.size()), comm);
  const auto range = fit::assembly_item_range(s.items, fit::items_per_batch(s.options, *probe),
                                              comm.rank(), comm.size());
  return fit::fit_model(s.data(range.begin, range.size()), range.begin, s.items, std::move(probe),
                        shape, Standardization{}, s.options, comm);
}

// The model's drift on shell s, as a gain: <b(x), x> / |x|^2 for a field x on that shell alone.
double drift_gain(const Model& model, double t, std::size_t shell) {
  Matrix X = test::isotropic_gaussian_fields(
      kDims, 77, 0, 1, [shell](std::size_t s) { return s == shell ? 1.0 : 0.0; });
  Matrix B;
  model.drift(t, X, B);
  double bx = 0.0, xx = 0.0;
  for (std::size_t i = 0; i < X.cols(); ++i) {
    bx += B(0, i) * X(0, i);
    xx += X(0, i) * X(0, i);
  }
  return bx / xx;
}

FitSetup gaussian_setup() {
  FitSetup s;
  s.items = 400;
  s.data = gaussian_fields;
  s.map = {{"J", "1"}, {"families", "none"}, {"shells", "true"}};
  s.options.schedule = "trig";
  // The exact gain of a weak shell dips sharply near t = 1 (where alpha^2 ~ beta^2 lambda): a
  // Chebyshev grid of 17 times resolves it for the sampler.
  s.options.times = 17;
  s.options.time_grid = "chebyshev";
  s.options.draws = 4;
  return s;
}

FitSetup lognormal_setup(std::size_t items) {
  FitSetup s;
  s.items = items;
  s.data = lognormal_fields;
  s.map = {{"J", "2"}, {"L", "2"}, {"families", "mean+phi1+phi2"}, {"shells", "true"}};
  s.options.schedule = "trig";
  s.options.times = 5;
  s.options.draws = 2;
  return s;
}

fit::GuideOptions small_guide(std::size_t passes) {
  fit::GuideOptions g;
  g.passes = passes;
  g.ensemble = 12;
  g.batch = 2;         // 6 batches: work on every rank of up to 3
  g.gram_members = 4;  // the Gram matrix from batches 0 and 3: on two ranks of three
  g.steps = 12;
  g.tolerance = 0.0;
  return g;
}

}  // namespace

TEST(ShellFamily, GaussianFieldsGetTheExactPerShellDrift) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const Model model = fit_on(gaussian_setup(), comm);
  const Schedule& sc = model.schedule();
  const std::size_t shells = fft::SpectralShells(kDims).count();
  double largest = 0.0, worst = 0.0;
  for (const double t : model.times())
    for (std::size_t s = 1; s < shells; ++s) {
      const double a = sc.alpha(t), b = sc.beta(t), ad = sc.alpha_dot(t), bd = sc.beta_dot(t);
      largest = std::max(largest, std::abs((ad * a + bd * b * gaussian_power(s)) /
                                           (a * a + b * b * gaussian_power(s))));
    }
  const fft::SpectralShells grid_shells(kDims);
  const auto& modes = grid_shells.modes_per_shell();
  const double pairs = static_cast<double>(gaussian_setup().items) * 4.0;
  for (const double t : model.times())
    for (std::size_t s = 1; s < shells; ++s) {
      const double a = sc.alpha(t), b = sc.beta(t), ad = sc.alpha_dot(t), bd = sc.beta_dot(t);
      const double lambda = gaussian_power(s);
      const double xx = a * a + b * b * lambda, xv = ad * a + bd * b * lambda;
      const double exact = xv / xx;
      // The regression's standard error: the residual's variance per mode over the pairs' power.
      const double residual = ad * ad + bd * bd * lambda - xv * xv / xx;
      const double se = std::sqrt(std::max(residual, 0.0) / (pairs * modes[s] * xx));
      EXPECT_NEAR(drift_gain(model, t, s), exact, 4.0 * se + 0.02 * std::abs(exact))
          << "t = " << t << ", shell " << s;
      worst = std::max(worst, std::abs(drift_gain(model, t, s) - exact) / largest);
    }
  EXPECT_GT(largest, 1.0);
  // Its samples have the Gaussian spectrum within their scatter (and the D* integrator's error).
  sample::SampleOptions so;
  so.steps = 80;
  const std::size_t count = 240;
  const auto mine = par::block_range(count, comm.rank(), comm.size());
  const Matrix local = sample::generate(model, so, mine.begin, mine.size());
  const Matrix all = test::gather_rows(local, comm);
  const Matrix power = Standardization::item_shell_powers(all, kDims, 0.0);
  for (std::size_t s = 1; s < shells; ++s) {
    double mean = 0.0;
    for (std::size_t i = 0; i < count; ++i) mean += power(i, s);
    mean /= static_cast<double>(count);
    // A shell power is a mean of chi-square(1) values over m_s modes.
    const double se = gaussian_power(s) * std::sqrt(2.0 / (modes[s] * static_cast<double>(count)));
    // Plus 6 %: eta is linear in t between grid times, and the exact gain of a weak shell dips
    // sharply near t = 1 (measured: up to 6 % of excess power with 17 Chebyshev times, from 1 % to
    // 20 % with 5 uniform times).
    EXPECT_NEAR(mean, gaussian_power(s), 4.0 * se + 0.06 * gaussian_power(s)) << "shell " << s;
  }
}

namespace {

// RMS over the grid times of each pass's RMS z.
std::vector<double> pass_rms(const GuideRecord& r) {
  std::vector<double> out;
  for (std::size_t p = 0; p < r.passes(); ++p) {
    double sum = 0.0;
    for (std::size_t k = 0; k < r.rms_z.cols(); ++k) sum += r.rms_z(p, k) * r.rms_z(p, k);
    out.push_back(std::sqrt(sum / static_cast<double>(r.rms_z.cols())));
  }
  return out;
}

std::vector<double> guided_rms(FitSetup s, const par::Comm& comm,
                               fit::GuideUpdate update = fit::GuideUpdate::full) {
  Model model = fit_on(s, comm);
  fit::GuideOptions g;
  g.update = update;
  g.passes = 4;
  g.ensemble = 48;
  g.steps = 20;
  g.tolerance = 0.0;
  fit::guide_model(model, g, comm);
  EXPECT_EQ(model.guide_record().passes(), 4u);
  return pass_rms(model.guide_record());
}

}  // namespace

TEST(GuidedPasses, BringTheOneShotMomentsBack) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // Pass 1 measures the one-shot model along its own paths. On 5 uniform times its eta cannot
  // follow the sharp drift of weak shells near t = 1: the moments there are far off, and the passes
  // bring them much closer.
  const auto coarse = guided_rms(lognormal_setup(96), comm);
  EXPECT_GT(coarse.front(), 6.0);
  EXPECT_LT(coarse.back(), 0.4 * coarse.front());
  // On 9 Chebyshev times the passes bring every moment to within a few standard errors.
  FitSetup fine = lognormal_setup(96);
  fine.options.times = 9;
  fine.options.time_grid = "chebyshev";
  const auto guided = guided_rms(fine, comm);
  EXPECT_LT(*std::min_element(guided.begin() + 1, guided.end()), 2.0);
  EXPECT_LT(guided.back(), 2.5);
}

TEST(GuidedPasses, ResidualUpdatesBringTheMomentsBackAndLeaveNoiseAlone) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // The residual update corrects only the moment error: on the coarse grid it closes most of it.
  const auto coarse = guided_rms(lognormal_setup(96), comm, fit::GuideUpdate::residual);
  EXPECT_GT(coarse.front(), 6.0);
  EXPECT_LT(coarse.back(), 0.4 * coarse.front());
  // With every error inside the dead band there is nothing to correct: eta stays, bit for bit,
  // where the full update (re-solved on the ensemble) moves it.
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  fit::GuideOptions g = small_guide(1);
  g.update = fit::GuideUpdate::residual;
  g.dead_band = 1e9;
  Model still = fit_on(lognormal_setup(24), comm);
  fit::guide_model(still, g, comm);
  EXPECT_EQ(test::relative_difference(still.eta(), oneshot.eta()), 0.0);
  // A narrow band lets the errors through, except at t = 0 (the members follow rho_0 there).
  g.dead_band = 0.5;
  Model moved = fit_on(lognormal_setup(24), comm);
  fit::guide_model(moved, g, comm);
  EXPECT_GT(test::relative_difference(moved.eta(), oneshot.eta()), 1e-6);
  const auto row0 = moved.eta().row(0), one0 = oneshot.eta().row(0);
  EXPECT_TRUE(std::equal(row0.begin(), row0.end(), one0.begin(), one0.end()));
  EXPECT_EQ(moved.guide_record().settings.text("update"), "residual");
}

TEST(GuidedPasses, OneTrainingItemHasNoSpreadAtTheEnd) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // Fitted on a single item with many draws, every pair at t = 1 is that item: the targets have no
  // spread there, and the z of that time must come from the ensemble's spread rather than divide
  // by a rounding error (which read as a divergence and threw the pass away).
  FitSetup s = lognormal_setup(1);
  s.options.draws = 12;
  Model model = fit_on(s, comm);
  fit::guide_model(model, small_guide(1), comm);
  const auto& r = model.guide_record();
  EXPECT_EQ(r.settings.integer("diverged_pass"), 0);
  ASSERT_EQ(r.passes(), 1u);
  const double last = r.rms_z(0, r.rms_z.cols() - 1);
  EXPECT_TRUE(std::isfinite(last));
  EXPECT_GT(last, 0.0);
  EXPECT_LT(last, 100.0);
}

TEST(GuidedPasses, PassesAddedToAGuidedModelDrawTheNextStreams) {
  // One pass, then one more with first_stream 1 (what ksi guide sets on a model with one pass):
  // the eta of two passes in one run (K^q assembled in every pass and the last pass kept, so that
  // no state but eta carries over). With first_stream 0 the added pass would integrate the first
  // pass's members again: another eta.
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const FitSetup s = lognormal_setup(24);
  fit::GuideOptions g = small_guide(2);
  g.gram = fit::GuideGram::every;
  g.keep_best = false;
  Model both = fit_on(s, comm);
  fit::guide_model(both, g, comm);
  g.passes = 1;
  Model added = fit_on(s, comm), repeated = fit_on(s, comm);
  fit::guide_model(added, g, comm);
  fit::guide_model(repeated, g, comm);
  g.first_stream = 1;
  fit::guide_model(added, g, comm);
  EXPECT_EQ(test::relative_difference(added.eta(), both.eta()), 0.0);
  g.first_stream = 0;
  fit::guide_model(repeated, g, comm);
  EXPECT_GT(test::relative_difference(repeated.eta(), both.eta()), 1e-6);
}

TEST(GuidedPasses, TheSameBitsOnAnyNumberOfRanks) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const FitSetup s = lognormal_setup(24);
  Model model = fit_on(s, comm);
  fit::guide_model(model, small_guide(2), comm);
  if (comm.is_root()) {
    const auto self = par::Comm::self();
    Model alone = fit_on(s, self);
    fit::guide_model(alone, small_guide(2), self);
    EXPECT_EQ(test::relative_difference(alone.eta(), model.eta()), 0.0);
    EXPECT_EQ(test::relative_difference(alone.guide_record().rms_z, model.guide_record().rms_z),
              0.0);
    EXPECT_GT(test::relative_difference(alone.eta(), fit_on(s, self).eta()), 1e-6)
        << "the guided passes changed eta";
  }
  // The residual update with a dead band, likewise.
  fit::GuideOptions residual = small_guide(2);
  residual.update = fit::GuideUpdate::residual;
  residual.dead_band = 0.5;
  Model many = fit_on(s, comm);
  fit::guide_model(many, residual, comm);
  if (comm.is_root()) {
    const auto self = par::Comm::self();
    Model alone = fit_on(s, self);
    fit::guide_model(alone, residual, self);
    EXPECT_EQ(test::relative_difference(alone.eta(), many.eta()), 0.0);
    EXPECT_GT(test::relative_difference(alone.eta(), fit_on(s, self).eta()), 1e-6);
  }
  // Three passes (pass 2 the best by its z's: the models of passes 2 and 3 are measured whole), the
  // Gram matrix kept from pass 1, and eta constant between grid times, likewise.
  // So do sweep updates (the whole model measured by each pass, then every interval corrected).
  fit::GuideOptions compared = small_guide(3), kept = small_guide(3), step = small_guide(3),
                    ramp = small_guide(3), swept = small_guide(3);
  kept.gram = fit::GuideGram::first;
  step.interpolation = EtaInterpolation::step;
  ramp.interpolation = EtaInterpolation::ramp;
  swept.update = fit::GuideUpdate::sweep;
  swept.interpolation = EtaInterpolation::hybrid;
  for (const fit::GuideOptions& g : {compared, kept, step, ramp, swept}) {
    Model guided = fit_on(s, comm);
    fit::guide_model(guided, g, comm);
    if (comm.is_root()) {
      const auto self = par::Comm::self();
      Model alone = fit_on(s, self);
      fit::guide_model(alone, g, self);
      EXPECT_EQ(test::relative_difference(alone.eta(), guided.eta()), 0.0);
      EXPECT_EQ(test::relative_difference(alone.guide_record().rms_z, guided.guide_record().rms_z),
                0.0);
      EXPECT_EQ(alone.guide_record().settings.real("verified_kept_rms"),
                guided.guide_record().settings.real("verified_kept_rms"));
      EXPECT_GT(test::relative_difference(alone.eta(), fit_on(s, self).eta()), 1e-6)
          << to_string(g.update) << ": the kept model is not the one-shot's";
    }
  }
  // Every bin family (marginal, conditional, contrast) across the data's quantiles (bin_tail):
  // their calibration, the fit and a guided pass, likewise.
  FitSetup binned = s;
  binned.map.set("marginal", 5);
  binned.map.set("conditional", 3);
  binned.map.set("contrast", 2);
  binned.map.set("bin_tail", 0.01);
  Model with_bins = fit_on(binned, comm);
  fit::guide_model(with_bins, small_guide(1), comm);
  if (comm.is_root()) {
    const auto self = par::Comm::self();
    Model alone = fit_on(binned, self);
    ASSERT_EQ(alone.features().size(), with_bins.features().size());
    EXPECT_EQ(alone.features().spec().arrays.at("marginal_calibration"),
              with_bins.features().spec().arrays.at("marginal_calibration"));
    fit::guide_model(alone, small_guide(1), self);
    EXPECT_EQ(test::relative_difference(alone.eta(), with_bins.eta()), 0.0);
  }
  comm.barrier();
}

namespace {

// A feature map that raises a stop request (as SIGTERM would) on rank 0 at its n-th evaluate.
class StopAt final : public features::FeatureMap {
 public:
  StopAt(const FeatureMap& inner, int calls, bool here)
      : inner_(inner), remaining_(calls), here_(here) {}
  std::string kind() const override { return inner_.kind(); }
  std::size_t size() const override { return inner_.size(); }
  const ItemShape& input_shape() const override { return inner_.input_shape(); }
  void evaluate(std::span<const double> x, std::span<double> phi) const override {
    inner_.evaluate(x, phi);
    ++calls_;
    if (here_ && --remaining_ == 0) par::request_stop();
  }
  int calls() const { return calls_; }
  void vjp(std::span<const double> x, std::span<const double> e,
           std::span<double> g) const override {
    inner_.vjp(x, e, g);
  }
  void accumulate(const Matrix& X, const Matrix& V, Matrix& K, std::span<double> h) const override {
    inner_.accumulate(X, V, K, h);
    ++accumulations_;
  }
  int accumulations() const { return accumulations_; }
  std::size_t preferred_batch() const override { return inner_.preferred_batch(); }
  features::FeatureSpec spec() const override { return inner_.spec(); }

 private:
  const FeatureMap& inner_;
  mutable int remaining_;
  mutable int calls_ = 0;
  mutable int accumulations_ = 0;
  bool here_;
};

// `model` with its feature map replaced by `map` (same eta, targets, schedule, eta between grid
// times and guide record).
Model with_map(const Model& model, std::unique_ptr<features::FeatureMap> map) {
  Model copy(std::move(map), make_schedule(model.schedule().name()), model.shape(),
             model.standardization(), model.times(), model.eta());
  copy.set_targets(model.targets());
  copy.set_eta_interpolation(model.eta_interpolation());
  copy.set_eta_base(model.eta_base());
  copy.set_guide_record(model.guide_record());
  return copy;
}

// A new feature map of `model`'s spec, and `model` with it.
std::unique_ptr<features::FeatureMap> own_map(const Model& model) {
  return features::make_feature_map(model.features().spec(), model.shape());
}
Model with_own_map(const Model& model) {
  return with_map(model, own_map(model));
}

// Members rank 0 integrates under small_guide: its block of the 6 batches of 2.
std::size_t members_on_root(const par::Comm& comm) {
  return 2 * par::block_range(6, 0, comm.size()).size();
}

// A guide of `g` (with a checkpoint path) stopped in the fifth evaluation of its second pass: every
// grid time evaluates each member once, and rank 0 holds its block of the 6 batches of 2 members.
void stop_in_second_pass(const Model& oneshot, const fit::GuideOptions& g, const par::Comm& comm) {
  const int per_pass = static_cast<int>(members_on_root(comm) * oneshot.times().size());
  const auto inner = own_map(oneshot);
  Model interrupted =
      with_map(oneshot, std::make_unique<StopAt>(*inner, per_pass + 5, comm.is_root()));
  test::expect_interrupted([&] { fit::guide_model(interrupted, g, comm); });
}

// `g` stopped in its second pass (checkpoint at `path`) and resumed: the checkpoint is used and the
// resumed model is the uninterrupted `reference`'s bits (eta and z's). Returns where it resumed.
fit::GuideStart resume_second_pass(const Model& oneshot, fit::GuideOptions g,
                                   const std::string& path, const Model& reference,
                                   const par::Comm& comm) {
  g.checkpoint.path = path;
  g.checkpoint.every_seconds = 0;
  stop_in_second_pass(oneshot, g, comm);
  EXPECT_TRUE(std::filesystem::exists(path));
  g.checkpoint.resume = true;
  Model resumed = with_own_map(oneshot);
  const fit::GuideStart start = fit::guide_model(resumed, g, comm);
  EXPECT_TRUE(start.resumed);
  EXPECT_EQ(start.pass, 1u) << "the checkpoint of the second pass was used";
  EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(resumed.guide_record().rms_z, reference.guide_record().rms_z),
            0.0);
  EXPECT_FALSE(std::filesystem::exists(path)) << "a finished guide removes its checkpoint";
  return start;
}

}  // namespace

TEST(GuidedPasses, ResumeFromTheirCheckpoint) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide");
  const FitSetup s = lognormal_setup(24);
  const Model oneshot = fit_on(s, comm);
  Model reference = with_own_map(oneshot);
  fit::guide_model(reference, small_guide(3), comm);

  fit::GuideOptions g = small_guide(3);
  const fit::GuideStart start =
      resume_second_pass(oneshot, g, dir.path("guide.checkpoint"), reference, comm);
  // The stop came in the fifth evaluation of the pass; it is honoured at the next grid time.
  EXPECT_EQ(start.time, 4 / members_on_root(comm) + 1);

  // A checkpoint of other settings is refused, naming the difference.
  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  const auto inner = own_map(oneshot);
  Model again = with_map(oneshot, std::make_unique<StopAt>(*inner, 3, comm.is_root()));
  g.checkpoint.resume = false;
  test::expect_interrupted([&] { fit::guide_model(again, g, comm); });
  g.checkpoint.resume = true;
  g.tau = 0.3;
  try {
    Model other = with_own_map(oneshot);
    fit::guide_model(other, g, comm);
    FAIL() << "a foreign guide checkpoint was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("tau"), std::string::npos) << e.what();
  }
  // Nor by a model with another per-shell linear drift (ksi fit --shell-correction): the members
  // follow it and K^q's fixed term holds it.
  g.tau = small_guide(3).tau;
  try {
    Model other = with_own_map(oneshot);
    other.set_shell_gain(Matrix(other.times().size(), Standardization::shell_count(kDims), 0.5));
    fit::guide_model(other, g, comm);
    FAIL() << "a guide checkpoint of another shell correction was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("shell_gain"), std::string::npos) << e.what();
  }
}

// Sweep updates: a pass measures the model it starts from whole, on members no update was made
// for, then every interval is corrected at once; the last pass only measures and the model kept is
// the best measured. Resumed from a checkpoint in the second pass: the uninterrupted bits.
TEST(GuidedPasses, SweepUpdatesMeasureEachModelWholeAndKeepTheBest) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  fit::GuideOptions g;
  g.update = fit::GuideUpdate::sweep;
  g.interpolation = EtaInterpolation::hybrid;
  g.passes = 5;
  g.ensemble = 48;
  g.steps = 20;
  g.tolerance = 0.0;
  Model model = fit_on(lognormal_setup(96), comm);
  fit::guide_model(model, g, comm);
  const GuideRecord& record = model.guide_record();
  ASSERT_EQ(record.passes(), 5u);
  const auto rms = pass_rms(record);
  // Pass 1 measures the one-shot model (far off on 5 uniform times, as above).
  EXPECT_GT(rms.front(), 6.0);
  const auto kept = static_cast<std::size_t>(record.settings.integer("kept_pass"));
  ASSERT_GE(kept, 2u) << "no update made a better model";
  EXPECT_EQ(rms[kept - 1], *std::min_element(rms.begin(), rms.end()));
  EXPECT_LT(rms[kept - 1], 0.4 * rms.front());
  // The kept model measured again on fresh members (one sweep pass only measures): its z's were
  // the model's, not an ensemble's steered along.
  fit::GuideOptions again = g;
  again.passes = 1;
  again.first_stream = 5;
  Model measured = with_own_map(model);
  fit::guide_model(measured, again, comm);
  EXPECT_EQ(test::relative_difference(measured.eta(), model.eta()), 0.0);
  const double remeasured = pass_rms(measured.guide_record()).front();
  EXPECT_LT(remeasured, 1.5 * rms[kept - 1]);
  EXPECT_GT(remeasured, rms[kept - 1] / 1.5);

  // Full steps (w = 1) converge faster here, and pass 6's model measures worse than pass 5's: it is
  // not built on (pass 7 measures pass 5's model updated with half the step), and the model kept
  // is still the best measured.
  g.damping = 1.0;
  g.passes = 7;
  Model bold = fit_on(lognormal_setup(96), comm);
  fit::guide_model(bold, g, comm);
  const auto bold_rms = pass_rms(bold.guide_record());
  // Measured: 13.8, 4.42, 3.41, 2.72, 2.15, then 2.72 (worse than pass 5's).
  ASSERT_EQ(bold_rms.size(), 7u);
  EXPECT_LT(bold_rms[4], 0.25 * bold_rms.front());
  EXPECT_GT(bold_rms[5], bold_rms[4]) << "the case no longer has a model measured worse";
  const auto best = std::min_element(bold_rms.begin(), bold_rms.end());
  EXPECT_EQ(bold.guide_record().settings.integer("kept_pass"), best - bold_rms.begin() + 1);
  EXPECT_EQ(bold.guide_record().settings.real("sweep_damping"), 0.5)
      << "the update after the worse model took half the step";
  // Passes added to that model (ksi guide) go on with its last step, not the full one.
  fit::GuideOptions more = g;
  more.passes = 2;
  more.first_stream = 7;
  Model continued = with_own_map(bold);
  fit::guide_model(continued, more, comm);
  EXPECT_EQ(continued.guide_record().settings.real("sweep_damping"), 0.5)
      << "the continued sweep started again at w = 1";
  // A model that diverges counts as worse than every other; when the model the passes start from
  // does (here: every RMS z above a threshold of 1e-3), it is kept as it is.
  fit::GuideOptions strict = small_guide(3);
  strict.update = fit::GuideUpdate::sweep;
  strict.interpolation = EtaInterpolation::hybrid;
  strict.divergence = 1e-3;
  strict.divergence_growth = 0.0;
  const Model start = fit_on(lognormal_setup(24), comm);
  Model strict_model = with_own_map(start);
  fit::guide_model(strict_model, strict, comm);
  EXPECT_EQ(test::relative_difference(strict_model.eta(), start.eta()), 0.0);
  EXPECT_EQ(strict_model.guide_record().settings.integer("kept_pass"), 0);
  ASSERT_EQ(strict_model.guide_record().passes(), 1u);
  EXPECT_TRUE(std::isnan(strict_model.guide_record().rms_z(0, 1))) << "not measured past t = 0";

  // Resume: stopped in the second pass, the checkpoint (with the first pass's errors) is used.
  test::ScratchDir dir("guide_sweep");
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  fit::GuideOptions small = small_guide(3);
  small.update = fit::GuideUpdate::sweep;
  small.interpolation = EtaInterpolation::hybrid;
  Model reference = with_own_map(oneshot);
  fit::guide_model(reference, small, comm);
  EXPECT_GT(test::relative_difference(reference.eta(), oneshot.eta()), 1e-6);
  resume_second_pass(oneshot, small, dir.path("guide.checkpoint"), reference, comm);
}

// Hybrid eta resumes with the checkpoint's base: the model entering the resumed run carries another
// one-shot eta (as a fit run again on other ranks or with other solver settings could), and the
// result is still the uninterrupted run's, bit for bit.
TEST(GuidedPasses, HybridEtaResumesWithTheCheckpointsBase) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide-hybrid");
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  fit::GuideOptions g = small_guide(2);
  g.interpolation = EtaInterpolation::hybrid;
  Model reference = with_own_map(oneshot);
  fit::guide_model(reference, g, comm);
  EXPECT_EQ(test::relative_difference(reference.eta_base(), oneshot.eta()), 0.0);

  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  stop_in_second_pass(oneshot, g, comm);
  g.checkpoint.resume = true;
  Model resumed = with_own_map(oneshot);
  Matrix other = oneshot.eta();
  for (double& v : other.values()) v *= 1.5;
  resumed.set_eta(other);
  const fit::GuideStart start = fit::guide_model(resumed, g, comm);
  EXPECT_TRUE(start.resumed);
  EXPECT_EQ(start.pass, 1u) << "the checkpoint of the second pass was used";
  EXPECT_EQ(test::relative_difference(resumed.eta_base(), oneshot.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(resumed.guide_record().rms_z, reference.guide_record().rms_z),
            0.0);
}

TEST(GuidedPasses, AnOvershootingPassIsRunAgainWithLimitedSteps) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  // tau = 1e-6: each update asks the feature means to close their gap a hundred thousand times
  // faster than the grid can follow; unlimited updates overshoot and the ensemble explodes.
  fit::GuideOptions g = small_guide(2);
  g.tau = 1e-6;
  g.damping = 1.0;
  g.divergence = 100.0;
  Model unguarded = fit_on(lognormal_setup(24), comm);
  fit::GuideOptions off = g;
  off.divergence = 0.0;
  // Without the guard an exploded pass 1 would leave its K^q to pass 2 (whose solve then fails):
  // each pass assembles its own here.
  off.gram = fit::GuideGram::every;
  fit::guide_model(unguarded, off, comm);
  double worst = 0.0;
  for (const double z : unguarded.guide_record().rms_z.values())
    worst = std::max(worst, std::isfinite(z) ? z : 1e300);
  EXPECT_GT(worst, 100.0) << "the case must diverge without the guard";

  Model guarded = fit_on(lognormal_setup(24), comm);
  fit::guide_model(guarded, g, comm);
  const auto& record = guarded.guide_record();
  EXPECT_EQ(record.settings.real("step_limit"), 1.0) << "the diverged pass was run with limits";
  for (const double v : guarded.eta().values()) ASSERT_TRUE(std::isfinite(v));
  if (record.settings.integer("diverged_pass") > 0) {
    // Diverged even when limited: the model is the one the pass started from.
    const std::size_t last = static_cast<std::size_t>(record.settings.integer("diverged_pass"));
    if (last == 1) {
      const auto a = guarded.eta().values(), b = oneshot.eta().values();
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    }
  } else {
    for (const double z : record.rms_z.values()) EXPECT_LE(z, 100.0);
  }
}

TEST(GuidedPasses, RefuseBadOptionsAndModelsWithoutTargets) {
  fit::GuideOptions g;
  g.passes = 1;
  g.ensemble = 1;
  EXPECT_THROW(g.validate(), UsageError);
  g.ensemble = 8;
  g.damping = 0.0;
  EXPECT_THROW(g.validate(), UsageError);
  g.damping = 0.5;
  g.tau = -1.0;
  EXPECT_THROW(g.validate(), UsageError);
  g.tau = 0.1;
  g.dead_band = -1.0;
  EXPECT_THROW(g.validate(), UsageError);
  g.dead_band = 0.0;
  g.update = fit::GuideUpdate::residual;
  g.integral = 0.5;
  EXPECT_THROW(g.validate(), UsageError) << "the residual update integrates already";
  g.integral = 0.0;
  g.update = fit::GuideUpdate::sweep;
  EXPECT_THROW(g.validate(), UsageError) << "sweep updates need corrections constant on intervals";
  g.interpolation = EtaInterpolation::hybrid;
  EXPECT_NO_THROW(g.validate());
  g.gram = fit::GuideGram::every;
  EXPECT_THROW(g.validate(), UsageError) << "sweep updates keep K^q from the first pass";
  g.gram = fit::GuideGram::first;
  g.integral = 0.5;
  EXPECT_THROW(g.validate(), UsageError) << "sweep updates add up over passes already";
  g.integral = 0.0;
  g.interval_retries = 2;  // the default is 4: sweep passes leave it unused (ksi refuses it given)
  EXPECT_NO_THROW(g.validate()) << "sweep passes do not change eta while integrating";
  g.update = fit::GuideUpdate::residual;
  EXPECT_NO_THROW(g.validate());
  g.interval_retries = 31;
  EXPECT_THROW(g.validate(), UsageError) << "more halvings than a double needs";
  g.interval_retries = 0;
  g.update = fit::GuideUpdate::full;
  g.interpolation = EtaInterpolation::linear;
  EXPECT_EQ(fit::parse_guide_update("sweep"), fit::GuideUpdate::sweep);
  EXPECT_THROW(fit::parse_guide_update("partial"), UsageError);
  EXPECT_THROW(fit::parse_guide_fallback("limited"), UsageError);
  EXPECT_EQ(fit::parse_guide_fallback("none"), fit::GuideFallback::none);
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  Model bare = with_own_map(oneshot);
  bare.set_targets({});
  EXPECT_THROW(fit::guide_model(bare, g, comm), InputError);
}

TEST(GuidedPasses, APassThatDivergesWhenLimitedFallsBackToResidualUpdates) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  // Undamped updates on this case reach a largest per-time RMS z in pass 1 of 29.3 with full
  // updates, 24.7 with full updates limited to s = 1, and 19.2 with the fallback rung's residual
  // updates (measured): a divergence threshold of 22 makes the first two rungs diverge and not the
  // third.
  fit::GuideOptions g = small_guide(2);
  g.damping = 1.0;
  g.divergence = 22.0;
  g.divergence_growth = 0.0;  // the threshold alone (the z's cited were measured against it)

  // Without the fallback rung the ladder ends at the limited rung: the one-shot model, bit for bit.
  g.fallback = fit::GuideFallback::none;
  Model stopped = fit_on(lognormal_setup(24), comm);
  fit::guide_model(stopped, g, comm);
  EXPECT_EQ(stopped.guide_record().settings.integer("diverged_pass"), 1);
  EXPECT_EQ(stopped.guide_record().settings.integer("fallback_pass"), 0);
  EXPECT_EQ(stopped.guide_record().passes(), 1u) << "the diverged pass's z's are on record";
  EXPECT_EQ(test::relative_difference(stopped.eta(), oneshot.eta()), 0.0);

  // With it, pass 1 is run a third time with residual updates, and pass 2 stays on that rung.
  g.fallback = fit::GuideFallback::residual;
  Model ladder = fit_on(lognormal_setup(24), comm);
  fit::guide_model(ladder, g, comm);
  const auto& r = ladder.guide_record();
  EXPECT_EQ(r.settings.integer("diverged_pass"), 0);
  EXPECT_EQ(r.settings.integer("fallback_pass"), 1);
  ASSERT_EQ(r.passes(), 2u);
  for (const double z : r.rms_z.values()) EXPECT_LE(z, 22.0);
  EXPECT_GT(test::relative_difference(ladder.eta(), oneshot.eta()), 1e-6);

  // The rung is the residual guide with a dead band of 2, K^q on every member and a ridge of 1e-2,
  // run from the one-shot model: the same bits as asking for it from the start.
  fit::GuideOptions direct = g;
  direct.update = fit::GuideUpdate::residual;
  direct.dead_band = fit::kFallbackDeadBand;
  direct.gram_members = 0;
  direct.ridge = fit::kFallbackRidge;
  Model asked = fit_on(lognormal_setup(24), comm);
  fit::guide_model(asked, direct, comm);
  EXPECT_EQ(asked.guide_record().settings.integer("fallback_pass"), 0);
  EXPECT_EQ(test::relative_difference(ladder.eta(), asked.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(r.rms_z, asked.guide_record().rms_z), 0.0);
}

TEST(GuidedPasses, FallbackRungsRaiseTheRidgeUntilTheLastKeepsTheModel) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // tau = 0.01 with a divergence threshold of 22: pass 1 goes down to a fallback rung and runs;
  // pass 2 diverges on every rung (measured: RMS z 2.75e3 at t = 1 on the last, ridge 1).
  fit::GuideOptions g = small_guide(1);
  g.damping = 1.0;
  g.tau = 0.01;
  g.divergence = 22.0;
  g.divergence_growth = 0.0;  // the threshold alone (the z's cited were measured against it)
  g.interval_retries = 0;     // the ladder alone
  Model one = fit_on(lognormal_setup(24), comm);
  fit::guide_model(one, g, comm);
  const auto& first = one.guide_record();
  EXPECT_EQ(first.settings.integer("diverged_pass"), 0);
  EXPECT_EQ(first.settings.integer("fallback_pass"), 1);
  EXPECT_GE(first.settings.real("fallback_ridge"), fit::kFallbackRidge);

  g.passes = 2;
  Model two = fit_on(lognormal_setup(24), comm);
  fit::guide_model(two, g, comm);
  const auto& r = two.guide_record();
  EXPECT_EQ(r.settings.integer("fallback_pass"), 1);
  EXPECT_EQ(r.settings.integer("diverged_pass"), 2);
  EXPECT_DOUBLE_EQ(r.settings.real("fallback_ridge"),
                   fit::kFallbackRidge * std::pow(10.0, fit::kFallbackLevels - 1.0))
      << "every rung was tried";
  EXPECT_GT(r.settings.real("fallback_ridge"), first.settings.real("fallback_ridge"));
  // Diverged on the last rung: the model is the one pass 2 started from, pass 1's, bit for bit.
  EXPECT_EQ(test::relative_difference(two.eta(), one.eta()), 0.0);
}

TEST(GuidedPasses, ResumeOnAFallbackRung) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide-fallback");
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  const auto inner = own_map(oneshot);
  // The case of the test above: pass 2 runs on the fallback rungs only, and diverges on each.
  fit::GuideOptions g = small_guide(2);
  g.damping = 1.0;
  g.tau = 0.01;
  g.divergence = 22.0;
  g.divergence_growth = 0.0;  // the threshold alone (the z's cited were measured against it)
  g.interval_retries = 0;     // the ladder alone
  auto counting = std::make_unique<StopAt>(*inner, 0, false);
  const StopAt& counter = *counting;
  Model reference = with_map(oneshot, std::move(counting));
  fit::guide_model(reference, g, comm);
  ASSERT_EQ(reference.guide_record().settings.integer("diverged_pass"), 2);
  const int total = counter.calls();  // this rank's evaluations of the whole ladder

  // Stopped during the second-to-last grid time of the last rung of pass 2 (each grid time
  // evaluates every member of the rank once); honoured at the last one.
  const int members_here =
      static_cast<int>(2 * par::block_range(6, comm.rank(), comm.size()).size());
  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  Model interrupted = with_map(
      oneshot, std::make_unique<StopAt>(*inner, total - 2 * members_here + 1, comm.is_root()));
  test::expect_interrupted([&] { fit::guide_model(interrupted, g, comm); });
  ASSERT_TRUE(std::filesystem::exists(g.checkpoint.path));

  g.checkpoint.resume = true;
  Model resumed = with_own_map(oneshot);
  const fit::GuideStart start = fit::guide_model(resumed, g, comm);
  EXPECT_TRUE(start.resumed);
  EXPECT_EQ(start.pass, 1u) << "the checkpoint of the second pass was used";
  EXPECT_EQ(start.time, oneshot.times().size() - 1);
  // The checkpoint carries the rung: the resumed pass ends as the uninterrupted one did.
  const auto &r = resumed.guide_record(), &want = reference.guide_record();
  EXPECT_EQ(r.settings.integer("diverged_pass"), 2);
  EXPECT_EQ(r.settings.real("fallback_ridge"), want.settings.real("fallback_ridge"));
  EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(r.rms_z, want.rms_z), 0.0);
}

TEST(GuidedPasses, AGrowingErrorIsNotADivergenceAnExplosionIs) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // Undamped full updates on this case: per-time RMS z 1.23, 0.90, 1.56, 3.28, 29.3 in pass 1 and
  // 0.84, 2.01, 4.55, 18.2, 169 in pass 2 (measured): above a threshold of 22 at t = 1, but each
  // less than 10 times the z before it.
  fit::GuideOptions g = small_guide(2);
  g.damping = 1.0;
  g.divergence = 22.0;
  Model grown = fit_on(lognormal_setup(24), comm);
  fit::guide_model(grown, g, comm);  // growth factor 10, the default
  const auto& r = grown.guide_record();
  EXPECT_EQ(r.settings.integer("diverged_pass"), 0);
  EXPECT_EQ(r.settings.real("step_limit"), 0.0) << "no pass was run again";
  ASSERT_EQ(r.passes(), 2u);
  EXPECT_GT(r.rms_z(0, r.rms_z.cols() - 1), 22.0) << "the case must cross the threshold";
  // Pass 2 made the moments worse (RMS z over the times 76 against 13): the model is pass 1's, the
  // same bits as a guide of one pass.
  const auto rms = pass_rms(r);
  ASSERT_GT(rms[1], rms[0]);
  EXPECT_EQ(r.settings.integer("kept_pass"), 1);
  fit::GuideOptions one = g;
  one.passes = 1;
  Model single = fit_on(lognormal_setup(24), comm);
  fit::guide_model(single, one, comm);
  EXPECT_EQ(single.guide_record().settings.integer("kept_pass"), 1);
  EXPECT_EQ(test::relative_difference(grown.eta(), single.eta()), 0.0);
  // keep_best off (--guide-keep last): the second pass's model.
  fit::GuideOptions last = g;
  last.keep_best = false;
  Model latest = fit_on(lognormal_setup(24), comm);
  fit::guide_model(latest, last, comm);
  EXPECT_EQ(latest.guide_record().settings.integer("kept_pass"), 2);
  EXPECT_GT(test::relative_difference(latest.eta(), single.eta()), 1e-6);
  // With the threshold alone the same pass is abandoned, run again with limited updates (24.7 at
  // t = 1, abandoned too) and then on the fallback rung.
  g.divergence_growth = 0.0;
  Model strict = fit_on(lognormal_setup(24), comm);
  fit::guide_model(strict, g, comm);
  EXPECT_EQ(strict.guide_record().settings.integer("fallback_pass"), 1);
  // An exploding ensemble is caught with the growth factor too (tau = 1e-6: RMS z 1.2 -> 1e39).
  fit::GuideOptions wild = small_guide(1);
  wild.tau = 1e-6;
  wild.damping = 1.0;
  Model caught = fit_on(lognormal_setup(24), comm);
  fit::guide_model(caught, wild, comm);
  EXPECT_EQ(caught.guide_record().settings.real("step_limit"), 1.0);
  for (const double z : caught.guide_record().rms_z.values()) EXPECT_LE(z, 100.0);
}

// tau = 1e-6, undamped: the ensemble explodes over an interval of pass 1 (RMS z 1.2 -> 1e39). With
// no fallback rung and a step limit that never binds from the start, the rung it runs on is the
// ladder's last: without interval retries the guide would stop there with the one-shot model.
namespace {

fit::GuideOptions exploding_on_the_last_rung(std::size_t retries) {
  fit::GuideOptions g = small_guide(1);
  g.tau = 1e-6;
  g.damping = 1.0;
  g.fallback = fit::GuideFallback::none;
  g.max_step = 1e6;
  g.interval_retries = retries;
  return g;
}

}  // namespace

TEST(GuidedPasses, AnIntervalThatDivergesIsIntegratedAgainWithASmallerEta) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const FitSetup s = lognormal_setup(24);
  const Model oneshot = fit_on(s, comm);
  // On the last rung the interval is integrated again from its start with eta_k halved until the
  // ensemble holds, and the pass finishes.
  const fit::GuideOptions wild = exploding_on_the_last_rung(30);
  Model held = fit_on(s, comm);
  fit::guide_model(held, wild, comm);
  const auto& r = held.guide_record();
  EXPECT_EQ(r.settings.integer("diverged_pass"), 0) << "the pass was kept";
  EXPECT_EQ(r.settings.integer("interval_retries"), 30);
  // 53 retries over the four intervals (measured: 12-15 each).
  EXPECT_GT(r.settings.integer("intervals_retried"), 10);
  ASSERT_EQ(r.passes(), 1u);
  // Every grid time within the divergence rule: RMS z at most max(100, 10 x the time before's).
  for (std::size_t k = 0; k < r.rms_z.cols(); ++k) {
    ASSERT_TRUE(std::isfinite(r.rms_z(0, k)));
    EXPECT_LE(r.rms_z(0, k), std::max(100.0, k > 0 ? 10.0 * r.rms_z(0, k - 1) : 0.0)) << k;
  }
  // Held, but with linear eta the pass integrated a blend of two passes' eta: its model measured
  // whole explodes (RMS z ~1e27 against the one-shot model's 9.1), and the start model is kept.
  const double start_whole = r.settings.real("start_whole_rms");
  EXPECT_GT(start_whole, 1.0);
  EXPECT_LT(start_whole, 100.0);
  EXPECT_GT(r.settings.real("kept_whole_rms"), 1e3 * start_whole);
  EXPECT_EQ(r.settings.integer("kept_pass"), 0);
  EXPECT_EQ(test::relative_difference(held.eta(), oneshot.eta()), 0.0);
  // Four retries are not enough: after them the pass's own check abandons it, and on the last
  // rung the guide stops with the model it started from.
  Model abandoned = fit_on(s, comm);
  fit::guide_model(abandoned, exploding_on_the_last_rung(4), comm);
  EXPECT_EQ(abandoned.guide_record().settings.integer("diverged_pass"), 1);
  EXPECT_EQ(abandoned.guide_record().settings.integer("intervals_retried"), 4);
  EXPECT_EQ(test::relative_difference(abandoned.eta(), oneshot.eta()), 0.0);
  // The same bits on one rank as on all.
  if (comm.is_root()) {
    const auto self = par::Comm::self();
    Model alone = fit_on(s, self);
    fit::guide_model(alone, wild, self);
    EXPECT_EQ(test::relative_difference(alone.eta(), held.eta()), 0.0);
    EXPECT_EQ(test::relative_difference(alone.guide_record().rms_z, r.rms_z), 0.0);
    EXPECT_EQ(alone.guide_record().settings.real("kept_whole_rms"),
              r.settings.real("kept_whole_rms"));
    EXPECT_EQ(alone.guide_record().settings.real("start_whole_rms"), start_whole);
  }
  // Before the last rung the ladder goes on as without retries: the same case with the default
  // ladder leaves the unlimited rung for the limited one, where it runs, and no interval is
  // integrated again; the model is the same bits as without retries.
  fit::GuideOptions ladder = small_guide(1), ladder_retries = small_guide(1);
  for (fit::GuideOptions* g : {&ladder, &ladder_retries}) {
    g->tau = 1e-6;
    g->damping = 1.0;
  }
  ladder_retries.interval_retries = 30;
  Model plain = fit_on(s, comm), retrying = fit_on(s, comm);
  fit::guide_model(plain, ladder, comm);
  fit::guide_model(retrying, ladder_retries, comm);
  EXPECT_EQ(retrying.guide_record().settings.real("step_limit"), 1.0);
  EXPECT_EQ(retrying.guide_record().settings.integer("intervals_retried"), 0);
  EXPECT_EQ(test::relative_difference(plain.eta(), retrying.eta()), 0.0);
  // A guide whose ensemble never diverges on the last rung (no check: no ladder, every rung the
  // last) is the same with retries as without, bit for bit.
  fit::GuideOptions calm = small_guide(2), calm_retries = small_guide(2);
  calm.divergence = calm_retries.divergence = 0.0;
  calm_retries.interval_retries = 4;
  Model calm_plain = fit_on(s, comm), calm_retrying = fit_on(s, comm);
  fit::guide_model(calm_plain, calm, comm);
  fit::guide_model(calm_retrying, calm_retries, comm);
  EXPECT_EQ(calm_retrying.guide_record().settings.integer("intervals_retried"), 0);
  EXPECT_EQ(test::relative_difference(calm_plain.eta(), calm_retrying.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(calm_plain.guide_record().rms_z,
                                      calm_retrying.guide_record().rms_z),
            0.0);
}

// A guide that keeps no pass (pass 1 abandoned on the last rung) leaves the model as it entered:
// its eta and its reading between grid times, not the one-shot eta read as the guide's ramp.
TEST(GuidedPasses, AGuideThatKeepsNoPassLeavesTheModelAsItEntered) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const FitSetup s = lognormal_setup(24);
  const Model oneshot = fit_on(s, comm);
  ASSERT_EQ(oneshot.eta_interpolation(), EtaInterpolation::linear);
  fit::GuideOptions g = exploding_on_the_last_rung(0);
  g.interpolation = EtaInterpolation::ramp;
  g.ramp_fraction = 0.25;
  Model abandoned = fit_on(s, comm);
  fit::guide_model(abandoned, g, comm);
  const auto& r = abandoned.guide_record().settings;
  ASSERT_EQ(r.integer("diverged_pass"), 1);
  EXPECT_EQ(r.integer("kept_pass"), 0);
  EXPECT_EQ(r.text("interpolation"), "ramp") << "the record says what the passes ran";
  EXPECT_EQ(abandoned.eta_interpolation(), EtaInterpolation::linear);
  EXPECT_EQ(abandoned.eta_ramp_fraction(), oneshot.eta_ramp_fraction());
  EXPECT_EQ(abandoned.eta_base().rows(), 0u);
  EXPECT_EQ(test::relative_difference(abandoned.eta(), oneshot.eta()), 0.0);
  // The drift between grid times is the one-shot model's (read as a ramp it would not be).
  const auto& times = oneshot.times();
  const std::size_t P = oneshot.eta().cols();
  std::vector<double> want(P), got(P);
  for (std::size_t k = 0; k + 1 < times.size(); ++k) {
    const double t = times[k] + 0.1 * (times[k + 1] - times[k]);
    oneshot.eta_at(t, want);
    abandoned.eta_at(t, got);
    for (std::size_t p = 0; p < P; ++p) ASSERT_EQ(got[p], want[p]) << k << " " << p;
  }
}

// Where intervals were integrated again, the start model and the kept pass's are measured whole on
// the same members, and the lower RMS z wins: a pass the retries held is no better for having
// been held. From the one-shot model (RMS z 9.1) the held pass (step eta, exactly the model it
// integrated) measures 41 and the one-shot model is kept, as it entered; from the one-shot eta
// negated (RMS z 4e3) the second pass (41) is kept.
TEST(GuidedPasses, APassHeldByRetriesIsKeptOnlyWhereItBeatsTheStartModel) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  const FitSetup s = lognormal_setup(24);
  fit::GuideOptions g = exploding_on_the_last_rung(30);
  g.tau = 0.1;
  g.passes = 2;
  g.interpolation = EtaInterpolation::step;
  const Model oneshot = fit_on(s, comm);
  Model good_start = fit_on(s, comm);
  fit::guide_model(good_start, g, comm);
  const auto& a = good_start.guide_record().settings;
  ASSERT_GT(a.integer("intervals_retried"), 0);
  EXPECT_EQ(a.integer("diverged_pass"), 0);
  EXPECT_LT(a.real("start_whole_rms"), a.real("kept_whole_rms"));
  EXPECT_EQ(a.integer("kept_pass"), 0);
  EXPECT_EQ(test::relative_difference(good_start.eta(), oneshot.eta()), 0.0);
  EXPECT_EQ(good_start.eta_interpolation(), EtaInterpolation::linear);

  const auto negated = [&](const par::Comm& c) {
    Model m = fit_on(s, c);
    Matrix e = m.eta();
    for (auto& v : e.values()) v = -v;
    m.set_eta(e);
    return m;
  };
  const Model bad = negated(comm);
  Model bad_start = negated(comm);
  fit::guide_model(bad_start, g, comm);
  const auto& b = bad_start.guide_record().settings;
  ASSERT_GT(b.integer("intervals_retried"), 0);
  EXPECT_GT(b.real("start_whole_rms"), 10.0 * b.real("kept_whole_rms"));
  EXPECT_EQ(b.integer("kept_pass"), 2);
  EXPECT_GT(test::relative_difference(bad_start.eta(), bad.eta()), 1e-3);
  EXPECT_EQ(bad_start.eta_interpolation(), EtaInterpolation::step);
  // The same bits on one rank.
  if (comm.is_root()) {
    const auto self = par::Comm::self();
    Model alone = negated(self);
    fit::guide_model(alone, g, self);
    EXPECT_EQ(test::relative_difference(alone.eta(), bad_start.eta()), 0.0);
    EXPECT_EQ(alone.guide_record().settings.real("start_whole_rms"), b.real("start_whole_rms"));
    EXPECT_EQ(alone.guide_record().settings.real("kept_whole_rms"), b.real("kept_whole_rms"));
  }
}

TEST(GuidedPasses, ResumeAfterIntervalsIntegratedAgain) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide-retries");
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  // The case of the test above: 53 retries, the last 12 over (0.75, 1].
  fit::GuideOptions g = exploding_on_the_last_rung(30);
  Model reference = with_own_map(oneshot);
  fit::guide_model(reference, g, comm);
  ASSERT_GT(reference.guide_record().settings.integer("intervals_retried"), 50);
  // Each member is evaluated once at t = 0 and once per integration of an interval (the check's
  // means serve the next grid time): the 50th evaluation falls among the retries of the last
  // interval, and the stop is honoured at t = 1, with the halved rows and the count in the
  // checkpoint.
  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  const auto inner = own_map(oneshot);
  Model interrupted =
      with_map(oneshot, std::make_unique<StopAt>(
                            *inner, static_cast<int>(members_on_root(comm)) * 50, comm.is_root()));
  test::expect_interrupted([&] { fit::guide_model(interrupted, g, comm); });
  ASSERT_TRUE(std::filesystem::exists(g.checkpoint.path));
  g.checkpoint.resume = true;
  Model resumed = with_own_map(oneshot);
  const fit::GuideStart start = fit::guide_model(resumed, g, comm);
  EXPECT_TRUE(start.resumed);
  EXPECT_EQ(start.pass, 0u);
  EXPECT_EQ(start.time, 4u) << "the checkpoint at t = 1 was used";
  EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(resumed.guide_record().rms_z, reference.guide_record().rms_z),
            0.0);
  EXPECT_EQ(resumed.guide_record().settings.integer("intervals_retried"),
            reference.guide_record().settings.integer("intervals_retried"));
}

TEST(GuidedPasses, PassesAreComparedByTheirWholeModels) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // Undamped full updates on 9 times: the passes' own RMS z 1.27, 1.51, 1.90 (measured), each a
  // blend of the pass's eta before t_k and the previous pass's after it. The model of pass 1 and of
  // pass 3 are each integrated whole (verified RMS z 1.65 and 6.2, measured) and pass 1's is kept.
  fit::GuideOptions g = small_guide(3);
  g.damping = 1.0;
  FitSetup s = lognormal_setup(24);
  s.options.times = 9;
  Model guided = fit_on(s, comm);
  fit::guide_model(guided, g, comm);
  const auto& r = guided.guide_record();
  ASSERT_EQ(r.passes(), 3u);
  const auto rms = pass_rms(r);
  ASSERT_LT(rms[0], std::min(rms[1], rms[2])) << "the case must prefer an earlier pass";
  EXPECT_EQ(r.settings.integer("kept_pass"), 1);
  const double kept = r.settings.real("verified_kept_rms");
  const double other = r.settings.real("verified_other_rms");
  EXPECT_GT(kept, 0.0);
  EXPECT_LT(kept, other);
  // The kept model is pass 1's, bit for bit (a guide of one pass measures nothing whole).
  fit::GuideOptions one = g;
  one.passes = 1;
  Model single = fit_on(s, comm);
  fit::guide_model(single, one, comm);
  EXPECT_EQ(single.guide_record().settings.real("verified_kept_rms"), 0.0);
  EXPECT_EQ(test::relative_difference(guided.eta(), single.eta()), 0.0);
  // The sweep measures the last pass's model whole: a pass that makes no update (residual, dead
  // band 1e9) on that model, with other noise, measures it the same within the ensemble's noise;
  // the blend of pass 3 (1.90) is more than 3 times off.
  fit::GuideOptions last = g;
  last.keep_best = false;
  Model latest = fit_on(s, comm);
  fit::guide_model(latest, last, comm);
  EXPECT_EQ(latest.guide_record().settings.real("verified_kept_rms"), 0.0);
  fit::GuideOptions still = small_guide(1);
  still.update = fit::GuideUpdate::residual;
  still.dead_band = 1e9;
  fit::guide_model(latest, still, comm);
  const double whole = pass_rms(latest.guide_record()).front();
  EXPECT_NEAR(std::log(whole / other), 0.0, std::log(1.5)) << whole << " vs " << other;
}

TEST(GuidedPasses, ResumeWhileComparingPasses) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide-verify");
  // Damped, 5 times, 3 passes: pass 2 has the lowest RMS z (2.04 against 3.37, measured), so the
  // models of passes 2 and 3 are measured whole after the passes.
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  Model reference = with_own_map(oneshot);
  fit::guide_model(reference, small_guide(3), comm);
  const auto& want = reference.guide_record();
  ASSERT_GT(want.settings.real("verified_kept_rms"), 0.0) << "the case must compare passes";

  fit::GuideOptions g = small_guide(3);
  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  // Every grid time of a pass or of a sweep evaluates each member once: stopped in the second
  // sweep, after 3 passes and 1 sweep.
  const std::size_t members_here = members_on_root(comm);
  const int per_pass = static_cast<int>(members_here * oneshot.times().size());
  const auto inner = own_map(oneshot);
  Model interrupted =
      with_map(oneshot, std::make_unique<StopAt>(*inner, 4 * per_pass + 3, comm.is_root()));
  test::expect_interrupted([&] { fit::guide_model(interrupted, g, comm); });
  ASSERT_TRUE(std::filesystem::exists(g.checkpoint.path));

  g.checkpoint.resume = true;
  auto counter = std::make_unique<StopAt>(*inner, -1, false);
  const StopAt& counted = *counter;
  Model resumed = with_map(oneshot, std::move(counter));
  const fit::GuideStart start = fit::guide_model(resumed, g, comm);
  EXPECT_TRUE(start.resumed);
  EXPECT_EQ(start.pass, 3u) << "the checkpoint after the passes was used";
  // Only the two sweeps ran again: no pass.
  EXPECT_EQ(counted.calls(), 2 * per_pass);
  const auto& r = resumed.guide_record();
  EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0);
  EXPECT_EQ(test::relative_difference(r.rms_z, want.rms_z), 0.0);
  EXPECT_EQ(r.settings.integer("kept_pass"), want.settings.integer("kept_pass"));
  EXPECT_EQ(r.settings.real("verified_kept_rms"), want.settings.real("verified_kept_rms"));
  EXPECT_EQ(r.settings.real("verified_other_rms"), want.settings.real("verified_other_rms"));
  EXPECT_FALSE(std::filesystem::exists(g.checkpoint.path));
}

TEST(GuidedPasses, WithStepEtaAPassMeasuresTheModelItLeaves) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  // One pass, then a pass without updates (residual, dead band 1e9) on the model it left: pass 0's
  // member noise in both. With eta constant on (t_k, t_k+1] the pass integrated over each interval
  // the eta it leaves there, so the two measure the same ensemble: the same z's, bit for bit. With
  // linear eta the pass integrated a blend and the z's differ.
  const auto measured_again = [&](EtaInterpolation interpolation, double& difference,
                                  double ramp_fraction = kEtaRampFraction) {
    fit::GuideOptions g = small_guide(1);
    g.interpolation = interpolation;
    g.ramp_fraction = ramp_fraction;
    Model model = fit_on(lognormal_setup(24), comm);
    fit::guide_model(model, g, comm);
    EXPECT_EQ(model.eta_interpolation(), interpolation);
    EXPECT_EQ(model.eta_ramp_fraction(), ramp_fraction);
    const Matrix first = model.guide_record().rms_z;
    fit::GuideOptions still = small_guide(1);
    still.interpolation = interpolation;
    still.ramp_fraction = ramp_fraction;
    still.update = fit::GuideUpdate::residual;
    still.dead_band = 1e9;
    const Matrix eta = model.eta();
    fit::guide_model(model, still, comm);
    EXPECT_EQ(test::relative_difference(model.eta(), eta), 0.0) << "no update";
    difference = test::relative_difference(model.guide_record().rms_z, first);
  };
  double step = -1.0, hybrid = -1.0, ramp = -1.0, short_ramp = -1.0, linear = -1.0;
  measured_again(EtaInterpolation::step, step);
  measured_again(EtaInterpolation::hybrid, hybrid);
  measured_again(EtaInterpolation::ramp, ramp);
  measured_again(EtaInterpolation::ramp, short_ramp, 0.2);
  measured_again(EtaInterpolation::linear, linear);
  EXPECT_EQ(step, 0.0);
  EXPECT_EQ(hybrid, 0.0);
  EXPECT_EQ(ramp, 0.0);
  EXPECT_EQ(short_ramp, 0.0);
  EXPECT_GT(linear, 1e-3);
}

TEST(RampEta, ContinuousFromThePreviousRowToItsOwnAndKeptInTheModelFile) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("ramp-eta");
  Model model = fit_on(lognormal_setup(8), comm);
  model.set_eta_interpolation(EtaInterpolation::ramp);
  const std::vector<double>& t = model.times();
  const std::size_t T = t.size(), P = model.eta().cols();
  ASSERT_GE(T, 3u);
  // The distance of eta(at) from (1 - w) row a + w row b, relative to the rows' size.
  const auto off = [&](double at, Side side, std::size_t a, std::size_t b, double w) {
    std::vector<double> eta(P);
    model.eta_at(at, eta, side);
    double diff = 0.0, size = 0.0;
    for (std::size_t p = 0; p < P; ++p) {
      const double want = (1.0 - w) * model.eta()(a, p) + w * model.eta()(b, p);
      diff = std::max(diff, std::abs(eta[p] - want));
      size = std::max(size, std::abs(want));
    }
    return diff / size;
  };
  EXPECT_EQ(off(0.0, Side::right, 0, 0, 0.0), 0.0);
  EXPECT_EQ(off(0.5 * (t[0] + t[1]), Side::left, 0, 0, 0.0), 0.0) << "row 0 on the first interval";
  for (std::size_t k = 1; k + 1 < T; ++k) {
    const double span = t[k + 1] - t[k];
    // At t_k from either side: the previous row (continuous in t).
    EXPECT_EQ(off(t[k], Side::left, k - 1, k - 1, 0.0), 0.0) << k;
    EXPECT_EQ(off(t[k], Side::right, k - 1, k - 1, 0.0), 0.0) << k;
    // A quarter of the interval on: halfway between the two rows; from half of it on, row k.
    EXPECT_LT(off(t[k] + 0.25 * span, Side::left, k - 1, k, 0.5), 1e-12) << k;
    EXPECT_LT(off(t[k] + 0.5 * span, Side::left, k, k, 0.0), 1e-12) << k;
    EXPECT_EQ(off(t[k] + 0.9 * span, Side::right, k, k, 0.0), 0.0) << k;
  }
  Model back = test::written_and_read(model, dir.path("m.h5"), comm);
  EXPECT_EQ(back.eta_interpolation(), EtaInterpolation::ramp);
  EXPECT_EQ(back.eta_ramp_fraction(), kEtaRampFraction);
  EXPECT_EQ(back.identity(), model.identity());
  const std::string ramp_identity = back.identity();
  back.set_eta_interpolation(EtaInterpolation::linear);
  EXPECT_NE(back.identity(), ramp_identity) << "the interpolation is part of the model's identity";

  // A shorter ramp: from row k - 1 to row k over the first fifth of each interval.
  model.set_eta_ramp_fraction(0.2);
  for (std::size_t k = 1; k + 1 < T; ++k) {
    const double span = t[k + 1] - t[k];
    EXPECT_EQ(off(t[k], Side::right, k - 1, k - 1, 0.0), 0.0) << k;
    EXPECT_LT(off(t[k] + 0.05 * span, Side::left, k - 1, k, 0.25), 1e-12) << k;
    EXPECT_LT(off(t[k] + 0.1 * span, Side::left, k - 1, k, 0.5), 1e-12) << k;
    EXPECT_LT(off(t[k] + 0.2 * span, Side::left, k, k, 0.0), 1e-12) << k;
    EXPECT_EQ(off(t[k] + 0.3 * span, Side::left, k, k, 0.0), 0.0) << k;
  }
  EXPECT_NE(model.identity(), ramp_identity) << "the fraction is part of a ramp model's identity";
  Model shorter = test::written_and_read(model, dir.path("short.h5"), comm);
  EXPECT_EQ(shorter.eta_ramp_fraction(), 0.2);
  EXPECT_EQ(shorter.identity(), model.identity());
  for (const double bad : {0.0, -0.1, 1.5, std::nan("")})
    EXPECT_THROW(model.set_eta_ramp_fraction(bad), UsageError) << bad;
  EXPECT_EQ(model.eta_ramp_fraction(), 0.2) << "a refused fraction leaves the model as it was";
}

TEST(HybridEta, BaseLinearCorrectionsConstantAndKeptInTheModelFile) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("hybrid-eta");
  Model model = fit_on(lognormal_setup(8), comm);
  const std::vector<double>& t = model.times();
  const std::size_t T = t.size(), P = model.eta().cols();
  ASSERT_GE(T, 3u);
  // A base with rows far from eta's, so that every mix-up of the two shows.
  Matrix base = model.eta();
  for (std::size_t k = 0; k < T; ++k)
    for (std::size_t p = 0; p < P; ++p) base(k, p) = 3.0 * base(k, p) + static_cast<double>(k + 1);
  model.set_eta_interpolation(EtaInterpolation::hybrid);
  std::vector<double> got(P);
  EXPECT_THROW(model.eta_at(0.5, got), InputError) << "hybrid without a base";
  model.set_eta_base(base);
  double worst = 0.0;
  const auto check = [&](double at, std::size_t k, double w, Side side = Side::left) {
    model.eta_at(at, got, side);
    for (std::size_t p = 0; p < P; ++p) {
      const double want =
          (1.0 - w) * base(k, p) + w * base(k + 1, p) + model.eta()(k, p) - base(k, p);
      worst = std::max(worst, std::abs(got[p] - want) / (1.0 + std::abs(want)));
    }
  };
  for (std::size_t k = 0; k + 1 < T; ++k) {
    check(std::nextafter(t[k], 2.0), k, 0.0);
    check(0.25 * t[k] + 0.75 * t[k + 1], k, 0.75);
    check(t[k + 1], k, 1.0);  // t_k+1 belongs to (t_k, t_k+1]
    // From the right t_k belongs to [t_k, t_k+1): a step that starts there sees interval k only.
    check(t[k], k, 0.0, Side::right);
  }
  check(1.0, T - 2, 1.0, Side::right);
  check(0.0, 0, 0.0);
  EXPECT_LT(worst, 1e-12);
  // With the base equal to eta, hybrid eta is linear eta.
  Model same = fit_on(lognormal_setup(8), comm);
  std::vector<double> linear(P);
  const double mid = 0.5 * (t[1] + t[2]);
  same.eta_at(mid, linear);
  same.set_eta_base(same.eta());
  same.set_eta_interpolation(EtaInterpolation::hybrid);
  same.eta_at(mid, got);
  for (std::size_t p = 0; p < P; ++p)
    EXPECT_NEAR(got[p], linear[p], 1e-13 * (1.0 + std::abs(linear[p])));

  const Model back = test::written_and_read(model, dir.path("m.h5"), comm);
  EXPECT_EQ(back.eta_interpolation(), EtaInterpolation::hybrid);
  EXPECT_EQ(test::relative_difference(back.eta_base(), base), 0.0);
  EXPECT_EQ(back.identity(), model.identity());
  Model other = Model::read(dir.path("m.h5"), comm);
  other.set_eta_base(model.eta());
  EXPECT_NE(other.identity(), model.identity()) << "the base is part of the identity";
  // A hybrid model without its base is never written (reading such a file: test_cli_errors).
  other.set_eta_base(Matrix());
  EXPECT_THROW(
      {
        io::OutputFile out(dir.path("nobase.h5"), false, {}, comm);
        other.write(out);
        out.commit();
      },
      InternalError);
  EXPECT_FALSE(std::filesystem::exists(dir.path("nobase.h5")));
}

TEST(StepEta, ConstantOnEachIntervalOpenOnTheLeftAndKeptInTheModelFile) {
  const auto& comm = test::World::comm();
  test::ScratchDir dir("step-eta");
  Model model = fit_on(lognormal_setup(8), comm);
  model.set_eta_interpolation(EtaInterpolation::step);
  const std::vector<double>& t = model.times();
  const std::size_t P = model.eta().cols();
  std::vector<double> eta(P);
  const auto row_is = [&](double at, std::size_t k) {
    model.eta_at(at, eta);
    const auto want = model.eta().row(k);
    return std::equal(eta.begin(), eta.end(), want.begin());
  };
  EXPECT_TRUE(row_is(0.0, 0));
  for (std::size_t k = 0; k + 1 < t.size(); ++k) {
    EXPECT_TRUE(row_is(0.5 * (t[k] + t[k + 1]), k)) << k;
    EXPECT_TRUE(row_is(t[k + 1], k)) << "t_k+1 belongs to (t_k, t_k+1]: " << k;
  }
  EXPECT_TRUE(row_is(1.0, t.size() - 2));
  const Model back = test::written_and_read(model, dir.path("m.h5"), comm);
  EXPECT_EQ(back.eta_interpolation(), EtaInterpolation::step);
  EXPECT_THROW(parse_eta_interpolation("cubic", "--guide-interpolation"), UsageError);
}

TEST(GuidedPasses, AGramMatrixFromTheFirstPassServesTheLaterOnes) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide-gram");
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  const auto inner = own_map(oneshot);
  const auto counted = [&](const fit::GuideOptions& g, int& accumulations) {
    auto counter = std::make_unique<StopAt>(*inner, -1, false);
    const StopAt& c = *counter;
    Model model = with_map(oneshot, std::move(counter));
    fit::guide_model(model, g, comm);
    accumulations =
        static_cast<int>(comm.allreduce_sum(static_cast<std::int64_t>(c.accumulations())));
    return model;
  };
  fit::GuideOptions every = small_guide(3);
  every.gram = fit::GuideGram::every;
  fit::GuideOptions first = every;
  first.gram = fit::GuideGram::first;
  EXPECT_EQ(fit::GuideOptions{}.gram, fit::GuideGram::first) << "the default";
  int n_every = 0, n_first = 0;
  const Model a = counted(every, n_every);
  const Model b = counted(first, n_first);
  // K^q from batches 0 and 3 (2 of the 6 batches) at each of the 5 times: 10 per pass.
  const int per_pass = 2 * static_cast<int>(oneshot.times().size());
  EXPECT_EQ(n_every, 3 * per_pass);
  EXPECT_EQ(n_first, per_pass) << "passes 2 and 3 assembled no Gram matrix";
  // Pass 1 is the same; the later passes differ (another K^q) but still bring the moments back.
  const auto ra = pass_rms(a.guide_record()), rb = pass_rms(b.guide_record());
  EXPECT_EQ(ra[0], rb[0]);
  EXPECT_NE(ra[2], rb[2]);
  EXPECT_LT(rb[2], 0.5 * rb[0]) << rb[0] << " -> " << rb[2];
  EXPECT_EQ(b.guide_record().settings.text("gram"), "first");

  // Stopped in pass 2 and resumed: the kept K^q comes from the checkpoint (no assembly at all) and
  // the model is the same bits.
  fit::GuideOptions g = first;
  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  const std::size_t members_here = members_on_root(comm);
  const int evaluations = static_cast<int>(members_here * oneshot.times().size());
  Model interrupted =
      with_map(oneshot, std::make_unique<StopAt>(*inner, evaluations + 3, comm.is_root()));
  test::expect_interrupted([&] { fit::guide_model(interrupted, g, comm); });
  g.checkpoint.resume = true;
  int n_resumed = -1;
  const Model resumed = counted(g, n_resumed);
  EXPECT_EQ(n_resumed, 0);
  EXPECT_EQ(test::relative_difference(resumed.eta(), b.eta()), 0.0);
}

TEST(GuidedPasses, ResumedResidualPassesDriveTheEnsembleWithTheCheckpointsEta) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  test::ScratchDir dir("guide-resume-residual");
  // Residual updates with a dead band: some grid times make no update, and a pass resumed at such a
  // time integrates on with the eta the checkpoint holds (not the one-shot eta the model was read
  // with). Stopped at every grid time of pass 2 in turn, each resumed run ends the same bits.
  const Model oneshot = fit_on(lognormal_setup(24), comm);
  fit::GuideOptions g = small_guide(2);
  g.update = fit::GuideUpdate::residual;
  g.dead_band = 2.0;
  Model reference = with_own_map(oneshot);
  fit::guide_model(reference, g, comm);
  ASSERT_GT(test::relative_difference(reference.eta(), oneshot.eta()), 1e-6)
      << "pass 1 must update";
  g.checkpoint.path = dir.path("guide.checkpoint");
  g.checkpoint.every_seconds = 0;
  const std::size_t members_here = members_on_root(comm);
  const std::size_t T = oneshot.times().size();
  const auto inner = own_map(oneshot);
  for (std::size_t k = 0; k + 1 < T; ++k) {
    std::filesystem::remove(g.checkpoint.path);
    g.checkpoint.resume = false;
    const int stop_at = static_cast<int>(members_here * (T + k) + 1);
    Model interrupted =
        with_map(oneshot, std::make_unique<StopAt>(*inner, stop_at, comm.is_root()));
    test::expect_interrupted([&] { fit::guide_model(interrupted, g, comm); });
    g.checkpoint.resume = true;
    Model resumed = with_own_map(oneshot);
    const fit::GuideStart start = fit::guide_model(resumed, g, comm);
    EXPECT_TRUE(start.resumed);
    EXPECT_EQ(start.pass, 1u);
    EXPECT_EQ(test::relative_difference(resumed.eta(), reference.eta()), 0.0)
        << "stopped at t_" << k + 1;
  }
}

// --bin-ridge: a ridge on the one-point bins alone. Very large, it leaves the fit of the map
// without them (the sub-block's solution); 0 it is the plain fit, which differs; and the guided
// passes solve with it too.
TEST(BinRidge, ALargeOneLeavesTheFitOfTheMapWithoutTheBins) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  FitSetup plain = lognormal_setup(24);
  plain.options.ridge = 0.0;
  FitSetup binned = plain;
  binned.map.set("marginal", 5);
  binned.map.set("conditional", 3);
  binned.map.set("contrast", 2);
  const Model without = fit_on(plain, comm);
  const Model with = fit_on(binned, comm);
  binned.options.bin_ridge = 1e12;
  Model damped = fit_on(binned, comm);

  const std::vector<std::size_t> bins = damped.features().bin_features();
  const std::size_t P = damped.features().size(), p0 = without.features().size();
  ASSERT_EQ(bins.size(), 5u + 2u * 3u + 2u * 2u);  // J = 2: conditional and contrast per scale
  ASSERT_EQ(P, p0 + bins.size());
  const auto names = damped.features().feature_names();
  for (const std::size_t p : bins)
    EXPECT_TRUE(names[p].rfind("marginal", 0) == 0 || names[p].rfind("conditional", 0) == 0 ||
                names[p].rfind("contrast", 0) == 0)
        << names[p];
  std::vector<bool> is_bin(P, false);
  for (const std::size_t p : bins) is_bin[p] = true;
  // The rows of the map without the bins, in order, against the others' rows.
  const auto gap = [&](const Model& m) {
    double num = 0.0, den = 0.0, bin_size = 0.0, size = 0.0;
    for (std::size_t k = 0; k < m.times().size(); ++k) {
      std::size_t q = 0;
      for (std::size_t p = 0; p < P; ++p) {
        const double e = m.eta()(k, p);
        size = std::max(size, std::abs(e));
        if (is_bin[p]) {
          bin_size = std::max(bin_size, std::abs(e));
          continue;
        }
        const double r = without.eta()(k, q++);
        num += (e - r) * (e - r);
        den += r * r;
      }
    }
    return std::pair{std::sqrt(num / den), bin_size / size};
  };
  const auto [damped_gap, damped_bins] = gap(damped);
  const auto [plain_gap, plain_bins] = gap(with);
  EXPECT_LT(damped_gap, 1e-6);
  EXPECT_LT(damped_bins, 1e-8);
  EXPECT_GT(plain_gap, 1e-2);  // the bins matter: a penalty that missed them would show
  EXPECT_GT(plain_bins, 1e-3);
  EXPECT_DOUBLE_EQ(damped.fit_settings().real("bin_ridge"), 1e12);

  // The same solves on a ScaLAPACK group (on 2 and 3 ranks) put the penalty on the same rows.
  FitSetup grouped = binned;
  grouped.options.distributed_threshold = 1;
  binned.options.bin_ridge = grouped.options.bin_ridge = 1e-2;
  binned.options.ridge = grouped.options.ridge = 1e-8;
  EXPECT_LT(test::relative_difference(fit_on(grouped, comm).eta(), fit_on(binned, comm).eta()),
            1e-6);

  // A guided pass (full updates) keeps the bins' weights down with the same penalty while it moves
  // the rest of eta.
  const Matrix before = damped.eta();
  fit::GuideOptions g = small_guide(1);
  g.bin_ridge = 1e12;
  fit::guide_model(damped, g, comm);
  EXPECT_EQ(damped.guide_record().settings.integer("diverged_pass"), 0);
  EXPECT_GT(test::relative_difference(damped.eta(), before), 1e-6);
  EXPECT_LT(gap(damped).second, 1e-8);
  EXPECT_DOUBLE_EQ(damped.guide_record().settings.real("bin_ridge"), 1e12);
  // A pass without the penalty records its 0 (ksi guide goes on with the last guide's bin ridge,
  // and a missing key would fall back to the fit's 1e12).
  g.bin_ridge = 0.0;
  fit::guide_model(damped, g, comm);
  ASSERT_TRUE(damped.guide_record().settings.has("bin_ridge"));
  EXPECT_EQ(damped.guide_record().settings.real("bin_ridge"), 0.0);
  g.bin_ridge = -1.0;
  EXPECT_THROW(g.validate(), UsageError);
}

TEST(BinRidge, RefusedForAMapWithoutBinsAndWhenNegative) {
  const auto& comm = test::World::comm();
  fit::PetscSession petsc(comm);
  FitSetup s = lognormal_setup(8);
  s.options.bin_ridge = 1e-2;
  try {
    fit_on(s, comm);
    ADD_FAILURE() << "a bin ridge without bins was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("this feature map has none"), std::string::npos)
        << e.what();
  }
  s.options.bin_ridge = -1.0;
  EXPECT_THROW(s.options.validate(), UsageError);
}
