#include "stats/item_statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi::stats {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return sformat("%.10g", v);
}

// ln of a non-negative statistic; an exact zero is floored at the smallest positive double.
double floored_log(double v) {
  return std::log(std::max(v, std::numeric_limits<double>::min()));
}

Statistic make(std::string name, std::string label, std::string table, bool judged,
               std::vector<std::string> index_columns) {
  Statistic s;
  s.name = std::move(name);
  s.label = std::move(label);
  s.table = std::move(table);
  s.judged = judged;
  s.index_columns = std::move(index_columns);
  return s;
}

}  // namespace

ItemStatistics::ItemStatistics(const ItemShape& shape, double box_size, const StatsOptions& options,
                               const Model* model)
    : shape_(shape),
      options_(options),
      model_(model),
      channels_(shape.is_grid() ? 1 : shape.size()) {
  if (shape.is_grid()) {
    spectrum_.emplace(shape.dims(), box_size);
    const std::size_t n0 = shape.dims().front();
    {
      Statistic power = make("power_spectrum", "P(k)", "power_spectrum", false,
                             {"shell", "k", "k_physical", "modes", "complete"});
      Statistic log_power =
          make("log_power_spectrum", "P(k)", "power_spectrum", true, power.index_columns);
      for (std::size_t b = 1; b < spectrum_->shells(); ++b) {
        const double k = spectrum_->shell_wavenumber()[b];
        std::vector<std::string> row{
            std::to_string(b), number(k), number(k * spectrum_->fundamental()),
            number(spectrum_->shell_modes()[b]), b <= spectrum_->complete_shells() ? "1" : "0"};
        if (b <= options_.kmax) log_power.index_rows.push_back(row);
        power.index_rows.push_back(std::move(row));
      }
      power_ = add(std::move(power));
      log_power_ = add(std::move(log_power));
    }
    // Rows filled by set_reference, when the range is known.
    pdf_ = add(make("pdf", "PDF", "pdf", true, {"bin_lower", "bin_upper", "width"}));
    mean_ = add(make("mean", "mean", "moments", false, {}));
    variance_ = add(make("variance", "variance", "moments", false, {}));
    skewness_ = add(make("skewness", "skewness", "moments", true, {}));
    kurtosis_ = add(make("kurtosis", "kurtosis", "moments", true, {}));
    for (int s : {mean_, variance_, skewness_, kurtosis_}) statistics_[s].index_rows.push_back({});
    if (options_.structure_functions) {
      structure_.emplace(shape.dims(), options_.max_separation);
      for (int p = StructureFunctions::kMinOrder; p <= StructureFunctions::kMaxOrder; ++p) {
        Statistic sf = make(cat("S_", p), cat("S_", p, "(r)"), "structure_functions", true,
                            {"order", "r", "r_physical"});
        for (std::size_t r = 1; r <= structure_->separations(); ++r)
          sf.index_rows.push_back(
              {std::to_string(p), std::to_string(r),
               number(static_cast<double>(r) * box_size / static_cast<double>(n0))});
        const int index = add(std::move(sf));
        if (first_structure_ < 0) first_structure_ = index;
      }
      structure_values_.resize(structure_->size());
    }
    shell_power_.resize(spectrum_->shells());
    add_field_families(box_size);
  } else {
    const std::size_t d = shape.size();
    Statistic mean = make("mean", "mean", "mean", true, {"dimension"});
    for (std::size_t a = 0; a < d; ++a) mean.index_rows.push_back({std::to_string(a)});
    vector_mean_ = add(std::move(mean));
    Statistic covariance = make("covariance", "covariance", "covariance", true, {"i", "j"});
    for (std::size_t a = 0; a < d; ++a)
      for (std::size_t b = a; b < d; ++b)
        covariance.index_rows.push_back({std::to_string(a), std::to_string(b)});
    covariance_ = add(std::move(covariance));
    marginal_ = add(make("marginal_pdf", "marginal PDF", "marginal_pdf", true,
                         {"dimension", "bin_lower", "bin_upper", "width"}));
  }
  if (model_) {
    Statistic features = make("features", "features", "features", true, {"feature", "name"});
    const auto names = model_->features().feature_names();
    for (std::size_t p = 0; p < model_->features().size(); ++p)
      features.index_rows.push_back({std::to_string(p), p < names.size() ? names[p] : ""});
    features_ = add(std::move(features));
    standardized_ = Matrix(1, shape.size());
  }
}

