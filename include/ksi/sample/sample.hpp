#pragma once
/// @file
/// The sample stage (METHOD section 3): integrators of the generative dynamics driven by a fitted
/// model. Sample i draws all its noise from the stream (seed, i), so a sample is the same whichever
/// rank integrates it and whatever else is in its batch.

#include <cstdint>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/random.hpp"
#include "ksi/interpolant/integrator.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::sample {

// The integrators live with the schedules (interpolant/integrator.hpp).
using ksi::Integrator;
using ksi::parse_integrator;
using ksi::to_string;

/// Where the sampler's steps fall on [0, 1].
enum class StepGrid {
  model,    ///< where eta jumps or ramps between grid times (step, hybrid, ramp eta), the
            ///< integration_grid of its grid times and ramp ends: no step straddles a bend, each
            ///< span cut into steps of at most 1 / steps, as in the guided passes; `steps` equal
            ///< steps for linear eta (continuous, kinks at the grid times only) (default)
  uniform,  ///< `steps` equal steps (ksi before 2026-12-07; what older calibrations were fitted
            ///< for)
};
/// "model" or "uniform"; UsageError naming `what` otherwise.
StepGrid parse_step_grid(const std::string& name, const std::string& what = "--step-grid");
std::string to_string(StepGrid grid);

struct SampleOptions {
  std::size_t steps = 40;  ///< integration steps on [0, 1] (per unit time on StepGrid::model)
  StepGrid step_grid = StepGrid::model;
  Integrator integrator = Integrator::optimal_sde;
  double diffusion = 1.0;        ///< D for Integrator::constant_sde
  double diffusion_scale = 1.0;  ///< lambda of D = lambda D* (Integrator::optimal_sde)
  std::uint64_t seed = 1;        ///< key of the per-sample noise streams
  std::size_t batch = 0;         ///< samples integrated together; 0: default_batch
  StreamPurpose streams = StreamPurpose::sample_noise;  ///< family of the per-sample noise streams
  Dynamics dynamics() const { return {integrator, diffusion, diffusion_scale}; }
  /// UsageError naming the option (`--<prefix>steps`, `--<prefix>diffusion`,
  /// `--<prefix>diffusion-scale`) of the first invalid setting: the sampler's own options have
  /// the empty prefix, the guided ensembles' "guide-", the calibration's "calibrate-".
  void validate(const std::string& prefix = "") const;
};

/// The times the sampler steps through for `model` (grid.size() - 1 steps).
std::vector<double> sample_grid(const Model& model, const SampleOptions& options);
/// Whether those are the model's grid (StepGrid::model and eta that jumps or ramps) rather than
/// `steps` equal steps. Settings that resumes compare hold the step grid only then, so runs whose
/// steps are the equal ones of ksi before the step grid resume as before.
bool on_model_grid(const Model& model, const SampleOptions& options);

/// The batch used when SampleOptions::batch is 0: 64 samples, fewer for large items so that a batch
/// holds about 2 MB of states (one field of 64^3). Batches are the unit dealt to ranks and of
/// restarts, so small ones keep every rank busy; the value depends on the model only, never on the
/// rank count.
std::size_t default_batch(const Model& model);

/// Integrates samples with global ids [first, first + count) and returns them (count x d) in data
/// units (Model::to_data: output gains, then the standardisation undone; `beyond` as its).
/// Rank-local.
Matrix generate(const Model& model, const SampleOptions& options, std::size_t first,
                std::size_t count, std::vector<double>* beyond = nullptr);
/// The standard normals xi (count x components) that set the energy level of the samples with
/// global ids [first, first + count) under a model's output spread (Model::output_spread): each
/// sample's own stream (seed, `streams`, id, 1), apart from its integration noise (seed, `streams`,
/// id).
Matrix spread_normals(std::size_t components, std::uint64_t seed, StreamPurpose streams,
                      std::size_t first, std::size_t count);
/// The same samples as the sampler's final states in model units (no output gains). Rank-local.
Matrix generate_states(const Model& model, const SampleOptions& options, std::size_t first,
                       std::size_t count);

/// A sample whose fraction of values beyond the copula table's ends (Standardization::to_data's
/// `beyond`, the output's /sde/escaped_fraction) exceeds this is reported as run away by ksi
/// sample.
inline constexpr double kEscapedWarning = 1e-3;

}  // namespace ksi::sample
