#include "ksi/sample/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "ksi/core/compensated.hpp"
#include "ksi/core/eigen.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::sample {
namespace {

// The fewest data fields in each half (and calibration samples / 2) for an output spread: below, a
// variance ratio scatters by more than 0.5 and a direction picked on a few fields means little.
constexpr std::size_t kSpreadHalf = 8;

// The largest change of a shell's log gain in one update of the spectral calibration (a factor
// e^2 = 7.4 in amplitude, 55 in power).
constexpr double kMaxLogGainStep = 2.0;

// The calibration fields' sampling: whole batches of `batch` fields, this rank's batches `mine`
// (contiguous, so its fields are the rows [range) of `states`).
struct CalibrationSampling {
  std::size_t batch = 0;
  std::size_t batches = 0;
  par::Range mine;   // batches
  par::Range range;  // fields
};

// What a calibration checkpoint must match: everything that sets the final states.
Params checkpoint_config(const Model& model, const SampleOptions& settings, std::size_t samples,
                         std::size_t batch) {
  Params config;
  config.set("model_id", model.identity());
  config.set("samples", samples);
  config.set("batch", batch);
  config.set("steps", settings.steps);
  if (on_model_grid(model, settings)) config.set("step_grid", to_string(settings.step_grid));
  config.set("integrator", to_string(settings.integrator));
  config.set("diffusion", settings.diffusion);
  if (settings.diffusion_scale != 1.0) config.set("diffusion_scale", settings.diffusion_scale);
  config.set("seed", static_cast<std::int64_t>(settings.seed));
  config.set("item_shape", model.shape().describe());
  return config;
}

// Rows of this rank's finished batches, written (or read) in rounds every rank enters.
template <class Transfer>
void for_each_done_batch(const CalibrationSampling& s, std::size_t samples,
                         const std::vector<std::int64_t>& done, const par::Comm& comm,
                         Transfer&& transfer) {
  const auto rounds =
      static_cast<std::size_t>(comm.allreduce_max(static_cast<std::int64_t>(s.mine.size())));
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::size_t b = s.mine.begin + r;
    const bool here = r < s.mine.size() && done[b] != 0;
    const std::size_t first = here ? b * s.batch : 0;
    transfer(first, here ? std::min(s.batch, samples - first) : 0);
  }
}

void write_calibration_checkpoint(const std::string& path, const Params& config,
                                  const CalibrationSampling& s, std::size_t samples,
                                  std::vector<std::int64_t> done, const Matrix& states,
                                  const par::Comm& comm) {
  ScopedPhase phase("calibrate.checkpoint");
  const std::vector<std::int64_t> mine_done = done;
  comm.allreduce_sum(done);  // every batch is marked by the one rank that holds it
  io::OutputFile out(path, /*force=*/true, {}, comm);
  {
    const io::Group root = out.root();
    io::write_provenance(root, "ksi calibrate (checkpoint)");
    root.set_attribute("ksi_file_kind", "calibration_checkpoint");
    io::write_params(root.create_group("config"), config);
    root.write("batch_done", {done.size()}, std::span<const std::int64_t>(done));
    const io::RowDataset rows =
        root.create_rows("states", io::DType::float64, samples, {states.cols()});
    for_each_done_batch(s, samples, mine_done, comm, [&](std::size_t first, std::size_t n) {
      rows.write_rows(
          first, n,
          std::span<const double>(states.data() + (first - s.range.begin) * states.cols(),
                                  n * states.cols()));
    });
  }
  out.commit();
}

