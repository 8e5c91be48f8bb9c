#pragma once
/// @file
/// Spectral calibration of a model of fields: output gains fitted on the sampler's own output.
///
/// The fitted drift is exact only on the interpolant's marginals; along generated trajectories its
/// errors move power between shells (METHOD section 8 judges P(k) in log, so a factor of two on a
/// few shells dominates Q(P(k))). The calibration integrates `samples` fields with the sampler's
/// settings (noise streams of their own, never those of `ksi sample`), and fits one gain c(s) per
/// shell s = round(|k|), applied to the final state in model units (Model::output_gain), so that
/// the generated fields' mean power per shell in data units equals the training data's. The mean is
/// geometric, exp(mean_i log P_i(s)) (Standardization::ItemAverage::geometric), the average in
/// which spectra are judged: where the data's fields scatter more from one another than the
/// generated ones (turbulence snapshots whose energy level varies in time), matching arithmetic
/// means would leave the generated mean log power high by half the difference of the variances of
/// log P_i(s). In model units the filter is linear, so for `spectrum`/`scalar`/`none`
/// standardisations one update is exact; with `copula` the map back to data units is non-linear and
/// per-shell secant steps on log c(s) against log P_gen(s) are iterated on the same final states
/// (no new sampling) until the largest |log(P_gen / P_data)| is below the tolerance. The k = 0
/// shell (the field mean) and shells without data power keep the gain 1. The estimate's own scatter
/// is about sqrt(2 / (samples m_s)) in relative power for a shell of m_s modes.
///
/// With the data's one-point distribution given, the calibration also fits an output map (a
/// monotone map of values in data units, applied last: q = F_data^-1 o F_gen, F_gen the calibration
/// fields' one-point CDF), so that generated fields have the data's one-point PDF; gains and map
/// are fitted in turn (the map moves the spectrum a little, the gains move the PDF a little), as
/// iterated amplitude-adjusted Fourier-transform surrogates do, but once for all fields rather than
/// per field.
///
/// With the data's field-to-field scatter of log shell powers given (LogPowerSpread), the
/// calibration also fits an output spread: where the data's fields scatter more from one another
/// than the sampler's along one of the data's leading principal directions v_k of log P_i(s) (by
/// more than `spread_significance` standard errors of a variance ratio), each generated field i
/// gets the extra log-power xi_ik a_k v_k(s) (xi_ik its own standard normals), a_k^2 the excess
/// variance; turned into model-unit log gains by the secant slopes of the mean fit, refitted with
/// the gains and map, and the amplitude corrected from the measured variance until within 10 %.
/// Turbulence snapshots need it (their energy level varies in time; the sampler's fields all have
/// nearly one); cosmological fields, whose scatter is cosmic variance the sampler reproduces, get
/// none.

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "ksi/model/model.hpp"
#include "ksi/model/output_transform.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/sample/sample.hpp"

