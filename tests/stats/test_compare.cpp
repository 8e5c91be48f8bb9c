// The comparison of item files: Q near 1 for independent draws of one distribution and large for a
// different one, the same numbers on any number of ranks, exact per-set statistics against naive
// references, feature-map coefficients, input validation and the report files.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/interpolant/schedule.hpp"
#include "ksi/io/items.hpp"
#include "ksi/stats/compare.hpp"
#include "ksi/stats/one_point.hpp"
#include "ksi/stats/report_files.hpp"
#include "ksi/synth/vectors.hpp"
#include "support/test_support.hpp"

namespace {

using ksi::ItemShape;
using ksi::Matrix;
using ksi::RandomStream;
using ksi::StreamPurpose;
using ksi::stats::Comparison;
using ksi::stats::SetRole;
using ksi::stats::StatsInputs;
using ksi::stats::StatsOptions;
using ksi::stats::StatsReport;
using ksi::test::World;

// Writes the rows of `all` (the same on every rank) as an item file; each rank writes its block.
void write_set(const std::string& path, const ItemShape& shape, const Matrix& all,
               double box = 1.0) {
  const auto& comm = World::comm();
  ksi::io::OutputFile out(path, true, {}, comm);
  const auto mine = ksi::par::block_range(all.rows(), comm.rank(), comm.size());
  Matrix local(mine.size(), all.cols());
  for (std::size_t i = 0; i < mine.size(); ++i)
    std::copy(all.row(mine.begin + i).begin(), all.row(mine.begin + i).end(), local.row(i).begin());
  ksi::io::write_items(out, shape, all.rows(), mine.begin, local, ksi::io::DType::float64, box);
  out.commit();
}

// Log-normal fields exp(a g), g white noise smoothed twice by a periodic 3 x 3 box: skewed,
// correlated over a few cells, and made without any code of the stats room.
Matrix lognormal_fields(std::uint64_t seed, std::size_t count, std::size_t n, double amplitude) {
  Matrix fields(count, n * n);
  std::vector<double> g(n * n), smoothed(n * n);
  for (std::size_t f = 0; f < count; ++f) {
    RandomStream stream(seed, StreamPurpose::test, f);
    stream.fill_normal(g);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          double s = 0.0;
          for (std::size_t di = n - 1; di <= n + 1; ++di)
            for (std::size_t dj = n - 1; dj <= n + 1; ++dj)
              s += g[((i + di) % n) * n + (j + dj) % n];
          smoothed[i * n + j] = s / 3.0;  // keeps the variance O(1) after smoothing
        }
      g.swap(smoothed);
    }
    for (std::size_t q = 0; q < n * n; ++q) fields(f, q) = std::exp(amplitude * g[q]);
  }
  return fields;
}

const ksi::stats::Judgement& judgement(const StatsReport& report, const std::string& name) {
  for (const auto& j : report.judgements)
    if (j.name == name) return j;
  throw std::runtime_error("no judgement " + name);
}

const ksi::stats::Statistic& statistic(const StatsReport& report, const std::string& name) {
  for (const auto& s : report.statistics)
    if (s.name == name) return s;
  throw std::runtime_error("no statistic " + name);
}

class FieldComparison : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ksi::test::ScratchDir("stats-fields");
    const auto shape = ItemShape::grid({32, 32});
    write_set(path("train.h5"), shape, lognormal_fields(1, 48, 32, 0.5), 8.0);
    write_set(path("test.h5"), shape, lognormal_fields(2, 48, 32, 0.5), 8.0);
    write_set(path("same.h5"), shape, lognormal_fields(3, 48, 32, 0.5), 8.0);
    write_set(path("other.h5"), shape, lognormal_fields(4, 48, 32, 0.7), 8.0);
  }
  static void TearDownTestSuite() {
    delete scratch_;
    scratch_ = nullptr;
  }
  static std::string path(const std::string& name) { return scratch_->path(name); }
  static StatsReport compare(const std::string& gen, const ksi::par::Comm& comm,
                             StatsOptions options = {}) {
    Comparison comparison({path("train.h5"), path("test.h5"), path(gen), ""}, options, nullptr,
                          comm);
    return comparison.run();
  }
  static ksi::test::ScratchDir* scratch_;
};
ksi::test::ScratchDir* FieldComparison::scratch_ = nullptr;

