// ksi stats: train, test and generated item files -> statistics, Gaussian baseline, Q ratios
// (METHOD section 8) as CSV tables and a JSON summary; jobs/plot_report.py draws the PNG.
#include <cmath>
#include <iostream>

#include "app/commands.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"
#include "ksi/stats/compare.hpp"
#include "ksi/stats/report_files.hpp"

namespace ksi::app {
namespace {

std::string optional_path(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

void print_judgements(const stats::StatsReport& report) {
  const bool baseline = report.options.baseline;
  std::string text =
      "stats: Q = dist(gen, test) / dist(train, test); distances in standard errors (1: "
      "indistinguishable)\n";
  text += sformat("  %-16s %12s %12s %9s", "statistic", "train-test", "gen-test", "Q(gen)");
  if (baseline) text += sformat(" %13s %12s", "baseline-test", "Q(baseline)");
  text += sformat(" %16s\n", "Q(spread, gen)");
  for (const auto& j : report.judgements) {
    text += sformat("  %-16s %12.4g %12.4g %9.3g", j.label.c_str(), j.train_test, j.gen_test,
                    j.q_gen());
    if (baseline) text += sformat(" %13.4g %12.3g", j.baseline_test, j.q_baseline());
    text += sformat(" %16.3g\n", j.q_spread_gen());
  }
  text +=
      "  Q(spread): the same ratio for ln(sd) of the items' statistics (a set much wider or "
      "narrower than the test set: Q small but Q(spread) large)\n";
  text.pop_back();
  par::Log::info(text);
}

}  // namespace

int run_stats(const Invocation& call) {
  const stats::StatsOptions defaults;
  po::options_description desc("ksi stats options");
  add_common_options(desc);
  add_output_options(desc, "prefix of the report files: PREFIX.json, PREFIX_<table>.csv");
  desc.add_options()(
      "out-dir", po::value<std::string>(),
      "write the report as DIR/stats.json, DIR/stats_<table>.csv (DIR is made if missing)")(
      "train", po::value<std::string>(), "training data set (HDF5 with /fields)")(
      "test", po::value<std::string>(), "held-out data set, the reference of every distance")(
      "gen", po::value<std::string>(), "generated items (e.g. from ksi sample)")(
      "model", po::value<std::string>(), "model whose feature-map coefficients are compared")(
      "pdf-bins", po::value<std::size_t>()->default_value(defaults.pdf_bins),
      "equal-width bins of one-point PDFs")(
      "pdf-range", po::value<std::string>(),
      "LO,HI of the PDF bins (default: the train and test values' range)")(
      "kmax", po::value<std::size_t>()->default_value(defaults.kmax),
      "largest judged P(k) shell in units of 2 pi / L (0: n/2; n/3 for 2/3-dealiased data)")(
      "structure-functions", po::value<bool>()->default_value(defaults.structure_functions),
      "compute S_p(r), p = 2..6, for fields (on/off)")(
      "max-separation", po::value<std::size_t>()->default_value(defaults.max_separation),
      "largest r of S_p(r) in grid points (0: n/2)")(
      "baseline", po::value<bool>()->default_value(defaults.baseline),
      "judge a Gaussian baseline with the training data's spectrum (on/off)")(
      "baseline-count", po::value<std::size_t>()->default_value(defaults.baseline_count),
      "baseline items (0: as many as --gen holds)")(
      "baseline-seed", po::value<std::uint64_t>()->default_value(defaults.baseline_seed),
      "seed of the baseline (item i uses stream (seed, i))")(
      "baseline-out", po::value<std::string>(), "also write the baseline items to this HDF5 file")(
      "energy-items", po::value<std::size_t>()->default_value(defaults.energy_items),
      "vectors: items per set in the energy distance")(
      "bispectrum", po::value<bool>()->default_value(defaults.bispectrum),
      "2D/3D fields: bispectrum B and Q_3, equilateral and squeezed (on/off)")(
      "bispectrum-bins", po::value<std::size_t>()->default_value(defaults.bispectrum_bins),
      "equal-width |k| bins of the bispectrum (0: min(8, bispectrum kmax))")(
      "bispectrum-kmax", po::value<std::size_t>()->default_value(defaults.bispectrum_kmax),
      "top of the bispectrum bins in units of 2 pi / L (0: n/3 - 1/2 rounded down, unaliased)")(
      "peaks", po::value<bool>()->default_value(defaults.peaks),
      "2D/3D fields: counts of local maxima and minima by height (on/off)")(
      "peak-bins", po::value<std::size_t>()->default_value(defaults.peak_bins),
      "equal-width peak-height bins")(
      "peak-range", po::value<std::string>(),
      "LO,HI of the peak heights in training standard deviations (default -4,4)")(
      "minkowski", po::value<bool>()->default_value(defaults.minkowski),
      "2D/3D fields: Minkowski functionals against threshold (on/off)")(
      "minkowski-thresholds",
      po::value<std::size_t>()->default_value(defaults.minkowski_thresholds),
      "equally spaced thresholds of the Minkowski functionals")(
      "minkowski-range", po::value<std::string>(),
      "LO,HI of the thresholds in training standard deviations (default -3,3)")(
      "increments", po::value<bool>()->default_value(defaults.increments),
      "increment PDFs of fields and series (on/off)")(
      "increment-separations", po::value<std::string>(),
      "R1,R2,... separations (lags) in grid points (default 1, max(2, n/16), n/4)")(
      "increment-bins", po::value<std::size_t>()->default_value(defaults.increment_bins),
      "equal-width bins of the increment PDFs")(
      "increment-range", po::value<double>()->default_value(defaults.increment_range),
      "increment bins span +- this many training RMS increments")(
      "series", po::value<bool>()->default_value(defaults.series),
      "1D series: volatility clustering (autocorrelation of |r|) and leverage (on/off)")(
      "volatility-max-lag", po::value<std::size_t>()->default_value(defaults.volatility_max_lag),
      "largest lag of the |r| autocorrelation (capped at n/4; lags 1, 2, 3, 4, 6, 8, ...)")(
      "leverage-max-lag", po::value<std::size_t>()->default_value(defaults.leverage_max_lag),
      "largest lag of the leverage correlation E[r_t r_{t+tau}^2] / E[r^2]^2 (capped at n/4)")(
      "memory-mb", po::value<double>()->default_value(defaults.memory_mb),
      "per-rank budget for items held at once (MB)")("report", po::value<std::string>(),
                                                     "write per-phase timings as JSON to FILE");
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm,
                     "ksi stats --train FILE --test FILE --gen FILE (--out PREFIX | --out-dir DIR) "
                     "[--model FILE] [options]"))
    return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  stats::StatsInputs inputs{optional_path(vm, "train"), optional_path(vm, "test"),
                            optional_path(vm, "gen"), optional_path(vm, "model")};
  const bool force = vm.count("force") > 0;

