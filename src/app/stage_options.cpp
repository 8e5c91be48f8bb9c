#include "app/stage_options.hpp"

#include <cmath>
#include <filesystem>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::app {

std::string describe_input_file(const std::string& path) {
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(path, ec).string();
  const auto size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
  return cat(absolute, " (", ec ? 0 : size, " bytes, mtime ", ec ? 0 : mtime, ")");
}

void add_checkpoint_options(po::options_description& desc, const char* file_help,
                            double every_default) {
  desc.add_options()("checkpoint", po::value<std::string>(), file_help)(
      "checkpoint-every", po::value<double>()->default_value(every_default),
      "seconds between checkpoints (0: only on SIGUSR1/SIGTERM)")(
      "resume", "continue from the checkpoint if there is one");
}

void check_checkpoint_path(const std::string& path, const std::vector<std::string>& in_use) {
  if (path.empty()) throw UsageError("--checkpoint: the checkpoint file name is empty");
  const auto same = [](const std::string& a, const std::string& b) {
    std::error_code ec;
    const auto x = std::filesystem::absolute(a, ec).lexically_normal();
    if (ec) return false;
    const auto y = std::filesystem::absolute(b, ec).lexically_normal();
    if (ec) return false;
    if (x == y) return true;
    return std::filesystem::exists(x, ec) && std::filesystem::exists(y, ec) &&
           std::filesystem::equivalent(x, y, ec);  // a link to the file, or a hard link
  };
  for (const std::string& file : in_use)
    if (!file.empty() && same(path, file))
      throw UsageError(cat("the checkpoint file ", path, " is also an input or the output (", file,
                           "): give another --checkpoint"));
}

CheckpointArgs checkpoint_args(const po::variables_map& vm, const std::string& out_path,
                               const std::vector<std::string>& in_use) {
  CheckpointArgs args;
  args.path =
      vm.count("checkpoint") ? vm["checkpoint"].as<std::string>() : out_path + ".checkpoint";
  args.every_seconds = vm["checkpoint-every"].as<double>();
  if (!(args.every_seconds >= 0.0) || !std::isfinite(args.every_seconds))
    throw UsageError(
        cat("--checkpoint-every must be a finite number of seconds >= 0 (0: only on a "
            "stop request), not ",
            args.every_seconds));
  args.resume = vm.count("resume") > 0;
  check_checkpoint_path(args.path, in_use);
  return args;
}

void add_sampler_options(po::options_description& desc, const std::string& prefix,
                         const std::string& what, bool step_grid) {
  const sample::SampleOptions defaults;
  if (step_grid)
    desc.add_options()((prefix + "step-grid").c_str(),
                       po::value<std::string>()->default_value(to_string(defaults.step_grid)),
                       ("where the steps of the " + what +
                        " fall: model (the guide's grid where eta jumps or ramps) or uniform")
                           .c_str());
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
  if (vm.count(prefix + "step-grid"))
    options.step_grid = sample::parse_step_grid(vm[prefix + "step-grid"].as<std::string>(),
                                                "--" + prefix + "step-grid");
  options.integrator = sample::parse_integrator(vm[prefix + "integrator"].as<std::string>());
  options.diffusion = vm[prefix + "diffusion"].as<double>();
  options.diffusion_scale = vm[prefix + "diffusion-scale"].as<double>();
  options.batch = vm[prefix + "batch"].as<std::size_t>();
  options.validate(prefix);
  return options;
}