TEST_F(FieldComparison, QIsNearOneForTheSameDistributionAndLargeForAnother) {
  const auto& comm = World::comm();
  const StatsReport same = compare("same.h5", comm);
  const StatsReport other = compare("other.h5", comm);
  // A distance is an RMS of z-scores, each of expectation about 1 when the sets share a
  // distribution; above 3 is a 3-sigma event however correlated the components are.
  for (const auto& j : same.judgements) {
    EXPECT_LT(j.train_test, 3.0) << j.name;
    EXPECT_LT(j.gen_test, 3.0) << j.name;
  }
  // Shells of P(k) and bins of the PDF are nearly independent, so their distances concentrate
  // near 1 and so does Q. (S_p(r) moves as one over r, its Q is a ratio of about two |z| values:
  // noisy, hence only the distance bound above for it.)
  for (const char* name : {"log_power_spectrum", "pdf"}) {
    EXPECT_GT(judgement(same, name).q_gen(), 1.0 / 3.0) << name;
    EXPECT_LT(judgement(same, name).q_gen(), 3.0) << name;
    EXPECT_GT(judgement(other, name).q_gen(), 5.0) << name;
  }
  // 40% more amplitude in the exponent moves every statistic by many standard errors.
  for (const char* name : {"log_power_spectrum", "pdf", "skewness", "S_2", "S_4", "S_6"})
    EXPECT_GT(judgement(other, name).gen_test, 5.0) << name;
  // The data are log-normal: a Gaussian field with their spectrum misses their one-point
  // statistics.
  for (const char* name : {"pdf", "skewness", "kurtosis"})
    EXPECT_GT(judgement(same, name).baseline_test, 5.0) << name;
  EXPECT_GT(judgement(same, "pdf").q_baseline(), 5.0);
}

TEST_F(FieldComparison, BaselineHasTheTrainingSpectrumWithinCosmicVariance) {
  const StatsReport report = compare("same.h5", World::comm());
  const auto& power = statistic(report, "power_spectrum");
  const auto& train = power.sets.at(SetRole::train);
  const auto& baseline = power.sets.at(SetRole::baseline);
  ASSERT_EQ(baseline.count, 48u);  // as many as generated items
  for (std::size_t k = 0; k < power.components(); ++k)
    EXPECT_NEAR(baseline.mean[k], train.mean[k], 5.0 * baseline.stddev[k] / std::sqrt(48.0))
        << "shell " << k + 1;
  // The mean value is the training set's, in every baseline field (std over fields ~ round-off).
  const auto& mean = statistic(report, "mean");
  EXPECT_NEAR(mean.sets.at(SetRole::baseline).mean[0], mean.sets.at(SetRole::train).mean[0], 1e-12);
}

// Bit patterns, so that NaN equals NaN.
std::vector<std::uint64_t> bits(const std::vector<double>& values) {
  std::vector<std::uint64_t> out;
  for (double v : values) out.push_back(std::bit_cast<std::uint64_t>(v));
  return out;
}

