#pragma once
/// @file
/// What the output calibration adds to a model of fields, as one type: the transform from the
/// sampler's final states to data units (OutputTransform), applied alike by the model
/// (Model::to_data, for `ksi sample`) and by the calibration while it fits the transform, and the
/// record of the settings it was fitted for (CalibrationRecord), by which `ksi sample` defaults to
/// them. A post-processing step: it forces the statistics it targets (docs/fidelity.md).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/model/copula.hpp"
#include "ksi/model/standardization.hpp"

namespace ksi {

/// Final states (model units) -> data units: the output gains c(s), one per shell s = round(|k|)
/// (X -> F^-1[c F X]; with a spread, field i's gain on shell s is c(s) exp(sum_k xi_ik a_k(s)),
/// xi_ik standard normals of the field's own stream), then the standardisation undone, then the
/// output map (a monotone map of values in data units, table `x` -> `z`, linear between entries,
/// clamped outside). Every part may be empty.
struct OutputTransform {
  std::vector<double> gain;   ///< c(s), one per shell; empty: 1
  Matrix spread;              ///< K x S log-gains a_k(s); 0 rows: none
  copula::MarginalTable map;  ///< empty table: none

  bool empty() const noexcept {
    return gain.empty() && spread.rows() == 0 && map.x.empty() && map.z.empty();
  }
  std::size_t spread_components() const noexcept { return spread.rows(); }
  /// InputError naming the part unless every non-empty part fits fields of `shape` (a periodic
  /// grid; one finite, non-negative gain and one finite spread column per shell; a well formed
  /// map).
  void validate(const ItemShape& shape) const;
  /// Rows of X (final states in model units) -> data units. `spread_normals`: X.rows() x
  /// spread_components() (needed when there is a spread; UsageError otherwise). `beyond`, if
  /// given, is Standardization::to_data's (the states it maps come after the output gains).
  void apply(Matrix& X, const ItemShape& shape, const Standardization& standardization,
             const Matrix* spread_normals = nullptr, std::vector<double>* beyond = nullptr) const;
};

/// The settings an OutputTransform was fitted for and what it achieved (the model's `/calibration`
/// group). The gains correct the spectrum of one sampler's output: `ksi sample` takes `steps`,
/// `step_grid`, `integrator`, `diffusion` and `diffusion_scale` from here unless told otherwise,
/// and warns when told otherwise.
struct CalibrationRecord {
  std::size_t samples = 0;  ///< calibration fields
  std::size_t steps = 0;    ///< the sampler's integration steps (0: not recorded)
  std::string integrator;   ///< the sampler's integrator (sample::to_string; empty: idem)
  /// Where the sampler's steps fell (sample::to_string(StepGrid)); empty: not recorded, a
  /// calibration of ksi before 2026-12-07, whose sampler took uniform steps.
  std::string step_grid;
  std::optional<double> diffusion;        ///< D of the constant integrator (none: not recorded)
  std::optional<double> diffusion_scale;  ///< lambda of the optimal integrator's D = lambda D*
  std::uint64_t seed = 0;                 ///< the calibration fields' streams
  bool pdf = false;                       ///< an output map was fitted
  bool spread = false;                    ///< an output spread was looked for
  double error_before = 0.0;              ///< max_s |log(P_gen(s) / P_data(s))| before
  double error_after = 0.0;               ///< ... after
};

}  // namespace ksi
