// ksi sample: model.h5 -> samples.h5 (METHOD section 3).
#include <algorithm>

#include "app/commands.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"
#include "ksi/sample/calibrate_model.hpp"
#include "ksi/sample/fft_plans.hpp"
#include "ksi/sample/job.hpp"
#include "ksi/sample/microcanonical.hpp"

namespace ksi::app {
namespace {

// What a run took from a partial output, for the --report JSON.
std::string resume_json(const sample::SamplingResult& r) {
  return sformat(
      "\"resume\": {\"resumed\": %s, \"batches\": %zu, \"batches_skipped\": %zu, "
      "\"batches_integrated\": %zu}",
      r.resumed ? "true" : "false", r.batches, r.batches_skipped, r.batches_integrated);
}

// The microcanonical baseline: the model's map, standardisation and training features only.
int run_microcanonical(const po::variables_map& vm, const Model& model,
                       const sample::MicrocanonicalOptions& options, const sample::SampleJob& job,
                       const par::Comm& world) {
  // Every rank reads the same model, so a model without training features fails on all: one
  // message.
  std::unique_ptr<sample::SampleMethod> method;
  par::collective(world, [&] { method = sample::microcanonical_method(model, options); });
  if (!model.output().empty())
    par::Log::info(
        "sample: the model's output calibration (gains, map, spread) is not applied: "
        "the microcanonical baseline is judged on its own");
  par::Log::info(cat("sample: ", job.count, " microcanonical samples of ", model.shape().describe(),
                     " (", model.features().size(), " features, target ", to_string(options.target),
                     ", L-BFGS history ", options.history, ", at most ", options.max_iterations,
                     " iterations, tolerance ", options.tolerance, "), ", world.size(), " ranks"));
  const sample::SamplingResult result = sample::run_sampling(model, *method, job, world);
  const double seconds = result.seconds;
  // Seconds per sample on one rank: the wall time times the ranks, over the samples.
  const double per_sample = seconds * world.size() / static_cast<double>(job.count);
  par::Log::info(sformat("sample: wrote %zu samples to %s in %.2f s (%.3g s per sample per rank)",
                         job.count, job.out.c_str(), seconds, per_sample));
  write_report(
      vm, world, "sample",
      sformat("\"method\": \"microcanonical\", \"samples\": %zu, \"features\": %zu, "
              "\"dimension\": %zu, \"sample_seconds\": %.6g, \"seconds_per_sample\": %.6g, %s",
              job.count, model.features().size(), model.shape().size(), seconds, per_sample,
              resume_json(result).c_str()));
  return 0;
}

}  // namespace

int run_sample(const Invocation& call) {
  const sample::SampleOptions defaults;
  const sample::MicrocanonicalOptions micro_defaults;
  const sample::SampleJob job_defaults;
  po::options_description desc("ksi sample options");
  add_common_options(desc);
  add_output_options(desc, "output samples file (HDF5)");
  desc.add_options()("model", po::value<std::string>(), "fitted model (from ksi fit)")(
      "count,n", po::value<std::size_t>()->default_value(job_defaults.count), "number of samples")(
      "method", po::value<std::string>()->default_value("sde"),
      "sde (integrate the model's generative dynamics) or microcanonical (L-BFGS from white noise "
      "until the features match a training item's: the baseline of the scattering-spectra codes)")(
      "seed", po::value<std::uint64_t>()->default_value(defaults.seed),
      "seed (sample i uses stream (seed, i))")(
      "steps", po::value<std::size_t>()->default_value(defaults.steps),
      "sde: integration steps on [0, 1] (per unit time with --step-grid model)")(
      "step-grid", po::value<std::string>()->default_value(sample::to_string(defaults.step_grid)),
      "sde: model (for eta that jumps or ramps between grid times, as guided models' step, "
      "hybrid and ramp eta: a node at each grid time and ramp end, each span cut into steps of at "
      "most 1/steps, as in the guided passes: no step straddles a bend; equal steps for linear "
      "eta) or uniform (steps equal steps on [0, 1])")(
      "integrator", po::value<std::string>()->default_value("optimal"),
      "sde: optimal (D* SDE, Heun), ode (probability flow, Heun), constant (constant D, "
      "Euler-Maruyama)")("diffusion", po::value<double>()->default_value(defaults.diffusion),
                         "sde: D for --integrator constant")(
      "diffusion-scale", po::value<double>()->default_value(defaults.diffusion_scale),
      "sde: lambda of the optimal integrator's diffusion D = lambda D* (at least 0.5; 1: D*)")(
      "target", po::value<std::string>()->default_value(sample::to_string(micro_defaults.target)),
      "microcanonical: match sample i to training item i mod N (item) or to the training mean "
      "(mean)")("lbfgs-history", po::value<std::size_t>()->default_value(micro_defaults.history),
                "microcanonical: L-BFGS correction pairs kept")(
      "max-iterations", po::value<std::size_t>()->default_value(micro_defaults.max_iterations),
      "microcanonical: L-BFGS iterations per sample at most")(
      "tolerance", po::value<double>()->default_value(micro_defaults.tolerance),
      "microcanonical: stop at relative feature residual |phi - target| / s <= this, s the rms "
      "distance of the training features from their mean")(
      "precondition",
      po::value<std::string>()->default_value(sample::to_string(micro_defaults.precondition)),
      "microcanonical: L-BFGS on z with x = C z, C the square root of the training spectrum "
      "(spectrum; auto: where the model holds one) or on the field itself (none)")(
      "refine-below", po::value<double>()->default_value(micro_defaults.refine_below),
      "microcanonical: once L-BFGS reaches this residual (or stops above it), Levenberg-Marquardt "
      "steps on the map's exact Gram J J^T take it to --tolerance (0: L-BFGS alone)")(
      "refine-iterations",
      po::value<std::size_t>()->default_value(micro_defaults.refine_iterations),
      "microcanonical: Levenberg-Marquardt steps per sample at most")(
      "refine-refresh", po::value<double>()->default_value(micro_defaults.refine_refresh),
      "microcanonical: assemble the Gram again after a step that reduced the residual by less "
      "than this factor")(
      "batch", po::value<std::size_t>()->default_value(defaults.batch),
      "samples per batch, the unit dealt to ranks and of restarts (0: 64, fewer for large fields: "
      "about 2 MB of states: one field of 64^3)")(
      "dtype", po::value<std::string>()->default_value("float64"), "float32 or float64")(
      "flush-every", po::value<double>()->default_value(job_defaults.flush_every_seconds),
      "seconds between flushes of the partial output (0: never)")(
      "resume", "continue OUT.partial of an interrupted run")(
      "fft-effort", po::value<std::string>()->default_value("estimate"),
      "FFTW planning: estimate, or measure / patient (rank 0 times the plans of the model's maps "
      "and every rank uses them: faster transforms, the same bits on every rank)")(
      "fft-wisdom", po::value<std::string>(),
      "FFTW wisdom file: read if it exists, else written after measuring; the same file gives the "
      "same plans, and so the same bits, in every run")("report", po::value<std::string>(),
                                                        "write per-phase timings as JSON to FILE");
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm, "ksi sample --model FILE --out FILE [options]")) return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  // From here on SIGUSR1/SIGTERM mean: checkpoint at the next batch and stop (exit code 75).
  par::install_stop_handlers();
  if (!vm.count("model")) throw UsageError("ksi sample: --model FILE is required");
  if (!vm.count("out")) throw UsageError("ksi sample: --out FILE is required");

  const std::string method = vm["method"].as<std::string>();
  if (method != "sde" && method != "microcanonical")
    throw UsageError(cat("unknown --method '", method, "' (known: sde, microcanonical)"));
  const bool micro = method == "microcanonical";
  if (!micro)
    for (const char* name : {"target", "lbfgs-history", "max-iterations", "tolerance",
                             "precondition", "refine-below", "refine-iterations", "refine-refresh"})
      if (!vm[name].defaulted())
        throw UsageError(cat("--", name, " applies to --method microcanonical only"));
  if (micro) {
    // The integrator's settings mean nothing to L-BFGS: refused on the command line; a shared
    // config's [sample] section may hold them for the sde runs, so there they are only noted.
    const po::variables_map line = command_line_options(call, desc, {});
    std::string from_config;
    for (const char* name : {"steps", "step-grid", "integrator", "diffusion", "diffusion-scale"}) {
      if (vm[name].defaulted()) continue;
      if (line.count(name) && !line[name].defaulted())
        throw UsageError(cat("--", name,
                             " applies to --method sde only (microcanonical synthesis runs "
                             "L-BFGS: --max-iterations, --tolerance)"));
      from_config += (from_config.empty() ? "" : ", ") + std::string(name);
    }
    if (!from_config.empty())
      par::Log::info("sample: the config's " + from_config +
                     " apply to --method sde; microcanonical synthesis does not use them");
  }
  sample::SampleOptions options;
  options.steps = vm["steps"].as<std::size_t>();
  options.step_grid = sample::parse_step_grid(vm["step-grid"].as<std::string>());
  options.integrator = sample::parse_integrator(vm["integrator"].as<std::string>());
  options.diffusion = vm["diffusion"].as<double>();
  options.diffusion_scale = vm["diffusion-scale"].as<double>();
  options.seed = vm["seed"].as<std::uint64_t>();
  options.batch = vm["batch"].as<std::size_t>();
  sample::MicrocanonicalOptions micro_options;
  micro_options.target = sample::parse_microcanonical_target(vm["target"].as<std::string>());
  micro_options.history = vm["lbfgs-history"].as<std::size_t>();
  micro_options.max_iterations = vm["max-iterations"].as<std::size_t>();
  micro_options.tolerance = vm["tolerance"].as<double>();
  micro_options.precondition =
      sample::parse_microcanonical_precondition(vm["precondition"].as<std::string>());
  micro_options.refine_below = vm["refine-below"].as<double>();
  micro_options.refine_iterations = vm["refine-iterations"].as<std::size_t>();
  micro_options.refine_refresh = vm["refine-refresh"].as<double>();
  micro_options.seed = options.seed;
  micro_options.batch = options.batch;
  if (micro) micro_options.validate();
  sample::SampleJob job;
  job.out = vm["out"].as<std::string>();
  job.model_path = vm["model"].as<std::string>();
  job.count = vm["count"].as<std::size_t>();
  job.dtype = io::parse_float_dtype(vm["dtype"].as<std::string>());
  job.force = vm.count("force") > 0;
  job.resume = vm.count("resume") > 0;
  job.flush_every_seconds = vm["flush-every"].as<double>();
  job.validate();
  options.validate();
  sample::FftPlanOptions plans;
  plans.effort = fft::parse_effort(vm["fft-effort"].as<std::string>());
  if (vm.count("fft-wisdom")) plans.wisdom = vm["fft-wisdom"].as<std::string>();
  io::check_output_path(job.out, job.force, {job.model_path, plans.wisdom}, world);
  check_report_path(vm, job.force, {job.model_path, plans.wisdom, job.out}, world);
  sample::prepare_fft_plans(job.model_path, plans, world);

  Model model = [&] {
    ScopedPhase phase("sample.io");
    return Model::read(job.model_path, world);
  }();
  if (micro) return run_microcanonical(vm, model, micro_options, job, world);
  if (options.batch == 0) options.batch = sample::default_batch(model);
  // The output transform corrects the spectrum of one sampler's output: the settings the
  // calibration recorded are taken unless given; a given one that differs is reported.
  const sample::CalibratedSampler followed = sample::follow_calibration(
      model, job.model_path, [&](const std::string& option) { return !vm[option].defaulted(); },
      options);
  if (!followed.differences.empty()) {
    std::string list;
    for (const auto& d : followed.differences) list += (list.empty() ? "" : ", ") + d;
    par::Log::warn("the model's output calibration was fitted for other sampler settings: " + list +
                   ": recalibrate (ksi calibrate) for these settings");
  } else if (followed.took) {
    par::Log::info(cat("sample: ", options.steps, " ", sample::to_string(options.integrator),
                       " steps, the settings the model's output calibration was fitted for"));
  }
  const std::size_t steps = sample::sample_grid(model, options).size() - 1;
  par::Log::info(cat("sample: ", job.count, " samples of ", model.shape().describe(), ", ", steps,
                     " ", sample::to_string(options.integrator), " steps (--steps ", options.steps,
                     " on the ", sample::to_string(options.step_grid), " grid), ", world.size(),
                     " ranks"));
  const sample::SamplingResult result = sample::run_sampling(model, options, job, world);
  const double seconds = result.seconds;
  const double rate = static_cast<double>(job.count) * static_cast<double>(steps) / seconds;
  par::Log::info(sformat("sample: wrote %zu samples to %s in %.2f s (%.3g sample-steps/s)",
                         job.count, job.out.c_str(), seconds, rate));
  write_report(vm, world, "sample",
               sformat("\"method\": \"sde\", \"samples\": %zu, \"steps\": %zu, "
                       "\"step_grid\": \"%s\", \"integration_steps\": %zu, \"features\": %zu, "
                       "\"dimension\": %zu, "
                       "\"sample_seconds\": %.6g, \"sample_steps_per_second\": %.6g, %s",
                       job.count, options.steps, sample::to_string(options.step_grid).c_str(),
                       steps, model.features().size(), model.shape().size(), seconds, rate,
                       resume_json(result).c_str()));
  return 0;
}

}  // namespace ksi::app
