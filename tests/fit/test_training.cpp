// The training stage of ksi fit: items read, units and map made, items redistributed to the
// assembly's batches; the checks of its inputs and of interrupted runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/fit/training.hpp"
#include "ksi/io/output.hpp"
#include "support/test_support.hpp"

namespace ksi {
namespace {

// n vectors of dimension 3, item i's values 100 i + (0, 1, 2), written collectively by `comm`.
void write_vectors(const std::string& path, std::size_t n, const par::Comm& comm) {
  const par::Range mine = par::block_range(n, comm.rank(), comm.size());
  Matrix local(mine.size(), 3);
  for (std::size_t r = 0; r < mine.size(); ++r)
    for (std::size_t c = 0; c < 3; ++c)
      local(r, c) = 100.0 * static_cast<double>(mine.begin + r) + static_cast<double>(c);
  io::OutputFile out(path, false, {}, comm);
  io::write_items(out, ItemShape::vector(3), n, mine.begin, local, io::DType::float64);
  out.commit();
}

// Inputs of a fit of the vectors in `path` on the quadratic polynomial map.
fit::TrainingInputs polynomial_inputs(const std::string& path) {
  fit::TrainingInputs inputs;
  inputs.data = path;
  inputs.feature_kind = "polynomial";
  inputs.feature_params = Params{{"degree", "2"}};
  return inputs;
}

TEST(Training, InputsValidateThemselves) {
  const auto message = [](const std::function<void(fit::TrainingInputs&)>& change) {
    return test::validation_message<fit::TrainingInputs>(change);
  };
  EXPECT_EQ(message([](auto&) {}), "");
  EXPECT_NE(message([](auto& i) { i.max_items = 0; }).find("--max-items"), std::string::npos);
  EXPECT_NE(message([](auto& i) {
              i.features_from = "a.h5";
              i.units_from = "b.h5";
            }).find("drop --units-from"),
            std::string::npos);
  EXPECT_NE(message([](auto& i) {
              i.feature_kind = "models";
              i.feature_params = Params{{"paths", "a.h5+b.h5"}};
              i.units_from = "c.h5";
            }).find("members' units"),
            std::string::npos);
  EXPECT_NE(message([](auto& i) { i.shell_correction = "sometimes"; }).find("--shell-correction"),
            std::string::npos);
}

TEST(Training, InputPathsNameEveryFileTheFitReads) {
  fit::TrainingInputs inputs;
  inputs.data = "d.h5";
  inputs.feature_kind = "scattering+models";
  inputs.feature_params = Params{{"paths", "a.h5+b.h5+gaussian"}, {"J", "2"}};
  EXPECT_EQ(inputs.input_paths(), (std::vector<std::string>{"d.h5", "a.h5", "b.h5"}));
  inputs.feature_kind = "scattering";
  inputs.units_from = "u.h5";
  EXPECT_EQ(inputs.input_paths(), (std::vector<std::string>{"d.h5", "u.h5"}));
}

TEST(Training, RanksHoldTheAssemblysBatchesInModelUnits) {
  // 10 items in batches of 4 (options.batch 4, one draw): on 2 and 3 ranks the blocks of
  // read_items (5 + 5, 4 + 3 + 3) are not the whole batches the assembly deals, so every rank reads
  // again; the items then arrive standardised with one mean and scale for all values.
  const auto& world = test::World::comm();
  const test::ScratchDir dir("training");
  write_vectors(dir.path("d.h5"), 10, world);
  fit::TrainingInputs inputs = polynomial_inputs(dir.path("d.h5"));
  fit::FitOptions options;
  options.draws = 1;
  options.batch = 4;
  const fit::TimeGroup group = fit::time_group(options, options.times, world.rank(), world.size());
  std::size_t raw_rows = 0;
  double raw_first = -1.0;
  fit::TrainingSet set =
      fit::prepare_training(inputs, options, group, world, [&](const io::LocalItems& raw) {
        raw_rows = raw.range.size();
        if (raw.range.size() > 0) raw_first = raw.values(0, 0);
      });
  EXPECT_EQ(set.total, 10u);
  ASSERT_TRUE(set.features);
  EXPECT_EQ(set.units.mode, "scalar");
  const par::Range expected = fit::time_group_item_range(10, 4, group);
  EXPECT_EQ(set.data.range.begin, expected.begin);
  EXPECT_EQ(set.data.range.end, expected.end);
  EXPECT_EQ(set.data.values.rows(), expected.size());
  // The first read saw data units; the set holds model units of the same items.
  const par::Range block = par::block_range(10, world.rank(), world.size());
  EXPECT_EQ(raw_rows, block.size());
  if (block.size() > 0) EXPECT_EQ(raw_first, 100.0 * static_cast<double>(block.begin));
  for (std::size_t r = 0; r < set.data.values.rows(); ++r) {
    Matrix row(1, 3);
    for (std::size_t c = 0; c < 3; ++c) row(0, c) = set.data.values(r, c);
    set.units.to_data(row, set.data.info.shape);
    for (std::size_t c = 0; c < 3; ++c)
      EXPECT_NEAR(row(0, c),
                  100.0 * static_cast<double>(expected.begin + r) + static_cast<double>(c), 1e-9);
  }
  double largest = 0.0;
  for (double v : set.data.values.values()) largest = std::max(largest, std::abs(v));
  EXPECT_LT(largest, 3.0);  // standardised, not the raw values up to 902
  EXPECT_FALSE(options.shell_correction);
}

TEST(Training, MaxItemsKeepsTheFirstItems) {
  const auto& world = test::World::comm();
  const test::ScratchDir dir("training-max");
  write_vectors(dir.path("d.h5"), 12, world);
  fit::TrainingInputs inputs = polynomial_inputs(dir.path("d.h5"));
  inputs.max_items = 5;
  fit::FitOptions options;
  const fit::TimeGroup group = fit::time_group(options, options.times, world.rank(), world.size());
  const fit::TrainingSet set = fit::prepare_training(inputs, options, group, world);
  EXPECT_EQ(set.total, 5u);
  EXPECT_LE(set.data.range.end, 5u);
}

TEST(Training, ShellCorrectionOnNeedsFields) {
  const auto& world = test::World::comm();
  const test::ScratchDir dir("training-shells");
  write_vectors(dir.path("d.h5"), 6, world);
  fit::TrainingInputs inputs = polynomial_inputs(dir.path("d.h5"));
  inputs.shell_correction = "on";
  fit::FitOptions options;
  const fit::TimeGroup group = fit::time_group(options, options.times, world.rank(), world.size());
  EXPECT_THROW(fit::prepare_training(inputs, options, group, world), UsageError);
  inputs.shell_correction = "auto";  // scalar units: off
  EXPECT_NO_THROW(fit::prepare_training(inputs, options, group, world));
  EXPECT_FALSE(options.shell_correction);
}

TEST(Training, AnInterruptedRunIsNeverDroppedSilently) {
  const auto& world = test::World::comm();
  const test::ScratchDir dir("training-checkpoints");
  const std::string fit_state = dir.path("m.h5.checkpoint"), guide_state = fit_state + ".guide";
  if (world.is_root()) {
    std::ofstream(fit_state) << "x";
    std::ofstream(guide_state) << "y";
  }
  world.barrier();
  try {
    fit::check_checkpoints({fit_state, guide_state}, false, false, {guide_state}, world);
    ADD_FAILURE() << "an existing checkpoint was accepted without --resume or --force";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::io);
    EXPECT_NE(std::string(e.what()).find(fit_state), std::string::npos) << e.what();
  }
  // --resume keeps everything; --force starts over and removes the later stages' state only.
  fit::check_checkpoints({fit_state, guide_state}, true, true, {guide_state}, world);
  world.barrier();
  EXPECT_TRUE(std::filesystem::exists(guide_state));
  world.barrier();  // every rank has looked before rank 0 removes it
  fit::check_checkpoints({fit_state, guide_state}, false, true, {guide_state}, world);
  world.barrier();
  EXPECT_TRUE(std::filesystem::exists(fit_state));
  EXPECT_FALSE(std::filesystem::exists(guide_state));
}

}  // namespace
}  // namespace ksi
