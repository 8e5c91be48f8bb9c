#pragma once
/// @file
/// The spectral output calibration as one stage, as `ksi fit --calibrate` and `ksi calibrate` run
/// it: the training data's shell powers (and optionally their one-point law and field-to-field
/// spread) as the target, calibrate_output on the model's own samples, the result and its settings
/// recorded in the model. A post-processing step: it forces the statistics it targets
/// (docs/fidelity.md).

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/model/copula.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/sample/calibration.hpp"
#include "ksi/sample/sample.hpp"

namespace ksi::sample {

/// What the calibration matches: the training data's shell powers in data units (geometric mean
/// over fields), with `pdf` their one-point map x -> Phi^-1(F_data(x)), with `spread` the scatter
/// of their log shell powers from field to field.
struct CalibrationTarget {
  std::vector<double> power;
  bool pdf = false;
  copula::MarginalTable marginal;
  bool spread = false;
  LogPowerSpread log_spread;
};

/// From the training data in data units (rows of this rank, collective); `first` is the global
/// index of this rank's first row. UsageError for items that are not fields on a periodic grid.
CalibrationTarget calibration_target(const Matrix& local_data, std::size_t first,
                                     const ItemShape& shape, bool pdf, bool spread,
                                     const par::Comm& comm);

/// The same from a data file (`ksi calibrate --data`), read collectively: InputError when its items
/// are not of the shape `model_path`'s model was fitted on.
CalibrationTarget calibration_target(const std::string& data_path, const Model& model,
                                     const std::string& model_path, bool pdf, bool spread,
                                     const par::Comm& comm);

/// `ksi sample` under an output calibration, which corrects one sampler's output: each sampler
/// setting the calibration recorded (steps, integrator, diffusion, diffusion scale) is taken into
/// `options` unless the user gave it (`given(option)`, the option's name without --); a given one
/// that differs is listed ("--steps 40 (calibrated with 30)"). `took` is whether any was taken.
/// Nothing changes for a model without a calibration. InputError for a record that names no known
/// integrator.
struct CalibratedSampler {
  std::vector<std::string> differences;
  bool took = false;
};
CalibratedSampler follow_calibration(const Model& model, const std::string& model_path,
                                     const std::function<bool(const std::string&)>& given,
                                     SampleOptions& options);

/// Calibrates `model`'s output gains (and output map and spread), records the settings and the
/// spectral errors before and after in its fit settings, and logs them; returns the calibration
/// (with what its sampling took from a checkpoint). Collective.
Calibration calibrate_model(Model& model, const SampleOptions& sampler,
                            const CalibrationOptions& options, const CalibrationTarget& target,
                            const par::Comm& comm);

}  // namespace ksi::sample
