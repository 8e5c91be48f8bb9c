// ksi sample: model.h5 -> samples.h5 (METHOD section 3).
#include <algorithm>

#include "app/commands.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"
#include "ksi/sample/job.hpp"

namespace ksi::app {

int run_sample(const Invocation& call) {
  const sample::SampleOptions defaults;
  const sample::SampleJob job_defaults;
  po::options_description desc("ksi sample options");
  add_common_options(desc);
  add_output_options(desc, "output samples file (HDF5)");
  desc.add_options()
      ("model", po::value<std::string>(), "fitted model (from ksi fit)")
      ("count,n", po::value<std::size_t>()->default_value(job_defaults.count), "number of samples")
      ("seed", po::value<std::uint64_t>()->default_value(defaults.seed), "seed (sample i uses stream (seed, i))")
      ("steps", po::value<std::size_t>()->default_value(defaults.steps), "integration steps on [0, 1]")
      ("integrator", po::value<std::string>()->default_value("optimal"), "optimal (D* SDE, Heun), ode (probability flow, Heun), constant (constant D, Euler-Maruyama)")
      ("diffusion", po::value<double>()->default_value(defaults.diffusion), "D for --integrator constant")
      ("diffusion-scale", po::value<double>()->default_value(defaults.diffusion_scale), "lambda of the optimal integrator's diffusion D = lambda D* (at least 0.5; 1: D*)")
      ("batch", po::value<std::size_t>()->default_value(defaults.batch), "samples integrated together (0: 64, fewer for large fields: about 2 MB of states: one field of 64^3)")
      ("dtype", po::value<std::string>()->default_value("float64"), "float32 or float64")
      ("flush-every", po::value<double>()->default_value(job_defaults.flush_every_seconds), "seconds between flushes of the partial output (0: never)")
      ("resume", "continue OUT.partial of an interrupted run")
      ("report", po::value<std::string>(), "write per-phase timings as JSON to FILE");
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm, "ksi sample --model FILE --out FILE [options]")) return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  // From here on SIGUSR1/SIGTERM mean: checkpoint at the next batch and stop (exit code 75).
  par::install_stop_handlers();
  if (!vm.count("model")) throw UsageError("ksi sample: --model FILE is required");
  if (!vm.count("out")) throw UsageError("ksi sample: --out FILE is required");

  sample::SampleOptions options;
  options.steps = vm["steps"].as<std::size_t>();
  options.integrator = sample::parse_integrator(vm["integrator"].as<std::string>());
  options.diffusion = vm["diffusion"].as<double>();
  options.diffusion_scale = vm["diffusion-scale"].as<double>();
  options.seed = vm["seed"].as<std::uint64_t>();
  options.batch = vm["batch"].as<std::size_t>();
  sample::SampleJob job;
  job.out = vm["out"].as<std::string>();
  job.model_path = vm["model"].as<std::string>();
  job.count = vm["count"].as<std::size_t>();
  job.dtype = io::parse_float_dtype(vm["dtype"].as<std::string>());
  job.force = vm.count("force") > 0;
  job.resume = vm.count("resume") > 0;
  job.flush_every_seconds = vm["flush-every"].as<double>();
  if (job.count == 0) throw UsageError("--count must be positive");
  if (options.steps == 0) throw UsageError("--steps must be at least 1");
  if (job.flush_every_seconds < 0) throw UsageError("--flush-every must be >= 0");
  io::check_output_path(job.out, job.force, {job.model_path}, world);

  Model model = [&] {
    ScopedPhase phase("sample.io");
    return Model::read(job.model_path, world);
  }();
  if (options.batch == 0) options.batch = sample::default_batch(model);
  if (!model.output_gain().empty()) {
    // The output gains correct the spectrum of this sampler's output: other settings change it.
    const std::string steps = cat(options.steps), integrator = sample::to_string(options.integrator);
    const auto& fit = model.fit_settings();
    if (fit.text("calibration_steps", steps) != steps ||
        fit.text("calibration_integrator", integrator) != integrator)
      par::Log::warn(cat("the model's output gains were calibrated for ",
                         fit.text("calibration_steps", "?"), " ",
                         fit.text("calibration_integrator", "?"), " steps, not ", steps, " ", integrator,
                         ": recalibrate (ksi calibrate) for these settings"));
  }
  par::Log::info(cat("sample: ", job.count, " samples of ", model.shape().describe(), ", ",
                     options.steps, " ", sample::to_string(options.integrator), " steps, ",
                     world.size(), " ranks"));
  const double seconds = sample::run_sampling(model, options, job, world);
  const double rate = static_cast<double>(job.count) * static_cast<double>(options.steps) / seconds;
  par::Log::info(sformat("sample: wrote %zu samples to %s in %.2f s (%.3g sample-steps/s)", job.count,
                         job.out.c_str(), seconds, rate));
  write_report(vm, world, "sample",
               sformat("\"samples\": %zu, \"steps\": %zu, \"features\": %zu, \"dimension\": %zu, "
                       "\"sample_seconds\": %.6g, \"sample_steps_per_second\": %.6g",
                       job.count, options.steps, model.features().size(), model.shape().size(),
                       seconds, rate));
  return 0;
}

}  // namespace ksi::app