void add_guide_options(po::options_description& desc, std::size_t passes_default,
                       const char* passes_help) {
  const fit::GuideOptions guide_defaults;
  desc.add_options()("guide", po::value<std::size_t>()->default_value(passes_default), passes_help)(
      "guide-ensemble", po::value<std::size_t>()->default_value(guide_defaults.ensemble),
      "fields integrated per guided pass")(
      "guide-gram-members", po::value<std::size_t>()->default_value(guide_defaults.gram_members),
      "fields of each ensemble whose Jacobians form the ensemble's Gram matrix (0: all)")(
      "guide-gram-probes", po::value<std::size_t>()->default_value(guide_defaults.gram_probes),
      "0: the ensemble's Gram matrix exact; m > 0: randomized, from m probes per member (as ksi "
      "fit --gram randomized; cheaper where P is large)")(
      "guide-tau", po::value<double>()->default_value(guide_defaults.tau),
      "relaxation time of the moment correction (units of t)")(
      "guide-damping", po::value<double>()->default_value(guide_defaults.damping),
      "weight w of each new eta_k, in (0, 1] (sweep updates: their first step, 0.125 unless "
      "given)")(
      "guide-integral", po::value<double>()->default_value(guide_defaults.integral),
      "weight of the integral action: the moment errors of earlier passes, summed, stay in the "
      "update (0: proportional only)")(
      "guide-tolerance", po::value<double>()->default_value(guide_defaults.tolerance),
      "stop after a pass whose RMS z of the feature means is at most this")(
      "guide-max-step", po::value<double>()->default_value(guide_defaults.max_step),
      "largest change of the drift per update, relative to its size along the ensemble (a "
      "Levenberg-Marquardt step; 0: none until a pass diverges, then 1)")(
      "guide-divergence", po::value<double>()->default_value(guide_defaults.divergence),
      "abandon a pass whose RMS z at a grid time exceeds this and run it again one rung down: "
      "updates limited to s = 1, then --guide-fallback; on the last rung keep the model the pass "
      "started from (0: never)")(
      "guide-divergence-growth",
      po::value<double>()->default_value(guide_defaults.divergence_growth),
      "a grid time counts as diverged only if its RMS z is also more than this many times the "
      "previous grid time's (an exploding ensemble, not a growing model error; 0: the threshold "
      "alone)")(
      "guide-interval-retries",
      po::value<std::size_t>()->default_value(guide_defaults.interval_retries),
      "on the ladder's last rung, integrate an interval over which the ensemble diverged again "
      "from its start with eta_k halved, up to this many times, before the pass is abandoned and "
      "the guide stops; where one was, the start model and the kept one are measured whole and "
      "the better kept (0: never; none with --guide-update sweep)")(
      "guide-keep",
      po::value<std::string>()->default_value(guide_defaults.keep_best ? "best" : "last"),
      "the model of the finished pass of the lowest RMS z (best; with linear eta, where that is "
      "not the last pass, both models are integrated whole and the better kept) or of the last "
      "pass (last)")(
      "guide-gram", po::value<std::string>()->default_value(to_string(guide_defaults.gram)),
      "when a pass assembles the ensemble's Gram matrix: first (the first pass on a rung, kept "
      "for the later passes: they cost an integration and the feature means; T x P(P+1)/2 "
      "doubles on every rank), or every (each pass; use it with --guide-divergence 0)")(
      "guide-interpolation",
      po::value<std::string>()->default_value(to_string(guide_defaults.interpolation)),
      "eta of the guided model between grid times: linear; step (eta_k on (t_k, t_k+1], so "
      "that a pass integrates exactly the model it leaves); hybrid (the one-shot eta linear, "
      "the passes' corrections constant on (t_k, t_k+1]); or ramp (from eta_k-1 at t_k to eta_k "
      "over the first --guide-ramp-fraction of (t_k, t_k+1], then eta_k: continuous, and a pass "
      "again integrates the model it leaves)")(
      "guide-ramp-fraction", po::value<double>()->default_value(guide_defaults.ramp_fraction),
      "with --guide-interpolation ramp: the share of each interval, in (0, 1], over which eta "
      "moves from eta_k-1 to eta_k (towards 0 eta approaches step, but an integration step longer "
      "than the ramp takes eta_k-1 in its predictor and eta_k in its corrector)")(
      "guide-fallback", po::value<std::string>()->default_value(to_string(guide_defaults.fallback)),
      "last rungs for a pass that diverged with limited updates: residual (residual updates, a "
      "dead band of at least 2, K^q on every member, a ridge of at least 1e-2, then 1e-1 and 1) "
      "or none")(
      "guide-update", po::value<std::string>()->default_value(to_string(guide_defaults.update)),
      "update of eta_k: full (re-solved on the ensemble), residual (eta_k plus the correction "
      "of the moment error alone, none at t = 0; adds up over passes) or sweep (each pass "
      "measures its model whole without changing it, then every interval is corrected for the "
      "error it added; a worse model is not built on, the step is halved; the last pass only "
      "measures; needs --guide-interpolation hybrid or step)")(
      "guide-dead-band", po::value<double>()->default_value(guide_defaults.dead_band),
      "moment errors act only beyond this many standard errors (0: all)")(
      "guide-ridge", po::value<double>(),
      "relative ridge of the ensembles' systems (default: the fit's --ridge); their Gram matrices "
      "come from "
      "a few generated fields and see fewer directions than the data's");
  add_sampler_options(desc, "guide-", "guided ensembles");
}

fit::GuideOptions guide_options(const po::variables_map& vm) {
  fit::GuideOptions guide;
  guide.passes = vm["guide"].as<std::size_t>();
  guide.ensemble = vm["guide-ensemble"].as<std::size_t>();
  guide.gram_members = vm["guide-gram-members"].as<std::size_t>();
  guide.gram_probes = vm["guide-gram-probes"].as<std::size_t>();
  guide.tau = vm["guide-tau"].as<double>();
  guide.damping = vm["guide-damping"].as<double>();
  guide.integral = vm["guide-integral"].as<double>();
  guide.tolerance = vm["guide-tolerance"].as<double>();
  guide.max_step = vm["guide-max-step"].as<double>();
  guide.divergence = vm["guide-divergence"].as<double>();
  guide.divergence_growth = vm["guide-divergence-growth"].as<double>();
  guide.interval_retries = vm["guide-interval-retries"].as<std::size_t>();
  guide.keep_best = parse_choice<bool>("--guide-keep", vm["guide-keep"].as<std::string>(),
                                       {{"best", true}, {"last", false}});
  guide.update = fit::parse_guide_update(vm["guide-update"].as<std::string>());
  guide.gram = fit::parse_guide_gram(vm["guide-gram"].as<std::string>());
  guide.interpolation =
      parse_eta_interpolation(vm["guide-interpolation"].as<std::string>(), "--guide-interpolation");
  guide.ramp_fraction = vm["guide-ramp-fraction"].as<double>();
  guide.dead_band = vm["guide-dead-band"].as<double>();
  guide.fallback = fit::parse_guide_fallback(vm["guide-fallback"].as<std::string>());
  if (guide.update == fit::GuideUpdate::sweep && vm["guide-damping"].defaulted())
    guide.damping = fit::kSweepDamping;
  if (guide.update == fit::GuideUpdate::sweep && !vm["guide-interval-retries"].defaulted() &&
      guide.interval_retries > 0)
    throw UsageError(
        "--guide-interval-retries needs --guide-update full or residual (sweep passes do not "
        "change eta while they integrate)");
  const sample::SampleOptions sampler = sampler_options(vm, "guide-");
  guide.steps = sampler.steps;
  guide.integrator = sampler.integrator;
  guide.diffusion = sampler.diffusion;
  guide.diffusion_scale = sampler.diffusion_scale;
  guide.batch = sampler.batch;
  return guide;
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
  add_sampler_options(desc, "calibrate-", "calibration samples", true);
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
