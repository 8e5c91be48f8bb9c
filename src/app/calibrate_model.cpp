#include "app/calibrate_model.hpp"

#include <cmath>
#include <filesystem>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/par/log.hpp"

namespace ksi::app {

void add_sampler_options(po::options_description& desc, const std::string& prefix,
                         const std::string& what) {
  const sample::SampleOptions defaults;
  desc.add_options()((prefix + "steps").c_str(),
                     po::value<std::size_t>()->default_value(defaults.steps),
                     ("integration steps of the " + what + " (use those of ksi sample)").c_str())(
      (prefix + "integrator").c_str(), po::value<std::string>()->default_value("optimal"),
      ("integrator of the " + what + ": optimal, ode, constant (use that of ksi sample)").c_str())(
      (prefix + "diffusion").c_str(), po::value<double>()->default_value(defaults.diffusion),
      "D for the constant integrator")(
      (prefix + "diffusion-scale").c_str(),
      po::value<double>()->default_value(defaults.diffusion_scale),
      "lambda of the optimal integrator's diffusion D = lambda D* (at least 0.5; 1: D*)")(
      (prefix + "batch").c_str(), po::value<std::size_t>()->default_value(defaults.batch),
      ("fields of the " + what +
       " integrated together, the unit dealt to ranks and of checkpoints (0: as ksi sample's "
       "default; the result does not depend on it)")
          .c_str());
}

sample::SampleOptions sampler_options(const po::variables_map& vm, const std::string& prefix) {
  sample::SampleOptions options;
  options.steps = vm[prefix + "steps"].as<std::size_t>();
  options.integrator = sample::parse_integrator(vm[prefix + "integrator"].as<std::string>());
  options.diffusion = vm[prefix + "diffusion"].as<double>();
  options.diffusion_scale = vm[prefix + "diffusion-scale"].as<double>();
  options.batch = vm[prefix + "batch"].as<std::size_t>();
  if (options.steps == 0) throw UsageError("--" + prefix + "steps must be at least 1");
  if (!(options.diffusion >= 0.0))
    throw UsageError("--" + prefix + "diffusion must be non-negative");
  if (!(options.diffusion_scale >= 0.5))
    throw UsageError("--" + prefix + "diffusion-scale must be at least 0.5");
  return options;
}

CalibrationTarget calibration_target(const Matrix& local_data, std::size_t first,
                                     const ItemShape& shape, bool pdf, bool spread,
                                     const par::Comm& comm) {
  if (!shape.is_grid())
    throw UsageError(
        "the spectral calibration needs fields on a periodic grid, but the items are " +
        shape.describe());
  ScopedPhase phase("calibrate.target");
  CalibrationTarget target;
  target.power =
      Standardization::shell_powers(local_data, {shape.dims().begin(), shape.dims().end()}, 0.0,
                                    comm, Standardization::ItemAverage::geometric);
  target.pdf = pdf;
  if (pdf) target.marginal = copula::fit_marginal(local_data, comm);
  target.spread = spread;
  if (spread)
    target.log_spread = sample::log_power_spread(local_data, first,
                                                 {shape.dims().begin(), shape.dims().end()}, comm);
  return target;
}

bool parse_on_off(const std::string& option, const std::string& value) {
  return parse_choice<bool>("--" + option, value, {{"on", true}, {"off", false}});
}

sample::Calibration calibrate_model(Model& model, const sample::SampleOptions& sampler,
                                    const sample::CalibrationOptions& options,
                                    const CalibrationTarget& target, const par::Comm& comm) {
  par::Log::info(cat("calibrate: ", options.samples, " samples, ", sampler.steps, " ",
                     sample::to_string(sampler.integrator), " steps"));
  const auto result = sample::calibrate_output(
      model, sampler, target.power, target.pdf ? &target.marginal : nullptr,
      target.spread ? &target.log_spread : nullptr, options, comm);
  model.set_output_gain(result.gain);
  model.set_output_spread(result.spread);
  model.set_output_map(result.map);
  auto& settings = model.fit_settings();
  settings.set("calibration_samples", options.samples);
  settings.set("calibration_steps", sampler.steps);
  settings.set("calibration_integrator", sample::to_string(sampler.integrator));
  settings.set("calibration_seed", static_cast<std::int64_t>(sampler.seed));
  settings.set("calibration_pdf", target.pdf);
  settings.set("calibration_spread", target.spread);
  settings.set("calibration_spread_components", result.spread.rows());
  settings.set("calibration_error_before", sformat("%.4g", result.initial_error));
  settings.set("calibration_error_after", sformat("%.4g", result.final_error));
  const std::size_t worst = sample::worst_shell(result.ratio);
  par::Log::info(
      sformat("calibrate: generated/data power per shell before: worst %.3g at |k| = %zu "
              "(max |log ratio| %.3g); after %zu updates%s: max |log ratio| %.2e",
              result.ratio[worst], worst, result.initial_error, result.iterations,
              target.pdf ? sformat(" and %zu output maps", result.rounds).c_str() : "",
              result.final_error));
  const auto describe = [](const sample::SpreadComponent& c) {
    return sformat("data %.3g, generated %.3g", c.data_variance, c.generated_variance);
  };
  for (std::size_t k = 0; k < result.spread_components.size(); ++k) {
    const auto& c = result.spread_components[k];
    par::Log::info(
        sformat("calibrate: spread %zu: variance of log P(k) along the data's direction %zu: %s, "
                "with the spread %.3g",
                k + 1, k + 1, describe(c).c_str(), c.fitted_variance));
  }
  for (const auto& c : result.spread_rejected)
    par::Log::detail("calibrate: no spread along a direction where the variances agree (" +
                     describe(c) + ")");
  if (target.spread && result.spread_components.empty())
    par::Log::info(
        "calibrate: no output spread: the generated fields scatter from one another as the data "
        "do");
  const double tolerance = target.pdf ? options.round_tolerance : options.tolerance;
  if (result.final_error > tolerance)
    par::Log::warn(sformat("calibrate: not converged (max |log ratio| %.2e > %.1e)",
                           result.final_error, tolerance));
  return result;
}

std::string resume_json(const std::string& name, bool resumed, const std::string& fields) {
  return sformat("\"%s\": {\"resumed\": %s%s%s}", name.c_str(), resumed ? "true" : "false",
                 fields.empty() ? "" : ", ", fields.c_str());
}

std::string calibration_resume_json(const sample::Calibration& c) {
  return resume_json(
      "calibrate", c.resumed,
      sformat("\"batches\": %zu, \"batches_skipped\": %zu, \"batches_integrated\": %zu", c.batches,
              c.batches_skipped, c.batches_integrated));
}

void refuse_stale_checkpoint(const std::string& path, bool resume, bool force,
                             const par::Comm& comm) {
  std::int64_t exists = 0;
  if (comm.is_root()) exists = std::filesystem::exists(path) ? 1 : 0;
  comm.bcast(exists, 0);
  if (exists && !resume && !force)
    throw par::CollectiveError(
        ExitCode::io,
        cat("checkpoint ", path,
            " of an interrupted run exists: use --resume to continue it, or --force "
            "to start over"),
        0);
}

}  // namespace ksi::app
