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
/// geometric, exp(mean_i log P_i(s)) (Standardization::ItemAverage::geometric), the average in which
/// spectra are judged: where the data's fields scatter more from one another than the generated ones
/// (turbulence snapshots whose energy level varies in time), matching arithmetic means would leave
/// the generated mean log power high by half the difference of the variances of log P_i(s). In model
/// units the filter is linear, so for `spectrum`/`scalar`/`none` standardisations one update is
/// exact; with `copula` the map back to data units is non-linear and per-shell secant steps on
/// log c(s) against log P_gen(s) are iterated on the same final states (no new sampling) until the
/// largest |log(P_gen / P_data)| is below the tolerance. The k = 0 shell (the field
/// mean) and shells without data power keep the gain 1. The estimate's own scatter is about
/// sqrt(2 / (samples m_s)) in relative power for a shell of m_s modes.
///
/// With the data's one-point distribution given, the calibration also fits an output map (a monotone
/// map of values in data units, applied last: q = F_data^-1 o F_gen, F_gen the calibration fields'
/// one-point CDF), so that generated fields have the data's one-point PDF; gains and map are fitted
/// in turn (the map moves the spectrum a little, the gains move the PDF a little), as iterated
/// amplitude-adjusted Fourier-transform surrogates do, but once for all fields rather than per field.

#include <cstddef>
#include <span>
#include <vector>

#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/sample/sample.hpp"

namespace ksi::sample {

struct CalibrationOptions {
  std::size_t samples = 32;         ///< calibration fields (dealt to ranks by id)
  std::size_t max_iterations = 30;  ///< updates of the gains on the same final states
  double tolerance = 1e-3;          ///< stop when max_s |log(P_gen(s) / P_data(s))| is below
  std::size_t max_rounds = 8;       ///< gains-then-map rounds with an output map
  double round_tolerance = 1e-2;    ///< stop the rounds when the spectral error after a map is below
};

struct Calibration {
  std::vector<double> gain;        ///< c(s), one per shell
  copula::MarginalTable map;       ///< the output map (empty without the data's distribution)
  std::size_t rounds = 0;          ///< output maps fitted
  std::vector<double> ratio;       ///< P_gen(s) / P_data(s) before calibration (1 where not fitted)
  std::size_t iterations = 0;      ///< updates made
  double initial_error = 0.0;      ///< max_s |log ratio| before
  double final_error = 0.0;        ///< max_s |log ratio| at the end (after the last map, if any)
};

/// The shell s >= 1 whose ratio P_gen(s) / P_data(s) is farthest from 1 in log (0 if none is).
std::size_t worst_shell(std::span<const double> ratio);

/// Fits the output gains of `model` (its current output gains and map are ignored) for the sampler
/// settings `sampler` against `target`, the training data's shell powers in data units
/// (Standardization::shell_powers of the data, any mean, geometric average over items), and, if `data_marginal` is given (the
/// data's one-point map x -> Phi^-1(F_data(x)), copula::fit_marginal of the data), the output map.
/// Collective; the result is the same on every rank and for any number of ranks. UsageError for
/// items that are not fields or samples == 0; InputError for a target of another number of shells;
/// NumericalError if a calibration sample diverges.
Calibration calibrate_output(const Model& model, const SampleOptions& sampler,
                             std::span<const double> target, const copula::MarginalTable* data_marginal,
                             const CalibrationOptions& options, const par::Comm& comm);

}  // namespace ksi::sample