  stats::StatsOptions options;
  options.pdf_bins = vm["pdf-bins"].as<std::size_t>();
  if (vm.count("pdf-range")) {
    const auto range = parse_list("pdf-range", vm["pdf-range"].as<std::string>());
    if (range.size() != 2) throw UsageError("--pdf-range takes two numbers, LO,HI");
    options.pdf_min = range[0];
    options.pdf_max = range[1];
  }
  options.kmax = vm["kmax"].as<std::size_t>();
  options.structure_functions = vm["structure-functions"].as<bool>();
  options.max_separation = vm["max-separation"].as<std::size_t>();
  options.baseline = vm["baseline"].as<bool>();
  options.baseline_count = vm["baseline-count"].as<std::size_t>();
  options.baseline_seed = vm["baseline-seed"].as<std::uint64_t>();
  options.energy_items = vm["energy-items"].as<std::size_t>();
  options.memory_mb = vm["memory-mb"].as<double>();
  options.bispectrum = vm["bispectrum"].as<bool>();
  options.bispectrum_bins = vm["bispectrum-bins"].as<std::size_t>();
  options.bispectrum_kmax = vm["bispectrum-kmax"].as<std::size_t>();
  options.peaks = vm["peaks"].as<bool>();
  options.peak_bins = vm["peak-bins"].as<std::size_t>();
  if (vm.count("peak-range")) {
    const auto range = parse_list("peak-range", vm["peak-range"].as<std::string>());
    if (range.size() != 2) throw UsageError("--peak-range takes two numbers, LO,HI");
    options.peak_min = range[0];
    options.peak_max = range[1];
  }
  options.minkowski = vm["minkowski"].as<bool>();
  options.minkowski_thresholds = vm["minkowski-thresholds"].as<std::size_t>();
  if (vm.count("minkowski-range")) {
    const auto range = parse_list("minkowski-range", vm["minkowski-range"].as<std::string>());
    if (range.size() != 2) throw UsageError("--minkowski-range takes two numbers, LO,HI");
    options.minkowski_min = range[0];
    options.minkowski_max = range[1];
  }
  options.increments = vm["increments"].as<bool>();
  options.series = vm["series"].as<bool>();
  options.volatility_max_lag = vm["volatility-max-lag"].as<std::size_t>();
  options.leverage_max_lag = vm["leverage-max-lag"].as<std::size_t>();
  if (vm.count("increment-separations")) {
    for (double r :
         parse_list("increment-separations", vm["increment-separations"].as<std::string>())) {
      if (!(r >= 1.0) || r != std::floor(r) || r > 1e9)
        throw UsageError(cat("--increment-separations: ", r, " is not a positive whole number"));
      options.increment_separations.push_back(static_cast<std::size_t>(r));
    }
  }
  options.increment_bins = vm["increment-bins"].as<std::size_t>();
  options.increment_range = vm["increment-range"].as<double>();
  const std::string baseline_out = optional_path(vm, "baseline-out");
  if (!baseline_out.empty() && !options.baseline)
    throw UsageError("--baseline-out needs the baseline (drop --baseline off)");

