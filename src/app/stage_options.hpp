#pragma once
// The command-line side of the stages that integrate samples (calibration, guided passes): the
// sampler's options, on/off switches, restart JSON, stale checkpoints. The calibration stage itself
// is in ksi/sample/calibrate_model.hpp.

#include "app/cli.hpp"
#include "ksi/fit/guide.hpp"
#include "ksi/model/model.hpp"
#include "ksi/sample/calibrate_model.hpp"
#include "ksi/sample/calibration.hpp"

namespace ksi::app {

/// What identifies an input file for checkpoints: its absolute path, size and modification time.
std::string describe_input_file(const std::string& path);

/// --checkpoint FILE (`file_help`, default OUT.checkpoint), --checkpoint-every S and --resume: one
/// set for ksi fit, ksi guide and ksi calibrate.
void add_checkpoint_options(po::options_description& desc, const char* file_help,
                            double every_default);
struct CheckpointArgs {
  std::string path;          ///< the checkpoint file
  double every_seconds = 0;  ///< interval of periodic checkpoints (0: only on a stop request)
  bool resume = false;       ///< --resume
};
/// From add_checkpoint_options, before any I/O: UsageError for an interval that is not a finite
/// number >= 0, or a checkpoint path that is one of `in_use` (check_checkpoint_path).
CheckpointArgs checkpoint_args(const po::variables_map& vm, const std::string& out_path,
                               const std::vector<std::string>& in_use);
/// UsageError if the checkpoint file `path` is empty or one of the command's files `in_use` (its
/// inputs and output; the same path, or a link to the same file): a checkpoint written there, or
/// removed after the run, would destroy that file. Empty names in `in_use` are skipped (the
/// command's own checks name them).
void check_checkpoint_path(const std::string& path, const std::vector<std::string>& in_use);

/// The sampler settings a stage integrates with: `prefix` + "steps", "integrator", "diffusion",
/// "batch" (e.g. "calibrate-steps" in ksi fit and ksi calibrate, "guide-steps" in ksi fit); `what`
/// names the fields they integrate in the help text.
/// With `step_grid`, also prefix + "step-grid" (the calibration's; the guided ensembles always
/// step through the guide's grid).
void add_sampler_options(po::options_description& desc, const std::string& prefix,
                         const std::string& what = "calibration samples", bool step_grid = false);
sample::SampleOptions sampler_options(const po::variables_map& vm, const std::string& prefix);

/// The moment-guided passes' options, one set for `ksi fit` and `ksi guide`: --guide N (at most N
/// passes; `passes_help` says what they follow), --guide-ensemble, --guide-tau, ..., --guide-ridge
/// (no default: the caller's is the fit's ridge) and the ensembles' sampler, --guide-steps, ...
void add_guide_options(po::options_description& desc, std::size_t passes_default,
                       const char* passes_help);
/// From the options of add_guide_options, except the seed, ridge and bin ridge, which the caller
/// sets (from its fit's settings) before GuideOptions::validate.
fit::GuideOptions guide_options(const po::variables_map& vm);

/// "on" / "off" of --calibrate-pdf and --calibrate-spread.
bool parse_on_off(const std::string& option, const std::string& value);

/// The output calibration's options, one set for `ksi fit` and `ksi calibrate`: --calibrate N (the
/// calibration fields; `samples_default` is 0 in ksi fit, where 0 means no calibration),
/// --calibrate-pdf, --calibrate-spread, --calibrate-tolerance, and the calibration sampler's
/// --calibrate-steps, --calibrate-integrator, ... (add_sampler_options).
void add_calibration_options(po::options_description& desc, std::size_t samples_default);
struct CalibrationSettings {
  sample::CalibrationOptions options;  ///< samples, tolerance (no checkpoint: the command's)
  sample::SampleOptions sampler;       ///< the calibration fields' sampler (seed: the command's)
  bool pdf = true;                     ///< fit an output map
  bool spread = true;                  ///< fit an output spread where the data need one
};
/// From the options of add_calibration_options; UsageError for a tolerance that is not positive.
CalibrationSettings calibration_settings(const po::variables_map& vm);

/// The JSON object of a stage's restart for the --report files: `"name": {"resumed": ..., ...}`.
std::string resume_json(const std::string& name, bool resumed, const std::string& fields);
/// ... of a calibration's sampling.
std::string calibration_resume_json(const sample::Calibration& calibration);

}  // namespace ksi::app
