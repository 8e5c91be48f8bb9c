#include "ksi/stats/series.hpp"

#include <cmath>

#include "ksi/core/error.hpp"

namespace ksi::stats {

std::vector<std::size_t> lag_ladder(std::size_t largest) {
  std::vector<std::size_t> lags;
  for (std::size_t octave = 1; octave <= largest; octave *= 2) {
    lags.push_back(octave);
    const std::size_t between = octave + octave / 2;  // 3, 6, 12, ... (none between 1 and 2)
    if (octave >= 2 && between <= largest) lags.push_back(between);
  }
  return lags;
}

SeriesStatistics::SeriesStatistics(std::size_t length, std::vector<std::size_t> volatility_lags,
                                   std::vector<std::size_t> leverage_lags)
    : length_(length),
      volatility_lags_(std::move(volatility_lags)),
      leverage_lags_(std::move(leverage_lags)),
      work_(length) {
  for (const auto* lags : {&volatility_lags_, &leverage_lags_})
    for (std::size_t tau : *lags)
      ensure(tau >= 1 && tau + 2 <= length, "series lags in 1 .. n - 2");
}

void SeriesStatistics::volatility_clustering(std::span<const double> r,
                                             std::span<double> out) const {
  ensure(r.size() == length_ && out.size() == volatility_lags_.size(), "series statistic sizes");
  const std::size_t n = length_;
  double mean = 0.0;
  for (std::size_t t = 0; t < n; ++t) mean += std::abs(r[t]);
  mean /= static_cast<double>(n);
  double variance = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    work_[t] = std::abs(r[t]) - mean;
    variance += work_[t] * work_[t];
  }
  variance /= static_cast<double>(n);
  if (!(variance > 0.0))
    throw InputError("a series has constant |r|: its volatility autocorrelation is undefined");
  for (std::size_t i = 0; i < volatility_lags_.size(); ++i) {
    const std::size_t tau = volatility_lags_[i];
    double c = 0.0;
    for (std::size_t t = 0; t + tau < n; ++t) c += work_[t] * work_[t + tau];
    out[i] = c / (static_cast<double>(n - tau) * variance);
  }
}

void SeriesStatistics::leverage(std::span<const double> r, std::span<double> out) const {
  ensure(r.size() == length_ && out.size() == leverage_lags_.size(), "series statistic sizes");
  const std::size_t n = length_;
  double second = 0.0;
  for (std::size_t t = 0; t < n; ++t) second += r[t] * r[t];
  second /= static_cast<double>(n);
  if (!(second > 0.0)) throw InputError("a series is zero: its leverage is undefined");
  for (std::size_t i = 0; i < leverage_lags_.size(); ++i) {
    const std::size_t tau = leverage_lags_[i];
    double c = 0.0;
    for (std::size_t t = 0; t + tau < n; ++t) c += r[t] * r[t + tau] * r[t + tau];
    out[i] = c / (static_cast<double>(n - tau) * second * second);
  }
}

}  // namespace ksi::stats
