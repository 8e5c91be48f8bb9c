#pragma once
/// @file
/// Statistics of 1D series of returns r_t (t = 0 .. n-1, not periodic) that finance and
/// intermittency judge and a power spectrum, a PDF or increments do not hold:
///
///   volatility clustering   rho_|r|(tau) = sum_t (a_t - a)(a_{t+tau} - a) / ((n - tau) var a),
///                           a_t = |r_t|, a and var a the series' own mean and variance;
///   leverage                L(tau) = (1/(n - tau)) sum_t r_t r_{t+tau}^2 / (mean r^2)^2,
///                           negative when falls in price raise later volatility (Bouchaud et
///                           al. 2001).
///
/// Lags are a geometric ladder 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (about two per octave) up to a
/// largest lag, so that both short and long memory weigh in a judgement without thousands of
/// components. For an MRW without leverage (r = sigma eps e^omega, Var omega = V, Cov = C(tau))
///     rho_|r|(tau) = (2/pi) e^-V (e^C(tau) - 1) / (1 - (2/pi) e^-V),
/// and with leverage L(tau) is the generator's leverage function / sigma (tests).

#include <cstddef>
#include <span>
#include <vector>

namespace ksi::stats {

/// 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... up to and including `largest` when it is on the ladder
/// (empty for largest 0).
std::vector<std::size_t> lag_ladder(std::size_t largest);

class SeriesStatistics {
 public:
  /// Lags of each statistic; every lag must be in 1 .. n - 2 (InternalError otherwise: the caller
  /// caps them).
  SeriesStatistics(std::size_t length, std::vector<std::size_t> volatility_lags,
                   std::vector<std::size_t> leverage_lags);

  const std::vector<std::size_t>& volatility_lags() const noexcept { return volatility_lags_; }
  const std::vector<std::size_t>& leverage_lags() const noexcept { return leverage_lags_; }

  /// rho_|r| at volatility_lags(); out.size() == volatility_lags().size(). A series with constant
  /// |r| has no autocorrelation: InputError.
  void volatility_clustering(std::span<const double> r, std::span<double> out) const;
  /// L at leverage_lags(); out.size() == leverage_lags().size(). InputError for a zero series.
  void leverage(std::span<const double> r, std::span<double> out) const;

 private:
  std::size_t length_;
  std::vector<std::size_t> volatility_lags_, leverage_lags_;
  mutable std::vector<double> work_;
};

}  // namespace ksi::stats
