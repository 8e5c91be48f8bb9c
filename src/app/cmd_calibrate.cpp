// ksi calibrate: model.h5 + training data -> model.h5 with output gains (sample/calibration.hpp).
#include <filesystem>

#include "app/commands.hpp"
#include "app/stage_options.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::app {

int run_calibrate(const Invocation& call) {
  const sample::CalibrationOptions defaults;
  po::options_description desc("ksi calibrate options");
  add_common_options(desc);
  add_output_options(desc, "output model file (HDF5): the model with its output gains");
  desc.add_options()("model", po::value<std::string>(), "fitted model of fields (from ksi fit)")(
      "data", po::value<std::string>(),
      "the training data set the model was fitted on (its spectrum is the target)")(
      "seed", po::value<std::uint64_t>()->default_value(1),
      "seed of the calibration samples' streams")("report", po::value<std::string>(),
                                                  "write per-phase timings as JSON to FILE");
  add_checkpoint_options(desc,
                         "checkpoint file of the calibration fields (default: OUT.checkpoint)",
                         defaults.checkpoint.every_seconds);
  add_calibration_options(desc, defaults.samples);
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm,
                     "ksi calibrate --model FILE --data FILE --out FILE [options]"))
    return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  // From here on SIGUSR1/SIGTERM mean: checkpoint after the current batch and stop (exit code 75).
  par::install_stop_handlers();
  if (!vm.count("model")) throw UsageError("ksi calibrate: --model FILE is required");
  if (!vm.count("data")) throw UsageError("ksi calibrate: --data FILE is required");
  if (!vm.count("out")) throw UsageError("ksi calibrate: --out FILE is required");
  const std::string model_path = vm["model"].as<std::string>();
  const std::string data_path = vm["data"].as<std::string>();
  const std::string out_path = vm["out"].as<std::string>();
  const CalibrationSettings settings = calibration_settings(vm);
  sample::CalibrationOptions options = settings.options;
  if (options.samples == 0)
    throw UsageError("--calibrate (the calibration samples) must be positive");
  const bool pdf = settings.pdf, spread = settings.spread;
  sample::SampleOptions sampler = settings.sampler;
  sampler.seed = vm["seed"].as<std::uint64_t>();
  const bool force = vm.count("force") > 0;
  const CheckpointArgs checkpoint =
      checkpoint_args(vm, out_path, {model_path, data_path, out_path});
  options.checkpoint.path = checkpoint.path;
  options.checkpoint.every_seconds = checkpoint.every_seconds;
  options.checkpoint.resume = checkpoint.resume;
  options.validate();
  io::check_output_path(out_path, force, {model_path, data_path}, world);
  check_report_path(vm, force, {model_path, data_path, out_path}, world);
  io::check_interrupted(options.checkpoint.path, "checkpoint", options.checkpoint.resume, force,
                        world);
  if (force && !options.checkpoint.resume && world.is_root())
    std::filesystem::remove(options.checkpoint.path);

  Model model = [&] {
    ScopedPhase phase("calibrate.io");
    return Model::read(model_path, world);
  }();
  const sample::CalibrationTarget target =
      sample::calibration_target(data_path, model, model_path, pdf, spread, world);
  const Stopwatch clock;
  const sample::Calibration calibration =
      sample::calibrate_model(model, sampler, options, target, world);
  const double seconds = clock.seconds();
  {
    ScopedPhase phase("calibrate.io");
    io::OutputFile out(out_path, force, {model_path, data_path}, world);
    model.write(out, "ksi calibrate");
    out.commit();
  }
  if (world.is_root()) std::filesystem::remove(options.checkpoint.path);
  par::Log::info(sformat("calibrate: wrote %s (model %s) in %.1f s", out_path.c_str(),
                         model.identity().c_str(), seconds));
  write_report(
      vm, world, "calibrate",
      sformat(
          "\"samples\": %zu, \"steps\": %zu, \"step_grid\": \"%s\", \"integration_steps\": %zu, "
          "\"calibrate_seconds\": %.6g, \"resume\": {%s}",
          options.samples, sampler.steps, sample::to_string(sampler.step_grid).c_str(),
          sample::sample_grid(model, sampler).size() - 1, seconds,
          calibration_resume_json(calibration).c_str()));
  return 0;
}

}  // namespace ksi::app