void expect_same_bits(const StatsReport& parallel, const StatsReport& serial) {
  ASSERT_EQ(parallel.statistics.size(), serial.statistics.size());
  for (std::size_t s = 0; s < serial.statistics.size(); ++s)
    for (const auto& [role, expected] : serial.statistics[s].sets) {
      const auto& got = parallel.statistics[s].sets.at(role);
      ASSERT_EQ(got.count, expected.count);
      EXPECT_EQ(bits(got.mean), bits(expected.mean))
          << serial.statistics[s].name << " " << to_string(role);
      EXPECT_EQ(bits(got.stddev), bits(expected.stddev))
          << serial.statistics[s].name << " " << to_string(role);
    }
  ASSERT_EQ(parallel.judgements.size(), serial.judgements.size());
  for (std::size_t j = 0; j < serial.judgements.size(); ++j) {
    const auto& a = parallel.judgements[j];
    const auto& b = serial.judgements[j];
    EXPECT_EQ(bits({a.train_test, a.gen_test, a.baseline_test}),
              bits({b.train_test, b.gen_test, b.baseline_test}))
        << b.name;
  }
  EXPECT_EQ(bits({parallel.field_mean, parallel.field_std}),
            bits({serial.field_mean, serial.field_std}));
  EXPECT_EQ(bits(parallel.increment_std), bits(serial.increment_std));
}

TEST_F(FieldComparison, SameNumbersOnAnyNumberOfRanks) {
  StatsOptions options;
  options.memory_mb = 0.02;  // chunks of a few fields: exercises the collective chunk rounds
  const StatsReport parallel = compare("other.h5", World::comm(), options);
  const StatsReport serial = compare("other.h5", ksi::par::Comm::self());
  // 48 fields a set, so every rank holds items of every set; every family takes part.
  for (const char* name : {"bispectrum", "reduced_bispectrum", "peak_counts", "minimum_counts",
                           "minkowski_V0", "minkowski_V2", "increment_pdf_r1", "S_2"})
    EXPECT_GT(statistic(serial, name).components(), 0u) << name;
  expect_same_bits(parallel, serial);
}

TEST_F(FieldComparison, NewFamiliesTellTheLogNormalDataFromTheGaussianBaseline) {
  const StatsReport report = compare("same.h5", World::comm());
  // Skewed, peaked fields: the Gaussian baseline with their spectrum misses the bispectrum, the
  // peak counts, every Minkowski functional but the volume fraction's centre, and the increments,
  // by many standard errors; the generated set from the same law is within noise (first test).
  for (const char* name : {"reduced_bispectrum", "peak_counts", "minimum_counts", "minkowski_V0",
                           "minkowski_V1", "minkowski_V2", "increment_pdf_r1", "increment_pdf_r8"})
    EXPECT_GT(judgement(report, name).baseline_test, 5.0) << name;
  // B itself scatters more from field to field (it grows with each field's variance^(3/2)).
  EXPECT_GT(judgement(report, "bispectrum").baseline_test, 3.0);
  // Log-normal fields have a positive bispectrum: Q_3 > 0 in every equilateral configuration.
  const auto& reduced = statistic(report, "reduced_bispectrum");
  for (std::size_t c = 0; c < reduced.components(); ++c)
    if (reduced.index_rows[c][0] == "equilateral")
      EXPECT_GT(reduced.sets.at(SetRole::test).mean[c], 0.0) << c;
  // The Gaussian closed forms of the Minkowski functionals are reported with the thresholds.
  ASSERT_EQ(report.gaussian_minkowski.size(), 3u);
  EXPECT_EQ(report.gaussian_minkowski[0].size(), 25u);
  EXPECT_GT(report.gaussian_sigma1 / report.gaussian_sigma0, 0.0);
}