// Reads the finished batches of a checkpoint into this rank's rows of `states`; returns the mask
// of finished batches (every batch, marked where it is done). InputError naming what differs.
std::vector<std::int64_t> read_calibration_checkpoint(const std::string& path, const Params& config,
                                                      const CalibrationSampling& s,
                                                      std::size_t samples, Matrix& states,
                                                      const par::Comm& comm) {
  io::File file = io::File::open(path, comm);
  std::vector<std::int64_t> done;
  par::collective(comm, [&] {
    const io::Group root = file.root();
    if (!root.has_attribute("ksi_file_kind") ||
        root.text_attribute("ksi_file_kind") != "calibration_checkpoint")
      throw InputError(cat(path, " is not a ksi calibration checkpoint"));
    const std::string differences = io::params_differences(root.open_group("config"), config);
    if (!differences.empty())
      throw InputError(cat("calibration checkpoint ", path,
                           " belongs to another model or other settings", differences,
                           " (remove it, or use --force to start over)"));
    done = root.read_integers("batch_done");
    if (done.size() != s.batches)
      throw InputError(cat(path, " records ", done.size(), " batches, not ", s.batches));
  });
  const io::Group root = file.root();
  const io::RowDataset rows = root.open_rows("states");
  comm.require_all(rows.rows() == samples && rows.row_size() == states.cols(),
                   cat("calibration checkpoint ", path, " holds states of another shape"),
                   ExitCode::input);
  for_each_done_batch(s, samples, done, comm, [&](std::size_t first, std::size_t n) {
    rows.read_rows(first, n,
                   std::span<double>(states.data() + (first - s.range.begin) * states.cols(),
                                     n * states.cols()));
  });
  return done;
}

