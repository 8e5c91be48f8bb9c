#pragma once
/// @file
/// The comparison behind `ksi stats` (METHOD section 8): statistics of the items of a training set,
/// a held-out test set, a generated set and a Gaussian baseline, and the Q ratios
/// Q = dist(S_gen, S_test) / dist(S_train, S_test) (distances in ksi/stats/distance.hpp).
///
/// Statistics of fields (grid items), each computed per field, then summarised over the set:
///   power_spectrum       P(k) in every shell (PowerSpectrum conventions)          not judged
///   log_power_spectrum   ln P(k) in the complete shells 1 .. kmax                 "P(k)"
///   pdf                  fraction of the field's values in each bin               "PDF"
///   mean, variance       one-point moments                                        not judged
///   skewness, kurtosis   m3 / m2^(3/2), m4 / m2^2                                 judged
///   S_2 .. S_6           ln S_p(r), r = 1 .. R (StructureFunctions)               "S_p(r)"
///   bispectrum           B, equilateral and squeezed (Bispectrum; 2D, 3D)         "B(k1,k2,k3)"
///   reduced_bispectrum   Q_3 = B / (P1 P2 + P2 P3 + P3 P1) of the same            "Q_3"
///   peak_counts          local maxima per unit volume by height (PeakCounts)      "peaks (maxima)"
///   minimum_counts       local minima per unit volume by height (2D, 3D)          "peaks (minima)"
///   minkowski_V0 .. V3   Minkowski functionals against threshold                  "V_j(nu)"
///                        (MinkowskiFunctionals; 2D: V0 .. V2, 3D: V0 .. V3)
///   increment_pdf_r<r>   PDF of f(x + r e_a) - f(x) at three separations r        "incr. PDF r=r"
///                        (IncrementPdf; series: lags)
///   features             phi(x) of the model's feature map (with a model)         "features"
/// Statistics of vectors (items of shape (d)):
///   mean                 x                                                        "mean"
///   covariance           (x - c)(x - c)^T, upper triangle, c the test set's mean  "covariance"
///   marginal_pdf         bin indicator of each coordinate (marginal histograms)   "marginal PDF"
///   energy distance      of the first `energy_items` items of each set    "energy distance"
///   features             as for fields
/// Zero values are floored at the smallest positive double before a logarithm. PDF bins are
/// shared by all sets: `pdf_bins` equal bins spanning the train and test values (per coordinate
/// for vectors), plus underflow and overflow bins that catch generated values outside that range.
/// Peak heights and Minkowski thresholds are in units of the training set's standard deviation of
/// values about its mean (pooled over its fields), increments in units of the training set's RMS
/// increment at each separation: every set is binned alike. B, Q_3, peak densities, Minkowski
/// functionals and increment fractions are judged linearly.
///
/// The baseline: for fields, Gaussian random fields whose every mode has the training set's mean
/// P(k) of its shell and whose mean value is the training set's mean value; for vectors, the
/// Gaussian with the training set's mean and covariance. As many baseline items as generated ones.

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ksi/core/shape.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/stats/baseline.hpp"
#include "ksi/stats/distance.hpp"

