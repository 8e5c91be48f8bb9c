#pragma once
// The spectral calibration as `ksi fit --calibrate` and `ksi calibrate` run it: the training data's
// shell powers as the target, the sampler's settings from the command line, the result in the model.
#include <span>
#include <vector>

#include "app/cli.hpp"
#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/model/model.hpp"
#include "ksi/sample/calibration.hpp"

namespace ksi::app {

/// The sampler settings the calibration runs with: `prefix` + "steps", "integrator", "diffusion"
/// (e.g. "calibrate-steps" in ksi fit, "steps" in ksi calibrate).
void add_sampler_options(po::options_description& desc, const std::string& prefix);
sample::SampleOptions sampler_options(const po::variables_map& vm, const std::string& prefix);

/// The training data's shell powers in data units (rows of this rank, collective).
std::vector<double> calibration_target(const Matrix& local_data, const ItemShape& shape,
                                       const par::Comm& comm);

/// Calibrates `model`'s output gains, records the settings and the spectral errors before and
/// after in its fit settings, and logs them. Collective.
void calibrate_model(Model& model, const sample::SampleOptions& sampler,
                     const sample::CalibrationOptions& options, std::span<const double> target,
                     const par::Comm& comm);

}  // namespace ksi::app