// The final states (model units) of this rank's calibration fields, rows [s.range); with a
// checkpoint path, per batch with stop requests agreed after each (see CalibrationCheckpoint).
Matrix calibration_states(const Model& model, const SampleOptions& settings,
                          const CalibrationOptions& options, const CalibrationSampling& s,
                          Calibration& result, const par::Comm& comm) {
  ScopedPhase phase("calibrate.sample");
  const CalibrationCheckpoint& checkpoint = options.checkpoint;
  const bool checkpointing = !checkpoint.path.empty();
  const Params config = checkpoint_config(model, settings, options.samples, s.batch);
  Matrix states(s.range.size(), model.shape().size());
  std::vector<std::int64_t> done(s.batches,
                                 0);  // this rank's finished batches (and all resumed ones)
  if (checkpointing && checkpoint.resume) {
    std::int64_t exists = 0;
    if (comm.is_root()) exists = std::filesystem::exists(checkpoint.path) ? 1 : 0;
    comm.bcast(exists, 0);
    if (exists) {
      const std::vector<std::int64_t> all =
          read_calibration_checkpoint(checkpoint.path, config, s, options.samples, states, comm);
      for (std::size_t b = 0; b < s.batches; ++b) result.batches_skipped += all[b] != 0 ? 1 : 0;
      for (std::size_t b = s.mine.begin; b < s.mine.end; ++b) done[b] = all[b];
      result.resumed = true;
      par::Log::info(
          sformat("calibrate: resuming from %s: %zu of %zu batches of calibration fields already "
                  "done, skipped",
                  checkpoint.path.c_str(), result.batches_skipped, s.batches));
    }
  }
  if (checkpointing) par::install_stop_handlers();
  const auto iterations = comm.allreduce_max(static_cast<std::int64_t>(s.mine.size()));
  par::Progress progress("calibrate: sampling", s.mine.size());
  Stopwatch since_checkpoint;
  std::int64_t integrated = 0;  // counted where the work is done
  for (std::int64_t it = 0; it < iterations; ++it) {
    const std::size_t b = s.mine.begin + static_cast<std::size_t>(it);
    const bool here = static_cast<std::size_t>(it) < s.mine.size();
    std::exception_ptr failure;
    if (here && done[b] == 0) {
      try {
        const std::size_t first = b * s.batch, n = std::min(s.batch, options.samples - first);
        const Matrix part = generate_states(model, settings, first, n);
        std::copy(part.values().begin(), part.values().end(),
                  states.data() + (first - s.range.begin) * states.cols());
        done[b] = 1;
        ++integrated;
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (here) progress.advance();
    if (!checkpointing) {
      comm.raise_if_any(failure);
      continue;
    }
    const bool due =
        checkpoint.every_seconds > 0 && since_checkpoint.seconds() >= checkpoint.every_seconds;
    const par::Pause pause = par::agree_to_pause_or_raise(comm, failure, due);
    if (pause == par::Pause::none) continue;
    std::vector<std::int64_t> mine_done(s.batches, 0);
    for (std::size_t c = s.mine.begin; c < s.mine.end; ++c) mine_done[c] = done[c];
    write_calibration_checkpoint(checkpoint.path, config, s, options.samples, mine_done, states,
                                 comm);
    since_checkpoint.restart();
    if (pause == par::Pause::stop)
      throw par::CollectiveError(ExitCode::interrupted,
                                 "stopped by a signal; calibration checkpoint written to " +
                                     checkpoint.path + " (rerun with --resume)",
                                 0);
    par::Log::info("calibrate: checkpoint written to " + checkpoint.path);
  }
  progress.finish();
  result.batches = s.batches;
  result.batches_integrated = static_cast<std::size_t>(comm.allreduce_sum(integrated));
  // Every state, for a stop during the fit of the gains (see calibrate_output) or a job ended by
  // its time limit there: a rerun with --resume samples nothing.
  if (checkpointing && result.batches_integrated > 0)
    write_calibration_checkpoint(checkpoint.path, config, s, options.samples, done, states, comm);
  return states;
}

}  // namespace

std::size_t worst_shell(std::span<const double> ratio) {
  std::size_t worst = 0;
  for (std::size_t s = 1; s < ratio.size(); ++s)
    if (std::abs(std::log(ratio[s])) > std::abs(std::log(ratio[worst]))) worst = s;
  return worst;
}

LogPowerSpread log_power_spread(const Matrix& local, std::size_t first,
                                const std::vector<std::size_t>& grid, const par::Comm& comm) {
  const Matrix power = Standardization::item_shell_powers(local, grid, 0.0);
  const std::size_t S = power.cols();
  const auto modes = Standardization::modes_per_shell(grid);
  std::vector<std::size_t> resolved;
  for (std::size_t s = 1; s < S; ++s)
    if (modes[s] >= Standardization::kGeometricModes) resolved.push_back(s);
  const std::size_t R = resolved.size(), block = R + R * R + 1;
  // Per half (even, odd ids): sums of log P_i(s), of their products and the count, over items and
  // ranks in double-double (the same bits for any number of ranks).
  std::vector<DoubleDouble> sums(2 * block);
  std::vector<double> logs(R);
  for (std::size_t i = 0; i < power.rows(); ++i) {
    DoubleDouble* half = sums.data() + ((first + i) % 2) * block;
    for (std::size_t r = 0; r < R; ++r)
      logs[r] = std::log(std::max(power(i, resolved[r]), std::numeric_limits<double>::min()));
    for (std::size_t r = 0; r < R; ++r) {
      half[r].add(logs[r]);
      for (std::size_t q = r; q < R; ++q) half[R + r * R + q].add(logs[r] * logs[q]);
    }
    half[block - 1].add(1.0);
  }
  comm.allreduce_sum(std::span<DoubleDouble>(sums));
  // Mean and covariance from the sums of one or both halves.
  const auto moments = [&](bool even, bool odd, std::vector<double>& mean, Matrix& covariance) {
    std::vector<DoubleDouble> total(block);
    for (std::size_t h = 0; h < 2; ++h)
      if (h == 0 ? even : odd)
        for (std::size_t j = 0; j < block; ++j) total[j].add(sums[h * block + j]);
    const double n = total[block - 1].value();
    mean.assign(S, 0.0);
    covariance = Matrix(S, S, 0.0);
    if (n < 2.0) return static_cast<std::size_t>(n);
    for (std::size_t r = 0; r < R; ++r) mean[resolved[r]] = total[r].value() / n;
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t q = r; q < R; ++q) {
        DoubleDouble c = total[R + r * R + q];
        c.add(-n * mean[resolved[r]] * mean[resolved[q]]);
        covariance(resolved[r], resolved[q]) = covariance(resolved[q], resolved[r]) =
            c.value() / (n - 1.0);
      }
    return static_cast<std::size_t>(std::llround(n));
  };
  LogPowerSpread out;
  out.items = moments(true, true, out.mean, out.covariance);
  std::vector<double> unused;
  out.half_items[0] = moments(true, false, unused, out.half_covariance[0]);
  out.half_items[1] = moments(false, true, unused, out.half_covariance[1]);
  return out;
}

