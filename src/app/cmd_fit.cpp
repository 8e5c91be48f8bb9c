// ksi fit: data set -> model.h5 (METHOD section 2).
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "app/commands.hpp"
#include "app/stage_options.hpp"
#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/fit/guide.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/fit/training.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::app {
namespace {

// Where each stage of the run started (from its checkpoint or not), for the --report JSON.
std::string fit_resume_json(const fit::FitStart& fit, const fit::GuideStart& guide,
                            const sample::Calibration& calibration) {
  return resume_json(
             "fit", fit.resumed,
             sformat("\"finished\": %s, \"time\": %zu, \"batches\": %zu, \"batches_skipped\": %zu, "
                     "\"batches_assembled\": %zu",
                     fit.finished ? "true" : "false", fit.time, fit.batches, fit.batches_skipped,
                     fit.batches_assembled)) +
         ", " +
         resume_json("guide", guide.resumed,
                     sformat("\"pass\": %zu, \"time\": %zu", guide.pass, guide.time)) +
         ", " + calibration_resume_json(calibration);
}

}  // namespace

int run_fit(const Invocation& call) {
  const fit::FitOptions defaults;
  po::options_description desc("ksi fit options");
  add_common_options(desc);
  add_output_options(desc, "output model file (HDF5)");
  desc.add_options()("data", po::value<std::string>(), "training data set (HDF5 with /fields)")(
      "features", po::value<std::string>()->default_value("fourier"),
      "feature map: polynomial, fourier, scattering; models (fitted models' drifts as features, "
      "--feature-params paths=a.h5+b.h5[+gaussian]), or e.g. scattering+models")(
      "feature-params", po::value<std::string>()->default_value(""),
      "feature-map parameters, e.g. count=512,length_scale=1 (fourier) or J=4,L=4,isotropic=true "
      "(scattering)")("features-from", po::value<std::string>(),
                      "reuse the feature map (and standardisation) of this model file")(
      "units-from", po::value<std::string>(),
      "take the standardisation of this model file instead of estimating one (models that are "
      "to be combined with --features models must share their units)")(
      "schedule", po::value<std::string>()->default_value(defaults.schedule),
      "interpolant schedule: linear, trig")("times",
                                            po::value<std::size_t>()->default_value(defaults.times),
                                            "number of times T at which eta is solved")(
      "time-grid", po::value<std::string>()->default_value(defaults.time_grid),
      "uniform or chebyshev")("draws", po::value<std::size_t>()->default_value(defaults.draws),
                              "noise draws M per item and time")(
      "seed", po::value<std::uint64_t>()->default_value(defaults.seed),
      "seed of the noise streams")("ridge", po::value<double>()->default_value(defaults.ridge),
                                   "relative ridge lambda")(
      "gram", po::value<std::string>()->default_value(defaults.gram),
      "the Gram of each time: exact (J J^T of every pair) or randomized (an unbiased estimate "
      "from --gram-probes Rademacher probes per pair, each one forward-mode product J s; "
      "cheaper where P is large: 7.6x at P = 1332 on 64^3 with 16 probes)")(
      "gram-probes", po::value<std::size_t>()->default_value(defaults.gram_probes),
      "probes per (item, draw, time) of --gram randomized")(
      "bin-ridge", po::value<double>()->default_value(defaults.bin_ridge),
      "further relative ridge on the weights of the map's one-point bins (scattering marginal=, "
      "conditional= and contrast=): + bin-ridge tr(K)/P on their diagonal; 1e-2 kept the 64^3 "
      "cosmology "
      "drift from running away")(
      "standardize", po::value<std::string>()->default_value("scalar"),
      "none; scalar (one mean and scale for all values); spectrum (fields: whitened by the data's "
      "isotropic power spectrum, so the drift models only what is not Gaussian; use with "
      "--schedule trig); copula (fields: one-point values mapped to a standard normal, then "
      "whitened so that the Gaussian part is a copula with the data's PDF and spectrum; use with "
      "--schedule trig)")(
      "shell-correction", po::value<std::string>()->default_value("off"),
      "fields: fit a per-shell linear drift correction after eta (one more pass of vjp's): on, "
      "off, or auto (on with --standardize spectrum or copula)")(
      "max-items", po::value<std::size_t>(), "use only the first N items of the data set")(
      "batch", po::value<std::size_t>()->default_value(0),
      "items x draws per Gram update (0: the feature map's choice)")(
      "memory-mb", po::value<double>()->default_value(defaults.memory_mb),
      "per-rank memory budget for the Gram sums (MB)")(
      "distributed-threshold",
      po::value<std::size_t>()->default_value(defaults.distributed_threshold),
      "P from which a time is solved on a group of ranks (ScaLAPACK)")(
      "solve-group", po::value<int>()->default_value(0),
      "ranks per distributed solve (0: automatic)")(
      "time-groups", po::value<std::size_t>()->default_value(1),
      "G: split the ranks into G groups that each assemble every G-th time over all items (more "
      "ranks than item batches then still find work; G must divide the ranks; the same model "
      "for every G)")("petsc", po::value<std::string>()->default_value(""),
                      "PETSc options, e.g. \"-fit_ksp_type cg -fit_pc_type jacobi\"")(
      "report", po::value<std::string>(), "write per-phase timings as JSON to FILE");
  add_checkpoint_options(desc,
                         "checkpoint file (default: OUT.checkpoint; the guided passes' and "
                         "the calibration's beside it, with .guide and .calibrate added)",
                         fit::CheckpointOptions{}.every_seconds);
  add_guide_options(desc, 0,
                    "moment-guided passes after the one-shot fit (METHOD section 9): integrate an "
                    "ensemble with the model and steer its feature moments to the data's at every "
                    "grid time; at most N passes (0: none; ksi guide adds passes to a fitted "
                    "model)");
  add_calibration_options(desc, 0);
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm, "ksi fit --data FILE --out FILE [options]")) return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  // From here on SIGUSR1/SIGTERM mean: checkpoint at the next batch and stop (exit code 75).
  par::install_stop_handlers();
  if (!vm.count("data")) throw UsageError("ksi fit: --data FILE is required");
  if (!vm.count("out")) throw UsageError("ksi fit: --out FILE is required");
  const std::string data_path = vm["data"].as<std::string>();
  const std::string out_path = vm["out"].as<std::string>();
  const bool force = vm.count("force") > 0;

  fit::FitOptions options;
  options.schedule = vm["schedule"].as<std::string>();
  options.times = vm["times"].as<std::size_t>();
  options.time_grid = vm["time-grid"].as<std::string>();
  options.draws = vm["draws"].as<std::size_t>();
  options.seed = vm["seed"].as<std::uint64_t>();
  options.ridge = vm["ridge"].as<double>();
  options.gram = vm["gram"].as<std::string>();
  options.gram_probes = vm["gram-probes"].as<std::size_t>();
  if (!vm["gram-probes"].defaulted() && options.gram != "randomized")
    throw UsageError("--gram-probes sets the probes of --gram randomized; add --gram randomized");
  options.bin_ridge = vm["bin-ridge"].as<double>();
  options.batch = vm["batch"].as<std::size_t>();
  options.memory_mb = vm["memory-mb"].as<double>();
  options.distributed_threshold = vm["distributed-threshold"].as<std::size_t>();
  options.solve_group = vm["solve-group"].as<int>();
  options.time_groups = vm["time-groups"].as<std::size_t>();
  // Validate cheap settings before any I/O.
  // Against the data and output here; against every input of the map below (training.input_paths).
  const CheckpointArgs checkpoint = checkpoint_args(vm, out_path, {data_path, out_path});
  options.checkpoint.path = checkpoint.path;
  options.checkpoint.every_seconds = checkpoint.every_seconds;
  options.checkpoint.resume = checkpoint.resume;
  options.validate();
  const std::size_t time_count = fit::make_time_grid(options.times, options.time_grid).size();
  const fit::TimeGroup time_group =
      fit::time_group(options, time_count, world.rank(), world.size());
  const CalibrationSettings calibrate = calibration_settings(vm);
  sample::CalibrationOptions calibration = calibrate.options;
  sample::SampleOptions calibration_sampler = calibrate.sampler;
  calibration_sampler.seed = options.seed;
  fit::GuideOptions guide = guide_options(vm);
  guide.seed = options.seed;
  guide.ridge = vm.count("guide-ridge") ? vm["guide-ridge"].as<double>() : options.ridge;
  guide.bin_ridge = options.bin_ridge;
  guide.validate();

  fit::TrainingInputs training;
  training.data = data_path;
  if (vm.count("max-items")) training.max_items = vm["max-items"].as<std::size_t>();
  training.feature_kind = vm["features"].as<std::string>();
  training.feature_kind_given = !vm["features"].defaulted();
  training.feature_params =
      parse_key_values("feature-params", vm["feature-params"].as<std::string>());
  if (vm.count("features-from")) training.features_from = vm["features-from"].as<std::string>();
  if (vm.count("units-from")) training.units_from = vm["units-from"].as<std::string>();
  training.standardize = vm["standardize"].as<std::string>();
  training.standardize_given = !vm["standardize"].defaulted();
  training.schedule_given = !vm["schedule"].defaulted();
  training.shell_correction = vm["shell-correction"].as<std::string>();
  training.validate();

  options.checkpoint.inputs = describe_input_file(data_path);
  guide.checkpoint = options.checkpoint;
  guide.checkpoint.path = options.checkpoint.path + ".guide";
  calibration.checkpoint = {options.checkpoint.path + ".calibrate",
                            options.checkpoint.every_seconds, options.checkpoint.resume};
  std::vector<std::string> in_use = training.input_paths();
  in_use.push_back(out_path);
  for (const std::string& path :
       {options.checkpoint.path, guide.checkpoint.path, calibration.checkpoint.path})
    check_checkpoint_path(path, in_use);
  // A new fit (--force without --resume): an old guide or calibration state cannot apply.
  fit::check_checkpoints(
      {options.checkpoint.path, guide.checkpoint.path, calibration.checkpoint.path},
      options.checkpoint.resume, force, {guide.checkpoint.path, calibration.checkpoint.path},
      world);
  io::check_output_path(out_path, force, training.input_paths(), world);
  {
    auto others = training.input_paths();
    for (const auto& path :
         {out_path, options.checkpoint.path, guide.checkpoint.path, calibration.checkpoint.path})
      others.push_back(path);
    check_report_path(vm, force, others, world);
  }

  // The calibration's target: the data's spectrum in data units, before they are standardised.
  sample::CalibrationTarget calibration_goal;
  fit::TrainingSet set =
      fit::prepare_training(training, options, time_group, world, [&](const io::LocalItems& raw) {
        if (calibration.samples > 0)
          calibration_goal = sample::calibration_target(raw.values, raw.range.begin, raw.info.shape,
                                                        calibrate.pdf, calibrate.spread, world);
      });
  if (guide.passes > 0) fit::check_guidable(*set.features, guide);
  par::collective(world, [&] { fit::bin_penalty(*set.features, options.bin_ridge); });

  fit::PetscSession petsc(world, vm["petsc"].as<std::string>());
  const Stopwatch clock;
  fit::FitStart fit_start;
  const std::size_t total = set.total;
  Model model =
      fit::fit_model(set.data.values, set.data.range.begin, total, std::move(set.features),
                     set.data.info.shape, set.units, options, world, &fit_start);
  const double fit_seconds = clock.seconds();
  double guide_seconds = 0.0;
  fit::GuideStart guide_start;
  sample::Calibration calibrated;
  if (guide.passes > 0) {
    const Stopwatch guide_clock;
    guide_start = fit::guide_model(model, guide, world);
    guide_seconds = guide_clock.seconds();
    par::Log::info(
        sformat("guide: %zu pass(es), %.1f s", model.guide_record().passes(), guide_seconds));
  }
  if (calibration.samples > 0) {
    const Stopwatch calibration_clock;
    calibrated =
        sample::calibrate_model(model, calibration_sampler, calibration, calibration_goal, world);
    par::Log::info(sformat("calibrate: %.1f s", calibration_clock.seconds()));
  }
  model.fit_settings().set("data", data_path);
  model.set_box_size(set.data.info.box_size);
  model.fit_settings().set("schedule", options.schedule);

  {
    ScopedPhase phase("fit.io");
    io::OutputFile out(out_path, force, training.input_paths(), world);
    model.write(out);
    out.commit();
  }
  if (world.is_root()) {
    std::filesystem::remove(options.checkpoint.path);
    std::filesystem::remove(guide.checkpoint.path);
    std::filesystem::remove(calibration.checkpoint.path);
  }

  double worst_residual = 0.0, min_captured = 1e300, max_captured = -1e300;
  for (const auto& d : model.diagnostics()) {
    worst_residual = std::max(worst_residual, d.residual);
    min_captured = std::min(min_captured, d.captured);
    max_captured = std::max(max_captured, d.captured);
  }
  par::Log::info(
      sformat("fit: wrote %s (model %s): P = %zu, T = %zu, R^2 in [%.4f, %.4f], "
              "max residual %.2e, %.1f s",
              out_path.c_str(), model.identity().c_str(), model.features().size(),
              model.times().size(), min_captured, max_captured, worst_residual, fit_seconds));
  const double rate = static_cast<double>(total) * static_cast<double>(options.draws) *
                      static_cast<double>(options.times) / fit_seconds;
  write_report(
      vm, world, "fit",
      sformat("\"items\": %zu, \"draws\": %zu, \"times\": %zu, \"features\": %zu, "
              "\"dimension\": %zu, \"fit_seconds\": %.6g, \"item_draw_times_per_second\": %.6g, "
              "\"guide_passes\": %zu, \"guide_seconds\": %.6g, \"resume\": {%s}",
              total, options.draws, options.times, model.features().size(),
              set.data.info.shape.size(), fit_seconds, rate, model.guide_record().passes(),
              guide_seconds, fit_resume_json(fit_start, guide_start, calibrated).c_str()));
  return 0;
}

}  // namespace ksi::app
