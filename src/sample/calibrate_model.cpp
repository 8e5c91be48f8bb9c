#include "ksi/sample/calibrate_model.hpp"

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/items.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/log.hpp"

namespace ksi::sample {

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
    target.log_spread =
        log_power_spread(local_data, first, {shape.dims().begin(), shape.dims().end()}, comm);
  return target;
}

CalibrationTarget calibration_target(const std::string& data_path, const Model& model,
                                     const std::string& model_path, bool pdf, bool spread,
                                     const par::Comm& comm) {
  io::LocalItems data;
  {
    ScopedPhase phase("calibrate.io");
    data = io::read_items(data_path, comm);
  }
  model.check_items(data.info.shape, model_path, data_path);
  return calibration_target(data.values, data.range.begin, data.info.shape, pdf, spread, comm);
}

CalibratedSampler follow_calibration(const Model& model, const std::string& model_path,
                                     const std::function<bool(const std::string&)>& given,
                                     SampleOptions& options) {
  CalibratedSampler out;
  const auto& c = model.calibration();
  if (!c || model.output().empty()) return out;
  Integrator integrator = options.integrator;
  if (!c->integrator.empty()) {
    try {
      integrator = parse_integrator(c->integrator);
    } catch (const UsageError& e) {
      throw InputError(cat("model ", model_path, ": its calibration record: ", e.what()));
    }
  }
  const auto follow = [&](const char* option, bool recorded, auto& value, auto calibrated,
                          const auto& show) {
    if (!recorded) return;
    if (!given(option)) {
      value = calibrated;
      out.took = true;
    } else if (value != calibrated) {
      out.differences.push_back(
          cat("--", option, " ", show(value), " (calibrated with ", show(calibrated), ")"));
    }
  };
  // A calibration that records no step grid was fitted by a sampler of uniform steps.
  StepGrid step_grid = StepGrid::uniform;
  if (!c->step_grid.empty()) {
    try {
      step_grid = parse_step_grid(c->step_grid, "step grid");
    } catch (const UsageError& e) {
      throw InputError(cat("model ", model_path, ": its calibration record: ", e.what()));
    }
  }
  const auto number = [](auto v) { return cat(v); };
  const auto name = [](auto v) { return to_string(v); };
  follow("steps", c->steps > 0, options.steps, c->steps, number);
  // For linear eta both grids are the same equal steps: nothing to take or to warn about.
  follow("step-grid", model.eta_interpolation() != EtaInterpolation::linear, options.step_grid,
         step_grid, name);
  follow("integrator", !c->integrator.empty(), options.integrator, integrator, name);
  follow("diffusion", c->diffusion.has_value(), options.diffusion, c->diffusion.value_or(0.0),
         number);
  follow("diffusion-scale", c->diffusion_scale.has_value(), options.diffusion_scale,
         c->diffusion_scale.value_or(0.0), number);
  return out;
}

Calibration calibrate_model(Model& model, const SampleOptions& sampler,
                            const CalibrationOptions& options, const CalibrationTarget& target,
                            const par::Comm& comm) {
  par::Log::info(cat("calibrate: ", options.samples, " samples, ",
                     sample_grid(model, sampler).size() - 1, " ", to_string(sampler.integrator),
                     " steps (--calibrate-steps ", sampler.steps, " on the ",
                     to_string(sampler.step_grid), " grid)"));
  const auto result =
      calibrate_output(model, sampler, target.power, target.pdf ? &target.marginal : nullptr,
                       target.spread ? &target.log_spread : nullptr, options, comm);
  model.set_output(result.output);
  CalibrationRecord record;
  record.samples = options.samples;
  record.steps = sampler.steps;
  record.integrator = to_string(sampler.integrator);
  record.step_grid = to_string(sampler.step_grid);
  record.diffusion = sampler.diffusion;
  record.diffusion_scale = sampler.diffusion_scale;
  record.seed = sampler.seed;
  record.pdf = target.pdf;
  record.spread = target.spread;
  record.error_before = result.initial_error;
  record.error_after = result.final_error;
  model.set_calibration(record);
  const std::size_t worst = worst_shell(result.ratio);
  par::Log::info(
      sformat("calibrate: generated/data power per shell before: worst %.3g at |k| = %zu "
              "(max |log ratio| %.3g); after %zu updates%s: max |log ratio| %.2e",
              result.ratio[worst], worst, result.initial_error, result.iterations,
              target.pdf ? sformat(" and %zu output maps", result.rounds).c_str() : "",
              result.final_error));
  const auto describe = [](const SpreadComponent& c) {
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

}  // namespace ksi::sample
