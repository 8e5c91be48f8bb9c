// ksi guide: model.h5 -> model.h5 with moment-guided passes (fit/guide.hpp, METHOD section 9).
// The passes need no data: the one-shot fit stored its feature targets in the model. Guiding a
// fitted model here gives the bytes `ksi fit --guide N` would have written with the same settings,
// without fitting it again (the one-shot fit costs about as much as a pass on 64^3 fields).
#include <cmath>
#include <filesystem>

#include "app/commands.hpp"
#include "app/stage_options.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/fit/guide.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::app {

int run_guide(const Invocation& call) {
  po::options_description desc("ksi guide options");
  add_common_options(desc);
  add_output_options(desc, "output model file (HDF5): the model after its guided passes");
  desc.add_options()("model", po::value<std::string>(),
                     "fitted model (from ksi fit; it holds the feature targets the passes steer "
                     "to)")("seed", po::value<std::uint64_t>(),
                            "seed of the ensembles' streams (default: the fit's seed, so that "
                            "ksi fit --guide 0 then ksi guide --guide N is ksi fit --guide N)")(
      "bin-ridge", po::value<double>(),
      "relative ridge on the weights of the map's one-point bins in the passes' solves (default: "
      "the fit's --bin-ridge)")("report", po::value<std::string>(),
                                "write per-phase timings as JSON to FILE")(
      "petsc", po::value<std::string>()->default_value(""),
      "PETSc options of the passes' solves, as ksi fit's");
  add_checkpoint_options(desc, "checkpoint file of the passes (default: OUT.checkpoint)",
                         fit::CheckpointOptions{}.every_seconds);
  add_guide_options(desc, 3,
                    "moment-guided passes (METHOD section 9): integrate an ensemble with the "
                    "model and steer its feature moments to the data's at every grid time; at "
                    "most N passes");
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm, "ksi guide --model FILE --out FILE [options]")) return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  // From here on SIGUSR1/SIGTERM mean: checkpoint at the next grid time and stop (exit code 75).
  par::install_stop_handlers();
  if (!vm.count("model")) throw UsageError("ksi guide: --model FILE is required");
  if (!vm.count("out")) throw UsageError("ksi guide: --out FILE is required");
  const std::string model_path = vm["model"].as<std::string>();
  const std::string out_path = vm["out"].as<std::string>();
  const bool force = vm.count("force") > 0;
  fit::GuideOptions options = guide_options(vm);
  if (options.passes == 0) throw UsageError("--guide (the passes) must be at least 1");
  if (vm.count("guide-ridge")) options.ridge = vm["guide-ridge"].as<double>();
  if (vm.count("bin-ridge")) options.bin_ridge = vm["bin-ridge"].as<double>();
  options.validate();  // before any I/O; again below with the model's settings
  const CheckpointArgs checkpoint = checkpoint_args(vm, out_path, {model_path, out_path});
  options.checkpoint.path = checkpoint.path;
  options.checkpoint.every_seconds = checkpoint.every_seconds;
  options.checkpoint.resume = checkpoint.resume;
  options.checkpoint.inputs = describe_input_file(model_path);
  io::check_output_path(out_path, force, {model_path}, world);
  check_report_path(vm, force, {model_path, out_path, options.checkpoint.path}, world);
  io::check_interrupted(options.checkpoint.path, "checkpoint", options.checkpoint.resume, force,
                        world);
  if (force && !options.checkpoint.resume && world.is_root())
    std::filesystem::remove(options.checkpoint.path);

  Model model = [&] {
    ScopedPhase phase("guide.io");
    return Model::read(model_path, world);
  }();
  if (model.calibration() || !model.output().empty())
    throw InputError(cat(model_path,
                         " carries an output calibration, fitted on the samples of the drift the "
                         "passes would change: guide the model it was calibrated from, then "
                         "calibrate again (ksi calibrate)"));
  fit::check_guidable(model.features(), options);
  if (model.guide_record().passes() > 0 && model.features().kind() == "fourier" &&
      !model.guide_record().settings.has("gram_units"))
    par::Log::warn(cat(model_path,
                       ": its guided passes were made by a version of ksi that used the ensemble "
                       "Gram matrix of random Fourier features without its Hadamard factor (raw "
                       "sums): their eta is wrong; guide the one-shot model again instead"));
  // The fit's settings, unless given: the passes then solve the systems the fit's would have. A
  // guided model goes on with its last guide's ridge and its eta's interpolation.
  const Params& fitted = model.fit_settings();
  const Params& guided = model.guide_record().settings;
  const fit::FitOptions fit_defaults;
  try {
    options.seed = vm.count("seed") ? vm["seed"].as<std::uint64_t>()
                                    : static_cast<std::uint64_t>(fitted.integer(
                                          "seed", static_cast<std::int64_t>(fit_defaults.seed)));
    if (!vm.count("guide-ridge"))
      options.ridge = guided.real("ridge", fitted.real("ridge", fit_defaults.ridge));
    if (!vm.count("bin-ridge"))
      options.bin_ridge = guided.real("bin_ridge", fitted.real("bin_ridge", 0.0));
  } catch (const UsageError& e) {
    throw InputError(cat(model_path, ": its fit settings: ", e.what()));
  }
  if (vm["guide-interpolation"].defaulted() && model.guide_record().passes() > 0)
    options.interpolation = model.eta_interpolation();
  if (vm["guide-ramp-fraction"].defaulted() && model.guide_record().passes() > 0 &&
      model.eta_interpolation() == EtaInterpolation::ramp)
    options.ramp_fraction = model.eta_ramp_fraction();
  options.validate();
  // Passes before these: the input's own and those before it.
  const std::size_t prior_passes =
      model.guide_record().passes() +
      static_cast<std::size_t>(model.guide_record().settings.integer("prior_passes", 0));
  // Their ensembles draw the streams of the passes after those (fresh ones, for the same seed).
  options.first_stream = prior_passes;
  if (prior_passes > 0)
    par::Log::info(sformat("guide: %s had %zu guided pass(es) already; these go on from its eta",
                           model_path.c_str(), prior_passes));

  fit::PetscSession petsc(world, vm["petsc"].as<std::string>());
  const Stopwatch clock;
  const fit::GuideStart start = fit::guide_model(model, options, world);
  const double seconds = clock.seconds();
  if (prior_passes > 0) {
    GuideRecord record = model.guide_record();
    record.settings.set("prior_passes", prior_passes);
    model.set_guide_record(std::move(record));
  }
  {
    ScopedPhase phase("guide.io");
    io::OutputFile out(out_path, force, {model_path}, world);
    model.write(out, "ksi guide");
    out.commit();
  }
  if (world.is_root()) std::filesystem::remove(options.checkpoint.path);
  par::Log::info(sformat("guide: wrote %s (model %s): %zu pass(es) in %.1f s", out_path.c_str(),
                         model.identity().c_str(), model.guide_record().passes(), seconds));
  write_report(vm, world, "guide",
               sformat("\"guide_passes\": %zu, \"guide_seconds\": %.6g, \"resume\": {%s}",
                       model.guide_record().passes(), seconds,
                       resume_json("guide", start.resumed,
                                   sformat("\"pass\": %zu, \"time\": %zu", start.pass, start.time))
                           .c_str()));
  return 0;
}

}  // namespace ksi::app