namespace ksi::sample {

/// Checkpoint and restart of the calibration. Its sampling (one pass over the calibration fields)
/// is dealt to ranks in whole batches; after each batch the ranks agree on stop requests
/// (SIGUSR1/SIGTERM, par/signals.hpp): on one, the final states of the finished batches are written
/// to `path` and CollectiveError(ExitCode::interrupted) is thrown; `resume` takes them from there
/// (on any number of ranks) and integrates only the rest, to the same bits. Once all are integrated
/// they are written to `path` too, and a stop request during the fit of the gains, map and spread
/// that follows (on those states, no sampling) is answered at its next update: the rerun samples
/// nothing.
struct CalibrationCheckpoint {
  std::string path;              ///< checkpoint file; empty: none, and stop requests are not polled
  double every_seconds = 600.0;  ///< also write one at this interval (0: only on a stop request)
  bool resume = false;           ///< continue from `path` when it exists
};

struct CalibrationOptions {
  std::size_t samples = 32;         ///< calibration fields (dealt to ranks in whole batches by id)
  std::size_t max_iterations = 30;  ///< updates of the gains on the same final states
  double tolerance = 1e-3;          ///< stop when max_s |log(P_gen(s) / P_data(s))| is below
  std::size_t max_rounds = 8;       ///< gains-then-map rounds with an output map
  double round_tolerance = 1e-2;  ///< stop the rounds when the spectral error after a map is below
  std::size_t spread_components = 4;  ///< leading principal directions of the data considered
  double spread_significance = 3.0;   ///< standard errors of the variance ratio for a component
  std::size_t spread_iterations = 3;  ///< fits of the spread (each corrects the amplitude)
  CalibrationCheckpoint checkpoint;   ///< checkpoint and restart of the sampling
  /// UsageError for a tolerance that is not positive (--calibrate-tolerance) or a negative
  /// checkpoint interval (--checkpoint-every).
  void validate() const;
};

/// The field-to-field scatter of log shell powers log P_i(s) of a set of fields: mean and
/// covariance over fields on the shells s >= 1 of at least Standardization::kGeometricModes modes
/// (0 on the others), and the number of fields; the same covariance over the fields of even and of
/// odd ids. (The calibration picks directions on one half and tests them on the other: the leading
/// eigenvalue of a sample covariance is biased high, by (1 + sqrt(shells / fields))^2 for
/// uncorrelated shells of equal variance, which would pass for a spread that is not there.)
struct LogPowerSpread {
  std::vector<double> mean;  ///< S
  Matrix covariance;         ///< S x S
  std::size_t items = 0;
  Matrix half_covariance[2];  ///< over even and odd ids
  std::size_t half_items[2] = {0, 0};
};

/// One component of a fitted output spread.
struct SpreadComponent {
  double data_variance = 0.0;       ///< of log P_i along the direction, in the data
  double generated_variance = 0.0;  ///< in the calibration fields without the spread
  double fitted_variance = 0.0;     ///< in the calibration fields with it
};

struct Calibration {
  /// The fitted transform: gains c(s), one per shell; the spread, K x S (K = 0: none); the map
  /// (empty without the data's distribution).
  OutputTransform output;
  std::vector<SpreadComponent> spread_components;  ///< the K components fitted
  std::vector<SpreadComponent> spread_rejected;    ///< directions considered and not significant
  std::size_t rounds = 0;                          ///< output maps fitted
  std::vector<double> ratio;   ///< P_gen(s) / P_data(s) before calibration (1 where not fitted)
  std::size_t iterations = 0;  ///< updates made
  double initial_error = 0.0;  ///< max_s |log ratio| before
  double final_error = 0.0;    ///< max_s |log ratio| at the end (after the last map, if any)
  // The sampling: batches of calibration fields (summed over ranks where the work is done).
  bool resumed = false;                ///< states of finished batches were read from the checkpoint
  std::size_t batches = 0;             ///< batches of calibration fields
  std::size_t batches_skipped = 0;     ///< taken from the checkpoint
  std::size_t batches_integrated = 0;  ///< integrated by this run
};

/// The shell s >= 1 whose ratio P_gen(s) / P_data(s) is farthest from 1 in log (0 if none is).
std::size_t worst_shell(std::span<const double> ratio);

/// LogPowerSpread of the fields in the rows of `local` on all ranks, of global ids first, first +
/// 1,
/// ... (collective; double-double sums, the same for any number of ranks).
LogPowerSpread log_power_spread(const Matrix& local, std::size_t first,
                                const std::vector<std::size_t>& grid, const par::Comm& comm);

/// Fits the output gains of `model` (its current output gains and map are ignored) for the sampler
/// settings `sampler` against `target`, the training data's shell powers in data units
/// (Standardization::shell_powers of the data, any mean, geometric average over items), and, if
/// `data_marginal` is given (the data's one-point map x -> Phi^-1(F_data(x)), copula::fit_marginal
/// of the data), the output map, and if `data_spread` is given (log_power_spread of the data), the
/// output spread. Collective; the result is the same on every rank and for any
/// number of ranks. UsageError for items that are not fields or samples == 0; InputError for a
/// target of another number of shells; NumericalError if a calibration sample diverges; with
/// options.checkpoint.path set, CollectiveError(ExitCode::interrupted) on a stop request (the
/// checkpoint written), InputError for a checkpoint of another model or other settings.
Calibration calibrate_output(const Model& model, const SampleOptions& sampler,
                             std::span<const double> target,
                             const copula::MarginalTable* data_marginal,
                             const LogPowerSpread* data_spread, const CalibrationOptions& options,
                             const par::Comm& comm);

}  // namespace ksi::sample
