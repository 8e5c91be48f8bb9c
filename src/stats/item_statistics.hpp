#pragma once
// Evaluation of every statistic of ksi/stats/compare.hpp on one item. The statistics' names and
// tables are fixed at construction (so outputs can be checked before data is read); the PDF bins,
// the covariance centre and the units of peak heights, Minkowski thresholds and increments come
// from a first look at the train and test sets (set_reference).
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "ksi/model/model.hpp"
#include "ksi/stats/bispectrum.hpp"
#include "ksi/stats/compare.hpp"
#include "ksi/stats/increments.hpp"
#include "ksi/stats/minkowski.hpp"
#include "ksi/stats/one_point.hpp"
#include "ksi/stats/peaks.hpp"
#include "ksi/stats/power_spectrum.hpp"
#include "ksi/stats/series.hpp"
#include "ksi/stats/structure_functions.hpp"

namespace ksi::stats {

/// What the first look at the data fixes.
struct Reference {
  std::vector<double> lower, upper;  ///< PDF range per channel
  std::vector<double> centre;        ///< vectors: the covariance statistic's centre
  double field_mean = 0.0;           ///< fields: origin and unit of peak heights and thresholds
  double field_scale = 1.0;
  std::vector<double> increment_scales;  ///< fields: unit of the increments per separation
};

class ItemStatistics {
 public:
  /// `options` must already be resolved (kmax and max_separation set).
  ItemStatistics(const ItemShape& shape, double box_size, const StatsOptions& options,
                 const Model* model);

  /// Descriptors of every statistic (no set summaries), in evaluation order.
  const std::vector<Statistic>& statistics() const noexcept { return statistics_; }
  /// Independent PDF channels: 1 for fields (all values), d for vectors (one per coordinate).
  std::size_t channels() const noexcept { return channels_; }
  /// Whether the training set's value moments and RMS increments are needed (set_reference).
  bool needs_field_reference() const noexcept { return peaks_ || minkowski_ || increments_; }
  /// The increment PDFs' separations (empty without them).
  std::vector<std::size_t> increment_separations() const;
  /// Mean squared increment of a field at each increment separation.
  void increment_mean_squares(std::span<const double> item, std::span<double> out) const;
  void set_reference(Reference reference);

  /// values[s] receives statistic s of `item`; InputError for a constant field.
  void evaluate(std::span<const double> item, std::vector<std::vector<double>>& values) const;

  /// Index of a statistic by name, or -1.
  int find(const std::string& name) const;

 private:
  int add(Statistic statistic);
  // Bispectrum, peaks, Minkowski functionals and increment PDFs, as the options ask.
  void add_field_families(double box_size);
  void evaluate_field(std::span<const double> item, std::vector<std::vector<double>>& values) const;
  void evaluate_vector(std::span<const double> item,
                       std::vector<std::vector<double>>& values) const;

  ItemShape shape_;
  StatsOptions options_;
  const Model* model_;
  std::size_t channels_;
  std::vector<Statistic> statistics_;
  std::vector<HistogramBins> bins_;  // per channel, after set_reference
  Reference reference_;

  // Fields.
  std::optional<PowerSpectrum> spectrum_;
  std::optional<StructureFunctions> structure_;
  std::optional<Bispectrum> bispectrum_;
  std::optional<PeakCounts> peaks_;
  std::optional<MinkowskiFunctionals> minkowski_;
  std::optional<IncrementPdf> increments_;
  std::optional<SeriesStatistics> series_;
  int power_ = -1, log_power_ = -1, pdf_ = -1, mean_ = -1, variance_ = -1, skewness_ = -1,
      kurtosis_ = -1, first_structure_ = -1, bispectrum_value_ = -1, reduced_bispectrum_ = -1,
      maxima_ = -1, minima_ = -1, first_minkowski_ = -1, first_increment_ = -1, volatility_ = -1,
      leverage_ = -1;
  // Vectors.
  int vector_mean_ = -1, covariance_ = -1, marginal_ = -1;
  // Both.
  int features_ = -1;

  mutable std::vector<double> shell_power_, structure_values_, minkowski_values_, increment_values_;
  mutable Matrix standardized_;  // one item in model units (feature coefficients)
};

}  // namespace ksi::stats