TEST_F(FieldComparison, UnitsOfHeightsAndIncrementsComeFromTheTrainingSet) {
  const StatsReport report = compare("same.h5", World::comm());
  const Matrix train = lognormal_fields(1, 48, 32, 0.5);
  double sum = 0.0;
  for (double v : train.values()) sum += v;
  const double mean = sum / static_cast<double>(train.values().size());
  double squares = 0.0;
  for (double v : train.values()) squares += (v - mean) * (v - mean);
  EXPECT_NEAR(report.field_mean, mean, 1e-12 * mean);
  EXPECT_NEAR(report.field_std, std::sqrt(squares / static_cast<double>(train.values().size())),
              1e-10 * report.field_std);
  // RMS increments pooled over fields, axes and points at the default separations 1, 2, 8.
  ASSERT_EQ(report.options.increment_separations, (std::vector<std::size_t>{1, 2, 8}));
  for (std::size_t s = 0; s < 3; ++s) {
    const std::size_t r = report.options.increment_separations[s];
    double sum2 = 0.0;
    for (std::size_t f = 0; f < train.rows(); ++f)
      for (std::size_t i = 0; i < 32; ++i)
        for (std::size_t j = 0; j < 32; ++j) {
          const double v = train(f, i * 32 + j);
          sum2 += std::pow(train(f, ((i + r) % 32) * 32 + j) - v, 2) +
                  std::pow(train(f, i * 32 + (j + r) % 32) - v, 2);
        }
    const double expected = std::sqrt(sum2 / (2.0 * 32 * 32 * 48));
    EXPECT_NEAR(report.increment_std[s], expected, 1e-10 * expected) << "r = " << r;
  }
  // Thresholds and heights in those units: the middle Minkowski threshold is the training mean,
  // so the training volume fraction there is the fraction of training values at or above it.
  const auto& v0 = statistic(report, "minkowski_V0");
  ASSERT_EQ(v0.index_rows[12][1], "0");
  double above = 0.0;
  for (double v : train.values()) above += v >= report.field_mean ? 1.0 : 0.0;
  EXPECT_NEAR(v0.sets.at(SetRole::train).mean[12],
              above / static_cast<double>(train.values().size()), 1e-12);
}

TEST_F(FieldComparison, PdfBinsSpanTrainAndTestAndCountEveryValue) {
  StatsOptions options;
  options.pdf_bins = 10;
  const StatsReport report = compare("other.h5", World::comm(), options);
  const auto& pdf = statistic(report, "pdf");
  ASSERT_EQ(pdf.components(), 12u);
  for (const auto& [role, summary] : pdf.sets) {
    double total = 0.0;
    for (double f : summary.mean) total += f;
    EXPECT_NEAR(total, 1.0, 1e-12) << to_string(role);
  }
  // Train and test lie inside the range; the broader generated fields spill into the outer bins.
  for (SetRole role : {SetRole::train, SetRole::test}) {
    EXPECT_EQ(pdf.sets.at(role).mean.front(), 0.0);
    EXPECT_EQ(pdf.sets.at(role).mean.back(), 0.0);
  }
  EXPECT_GT(pdf.sets.at(SetRole::gen).mean.back(), 0.0);
  EXPECT_LT(report.options.pdf_min, report.options.pdf_max);
}

TEST_F(FieldComparison, ConstantFieldIsNamedInTheError) {
  Matrix fields = lognormal_fields(5, 4, 32, 0.5);
  for (std::size_t q = 0; q < fields.cols(); ++q) fields(2, q) = 1.0;
  write_set(path("constant.h5"), ItemShape::grid({32, 32}), fields, 8.0);
  try {
    compare("constant.h5", World::comm());
    FAIL() << "a constant field was accepted";
  } catch (const ksi::Error& e) {
    EXPECT_EQ(e.code(), ksi::ExitCode::input);
    EXPECT_NE(std::string(e.what()).find("constant.h5: item 2"), std::string::npos) << e.what();
  }
}