void ItemStatistics::add_field_families(double box_size) {
  const auto& dims = shape_.dims();
  const std::size_t n0 = dims.front();
  if (options_.bispectrum) {
    bispectrum_.emplace(dims, box_size, options_.bispectrum_bins, options_.bispectrum_kmax);
    Statistic b = make("bispectrum", "B(k1,k2,k3)", "bispectrum", true,
                       {"configuration", "k1", "k2", "k3", "k_physical", "triangles"});
    const auto& k = bispectrum_->bin_wavenumber();
    for (const auto& c : bispectrum_->configurations())
      b.index_rows.push_back(
          {to_string(c.shape), number(k[c.bins[0]]), number(k[c.bins[1]]), number(k[c.bins[2]]),
           number(k[c.bins[2]] * bispectrum_->fundamental()), number(c.triangles)});
    Statistic q = b;
    q.name = "reduced_bispectrum";
    q.label = "Q_3";
    bispectrum_value_ = add(std::move(b));
    reduced_bispectrum_ = add(std::move(q));
  }
  if (options_.peaks) {
    peaks_.emplace(dims, box_size,
                   HistogramBins(options_.peak_min, options_.peak_max, options_.peak_bins));
    Statistic maxima = make("peak_counts", "peaks (maxima)", "peaks", true,
                            {"kind", "nu_lower", "nu_upper", "width"});
    Statistic minima =
        make("minimum_counts", "peaks (minima)", "peaks", true, maxima.index_columns);
    const auto& heights = peaks_->heights();
    for (std::size_t b = 0; b < heights.size(); ++b) {
      const double below = heights.edge_below(b), above = heights.edge_above(b);
      maxima.index_rows.push_back({"maxima", number(below), number(above), number(above - below)});
      minima.index_rows.push_back({"minima", number(below), number(above), number(above - below)});
    }
    maxima_ = add(std::move(maxima));
    minima_ = add(std::move(minima));
  }
  if (options_.minkowski) {
    minkowski_.emplace(dims, box_size, minkowski_thresholds(options_));
    for (std::size_t j = 0; j < minkowski_->functionals(); ++j) {
      Statistic v = make(cat("minkowski_V", j), cat("V_", j, "(nu)"), "minkowski", true,
                         {"functional", "nu"});
      for (double nu : minkowski_->thresholds()) v.index_rows.push_back({cat("V_", j), number(nu)});
      const int index = add(std::move(v));
      if (first_minkowski_ < 0) first_minkowski_ = index;
    }
    minkowski_values_.resize(minkowski_->size());
  }
  if (options_.increments) {
    const HistogramBins bins(-options_.increment_range, options_.increment_range,
                             options_.increment_bins);
    increments_.emplace(dims, options_.increment_separations, bins);
    for (std::size_t r : increments_->separations()) {
      Statistic pdf = make(cat("increment_pdf_r", r), cat("incr. PDF r=", r), "increment_pdf", true,
                           {"r", "r_physical", "bin_lower", "bin_upper", "width"});
      const std::string physical =
          number(static_cast<double>(r) * box_size / static_cast<double>(n0));
      for (std::size_t b = 0; b < bins.size(); ++b) {
        const double below = bins.edge_below(b), above = bins.edge_above(b);
        pdf.index_rows.push_back(
            {std::to_string(r), physical, number(below), number(above), number(above - below)});
      }
      const int index = add(std::move(pdf));
      if (first_increment_ < 0) first_increment_ = index;
    }
    increment_values_.resize(increments_->size());
  }
  if (options_.series) {
    series_.emplace(n0, lag_ladder(options_.volatility_max_lag),
                    lag_ladder(options_.leverage_max_lag));
    const auto ladder = [&](Statistic statistic, const std::vector<std::size_t>& lags) {
      for (std::size_t tau : lags)
        statistic.index_rows.push_back(
            {std::to_string(tau),
             number(static_cast<double>(tau) * box_size / static_cast<double>(n0))});
      return add(std::move(statistic));
    };
    if (!series_->volatility_lags().empty())
      volatility_ =
          ladder(make("volatility_clustering", "ACF |r|", "series", true, {"lag", "lag_physical"}),
                 series_->volatility_lags());
    if (!series_->leverage_lags().empty())
      leverage_ = ladder(make("leverage", "leverage", "series", true, {"lag", "lag_physical"}),
                         series_->leverage_lags());
  }
}

std::vector<std::size_t> ItemStatistics::increment_separations() const {
  return increments_ ? increments_->separations() : std::vector<std::size_t>{};
}

void ItemStatistics::increment_mean_squares(std::span<const double> item,
                                            std::span<double> out) const {
  ensure(increments_.has_value(), "increment mean squares without increment PDFs");
  increments_->mean_squares(item, out);
}

int ItemStatistics::add(Statistic statistic) {
  statistics_.push_back(std::move(statistic));
  return static_cast<int>(statistics_.size()) - 1;
}

int ItemStatistics::find(const std::string& name) const {
  for (std::size_t s = 0; s < statistics_.size(); ++s)
    if (statistics_[s].name == name) return static_cast<int>(s);
  return -1;
}

