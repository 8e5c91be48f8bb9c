#pragma once
/// @file
/// Multifractal random walk (Bacry, Delour & Muzy 2001) log-returns for financial-style 1D series:
///     r_t = sigma eps_t exp(omega_t),   eps_t iid N(0, 1),
/// with a Gaussian log-volatility omega of covariance
///     C(tau) = lambda^2 ln(T / (|tau| + 1))  for |tau| + 1 < T,  0 beyond,
/// and mean mu = -Var(omega), so that E[r^2] = sigma^2. The process has volatility clustering (the
/// log-volatility is correlated up to the integral scale T), heavy tails (kurtosis 3 exp(4 Var
/// omega)) and multiscaling of the aggregated returns.
///
/// Optional leverage (after Pochart & Bouchaud 2002): past return shocks lower the future
/// volatility,
///     omega_t = mu + g_t - sum_{s = 1}^{R - 1} K(s) eps_{t - s},   K(s) = K0 s^-alpha,
/// g the Gaussian process above. The sum is independent of g and of eps_t, so r_t stays
/// conditionally Gaussian, omega stays Gaussian with Var = lambda^2 ln T + sum_s K(s)^2 (mu
/// adjusts), and
///     E[r_t r_{t+tau}^2] / sigma^3 = -2 K(tau) exp(2 Cov(omega_t, omega_{t+tau}) - Var(omega) / 2)
/// for 0 < tau < R, zero for tau <= 0: a negative return raises the variance of later returns.
/// Each series starts R - 1 steps into a longer simulation so that its first returns see a full
/// past.
///
/// The Gaussian process is drawn exactly by circulant embedding: C is convex and decreasing up to
/// its cutoff, hence positive definite (Polya), and so is its periodic embedding on M >= 2T points.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ksi/core/shape.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::synth {

struct MrwOptions {
  std::size_t length = 4096;       ///< returns per series
  double intermittency = 0.02;     ///< lambda^2, the intermittency coefficient
  double integral_scale = 1024;    ///< T in steps: the log-volatility decorrelates beyond T - 1
  double volatility = 0.01;        ///< sigma: standard deviation of the returns
  double leverage = 0.0;           ///< K0 >= 0; 0 turns leverage off
  double leverage_exponent = 0.5;  ///< alpha of K(s) = K0 s^-alpha
  double leverage_range = 0.0;     ///< R: K acts for 1 <= s < R; 0 means R = T
  std::uint64_t seed = 1;          ///< series i draws from the stream (seed, synth, i)
};

/// UsageError naming the first option out of range (length 16 to 2^24, T from 1 to 2^22, ...).
void validate(const MrwOptions& options);

/// Makes series of one data set; the embedding spectrum and the leverage kernel are computed once.
/// One generator serves one thread.
class MrwGenerator {
 public:
  explicit MrwGenerator(const MrwOptions& options);
  ~MrwGenerator();
  MrwGenerator(MrwGenerator&&) noexcept;
  MrwGenerator& operator=(MrwGenerator&&) noexcept;

  const MrwOptions& options() const noexcept { return options_; }
  /// A 1D grid of `length` points.
  ItemShape item_shape() const;
  /// Series `index`: returns r (length values) and, if not empty, the log-volatility omega.
  void generate(std::size_t index, std::span<double> returns,
                std::span<double> log_volatility = {});

  /// Closed forms of the process.
  /// mu = E[omega] = -Var(omega).
  double log_volatility_mean() const noexcept { return -variance_; }
  /// Cov(omega_t, omega_{t+lag}) = C(lag) + sum_s K(s) K(s + lag); also Cov(log|r_t|,
  /// log|r_{t+lag}|) for lag != 0.
  double log_volatility_covariance(long lag) const;
  /// E[r^4] / E[r^2]^2 = 3 exp(4 Var(omega)).
  double kurtosis() const;
  /// E[r_t r_{t+lag}^2] / sigma^3 (the leverage function).
  double leverage_function(long lag) const;
  /// Length M of the circulant embedding.
  std::size_t embedding_size() const noexcept { return embedding_; }

 private:
  double kernel(long s) const;
  MrwOptions options_;
  std::size_t range_;                       // R
  std::size_t burn_in_;                     // R - 1 when leverage is on, else 0
  std::size_t embedding_;                   // M
  double variance_ = 0.0;                   // Var(omega)
  std::vector<double> sqrt_eigenvalues_;    // sqrt(lambda_j / M) of the circulant
  std::vector<fft::complex> kernel_modes_;  // FFT of -K on M points (leverage only)
  fft::ComplexTransform transform_;
  std::vector<fft::complex> work_;
  std::vector<fft::complex> shocks_;
  std::vector<double> eps_;
};

}  // namespace ksi::synth