TEST_F(FieldComparison, RejectsMismatchedShapesSmallGridsAndBadOptions) {
  const auto& comm = World::comm();
  write_set(path("small.h5"), ItemShape::grid({16, 16}), lognormal_fields(6, 3, 16, 0.5));
  try {
    Comparison({path("train.h5"), path("test.h5"), path("small.h5"), ""}, {}, nullptr, comm);
    FAIL() << "mismatched shapes were accepted";
  } catch (const ksi::InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("train.h5 holds 32 x 32 grid"), std::string::npos) << message;
    EXPECT_NE(message.find("small.h5 holds 16 x 16 grid"), std::string::npos) << message;
  }
  write_set(path("tiny.h5"), ItemShape::grid({3, 3}), lognormal_fields(7, 3, 3, 0.5));
  EXPECT_THROW(
      Comparison({path("tiny.h5"), path("tiny.h5"), path("tiny.h5"), ""}, {}, nullptr, comm),
      ksi::InputError);
  write_set(path("single.h5"), ItemShape::grid({32, 32}), lognormal_fields(8, 1, 32, 0.5));
  EXPECT_THROW(
      Comparison({path("train.h5"), path("single.h5"), path("same.h5"), ""}, {}, nullptr, comm),
      ksi::InputError);
  const auto expect_usage_error = [&](const StatsOptions& options, const char* what) {
    EXPECT_THROW(Comparison({path("train.h5"), path("test.h5"), path("same.h5"), ""}, options,
                            nullptr, comm),
                 ksi::UsageError)
        << what;
  };
  StatsOptions options;
  options.kmax = 17;  // beyond the complete shells of 32 x 32
  expect_usage_error(options, "kmax");
  options = {};
  options.bispectrum_kmax = 11;  // 11.5 > 32 / 3: aliased triangles
  expect_usage_error(options, "bispectrum kmax");
  options = {};
  options.bispectrum_kmax = 4;
  options.bispectrum_bins = 5;  // bins narrower than one unit of k
  expect_usage_error(options, "bispectrum bins");
  options = {};
  options.peak_min = 2.0;
  options.peak_max = 1.0;
  expect_usage_error(options, "peak range");
  options = {};
  options.minkowski_thresholds = 0;
  expect_usage_error(options, "Minkowski thresholds");
  options = {};
  options.increment_separations = {1, 17};
  expect_usage_error(options, "increment separation");
  options = {};
  options.increment_separations = {4, 4};
  expect_usage_error(options, "repeated increment separation");
  options = {};
  options.increment_range = 0.0;
  expect_usage_error(options, "increment range");
  EXPECT_THROW(
      Comparison({path("train.h5"), path("test.h5"), path("missing.h5"), ""}, {}, nullptr, comm),
      ksi::Error);
}

TEST_F(FieldComparison, ReportFilesHoldEveryStatisticAndRefuseToOverwrite) {
  const auto& comm = World::comm();
  Comparison comparison({path("train.h5"), path("test.h5"), path("same.h5"), ""}, {}, nullptr,
                        comm);
  const auto tables = comparison.tables();
  const std::vector<std::string> expected{"power_spectrum",      "pdf",          "moments",
                                          "structure_functions", "bispectrum",   "peaks",
                                          "minkowski",           "increment_pdf"};
  EXPECT_EQ(tables, expected);
  const auto files = ksi::stats::report_files("", path("report"), tables);
  const std::vector<std::string> inputs{path("train.h5"), path("test.h5"), path("same.h5")};
  ksi::stats::check_report_files(files, false, inputs, comm);
  const StatsReport report = comparison.run();
  ksi::stats::write_report_files(report, files, false, comm);
  comm.barrier();
  for (const auto& file : files.all()) EXPECT_TRUE(std::filesystem::exists(file)) << file;
  // One CSV row per component and set columns for all four sets.
  std::ifstream csv(files.tables.at("power_spectrum"));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_NE(header.find("baseline_mean,baseline_std"), std::string::npos) << header;
  std::size_t rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, statistic(report, "power_spectrum").components() +
                      statistic(report, "log_power_spectrum").components());
  std::ifstream q(files.tables.at("q"));
  rows = 0;
  while (std::getline(q, line)) ++rows;
  EXPECT_EQ(rows, report.judgements.size() + 1);
  std::stringstream json;
  json << std::ifstream(files.json).rdbuf();
  EXPECT_NE(json.str().find("\"statistic\": \"log_power_spectrum\""), std::string::npos);
  try {
    ksi::stats::check_report_files(files, false, inputs, comm);
    FAIL() << "an existing report was not refused";
  } catch (const ksi::Error& e) {
    EXPECT_EQ(e.code(), ksi::ExitCode::io);
  }
  EXPECT_NO_THROW(ksi::stats::check_report_files(files, true, inputs, comm));
  // An output that is an input is refused even with force.
  auto bad = files;
  bad.json = path("train.h5");
  EXPECT_THROW(ksi::stats::check_report_files(bad, true, inputs, comm), ksi::Error);
  EXPECT_THROW(ksi::stats::report_files(path("a"), path("b"), {}), ksi::UsageError);
}

