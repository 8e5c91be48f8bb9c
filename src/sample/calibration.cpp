#include "ksi/sample/calibration.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/log.hpp"

namespace ksi::sample {

std::size_t worst_shell(std::span<const double> ratio) {
  std::size_t worst = 0;
  for (std::size_t s = 1; s < ratio.size(); ++s)
    if (std::abs(std::log(ratio[s])) > std::abs(std::log(ratio[worst]))) worst = s;
  return worst;
}

Calibration calibrate_output(const Model& model, const SampleOptions& sampler,
                             std::span<const double> target, const copula::MarginalTable* data_marginal,
                             const CalibrationOptions& options, const par::Comm& comm) {
  const ItemShape& shape = model.shape();
  par::collective(comm, [&] {
    if (!shape.is_grid())
      throw UsageError("the spectral calibration needs fields on a periodic grid, but the items are " +
                       shape.describe());
    if (options.samples == 0) throw UsageError("the spectral calibration needs at least one sample");
    if (options.max_iterations == 0 || !(options.tolerance > 0.0) || !(options.round_tolerance > 0.0))
      throw UsageError("the spectral calibration needs max_iterations > 0 and tolerances > 0");
    if (data_marginal != nullptr) data_marginal->validate();
  });
  const std::vector<std::size_t> grid(shape.dims().begin(), shape.dims().end());
  const std::size_t S = Standardization::shell_count(grid);
  if (target.size() != S)
    throw par::CollectiveError(ExitCode::input,
                               cat("the calibration target has ", target.size(),
                                   " shells but the model's fields have ", S),
                               0);
  const double largest = *std::max_element(target.begin() + 1, target.end());
  std::vector<bool> fitted(S, false);
  for (std::size_t s = 1; s < S; ++s) fitted[s] = std::isfinite(target[s]) && target[s] > Standardization::kEmptyShell * largest;

  // The final states of this rank's calibration samples, in model units, kept for every update.
  const auto range = par::block_range(options.samples, comm.rank(), comm.size());
  SampleOptions settings = sampler;
  settings.streams = StreamPurpose::calibration;
  Matrix states;
  par::collective(comm, [&] {
    ScopedPhase phase("calibrate.sample");
    states = generate_states(model, settings, range.begin, range.end - range.begin);
  });

  Calibration result;
  result.gain.assign(S, 1.0);
  result.ratio.assign(S, 1.0);
  const Standardization& st = model.standardization();
  Matrix fields;
  // The calibration fields in data units under the current gains (and output map, if `mapped`).
  const auto render = [&](bool mapped) {
    fields = states;
    filter_shells(fields, grid, result.gain);
    st.to_data(fields, shape);
    if (mapped && !result.map.x.empty())
      for (double& v : fields.values()) v = result.map.forward(v);
  };
  const auto measure = [&](std::vector<double>& ratio) {
    ScopedPhase phase("calibrate.measure");
    render(true);
    const auto power = Standardization::shell_powers(fields, grid, 0.0, comm,
                                                    Standardization::ItemAverage::geometric);
    double error = 0.0;
    for (std::size_t s = 0; s < S; ++s) {
      ratio[s] = 1.0;
      if (!fitted[s]) continue;
      if (!(power[s] > 0.0))
        throw par::CollectiveError(ExitCode::numerical,
                                   cat("the spectral calibration: the generated fields have no power "
                                       "on shell |k| = ", s, ", where the data have"),
                                   0);
      ratio[s] = power[s] / target[s];
      error = std::max(error, std::abs(std::log(ratio[s])));
    }
    return error;
  };
  result.initial_error = measure(result.ratio);

  // Per shell, a secant step on log c against log P_gen: log c += log(P_data / P_gen) / slope, the
  // slope d log P_gen / d log c starting at 2 (a linear map back to data units, where one step is
  // exact) and then taken from the last two iterates, within [0.25, 2.5]. Where the power on a shell
  // is partly made by the non-linear map from other shells (leakage), the slope is below 2 and a
  // plain fixed-point update would converge slowly.
  std::vector<double> ratio = result.ratio;
  double error = result.initial_error;
  const auto fit_gains = [&] {
    std::vector<double> slope(S, 2.0), previous_log_gain(S, 0.0), previous_log_ratio(S, 0.0);
    for (std::size_t update = 0; error > options.tolerance && update < options.max_iterations; ++update) {
      for (std::size_t s = 0; s < S; ++s) {
        if (!fitted[s]) continue;
        const double log_gain = std::log(result.gain[s]), log_ratio = std::log(ratio[s]);
        if (update > 0) {
          const double step = log_gain - previous_log_gain[s];
          if (std::abs(step) > 1e-12) slope[s] = std::clamp((log_ratio - previous_log_ratio[s]) / step, 0.25, 2.5);
        }
        previous_log_gain[s] = log_gain;
        previous_log_ratio[s] = log_ratio;
        result.gain[s] = std::exp(log_gain - log_ratio / slope[s]);
      }
      ++result.iterations;
      error = measure(ratio);
    }
  };
  fit_gains();
  if (data_marginal != nullptr) {
    // Alternate (as iterated amplitude-adjusted surrogates do, here for the mean over fields): the
    // output map q = F_data^-1 o F_gen makes the generated one-point distribution the data's, which
    // moves the spectrum a little; the gains are refitted under the new map; until the spectrum
    // stays within the tolerance after a new map, or `max_rounds`: every round ends with a map, so
    // the one-point distribution is the data's; the round whose spectrum is closest is kept (with
    // few calibration fields the map's tails, set by a handful of values, can move the spectrum by
    // some percent from one round to the next without settling).
    Calibration best;
    for (std::size_t round = 0; round < options.max_rounds; ++round) {
      {
        ScopedPhase phase("calibrate.marginal");
        render(false);
        copula::MarginalTable generated = copula::fit_marginal(fields, comm);
        result.map.x = std::move(generated.x);
        result.map.z.resize(generated.z.size());
        for (std::size_t i = 0; i < generated.z.size(); ++i)
          result.map.z[i] = data_marginal->inverse(generated.z[i]);
      }
      ++result.rounds;
      error = measure(ratio);
      par::Log::detail(sformat("calibrate: output map %zu: max |log ratio| %.3g at |k| = %zu",
                               result.rounds, error, worst_shell(ratio)));
      if (round == 0 || error < best.final_error) {
        best.gain = result.gain;
        best.map = result.map;
        best.final_error = error;
      }
      if (error <= options.round_tolerance || result.rounds == options.max_rounds) break;
      fit_gains();
    }
    result.gain = std::move(best.gain);
    result.map = std::move(best.map);
    error = best.final_error;
  }
  result.final_error = error;
  return result;
}

}  // namespace ksi::sample