void ItemStatistics::set_reference(Reference reference) {
  ensure(reference.lower.size() == channels_ && reference.upper.size() == channels_,
         "PDF ranges per channel");
  ensure(!increments_ || reference.increment_scales.size() == increments_->separations().size(),
         "increment scales per separation");
  bins_.clear();
  for (std::size_t c = 0; c < channels_; ++c) {
    double lo = reference.lower[c], hi = reference.upper[c];
    if (!(hi > lo)) {  // constant values: a unit-wide range around them
      lo -= 0.5;
      hi += 0.5;
    }
    bins_.emplace_back(lo, hi, options_.pdf_bins);
  }
  reference_ = std::move(reference);
  const int target = shape_.is_grid() ? pdf_ : marginal_;
  auto& rows = statistics_[static_cast<std::size_t>(target)].index_rows;
  rows.clear();
  for (std::size_t c = 0; c < channels_; ++c)
    for (std::size_t b = 0; b < bins_[c].size(); ++b) {
      const double below = bins_[c].edge_below(b), above = bins_[c].edge_above(b);
      std::vector<std::string> row{number(below), number(above), number(above - below)};
      if (!shape_.is_grid()) row.insert(row.begin(), std::to_string(c));
      rows.push_back(std::move(row));
    }
}

void ItemStatistics::evaluate(std::span<const double> item,
                              std::vector<std::vector<double>>& values) const {
  ensure(!bins_.empty(), "statistics evaluated before set_reference");
  values.resize(statistics_.size());
  for (std::size_t s = 0; s < statistics_.size(); ++s)
    values[s].resize(statistics_[s].components());
  if (shape_.is_grid())
    evaluate_field(item, values);
  else
    evaluate_vector(item, values);
  if (features_ >= 0) {
    std::copy(item.begin(), item.end(), standardized_.row(0).begin());
    model_->standardization().to_model(standardized_, model_->shape());
    model_->features().evaluate(standardized_.row(0), values[static_cast<std::size_t>(features_)]);
  }
}

void ItemStatistics::evaluate_field(std::span<const double> item,
                                    std::vector<std::vector<double>>& values) const {
  const auto at = [&](int s) -> std::vector<double>& {
    return values[static_cast<std::size_t>(s)];
  };
  const OnePointMoments m = one_point_moments(item);
  if (!(m.variance > 0.0))
    throw InputError(
        "the field is constant (zero variance): its skewness and kurtosis are undefined");
  at(mean_)[0] = m.mean;
  at(variance_)[0] = m.variance;
  at(skewness_)[0] = m.skewness;
  at(kurtosis_)[0] = m.kurtosis;
  spectrum_->measure(item, shell_power_);
  std::copy(shell_power_.begin() + 1, shell_power_.end(), at(power_).begin());
  auto& log_power = at(log_power_);
  for (std::size_t b = 0; b < log_power.size(); ++b)
    log_power[b] = floored_log(shell_power_[b + 1]);
  bins_[0].fractions(item, at(pdf_));
  if (structure_) {
    structure_->measure(item, structure_values_);
    const std::size_t R = structure_->separations();
    for (std::size_t p = 0; p < structure_->orders(); ++p) {
      auto& out = at(first_structure_ + static_cast<int>(p));
      for (std::size_t r = 0; r < R; ++r) out[r] = floored_log(structure_values_[p * R + r]);
    }
  }
  if (bispectrum_) bispectrum_->measure(item, at(bispectrum_value_), at(reduced_bispectrum_));
  const double origin = reference_.field_mean, unit = reference_.field_scale;
  if (peaks_) peaks_->measure(item, origin, unit, at(maxima_), at(minima_));
  if (minkowski_) {
    minkowski_->measure(item, origin, unit, minkowski_values_);
    const std::size_t T = minkowski_->thresholds().size();
    for (std::size_t j = 0; j < minkowski_->functionals(); ++j)
      std::copy_n(minkowski_values_.begin() + static_cast<std::ptrdiff_t>(j * T), T,
                  at(first_minkowski_ + static_cast<int>(j)).begin());
  }
  if (increments_) {
    increments_->measure(item, reference_.increment_scales, increment_values_);
    const std::size_t B = increments_->bins().size();
    for (std::size_t s = 0; s < increments_->separations().size(); ++s)
      std::copy_n(increment_values_.begin() + static_cast<std::ptrdiff_t>(s * B), B,
                  at(first_increment_ + static_cast<int>(s)).begin());
  }
  if (volatility_ >= 0) series_->volatility_clustering(item, at(volatility_));
  if (leverage_ >= 0) series_->leverage(item, at(leverage_));
}

void ItemStatistics::evaluate_vector(std::span<const double> item,
                                     std::vector<std::vector<double>>& values) const {
  const std::size_t d = item.size();
  auto& mean = values[static_cast<std::size_t>(vector_mean_)];
  std::copy(item.begin(), item.end(), mean.begin());
  auto& covariance = values[static_cast<std::size_t>(covariance_)];
  std::size_t q = 0;
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = a; b < d; ++b)
      covariance[q++] = (item[a] - reference_.centre[a]) * (item[b] - reference_.centre[b]);
  auto& marginal = values[static_cast<std::size_t>(marginal_)];
  std::fill(marginal.begin(), marginal.end(), 0.0);
  const std::size_t per_channel = bins_[0].size();
  for (std::size_t a = 0; a < d; ++a) marginal[a * per_channel + bins_[a].index(item[a])] = 1.0;
}

}  // namespace ksi::stats