// Series get increment PDFs at three lags and none of the 2D/3D families; volumes get all, with
// the 3D Euler characteristic, the same bits on any number of ranks.
TEST(FieldFamilies, SeriesGetIncrementsAndVolumesEveryFamily) {
  ksi::test::ScratchDir scratch("stats-families");
  const auto& comm = World::comm();
  const auto draw = [](std::uint64_t seed, std::size_t count, std::size_t size) {
    Matrix X(count, size);
    for (std::size_t i = 0; i < count; ++i) {
      RandomStream stream(seed, StreamPurpose::test, i);
      stream.fill_normal(X.row(i));
      double walk = 0.0;  // a random walk with a periodic drift removed: a rough series
      for (double& v : X.row(i)) v = walk += v;
      const double drift = walk / static_cast<double>(size);
      for (std::size_t q = 0; q < size; ++q) X(i, q) -= drift * static_cast<double>(q + 1);
    }
    return X;
  };
  const auto series = ItemShape::grid({512});
  for (const auto& [name, seed] : {std::pair{"train", 1}, {"test", 2}, {"gen", 3}})
    write_set(scratch.path(std::string("s_") + name + ".h5"), series, draw(seed, 7, 512));
  Comparison on_series(
      {scratch.path("s_train.h5"), scratch.path("s_test.h5"), scratch.path("s_gen.h5"), ""}, {},
      nullptr, comm);
  const auto tables = on_series.tables();
  EXPECT_EQ(std::count(tables.begin(), tables.end(), "increment_pdf"), 1);
  for (const char* absent : {"bispectrum", "peaks", "minkowski"})
    EXPECT_EQ(std::count(tables.begin(), tables.end(), absent), 0) << absent;
  const StatsReport report = on_series.run();
  EXPECT_EQ(report.options.increment_separations, (std::vector<std::size_t>{1, 32, 128}));
  EXPECT_FALSE(report.options.bispectrum || report.options.peaks || report.options.minkowski);
  EXPECT_NO_THROW(judgement(report, "increment_pdf_r128"));

  const auto volume = ItemShape::grid({16, 16, 16});
  for (const auto& [name, seed] : {std::pair{"train", 4}, {"test", 5}, {"gen", 6}})
    write_set(scratch.path(std::string("v_") + name + ".h5"), volume,
              ksi::test::isotropic_gaussian_fields({16, 16, 16}, seed, 0, 5,
                                                   [](std::size_t k) { return 1.0 / (1.0 + k); }));
  const StatsInputs inputs{scratch.path("v_train.h5"), scratch.path("v_test.h5"),
                           scratch.path("v_gen.h5"), ""};
  const StatsReport parallel = Comparison(inputs, {}, nullptr, comm).run();
  const StatsReport serial = Comparison(inputs, {}, nullptr, ksi::par::Comm::self()).run();
  EXPECT_EQ(parallel.options.bispectrum_kmax, 4u);  // 4.5 <= 16 / 3
  EXPECT_EQ(parallel.options.bispectrum_bins, 4u);
  EXPECT_EQ(statistic(parallel, "minkowski_V3").components(), 25u);
  expect_same_bits(parallel, serial);
}

