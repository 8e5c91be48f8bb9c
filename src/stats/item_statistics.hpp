#pragma once
// Evaluation of every statistic of ksi/stats/compare.hpp on one item. The statistics' names and
// tables are fixed at construction (so outputs can be checked before data is read); the PDF bins
// and the covariance centre come from a first look at the train and test sets (set_reference).
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "ksi/model/model.hpp"
#include "ksi/stats/compare.hpp"
#include "ksi/stats/one_point.hpp"
#include "ksi/stats/power_spectrum.hpp"
#include "ksi/stats/structure_functions.hpp"

namespace ksi::stats {

class ItemStatistics {
 public:
  /// `options` must already be resolved (kmax and max_separation set).
  ItemStatistics(const ItemShape& shape, double box_size, const StatsOptions& options,
                 const Model* model);

  /// Descriptors of every statistic (no set summaries), in evaluation order.
  const std::vector<Statistic>& statistics() const noexcept { return statistics_; }
  /// Independent PDF channels: 1 for fields (all values), d for vectors (one per coordinate).
  std::size_t channels() const noexcept { return channels_; }
  /// PDF ranges per channel and, for vectors, the centre of the covariance statistic.
  void set_reference(std::span<const double> lower, std::span<const double> upper,
                     std::vector<double> centre);

  /// values[s] receives statistic s of `item`; InputError for a constant field.
  void evaluate(std::span<const double> item, std::vector<std::vector<double>>& values) const;

  /// Index of a statistic by name, or -1.
  int find(const std::string& name) const;

 private:
  int add(Statistic statistic);
  void evaluate_field(std::span<const double> item, std::vector<std::vector<double>>& values) const;
  void evaluate_vector(std::span<const double> item,
                       std::vector<std::vector<double>>& values) const;

  ItemShape shape_;
  StatsOptions options_;
  const Model* model_;
  std::size_t channels_;
  std::vector<Statistic> statistics_;
  std::vector<HistogramBins> bins_;  // per channel, after set_reference
  std::vector<double> centre_;

  // Fields.
  std::optional<PowerSpectrum> spectrum_;
  std::optional<StructureFunctions> structure_;
  int power_ = -1, log_power_ = -1, pdf_ = -1, mean_ = -1, variance_ = -1, skewness_ = -1,
      kurtosis_ = -1, first_structure_ = -1;
  // Vectors.
  int vector_mean_ = -1, covariance_ = -1, marginal_ = -1;
  // Both.
  int features_ = -1;

  mutable std::vector<double> shell_power_, structure_values_;
  mutable Matrix standardized_;  // one item in model units (feature coefficients)
};

}  // namespace ksi::stats
