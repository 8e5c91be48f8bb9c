#include "app/stage_options.hpp"

#include <filesystem>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::app {

void add_sampler_options(po::options_description& desc, const std::string& prefix,
                         const std::string& what) {
  const sample::SampleOptions defaults;
  desc.add_options()((prefix + "steps").c_str(),
                     po::value<std::size_t>()->default_value(defaults.steps),
                     ("integration steps of the " + what).c_str())(
      (prefix + "integrator").c_str(), po::value<std::string>()->default_value("optimal"),
      ("integrator of the " + what + ": optimal, ode, constant").c_str())(
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
  options.validate(prefix);
  return options;
}

bool parse_on_off(const std::string& option, const std::string& value) {
  return parse_choice<bool>("--" + option, value, {{"on", true}, {"off", false}});
}

void add_calibration_options(po::options_description& desc, std::size_t samples_default) {
  const sample::CalibrationOptions defaults;
  desc.add_options()(
      "calibrate", po::value<std::size_t>()->default_value(samples_default),
      samples_default == 0
          ? "fields: after the fit, integrate N calibration samples and fit the output "
            "calibration (gains per shell, map, spread) on them, as ksi calibrate does (0: none)"
          : "calibration samples (noise streams of their own: never those of ksi sample)")(
      "calibrate-pdf", po::value<std::string>()->default_value("on"),
      "also fit an output map so that generated fields have the data's one-point PDF (on, off)")(
      "calibrate-spread", po::value<std::string>()->default_value("on"),
      "also fit an output spread where the data's spectra scatter more from field to field than "
      "the generated ones (on, off)")(
      "calibrate-tolerance", po::value<double>()->default_value(defaults.tolerance),
      "stop the gains' updates when max |log(P_gen / P_data)| over shells is below");
  add_sampler_options(desc, "calibrate-");
}

CalibrationSettings calibration_settings(const po::variables_map& vm) {
  CalibrationSettings s;
  s.options.samples = vm["calibrate"].as<std::size_t>();
  s.options.tolerance = vm["calibrate-tolerance"].as<double>();
  s.options.validate();
  s.pdf = parse_on_off("calibrate-pdf", vm["calibrate-pdf"].as<std::string>());
  s.spread = parse_on_off("calibrate-spread", vm["calibrate-spread"].as<std::string>());
  s.sampler = sampler_options(vm, "calibrate-");
  return s;
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

}  // namespace ksi::app
