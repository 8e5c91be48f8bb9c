#include "ksi/model/copula.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/model/standardization.hpp"

namespace ksi::copula {

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0))
    throw InputError(cat("normal quantile of ", p, ": the level must lie in (0, 1)"));
  // Rational approximation (Acklam, relative error 1.2e-9), then one Halley step on erfc.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double low = 0.02425;
  double z;
  if (p < low) {
    const double q = std::sqrt(-2.0 * std::log(p));
    z = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  } else if (p <= 1.0 - low) {
    const double q = p - 0.5, r = q * q;
    z = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  } else {
    const double q = std::sqrt(-2.0 * std::log1p(-p));
    z = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  const double e = normal_cdf(z) - p;
  const double u = e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * z * z);
  return z - u / (1.0 + 0.5 * z * u);
}

namespace {

// Linear interpolation in a table whose `from` column is non-decreasing; clamped at the ends.
double interpolate(const std::vector<double>& from, const std::vector<double>& to, double v) {
  if (!(v > from.front())) return to.front();
  if (!(v < from.back())) return to.back();
  const auto it = std::upper_bound(from.begin(), from.end(), v);
  const std::size_t i = static_cast<std::size_t>(it - from.begin());
  const double t = (v - from[i - 1]) / (from[i] - from[i - 1]);
  return to[i - 1] + t * (to[i] - to[i - 1]);
}

}  // namespace

double MarginalTable::forward(double value) const {
  return interpolate(x, z, value);
}

double MarginalTable::inverse(double value) const {
  return interpolate(z, x, value);
}

void MarginalTable::validate() const {
  if (x.size() < 2 || x.size() != z.size())
    throw InputError(cat("copula table: ", x.size(), " values and ", z.size(),
                         " levels (need two or more of each, as many of one as of the other)"));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(z[i]))
      throw InputError(cat("copula table: entry ", i, " is not finite"));
    if (i > 0 && (!(x[i] > x[i - 1]) || z[i] < z[i - 1]))
      throw InputError(cat("copula table: entry ", i, " breaks the order of the table"));
  }
}

MarginalTable fit_marginal(const Matrix& local, const par::Comm& comm, std::size_t bins) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const double v : local.values()) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  low = comm.allreduce_min(low);
  high = comm.allreduce_max(high);
  if (!(high > low))
    throw par::CollectiveError(ExitCode::input, "standardization 'copula': the data are constant",
                               0);
  std::vector<std::int64_t> counts(bins, 0);
  const double scale = static_cast<double>(bins) / (high - low);
  for (const double v : local.values()) {
    const auto b = static_cast<std::size_t>((v - low) * scale);
    ++counts[std::min(b, bins - 1)];
  }
  comm.allreduce_sum(std::span<std::int64_t>(counts));
  std::int64_t total = 0;
  for (const auto c : counts) total += c;
  const double m = static_cast<double>(total);
  const double floor = 0.5 / m;
  MarginalTable t;
  t.x.reserve(bins + 1);
  t.z.reserve(bins + 1);
  std::int64_t below = 0;
  for (std::size_t e = 0; e <= bins; ++e) {
    if (e > 0) below += counts[e - 1];
    // Values are spread evenly within a bin; empty bins give flat stretches of z.
    const double level = std::clamp(static_cast<double>(below) / m, floor, 1.0 - floor);
    t.x.push_back(e == bins ? high : low + static_cast<double>(e) / scale);
    t.z.push_back(normal_quantile(level));
  }
  return t;
}

std::vector<double> gaussian_shell_power(const MarginalTable& table, double data_mean,
                                         const std::vector<double>& data_power,
                                         const std::vector<std::size_t>& dims) {
  // Normalised Hermite coefficients b_n of f(z) = g^-1(z) - mean, by the trapezoid rule on
  // [-10, 10] with the Gaussian weight (f is bounded: the integrand is smooth enough).
  constexpr int kTerms = 64;
  constexpr int kNodes = 20001;
  std::vector<double> b(kTerms + 1, 0.0);
  const double step = 20.0 / (kNodes - 1);
  for (int i = 0; i < kNodes; ++i) {
    const double z = -10.0 + i * step;
    const double w = (i == 0 || i == kNodes - 1 ? 0.5 : 1.0) * step * std::exp(-0.5 * z * z) /
                     std::sqrt(2.0 * M_PI);
    const double f = table.inverse(z) - data_mean;
    double previous = 0.0, current = 1.0;  // h_{-1}, h_0
    for (int n = 0; n <= kTerms; ++n) {
      b[n] += w * f * current;
      const double next = (z * current - std::sqrt(static_cast<double>(n)) * previous) /
                          std::sqrt(static_cast<double>(n + 1));
      previous = current;
      current = next;
    }
  }
  const auto covariance = [&](double rho) {  // R(rho) = sum_{n >= 1} b_n^2 rho^n
    double sum = 0.0, power = rho;
    for (int n = 1; n <= kTerms; ++n, power *= rho) sum += b[n] * b[n] * power;
    return sum;
  };

  // The data's correlation function xi(r) = (1/N) sum_k P(|k|) e^{ikr} on the grid.
  const fft::RealTransform transform(dims);
  const auto shells = fft::shell_of_modes(dims);
  const double n = static_cast<double>(transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  for (std::size_t k = 0; k < spectrum.size(); ++k)
    spectrum[k] = shells[k] < data_power.size() ? data_power[shells[k]] / n : 0.0;
  std::vector<double> rho(transform.real_size());
  transform.backward_destroying(spectrum.data(), rho.data());

  // rho(r) = R^-1(xi(r)) by bisection (R increases on [0, 1]; on [-1, 0] for the monotone f).
  const double r_low = covariance(-1.0), r_high = covariance(1.0);
  for (auto& v : rho) {
    const double target = std::clamp(v, std::min(r_low, r_high), r_high);
    double lo = -1.0, hi = 1.0;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (covariance(mid) > target ? hi : lo) = mid;
    }
    v = 0.5 * (lo + hi);
  }

  // P_G = FFT(rho), averaged over the shells like the data's powers.
  transform.forward(rho.data(), spectrum.data());
  const auto weight = Standardization::mode_weights(dims);
  const std::size_t count = *std::max_element(shells.begin(), shells.end()) + 1;
  std::vector<double> sum(count, 0.0), modes(count, 0.0);
  for (std::size_t k = 0; k < spectrum.size(); ++k) {
    sum[shells[k]] += weight[k] * spectrum[k].real();
    modes[shells[k]] += weight[k];
  }
  std::vector<double> power(count);
  double largest = 0.0;
  for (std::size_t s = 0; s < count; ++s) {
    power[s] = modes[s] > 0.0 ? sum[s] / modes[s] : 0.0;
    largest = std::max(largest, power[s]);
  }
  for (std::size_t s = 0; s < count; ++s)
    if (s < data_power.size() && data_power[s] > 0.0)
      power[s] = std::max(power[s], 1e-12 * largest);
    else
      power[s] = 0.0;
  return power;
}

}  // namespace ksi::copula