  std::vector<std::string> input_paths{inputs.train, inputs.test, inputs.gen};
  if (!inputs.model.empty()) input_paths.push_back(inputs.model);
  std::optional<Model> model;
  if (!inputs.model.empty()) model.emplace(Model::read(inputs.model, world));
  stats::Comparison comparison(inputs, options, model ? &*model : nullptr, world);
  auto files = stats::report_files(optional_path(vm, "out"), optional_path(vm, "out-dir"),
                                   comparison.tables());
  stats::check_report_files(files, force, input_paths, world);
  {
    auto others = input_paths;
    for (const auto& path : files.all()) others.push_back(path);
    others.push_back(baseline_out);
    check_report_path(vm, force, others, world);
  }
  if (!baseline_out.empty()) {
    for (const auto& path : files.all())
      if (path == baseline_out)
        throw UsageError(cat("--baseline-out ", path, " is also a report file"));
    io::check_output_path(baseline_out, force, input_paths, world);
    files.baseline_items = baseline_out;
  }
  par::Log::info(cat("stats: ", comparison.shape().describe(), " items; train ", inputs.train,
                     ", test ", inputs.test, ", gen ", inputs.gen,
                     inputs.model.empty() ? std::string() : ", model " + inputs.model, "; ",
                     world.size(), " ranks"));

  const Stopwatch clock;
  const stats::StatsReport report = comparison.run();
  const double seconds = world.allreduce_max(clock.seconds());

  // The baseline file is committed after the report, so a failure leaves neither behind.
  std::optional<io::OutputFile> baseline_file;
  if (!baseline_out.empty()) {
    ScopedPhase phase("stats.io");
    const std::size_t count = report.counts.at(stats::SetRole::baseline);
    const auto mine = par::block_range(count, world.rank(), world.size());
    Matrix local;
    par::collective(world, [&] {
      local = report.baseline->draw(report.options.baseline_seed, mine.begin, mine.size());
    });
    baseline_file.emplace(baseline_out, force, input_paths, world);
    io::write_items(*baseline_file, report.shape, count, mine.begin, local, io::DType::float64,
                    report.box_size);
    const io::Group root = baseline_file->root();
    io::write_provenance(root, "ksi stats");
    root.set_attribute("ksi_file_kind", "dataset");
    root.set_attribute("generator", "gaussian baseline of ksi stats");
    root.set_attribute("seed", static_cast<std::int64_t>(report.options.baseline_seed));
    root.set_attribute("baseline_of", inputs.train);
  }
  {
    ScopedPhase phase("stats.io");
    stats::write_report_files(report, files, force, world);
  }
  if (baseline_file) baseline_file->commit();

  print_judgements(report);
  par::Log::info(
      sformat("stats: wrote %s and %zu tables in %.2f s; draw the PNG with "
              "/usr/bin/python3 jobs/plot_report.py %s",
              files.json.c_str(), files.tables.size(), seconds, files.json.c_str()));
  write_report(
      vm, world, "stats",
      sformat("\"items\": %zu, \"dimension\": %zu, \"stats_seconds\": %.6g",
              report.counts.at(stats::SetRole::train) + report.counts.at(stats::SetRole::test) +
                  report.counts.at(stats::SetRole::gen),
              report.shape.size(), seconds));
  return 0;
}

}  // namespace ksi::app