// Vectors: every statistic against a naive computation over the gathered items.
class VectorComparison : public testing::Test {
 protected:
  void SetUp() override {
    const auto mixture = ksi::synth::make_mixture(3, 4, 3.0, 0.7, 7);
    train_ = ksi::synth::draw_mixture(mixture, 1, 0, 40);
    test_ = ksi::synth::draw_mixture(mixture, 2, 0, 30);
    gen_ = ksi::synth::draw_mixture(mixture, 3, 0, 50);
    for (auto& v : gen_.values()) v *= 1.1;
    const auto shape = ItemShape::vector(3);
    write_set(scratch_.path("train.h5"), shape, train_);
    write_set(scratch_.path("test.h5"), shape, test_);
    write_set(scratch_.path("gen.h5"), shape, gen_);
    inputs_ = {scratch_.path("train.h5"), scratch_.path("test.h5"), scratch_.path("gen.h5"), ""};
  }
  ksi::test::ScratchDir scratch_{"stats-vectors"};
  Matrix train_, test_, gen_;
  StatsInputs inputs_;
};

TEST_F(VectorComparison, StatisticsMatchNaiveSums) {
  StatsOptions options;
  options.pdf_bins = 6;
  options.energy_items = 25;
  Comparison comparison(inputs_, options, nullptr, World::comm());
  const StatsReport report = comparison.run();
  const auto test_mean = ksi::test::mean_of(test_);
  const auto gen_mean = ksi::test::mean_of(gen_);
  const auto& mean = statistic(report, "mean").sets.at(SetRole::gen);
  const auto& covariance = statistic(report, "covariance").sets.at(SetRole::gen);
  const auto& marginal = statistic(report, "marginal_pdf").sets.at(SetRole::gen);
  ASSERT_EQ(marginal.mean.size(), 3u * 8u);
  std::size_t q = 0;
  for (std::size_t a = 0; a < 3; ++a) {
    EXPECT_NEAR(mean.mean[a], gen_mean[a], 1e-12);
    for (std::size_t b = a; b < 3; ++b, ++q) {
      double second = 0.0;
      for (std::size_t i = 0; i < gen_.rows(); ++i)
        second += (gen_(i, a) - test_mean[a]) * (gen_(i, b) - test_mean[b]);
      EXPECT_NEAR(covariance.mean[q], second / gen_.rows(), 1e-12);
    }
    // Bins span the train and test values of this coordinate.
    double lo = 1e300, hi = -1e300;
    for (const Matrix* set : {&train_, &test_})
      for (std::size_t i = 0; i < set->rows(); ++i)
        lo = std::min(lo, (*set)(i, a)), hi = std::max(hi, (*set)(i, a));
    const ksi::stats::HistogramBins bins(lo, hi, 6);
    std::vector<double> counts(8, 0.0);
    for (std::size_t i = 0; i < gen_.rows(); ++i)
      counts[bins.index(gen_(i, a))] += 1.0 / gen_.rows();
    for (std::size_t b = 0; b < 8; ++b) EXPECT_NEAR(marginal.mean[a * 8 + b], counts[b], 1e-12);
  }
  const auto first = [](const Matrix& X, std::size_t n) {
    Matrix out(n, X.cols());
    std::copy(X.data(), X.data() + n * X.cols(), out.data());
    return out;
  };
  const auto& energy = judgement(report, "energy_distance");
  EXPECT_NEAR(energy.train_test, ksi::test::energy_distance(first(train_, 25), first(test_, 25)),
              1e-12);
  EXPECT_NEAR(energy.gen_test, ksi::test::energy_distance(first(gen_, 25), first(test_, 25)),
              1e-12);
  // The baseline is N(train mean, train covariance): its mean is the training mean within errors.
  const auto& baseline = statistic(report, "mean").sets.at(SetRole::baseline);
  const auto& train = statistic(report, "mean").sets.at(SetRole::train);
  EXPECT_EQ(baseline.count, 50u);
  for (std::size_t a = 0; a < 3; ++a)
    EXPECT_NEAR(baseline.mean[a], train.mean[a], 5.0 * train.stddev[a] / std::sqrt(50.0));
  EXPECT_TRUE(std::isfinite(energy.baseline_test));
}

