#pragma once
// The spectral calibration as `ksi fit --calibrate` and `ksi calibrate` run it: the training data's
// shell powers as the target, the sampler's settings from the command line, the result in the
// model.
#include <span>
#include <vector>

#include "app/cli.hpp"
#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/model/model.hpp"
#include "ksi/sample/calibration.hpp"

namespace ksi::app {

/// The sampler settings a stage integrates with: `prefix` + "steps", "integrator", "diffusion",
/// "batch" (e.g. "calibrate-steps" and "guide-steps" in ksi fit, "steps" in ksi calibrate); `what`
/// names the fields they integrate in the help text.
void add_sampler_options(po::options_description& desc, const std::string& prefix,
                         const std::string& what = "calibration samples");
sample::SampleOptions sampler_options(const po::variables_map& vm, const std::string& prefix);

/// What the calibration matches: the training data's shell powers in data units (geometric mean
/// over fields), with `pdf` their one-point map x -> Phi^-1(F_data(x)), with `spread` the scatter
/// of their log shell powers from field to field.
struct CalibrationTarget {
  std::vector<double> power;
  bool pdf = false;
  copula::MarginalTable marginal;
  bool spread = false;
  sample::LogPowerSpread log_spread;
};
/// From the training data in data units (rows of this rank, collective).
/// `first`: the global index of this rank's first row.
CalibrationTarget calibration_target(const Matrix& local_data, std::size_t first,
                                     const ItemShape& shape, bool pdf, bool spread,
                                     const par::Comm& comm);
/// "on" / "off" of --calibrate-pdf, --pdf, --calibrate-spread and --spread.
bool parse_on_off(const std::string& option, const std::string& value);

/// Calibrates `model`'s output gains (and output map), records the settings and the spectral errors
/// before and after in its fit settings, and logs them; returns the calibration (with what its
/// sampling took from a checkpoint). Collective.
sample::Calibration calibrate_model(Model& model, const sample::SampleOptions& sampler,
                                    const sample::CalibrationOptions& options,
                                    const CalibrationTarget& target, const par::Comm& comm);

/// The JSON object of a stage's restart for the --report files: `"name": {"resumed": ..., ...}`.
std::string resume_json(const std::string& name, bool resumed, const std::string& fields);
/// ... of a calibration's sampling.
std::string calibration_resume_json(const sample::Calibration& calibration);

/// A checkpoint left by an interrupted run is never dropped silently: exit code 4 unless the run
/// resumes it or starts over with --force. Collective.
void refuse_stale_checkpoint(const std::string& path, bool resume, bool force,
                             const par::Comm& comm);

}  // namespace ksi::app
