#include "ksi/stats/compare.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"
#include "ksi/stats/bispectrum.hpp"
#include "ksi/stats/minkowski.hpp"
#include "ksi/stats/one_point.hpp"
#include "stats/item_statistics.hpp"

namespace ksi::stats {
namespace {

// A grid needs a few points per axis for two spectrum shells and two structure-function
// separations.
constexpr std::size_t kMinGridPoints = 4;

// Items [range) of one set, on this rank. Collective for files.
using ItemSource = std::function<Matrix(par::Range)>;

ItemSource file_source(const std::string& path, const par::Comm& comm) {
  return [path, &comm](par::Range range) {
    ScopedPhase phase("stats.io");
    return io::read_items(path, comm, range).values;
  };
}

io::ItemsInfo inspect(const std::string& path, const par::Comm& comm) {
  io::File file = io::File::open(path, comm);
  io::ItemsInfo info;
  par::collective(comm, [&] { info = io::inspect_items(file); });
  return info;
}

// Runs `visit(items)` over this rank's block of `count` items in chunks of at most `chunk` items.
// Every rank runs the same number of rounds (possibly with empty chunks), since reading is
// collective.
void for_each_chunk(const ItemSource& source, std::size_t count, std::size_t chunk,
                    const par::Comm& comm,
                    const std::function<void(const Matrix&, std::size_t)>& visit) {
  const auto mine = par::block_range(count, comm.rank(), comm.size());
  const auto rounds = static_cast<std::size_t>(
      comm.allreduce_max(static_cast<std::int64_t>((mine.size() + chunk - 1) / chunk)));
  for (std::size_t round = 0; round < rounds; ++round) {
    par::Range range;
    range.begin = std::min(mine.end, mine.begin + round * chunk);
    range.end = std::min(mine.end, range.begin + chunk);
    const Matrix items = source(range);
    par::collective(comm, [&] { visit(items, range.begin); });
  }
}

// The options of the statistics that apply to grids of `dims` resolved (defaults filled in) and
// checked (UsageError); those that do not apply switched off.
void resolve_field_options(const std::vector<std::size_t>& dims, StatsOptions& options) {
  const std::size_t D = dims.size();
  const std::size_t n = *std::min_element(dims.begin(), dims.end());
  if (D < 2) options.bispectrum = options.peaks = options.minkowski = false;
  if (D != 1) options.series = false;
  if (options.series) {
    options.volatility_max_lag = std::min(options.volatility_max_lag, n / 4);
    options.leverage_max_lag = std::min(options.leverage_max_lag, n / 4);
    if (options.volatility_max_lag == 0 && options.leverage_max_lag == 0) options.series = false;
  }
  if (options.bispectrum) {
    const std::size_t largest = Bispectrum::largest_kmax(dims);
    if (options.bispectrum_kmax > largest)
      throw UsageError(cat("--bispectrum-kmax ", options.bispectrum_kmax, " exceeds ", largest,
                           ", the largest free of aliased triangles (kmax + 1/2 <= n/3) on ", n,
                           "-point axes"));
    if (options.bispectrum_kmax == 0) options.bispectrum_kmax = largest;
    if (options.bispectrum_bins > std::max<std::size_t>(options.bispectrum_kmax, 1))
      throw UsageError(cat("--bispectrum-bins ", options.bispectrum_bins,
                           " exceeds the bispectrum kmax ", options.bispectrum_kmax,
                           " (bins at least one unit of k wide)"));
    if (options.bispectrum_bins == 0)
      options.bispectrum_bins = std::min<std::size_t>(8, options.bispectrum_kmax);
    if (options.bispectrum_kmax == 0) {  // a grid too small for any unaliased triangle
      par::Log::detail(cat("stats: no bispectrum on ", n, "-point axes (needs at least 5)"));
      options.bispectrum = false;
      options.bispectrum_bins = 0;
    }
  }
  if (options.peaks) {
    if (options.peak_bins == 0) throw UsageError("--peak-bins must be at least 1");
    if (!(options.peak_min < options.peak_max))
      throw UsageError(
          cat("peak height range [", options.peak_min, ", ", options.peak_max, "] is empty"));
  }
  if (options.minkowski) {
    if (options.minkowski_thresholds == 0)
      throw UsageError("--minkowski-thresholds must be at least 1");
    if (!(options.minkowski_min < options.minkowski_max))
      throw UsageError(cat("Minkowski threshold range [", options.minkowski_min, ", ",
                           options.minkowski_max, "] is empty"));
  }
  if (options.increments) {
    if (options.increment_bins == 0) throw UsageError("--increment-bins must be at least 1");
    if (!(options.increment_range > 0.0) || !std::isfinite(options.increment_range))
      throw UsageError(cat("--increment-range ", options.increment_range, " is not positive"));
    if (options.increment_separations.empty()) {
      for (std::size_t r : {std::size_t{1}, std::max<std::size_t>(2, n / 16), n / 4})
        if (r >= 1 && r <= n / 2 &&
            std::find(options.increment_separations.begin(), options.increment_separations.end(),
                      r) == options.increment_separations.end())
          options.increment_separations.push_back(r);
    } else {
      for (std::size_t r : options.increment_separations)
        if (r < 1 || r > n / 2)
          throw UsageError(cat("--increment-separations: ", r, " is outside 1 .. ", n / 2,
                               " (half the smallest grid axis)"));
    }
  }
}

}  // namespace

std::vector<double> minkowski_thresholds(const StatsOptions& options) {
  const std::size_t T = options.minkowski_thresholds;
  std::vector<double> thresholds(T, options.minkowski_min);
  for (std::size_t t = 1; t < T; ++t)
    thresholds[t] = options.minkowski_min + (options.minkowski_max - options.minkowski_min) *
                                                static_cast<double>(t) / static_cast<double>(T - 1);
  return thresholds;
}

const char* to_string(SetRole role) {
  switch (role) {
    case SetRole::train:
      return "train";
    case SetRole::test:
      return "test";
    case SetRole::gen:
      return "gen";
    case SetRole::baseline:
      return "baseline";
  }
  return "?";
}

Comparison::Comparison(StatsInputs inputs, StatsOptions options, const Model* model,
                       const par::Comm& comm)
    : comm_(comm), model_(model) {
  report_.inputs = std::move(inputs);
  const std::map<SetRole, std::string> paths{{SetRole::train, report_.inputs.train},
                                             {SetRole::test, report_.inputs.test},
                                             {SetRole::gen, report_.inputs.gen}};
  std::map<SetRole, io::ItemsInfo> infos;
  for (const auto& [role, path] : paths) {
    if (path.empty()) throw UsageError(cat("ksi stats: --", to_string(role), " FILE is required"));
    infos[role] = inspect(path, comm);
    report_.counts[role] = infos[role].count;
  }
  const auto& train = infos[SetRole::train];
  for (const auto& [role, info] : infos) {
    if (!(info.shape == train.shape))
      throw InputError(cat("item shapes differ: ", train.path, " holds ", train.shape.describe(),
                           " items but ", info.path, " holds ", info.shape.describe()));
    if (info.count < 2)
      throw InputError(
          cat(info.path, " holds ", info.count, " item(s); statistics over a set need at least 2"));
    if (info.box_size != train.box_size)
      par::Log::detail(cat("stats: ", info.path, " has box size ", info.box_size, "; ", train.path,
                           "'s box size ", train.box_size, " is used for every set"));
  }
  report_.shape = train.shape;
  report_.box_size = train.box_size;
  if (report_.shape.is_grid()) {
    const auto& dims = report_.shape.dims();
    if (*std::min_element(dims.begin(), dims.end()) < kMinGridPoints)
      throw InputError(cat("grid of ", report_.shape.describe(), " in ", train.path,
                           " is too small for statistics (at least ", kMinGridPoints,
                           " points per axis)"));
  }
  if (model_ && !(model_->shape() == report_.shape))
    throw InputError(cat("model ", report_.inputs.model, " was fitted on items of shape ",
                         model_->shape().describe(), " but ", train.path, " holds ",
                         report_.shape.describe()));

  if (options.pdf_bins == 0) throw UsageError("--pdf-bins must be at least 1");
  if (std::isnan(options.pdf_min) != std::isnan(options.pdf_max))
    throw UsageError("give both ends of the PDF range, or neither");
  if (!std::isnan(options.pdf_min) && !(options.pdf_min < options.pdf_max))
    throw UsageError(cat("PDF range [", options.pdf_min, ", ", options.pdf_max, "] is empty"));
  if (!(options.memory_mb > 0.0)) throw UsageError("--memory-mb must be positive");
  if (options.baseline && options.baseline_count == 0)
    options.baseline_count = report_.counts[SetRole::gen];
  if (report_.shape.is_grid()) {
    const auto& dims = report_.shape.dims();
    const std::size_t complete = *std::min_element(dims.begin(), dims.end()) / 2;
    if (options.kmax > complete)
      throw UsageError(cat("--kmax ", options.kmax, " exceeds the largest complete shell (",
                           complete, ") of ", report_.shape.describe(), " grids"));
    if (options.kmax == 0) options.kmax = complete;
    if (options.max_separation > complete)
      throw UsageError(cat("--max-separation ", options.max_separation,
                           " exceeds half the smallest grid axis (", complete, ")"));
    if (options.max_separation == 0) options.max_separation = complete;
    resolve_field_options(dims, options);
  } else {
    if (options.energy_items < 2) throw UsageError("--energy-items must be at least 2");
    options.bispectrum = options.peaks = options.minkowski = options.increments = false;
    options.series = false;
    options.bispectrum_bins = options.bispectrum_kmax = 0;
    options.increment_separations.clear();
  }
  report_.options = options;
  evaluator_ = std::make_unique<ItemStatistics>(report_.shape, report_.box_size, options, model);
}

Comparison::~Comparison() = default;

std::vector<std::string> Comparison::tables() const {
  std::vector<std::string> names;
  for (const auto& s : evaluator_->statistics())
    if (std::find(names.begin(), names.end(), s.table) == names.end()) names.push_back(s.table);
  return names;
}

StatsReport Comparison::run() {
  StatsReport report = report_;
  const StatsOptions& options = report.options;
  const ItemShape& shape = report.shape;
  const std::size_t d = shape.size();
  const std::size_t chunk = std::max<std::size_t>(
      1, static_cast<std::size_t>(options.memory_mb * 1048576.0 / (static_cast<double>(d) * 8.0)));
  const std::map<SetRole, std::string> paths{{SetRole::train, report.inputs.train},
                                             {SetRole::test, report.inputs.test},
                                             {SetRole::gen, report.inputs.gen}};

  // 1. The reference look at train and test: PDF ranges, the centre of the covariance (test) and,
  // for fields, the training set's value moments and RMS increments. Sums in double-double, so the
  // reference is the same to the last bit on any number of ranks.
  const std::size_t channels = evaluator_->channels();
  std::vector<double> lower(channels, std::numeric_limits<double>::infinity());
  std::vector<double> upper(channels, -std::numeric_limits<double>::infinity());
  const bool data_range = std::isnan(options.pdf_min);
  const bool field_reference = shape.is_grid() && evaluator_->needs_field_reference();
  const std::size_t separations = evaluator_->increment_separations().size();
  // Vectors: the test set's coordinate sums. Fields: per training field its mean, its variance and
  // its mean squared increment per separation, summarised over the set as every statistic is.
  std::vector<DoubleDouble> sums(shape.is_grid() ? 0 : d);
  RunningMoments field_moments(2 + separations);
  std::vector<double> moment_values(2 + separations);
  for (SetRole role : {SetRole::train, SetRole::test}) {
    const bool is_test = role == SetRole::test;
    const bool centre = is_test && !shape.is_grid();
    const bool moments = !is_test && field_reference;
    if (!data_range && !centre && !moments) continue;
    for_each_chunk(file_source(paths.at(role), comm_), report.counts[role], chunk, comm_,
                   [&](const Matrix& items, std::size_t) {
                     for (std::size_t i = 0; i < items.rows(); ++i) {
                       const auto x = items.row(i);
                       if (data_range)
                         for (std::size_t q = 0; q < d; ++q) {
                           const std::size_t c = shape.is_grid() ? 0 : q;
                           lower[c] = std::min(lower[c], x[q]);
                           upper[c] = std::max(upper[c], x[q]);
                         }
                       if (centre)
                         for (std::size_t q = 0; q < d; ++q) sums[q].add(x[q]);
                       if (moments) {
                         const OnePointMoments m = one_point_moments(x);
                         moment_values[0] = m.mean;
                         moment_values[1] = m.variance;
                         if (separations)
                           evaluator_->increment_mean_squares(
                               x, std::span<double>(moment_values).subspan(2));
                         field_moments.add(moment_values);
                       }
                     }
                   });
  }
  if (data_range)
    for (std::size_t c = 0; c < channels; ++c) {
      lower[c] = comm_.allreduce_min(lower[c]);
      upper[c] = comm_.allreduce_max(upper[c]);
    }
  comm_.allreduce_sum(std::span<DoubleDouble>(sums));
  Reference reference;
  if (!shape.is_grid()) {
    for (const auto& sum : sums)
      reference.centre.push_back(sum.value() / static_cast<double>(report.counts[SetRole::test]));
  } else if (field_reference) {
    // Pooled over the training fields: variance = mean field variance + variance of field means.
    const SetSummary pooled = summarize(field_moments, comm_);
    const double n = static_cast<double>(pooled.count);
    report.field_mean = pooled.mean[0];
    report.field_std =
        std::sqrt(pooled.mean[1] + pooled.stddev[0] * pooled.stddev[0] * (n - 1.0) / n);
    for (std::size_t s = 0; s < separations; ++s)
      report.increment_std.push_back(std::sqrt(pooled.mean[2 + s]));
    // A constant training set is reported item by item when its statistics are computed.
    reference.field_mean = report.field_mean;
    reference.field_scale = report.field_std > 0.0 ? report.field_std : 1.0;
    for (double unit : report.increment_std)
      reference.increment_scales.push_back(unit > 0.0 ? unit : 1.0);
  }
  if (!data_range) {
    std::fill(lower.begin(), lower.end(), options.pdf_min);
    std::fill(upper.begin(), upper.end(), options.pdf_max);
  } else if (shape.is_grid()) {
    report.options.pdf_min = lower[0];
    report.options.pdf_max = upper[0];
  }
  reference.lower = lower;
  reference.upper = upper;
  const std::vector<double> centre = reference.centre;
  evaluator_->set_reference(std::move(reference));
  report.statistics = evaluator_->statistics();

  // 2. Per-item statistics of each set, summarised over the set.
  const auto summarise_set = [&](SetRole role, const ItemSource& source, const std::string& what) {
    const std::size_t count = report.counts[role];
    std::vector<RunningMoments> moments;
    for (const auto& s : report.statistics) moments.emplace_back(s.components());
    std::vector<std::vector<double>> values;
    par::Progress progress(cat("stats: ", to_string(role)),
                           par::block_range(count, comm_.rank(), comm_.size()).size());
    for_each_chunk(source, count, chunk, comm_, [&](const Matrix& items, std::size_t first) {
      ScopedPhase phase("stats.compute");
      for (std::size_t i = 0; i < items.rows(); ++i) {
        try {
          evaluator_->evaluate(items.row(i), values);
        } catch (const InputError& e) {
          throw InputError(cat(what, ": item ", first + i, ": ", e.what()));
        }
        for (std::size_t s = 0; s < moments.size(); ++s) moments[s].add(values[s]);
        progress.advance();
      }
    });
    for (std::size_t s = 0; s < moments.size(); ++s)
      report.statistics[s].sets[role] = summarize(moments[s], comm_);
  };
  for (SetRole role : {SetRole::test, SetRole::train, SetRole::gen})
    summarise_set(role, file_source(paths.at(role), comm_), paths.at(role));

  // 3. The Gaussian baseline, from the training set's summaries.
  const auto train_mean = [&](const std::string& name) -> const std::vector<double>& {
    return report.statistics[static_cast<std::size_t>(evaluator_->find(name))]
        .sets.at(SetRole::train)
        .mean;
  };
  if (options.minkowski) {
    // Tomita's forms for a Gaussian field with the training spectrum, drawn beside the data.
    const PowerSpectrum spectrum(shape.dims(), report.box_size);
    const auto& power = train_mean("power_spectrum");  // shells 1, 2, ...
    const double fundamental = spectrum.fundamental();
    double variance = 0.0, gradient = 0.0;
    for (std::size_t b = 1; b < spectrum.shells(); ++b) {
      const double p = power[b - 1] * spectrum.shell_modes()[b] / spectrum.volume();
      variance += p;
      gradient += p * spectrum.shell_wavenumber_squared()[b] * fundamental * fundamental;
    }
    report.gaussian_sigma0 = std::sqrt(variance);
    report.gaussian_sigma1 = std::sqrt(gradient);
    const std::size_t D = shape.dims().size();
    for (std::size_t j = 0; j <= D; ++j) {
      std::vector<double> values;
      for (double nu : minkowski_thresholds(options))
        values.push_back(gaussian_minkowski(D, j, nu * report.field_std / report.gaussian_sigma0,
                                            report.gaussian_sigma1 / report.gaussian_sigma0));
      report.gaussian_minkowski.push_back(std::move(values));
    }
  }
  if (options.baseline) {
    par::collective(comm_, [&] {
      if (shape.is_grid()) {
        std::vector<double> shell_power{0.0};
        const auto& power = train_mean("power_spectrum");
        shell_power.insert(shell_power.end(), power.begin(), power.end());
        report.baseline = std::make_shared<GaussianFieldBaseline>(
            shape, report.box_size, std::move(shell_power), train_mean("mean")[0]);
      } else {
        // The covariance statistic is the second moment about the test mean c; remove (m - c).
        const auto& m = train_mean("mean");
        const auto& second = train_mean("covariance");
        Matrix covariance(d, d);
        std::size_t q = 0;
        for (std::size_t a = 0; a < d; ++a)
          for (std::size_t b = a; b < d; ++b, ++q) {
            covariance(a, b) = second[q] - (m[a] - centre[a]) * (m[b] - centre[b]);
            covariance(b, a) = covariance(a, b);
          }
        report.baseline = std::make_shared<GaussianVectorBaseline>(m, covariance);
      }
    });
    report.counts[SetRole::baseline] = options.baseline_count;
    const auto baseline = report.baseline;
    const std::uint64_t seed = options.baseline_seed;
    summarise_set(
        SetRole::baseline,
        [baseline, seed](par::Range range) {
          ScopedPhase phase("stats.baseline");
          return baseline->draw(seed, range.begin, range.size());
        },
        "Gaussian baseline");
  }

  // Shells the data hold no power in (a dealiased or filtered simulation: round-off only, far below
  // the peak) make ln P(k) judge round-off: one generated field with a trace of power there is tens
  // of nats off. Say so and name the --kmax that stops before them.
  for (const auto& s : report.statistics) {
    if (s.name != "log_power_spectrum" || !s.sets.count(SetRole::test)) continue;
    const auto& test = s.sets.at(SetRole::test).mean;
    if (test.empty()) break;
    const double peak = *std::max_element(test.begin(), test.end());
    std::size_t first_empty = 0;
    for (std::size_t b = 0; b < test.size(); ++b)
      if (test[b] < peak - 23.0) {  // below 1e-10 of the peak shell's power
        first_empty = b + 1;        // shell b + 1 (the judged shells start at 1)
        break;
      }
    if (first_empty > 0)
      par::Log::warn(
          cat("stats: the test fields hold no power from shell ", first_empty,
              " on (below 1e-10 of the peak: round-off of a dealiased or filtered field); "
              "P(k) judges those shells too, so one trace of power there dominates its "
              "Q: use --kmax ",
              first_empty - 1));
  }

  // 4. Distances to the test set and Q ratios.
  for (const auto& s : report.statistics) {
    if (!s.judged) continue;
    Judgement j;
    j.name = s.name;
    j.label = s.label;
    j.components = s.components();
    const auto& test = s.sets.at(SetRole::test);
    j.train_test = welch_distance(s.sets.at(SetRole::train), test);
    j.gen_test = welch_distance(s.sets.at(SetRole::gen), test);
    if (options.baseline) j.baseline_test = welch_distance(s.sets.at(SetRole::baseline), test);
    j.spread_train_test = spread_distance(s.sets.at(SetRole::train), test);
    j.spread_gen_test = spread_distance(s.sets.at(SetRole::gen), test);
    if (options.baseline)
      j.spread_baseline_test = spread_distance(s.sets.at(SetRole::baseline), test);
    report.judgements.push_back(j);
  }
  if (!shape.is_grid()) {
    // The energy distance needs all pairs: the first energy_items items of each set, on every rank.
    ScopedPhase phase("stats.energy");
    std::map<SetRole, Matrix> subsets;
    for (const auto& [role, path] : paths) {
      const std::size_t m = std::min(options.energy_items, report.counts[role]);
      subsets[role] = io::read_items(path, comm_, par::Range{0, m}).values;
    }
    Judgement j;
    j.name = "energy_distance";
    j.label = "energy distance";
    j.components = d;
    const Matrix& test = subsets[SetRole::test];
    j.train_test = energy_distance(subsets[SetRole::train], test, comm_);
    j.gen_test = energy_distance(subsets[SetRole::gen], test, comm_);
    if (options.baseline) {
      const Matrix baseline = report.baseline->draw(
          options.baseline_seed, 0, std::min(options.energy_items, options.baseline_count));
      j.baseline_test = energy_distance(baseline, test, comm_);
    }
    report.judgements.push_back(j);
  }
  return report;
}

}  // namespace ksi::stats