TEST_F(VectorComparison, SameNumbersOnAnyNumberOfRanks) {
  StatsOptions options;
  options.energy_items = 25;
  const StatsReport parallel = Comparison(inputs_, options, nullptr, World::comm()).run();
  const StatsReport serial = Comparison(inputs_, options, nullptr, ksi::par::Comm::self()).run();
  expect_same_bits(parallel, serial);  // with the energy distance's judgement
}

TEST_F(VectorComparison, FeatureCoefficientsOfTheModelInStandardisedUnits) {
  const auto shape = ItemShape::vector(3);
  ksi::Standardization st;
  st.mode = "scalar";
  st.mean = 0.5;
  st.scale = 2.0;
  auto features = std::make_unique<ksi::features::PolynomialFeatures>(shape);
  const std::size_t P = features->size();
  const ksi::Model model(std::move(features), ksi::make_schedule("linear"), shape, st, {0.0, 1.0},
                         Matrix(2, P));
  Comparison comparison(inputs_, {}, &model, World::comm());
  EXPECT_EQ(comparison.tables().back(), "features");
  const StatsReport report = comparison.run();
  const auto& coefficients = statistic(report, "features");
  ASSERT_EQ(coefficients.components(), P);
  EXPECT_EQ(coefficients.index_rows[6][1], "x1*x1");
  std::vector<double> expected(P, 0.0), phi(P), x(3);
  for (std::size_t i = 0; i < gen_.rows(); ++i) {
    for (std::size_t a = 0; a < 3; ++a) x[a] = (gen_(i, a) - 0.5) / 2.0;
    model.features().evaluate(x, phi);
    for (std::size_t p = 0; p < P; ++p) expected[p] += phi[p] / gen_.rows();
  }
  for (std::size_t p = 0; p < P; ++p)
    EXPECT_NEAR(coefficients.sets.at(SetRole::gen).mean[p], expected[p], 1e-12) << p;
  EXPECT_TRUE(std::isfinite(judgement(report, "features").q_gen()));

  const auto other_shape = ItemShape::vector(4);
  auto wrong = std::make_unique<ksi::features::PolynomialFeatures>(other_shape);
  const std::size_t Q = wrong->size();
  const ksi::Model mismatched(std::move(wrong), ksi::make_schedule("linear"), other_shape, st,
                              {0.0, 1.0}, Matrix(2, Q));
  EXPECT_THROW(Comparison(inputs_, {}, &mismatched, World::comm()), ksi::InputError);
}

TEST(FieldFeatures, FourierCoefficientsOfFields) {
  ksi::test::ScratchDir scratch("stats-field-features");
  const auto shape = ItemShape::grid({8, 8});
  const Matrix train = lognormal_fields(1, 5, 8, 0.4), test = lognormal_fields(2, 6, 8, 0.4),
               gen = lognormal_fields(3, 7, 8, 0.4);
  write_set(scratch.path("train.h5"), shape, train);
  write_set(scratch.path("test.h5"), shape, test);
  write_set(scratch.path("gen.h5"), shape, gen);
  auto features = std::make_unique<ksi::features::RandomFourierFeatures>(shape, 16, 4.0, 3);
  const ksi::Model model(std::move(features), ksi::make_schedule("linear"), shape,
                         ksi::Standardization{}, {0.0, 1.0}, Matrix(2, 16));
  Comparison comparison(
      {scratch.path("train.h5"), scratch.path("test.h5"), scratch.path("gen.h5"), ""}, {}, &model,
      World::comm());
  const StatsReport report = comparison.run();
  const auto& coefficients = statistic(report, "features").sets.at(SetRole::test);
  std::vector<double> phi(16), expected(16, 0.0);
  for (std::size_t i = 0; i < test.rows(); ++i) {
    model.features().evaluate(test.row(i), phi);
    for (std::size_t p = 0; p < 16; ++p) expected[p] += phi[p] / test.rows();
  }
  for (std::size_t p = 0; p < 16; ++p) EXPECT_NEAR(coefficients.mean[p], expected[p], 1e-12) << p;
}

}  // namespace