void CalibrationOptions::validate() const {
  if (!(tolerance > 0.0) || !std::isfinite(tolerance))
    throw UsageError("--calibrate-tolerance must be positive");
  if (max_iterations == 0 || !(round_tolerance > 0.0))
    throw UsageError("the spectral calibration needs max_iterations > 0 and tolerances > 0");
  if (!(checkpoint.every_seconds >= 0.0) || !std::isfinite(checkpoint.every_seconds))
    throw UsageError("--checkpoint-every must be a finite number of seconds >= 0");
}

Calibration calibrate_output(const Model& model, const SampleOptions& sampler,
                             std::span<const double> target,
                             const copula::MarginalTable* data_marginal,
                             const LogPowerSpread* data_spread, const CalibrationOptions& options,
                             const par::Comm& comm) {
  const ItemShape& shape = model.shape();
  par::collective(comm, [&] {
    if (!shape.is_grid())
      throw UsageError(
          "the spectral calibration needs fields on a periodic grid, but the items are " +
          shape.describe());
    if (options.samples == 0)
      throw UsageError("the spectral calibration needs at least one sample");
    options.validate();
    if (data_marginal != nullptr) data_marginal->validate();
  });
  const std::vector<std::size_t> grid(shape.dims().begin(), shape.dims().end());
  const std::size_t S = Standardization::shell_count(grid);
  if (target.size() != S || (data_spread != nullptr && data_spread->covariance.rows() != S))
    throw par::CollectiveError(ExitCode::input,
                               cat("the calibration target has ", target.size(),
                                   " shells but the model's fields have ", S),
                               0);
  const double largest = *std::max_element(target.begin() + 1, target.end());
  std::vector<bool> fitted(S, false);
  for (std::size_t s = 1; s < S; ++s)
    fitted[s] = std::isfinite(target[s]) && target[s] > Standardization::kEmptyShell * largest;

  // The final states of this rank's calibration samples, in model units, kept for every update.
  // Whole batches are dealt to ranks (a sample's states do not depend on its batch or rank), the
  // unit of the checkpoints.
  SampleOptions settings = sampler;
  settings.streams = StreamPurpose::calibration;
  CalibrationSampling sampling;
  sampling.batch = settings.batch ? settings.batch : default_batch(model);
  settings.batch = sampling.batch;
  sampling.batches = (options.samples + sampling.batch - 1) / sampling.batch;
  sampling.mine = par::block_range(sampling.batches, comm.rank(), comm.size());
  sampling.range = {std::min(options.samples, sampling.mine.begin * sampling.batch),
                    std::min(options.samples, sampling.mine.end * sampling.batch)};
  const par::Range range = sampling.range;
  Calibration result;
  const Matrix states = calibration_states(model, settings, options, sampling, result, comm);

  result.output.gain.assign(S, 1.0);
  result.ratio.assign(S, 1.0);
  const Standardization& st = model.standardization();
  Matrix fields,
      normals;  // normals: the calibration fields' spread normals (as ksi sample draws them)
  // The calibration fields in data units under the current gains, spread (and output map, if
  // `mapped`).
  const auto render = [&](bool mapped) {
    fields = states;
    if (mapped) {
      result.output.apply(fields, shape, st, &normals);
    } else {
      const OutputTransform unmapped{result.output.gain, result.output.spread, {}};
      unmapped.apply(fields, shape, st, &normals);
    }
  };
  // The fit below works on the final states, which the checkpoint now holds: a stop request is
  // answered at the next update (the rerun with --resume samples nothing and fits again).
  const auto answer_stop_requests = [&] {
    if (options.checkpoint.path.empty() || par::agree_to_pause(comm) != par::Pause::stop) return;
    throw par::CollectiveError(ExitCode::interrupted,
                               "stopped by a signal; the calibration fields are in " +
                                   options.checkpoint.path + " (rerun with --resume)",
                               0);
  };
  const auto measure = [&](std::vector<double>& ratio) {
    answer_stop_requests();
    ScopedPhase phase("calibrate.measure");
    render(true);
    const auto power = Standardization::shell_powers(fields, grid, 0.0, comm,
                                                     Standardization::ItemAverage::geometric);
    double error = 0.0;
    for (std::size_t s = 0; s < S; ++s) {
      ratio[s] = 1.0;
      if (!fitted[s]) continue;
      if (!(power[s] > 0.0)) {
        // Every rank is here (the powers are the same everywhere): say what the fields are.
        const Matrix items = Standardization::item_shell_powers(fields, grid, 0.0);
        std::int64_t counts[3] = {static_cast<std::int64_t>(fields.rows()), 0, 0};
        for (std::size_t i = 0; i < fields.rows(); ++i) {
          const auto row = fields.row(i);
          if (!std::all_of(row.begin(), row.end(), [](double v) { return std::isfinite(v); }))
            ++counts[1];
          else if (!(items(i, s) > 0.0))
            ++counts[2];
        }
        comm.allreduce_sum(std::span<std::int64_t>(counts, 3));
        throw par::CollectiveError(
            ExitCode::numerical,
            cat("the spectral calibration: the generated fields have no power on shell |k| = ", s,
                ", where the data have (of the ", counts[0], " calibration fields ", counts[1],
                " have values that are not finite and ", counts[2], " none on that shell",
                result.iterations == 0
                    ? "): the model's own samples are broken; sample it without the calibration "
                      "and judge it with ksi stats"
                    : cat(", after ", result.iterations,
                          " updates of the gains): the calibration diverged on this model")),
            0);
      }
      ratio[s] = power[s] / target[s];
      error = std::max(error, std::abs(std::log(ratio[s])));
    }
    return error;
  };
  result.initial_error = measure(result.ratio);

  // Per shell, a secant step on log c against log P_gen: log c += log(P_data / P_gen) / slope, the
  // slope d log P_gen / d log c starting at 2 (a linear map back to data units, where one step is
  // exact) and then taken from the last two iterates, within [0.25, 2.5]. Where the power on a
  // shell is partly made by the non-linear map from other shells (leakage), the slope is below 2
  // and a plain fixed-point update would converge slowly. The last slopes turn the spread into
  // gains.
  std::vector<double> ratio = result.ratio, slope(S, 2.0);
  double error = result.initial_error;
  const auto fit_gains = [&] {
    std::vector<double> previous_log_gain(S, 0.0), previous_log_ratio(S, 0.0);
    std::fill(slope.begin(), slope.end(), 2.0);
    for (std::size_t update = 0; error > options.tolerance && update < options.max_iterations;
         ++update) {
      for (std::size_t s = 0; s < S; ++s) {
        if (!fitted[s]) continue;
        const double log_gain = std::log(result.output.gain[s]), log_ratio = std::log(ratio[s]);
        if (update > 0) {
          const double step = log_gain - previous_log_gain[s];
          if (std::abs(step) > 1e-12)
            slope[s] = std::clamp((log_ratio - previous_log_ratio[s]) / step, 0.25, 2.5);
        }
        previous_log_gain[s] = log_gain;
        previous_log_ratio[s] = log_ratio;
        // At most kMaxLogGainStep per update: where the model's fields saturate the data's range,
        // the power hardly follows the gain, the slope sits at its floor and an unbounded step ran
        // the gains to 1e6 and the fields to constants in a few updates.
        result.output.gain[s] = std::exp(
            log_gain - std::clamp(log_ratio / slope[s], -kMaxLogGainStep, kMaxLogGainStep));
      }
      ++result.iterations;
      error = measure(ratio);
    }
  };
  // The mean spectrum (and PDF): gains, then with the data's distribution alternately (as iterated
  // amplitude-adjusted surrogates do, here for the mean over fields) the output map
  // q = F_data^-1 o F_gen, which makes the generated one-point distribution the data's and moves
  // the spectrum a little, and the gains refitted under it; until the spectrum stays within the
  // tolerance after a new map, or `max_rounds`, or two rounds without a 5 % gain on the best (where
  // the error settles above the tolerance, as on shells past a dealiasing cut-off). Every round
  // ends with a map, so the one-point distribution is the data's; the round whose spectrum is
  // closest is kept (with few calibration fields the map's tails, set by a handful of values, can
  // move the spectrum by some percent from one round to the next without settling).
  const auto fit_mean = [&] {
    fit_gains();
    if (data_marginal == nullptr) return;
    Calibration best;
    std::size_t stalled = 0;
    for (std::size_t round = 0; round < options.max_rounds; ++round) {
      {
        ScopedPhase phase("calibrate.marginal");
        render(false);
        copula::MarginalTable generated = copula::fit_marginal(fields, comm);
        result.output.map.x = std::move(generated.x);
        result.output.map.z.resize(generated.z.size());
        for (std::size_t i = 0; i < generated.z.size(); ++i)
          result.output.map.z[i] = data_marginal->inverse(generated.z[i]);
      }
      ++result.rounds;
      error = measure(ratio);
      par::Log::detail(sformat("calibrate: output map %zu: max |log ratio| %.3g at |k| = %zu",
                               result.rounds, error, worst_shell(ratio)));
      stalled = round > 0 && error > 0.95 * best.final_error ? stalled + 1 : 0;
      if (round == 0 || error < best.final_error) {
        best.output.gain = result.output.gain;
        best.output.map = result.output.map;
        best.final_error = error;
      }
      if (error <= options.round_tolerance || round + 1 == options.max_rounds || stalled == 2)
        break;
      fit_gains();
    }
    result.output.gain = std::move(best.output.gain);
    result.output.map = std::move(best.output.map);
    error = best.final_error;
    measure(ratio);
  };
  fit_mean();
  const bool enough = data_spread != nullptr && data_spread->half_items[0] >= kSpreadHalf &&
                      data_spread->half_items[1] >= kSpreadHalf &&
                      options.samples >= 2 * kSpreadHalf;
  if (data_spread != nullptr && !enough)
    par::Log::info(cat("calibrate: no output spread: it needs at least ", 2 * kSpreadHalf,
                       " data fields and calibration samples"));
  if (enough) {
    // The output spread. Directions: the data's leading principal components of log P_i(s) over the
    // fitted shells of at least kGeometricModes modes (log_power_spread's shells).
    ScopedPhase phase("calibrate.spread");
    const auto generated_spread = [&] {
      render(true);
      return log_power_spread(fields, range.begin, grid, comm);
    };
    std::vector<std::size_t> used;
    for (std::size_t s = 1; s < S; ++s)
      if (fitted[s] && data_spread->covariance(s, s) > 0.0) used.push_back(s);
    // Directions from the even half of the data, tested on the odd half (unbiased for a direction
    // chosen elsewhere), the amplitude from all of the data.
    Matrix data_cov(used.size(), used.size());
    for (std::size_t r = 0; r < used.size(); ++r)
      for (std::size_t q = 0; q < used.size(); ++q)
        data_cov(r, q) = data_spread->half_covariance[0](used[r], used[q]);
    const auto along = [&](const Matrix& cov, std::size_t j, const SymmetricEigen& e) {
      double v = 0.0;
      for (std::size_t r = 0; r < used.size(); ++r)
        for (std::size_t q = 0; q < used.size(); ++q)
          v += e.vectors(r, j) * cov(used[r], used[q]) * e.vectors(q, j);
      return v;
    };
    const SymmetricEigen directions = symmetric_eigen(data_cov);
    const LogPowerSpread before = generated_spread();
    // A variance ratio of two sets of n and n_G fields scatters by sqrt(2/(n-1) + 2/(n_G-1)).
    const double threshold =
        1.0 + options.spread_significance *
                  std::sqrt(2.0 / static_cast<double>(data_spread->half_items[1] - 1) +
                            2.0 / static_cast<double>(before.items - 1));
    std::vector<std::size_t> kept;
    std::vector<double> amplitude;
    for (std::size_t j = 0; j < std::min(options.spread_components, used.size()); ++j) {
      SpreadComponent c;
      c.data_variance = along(data_spread->covariance, j, directions);
      c.generated_variance = along(before.covariance, j, directions);
      if (along(data_spread->half_covariance[1], j, directions) >
              threshold * c.generated_variance &&
          c.data_variance > c.generated_variance) {
        kept.push_back(j);
        amplitude.push_back(std::sqrt(c.data_variance - c.generated_variance));
        result.spread_components.push_back(c);
      } else {
        result.spread_rejected.push_back(c);
      }
    }
    if (!kept.empty()) {
      // The calibration fields' normals, centred and scaled to unit variance over all of them, so
      // that the measured variance corrects the amplitude for the non-linear maps to data units and
      // not for the sample variance of a few dozen normals.
      normals = spread_normals(kept.size(), sampler.seed, StreamPurpose::calibration, range.begin,
                               range.end - range.begin);
      std::vector<DoubleDouble> moments(2 * kept.size());
      for (std::size_t i = 0; i < normals.rows(); ++i)
        for (std::size_t k = 0; k < kept.size(); ++k) {
          moments[2 * k].add(normals(i, k));
          moments[2 * k + 1].add(normals(i, k) * normals(i, k));
        }
      comm.allreduce_sum(std::span<DoubleDouble>(moments));
      const double n = static_cast<double>(options.samples);
      for (std::size_t k = 0; k < kept.size(); ++k) {
        const double mean = moments[2 * k].value() / n;
        const double scale =
            std::sqrt(std::max((moments[2 * k + 1].value() - n * mean * mean) / (n - 1.0), 1e-300));
        for (std::size_t i = 0; i < normals.rows(); ++i)
          normals(i, k) = (normals(i, k) - mean) / scale;
      }
      for (std::size_t iteration = 0;; ++iteration) {
        // Extra log power a_k v_k(s) in data units -> model-unit log gain a_k v_k(s) / slope(s).
        result.output.spread = Matrix(kept.size(), S, 0.0);
        for (std::size_t k = 0; k < kept.size(); ++k)
          for (std::size_t r = 0; r < used.size(); ++r)
            result.output.spread(k, used[r]) =
                amplitude[k] * directions.vectors(r, kept[k]) / slope[used[r]];
        fit_mean();
        const LogPowerSpread after = generated_spread();
        bool within = true;
        for (std::size_t k = 0; k < kept.size(); ++k) {
          auto& c = result.spread_components[k];
          c.fitted_variance = along(after.covariance, kept[k], directions);
          const double wanted = c.data_variance - c.generated_variance;
          const double achieved = c.fitted_variance - c.generated_variance;
          within = within && std::abs(achieved / wanted - 1.0) <= 0.1;
          amplitude[k] *=
              std::clamp(std::sqrt(wanted / std::max(achieved, 1e-3 * wanted)), 0.5, 2.0);
        }
        par::Log::detail(
            sformat("calibrate: spread %zu: variance along the first direction %.3g (data %.3g)",
                    iteration + 1, result.spread_components[0].fitted_variance,
                    result.spread_components[0].data_variance));
        if (within || iteration + 1 == options.spread_iterations) break;
      }
    }
  }
  result.final_error = error;
  return result;
}

}  // namespace ksi::sample