namespace ksi::stats {

/// The sets of a comparison; `test` is the reference every other set is compared with.
enum class SetRole { train, test, gen, baseline };
inline constexpr std::array<SetRole, 4> kSetRoles{SetRole::train, SetRole::test, SetRole::gen,
                                                  SetRole::baseline};
/// "train", "test", "gen", "baseline".
const char* to_string(SetRole role);

struct StatsOptions {
  std::size_t pdf_bins = 50;  ///< equal-width PDF bins between the range's ends
  /// PDF range; NaN: the smallest and largest value of the train and test sets.
  double pdf_min = std::numeric_limits<double>::quiet_NaN();
  double pdf_max = std::numeric_limits<double>::quiet_NaN();
  std::size_t kmax = 0;             ///< largest judged P(k) shell; 0: floor(min n / 2)
  bool structure_functions = true;  ///< compute S_p(r) for fields
  std::size_t max_separation = 0;   ///< largest r of S_p(r) in grid points; 0: floor(min n / 2)
  bool baseline = true;             ///< draw and judge the Gaussian baseline
  std::size_t baseline_count = 0;   ///< baseline items; 0: as many as generated items
  std::uint64_t baseline_seed = 1;  ///< key of the baseline streams (seed, baseline, item)
  std::size_t energy_items = 2000;  ///< vectors: items per set entering the energy distance
  double memory_mb = 512.0;         ///< per-rank budget for the items held at once
  /// 2D, 3D fields: B and Q_3 of equilateral and squeezed triangles.
  bool bispectrum = true;
  /// Equal-width |k| bins of the bispectrum; 0: min(8, bispectrum_kmax).
  std::size_t bispectrum_bins = 0;
  /// Top of the bispectrum bins, |k| < kmax + 1/2 in units of 2 pi / L; 0: floor(min n / 3 - 1/2),
  /// the largest free of aliased triangles (no bispectrum on grids where that is 0).
  std::size_t bispectrum_kmax = 0;
  bool peaks = true;           ///< 2D, 3D fields: local maxima and minima by height
  std::size_t peak_bins = 16;  ///< equal-width height bins, plus underflow and overflow
  double peak_min = -4.0;      ///< height range in training standard deviations
  double peak_max = 4.0;
  bool minkowski = true;                  ///< 2D, 3D fields: Minkowski functionals
  std::size_t minkowski_thresholds = 25;  ///< equally spaced thresholds from min to max
  double minkowski_min = -3.0;            ///< thresholds in training standard deviations
  double minkowski_max = 3.0;
  bool increments = true;  ///< increment PDFs (fields and series)
  /// Separations (lags) in grid points; empty: 1, max(2, n/16), n/4 with n the smallest axis,
  /// repeats dropped.
  std::vector<std::size_t> increment_separations;
  std::size_t increment_bins = 40;  ///< equal-width bins, plus underflow and overflow
  double increment_range = 8.0;     ///< bins span +- this many training RMS increments
  /// 1D series: volatility clustering (autocorrelation of |r|) and leverage (ksi/stats/series.hpp)
  /// at lags 1, 2, 3, 4, 6, 8, ... up to these largest lags, each capped at n / 4.
  bool series = true;
  std::size_t volatility_max_lag = 256;
  std::size_t leverage_max_lag = 64;
};

/// Minkowski thresholds from the options: minkowski_thresholds equally spaced values.
std::vector<double> minkowski_thresholds(const StatsOptions& options);

/// Paths of the sets; `model` may be empty (no feature-map statistics).
struct StatsInputs {
  std::string train;
  std::string test;
  std::string gen;
  std::string model;
};

/// One statistic: what its components are and, per set, their mean and spread over items.
struct Statistic {
  std::string name;    ///< "log_power_spectrum", "pdf", "skewness", "S_3", "features", ...
  std::string label;   ///< for tables and plots: "P(k)", "PDF", "S_3(r)", ...
  std::string table;   ///< CSV table holding it: "power_spectrum", "pdf", "moments", ...
  bool judged = true;  ///< has distances and Q ratios
  std::vector<std::string> index_columns;            ///< what identifies a component: {"k", ...}
  std::vector<std::vector<std::string>> index_rows;  ///< one row of index values per component
  std::map<SetRole, SetSummary> sets;
  std::size_t components() const noexcept { return index_rows.size(); }
};

/// Distances of one judged statistic to the test set, and its Q ratios.
struct Judgement {
  std::string name;
  std::string label;
  std::size_t components = 0;
  double train_test = std::numeric_limits<double>::quiet_NaN();
  double gen_test = std::numeric_limits<double>::quiet_NaN();
  double baseline_test = std::numeric_limits<double>::quiet_NaN();  ///< NaN without a baseline
  /// spread_distance of each set to the test set (NaN where it does not apply: energy distance).
  double spread_train_test = std::numeric_limits<double>::quiet_NaN();
  double spread_gen_test = std::numeric_limits<double>::quiet_NaN();
  double spread_baseline_test = std::numeric_limits<double>::quiet_NaN();
  double q_gen() const { return quality_ratio(gen_test, train_test); }
  double q_baseline() const { return quality_ratio(baseline_test, train_test); }
  /// Q of the spread: spread(gen, test) / spread(train, test).
  double q_spread_gen() const { return quality_ratio(spread_gen_test, spread_train_test); }
  double q_spread_baseline() const {
    return quality_ratio(spread_baseline_test, spread_train_test);
  }
};

struct StatsReport {
  StatsInputs inputs;
  /// As used: kmax, max_separation, pdf range, counts, bispectrum bins and kmax, increment
  /// separations resolved; statistics that do not apply to the items switched off.
  StatsOptions options;
  ItemShape shape;
  double box_size = 1.0;  ///< from the training file
  std::map<SetRole, std::size_t> counts;
  /// Fields: the training set's mean and standard deviation of values (the unit of peak heights
  /// and Minkowski thresholds) and RMS increment per separation (the unit of increment PDFs); NaN
  /// or empty when unused.
  double field_mean = std::numeric_limits<double>::quiet_NaN();
  double field_std = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> increment_std;
  /// With Minkowski functionals: Tomita's closed forms at the thresholds for a Gaussian field with
  /// the training set's mean P(k) (sigma_0^2 = sum P / V, sigma_1^2 = sum k^2 P / V over modes),
  /// gaussian_minkowski[j][t] = V_j; thresholds nu (training units) become nu field_std / sigma_0.
  double gaussian_sigma0 = std::numeric_limits<double>::quiet_NaN();
  double gaussian_sigma1 = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<double>> gaussian_minkowski;
  std::vector<Statistic> statistics;
  std::vector<Judgement> judgements;
  /// The baseline that was judged (null when options.baseline is false).
  std::shared_ptr<const GaussianBaseline> baseline;
};

class ItemStatistics;  // per-item evaluation, defined in src/stats

/// One comparison, set up in two steps so that problems with the inputs or the outputs are found
/// before any data is read.
class Comparison {
 public:
  /// Inspects the three item files (collective): they must hold items of one shape, at least 2
  /// each; grids need at least 4 points per axis; the model, when given, must have been fitted on
  /// that shape. InputError naming the files otherwise; UsageError for unusable options.
  Comparison(StatsInputs inputs, StatsOptions options, const Model* model, const par::Comm& comm);
  ~Comparison();
  Comparison(const Comparison&) = delete;
  Comparison& operator=(const Comparison&) = delete;

  const ItemShape& shape() const noexcept { return report_.shape; }
  /// The CSV tables the report will have (Statistic::table values, in order of first use).
  std::vector<std::string> tables() const;

  /// Reads the sets, draws the baseline, computes every statistic and distance. Collective.
  StatsReport run();

 private:
  const par::Comm& comm_;
  const Model* model_;
  StatsReport report_;
  std::unique_ptr<ItemStatistics> evaluator_;
};

}  // namespace ksi::stats
