#include "ksi/synth/mrw.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/random.hpp"

namespace ksi::synth {
namespace {

// The smallest 2^a 3^b 5^c >= n: sizes FFTW transforms fast.
std::size_t smooth_size(std::size_t n) {
  for (std::size_t m = std::max<std::size_t>(n, 1);; ++m) {
    std::size_t r = m;
    for (std::size_t p : {2, 3, 5})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

bool leverage_on(const MrwOptions& o) {
  return o.leverage > 0.0;
}

std::size_t leverage_range(const MrwOptions& o) {
  const double r = o.leverage_range > 0.0 ? o.leverage_range : o.integral_scale;
  return static_cast<std::size_t>(std::ceil(r));
}

// lambda^2 ln(T / (|tau| + 1)) for |tau| + 1 < T, else 0.
double log_covariance(const MrwOptions& o, long lag) {
  const double d = static_cast<double>(std::labs(lag)) + 1.0;
  return d < o.integral_scale ? o.intermittency * std::log(o.integral_scale / d) : 0.0;
}

}  // namespace

void validate(const MrwOptions& o) {
  if (o.length < 16 || o.length > (std::size_t{1} << 24))
    throw UsageError(cat("the MRW length must be from 16 to 2^24 returns, not ", o.length));
  if (!(o.intermittency >= 0.0 && o.intermittency <= 1.0))
    throw UsageError(cat("the intermittency lambda^2 must be in [0, 1], not ", o.intermittency));
  if (!(o.integral_scale >= 1.0 && o.integral_scale <= double(1 << 22)))
    throw UsageError(
        cat("the integral scale T must be from 1 to 2^22 steps, not ", o.integral_scale));
  if (!(o.volatility > 0.0 && std::isfinite(o.volatility)))
    throw UsageError(cat("the volatility sigma must be positive, not ", o.volatility));
  if (!(o.leverage >= 0.0 && std::isfinite(o.leverage)))
    throw UsageError(cat("the leverage K0 must be zero or positive, not ", o.leverage));
  if (!(o.leverage_exponent >= 0.0 && std::isfinite(o.leverage_exponent)))
    throw UsageError(
        cat("the leverage exponent must be zero or positive, not ", o.leverage_exponent));
  if (!(o.leverage_range == 0.0 ||
        (o.leverage_range >= 2.0 && o.leverage_range <= double(1 << 22))))
    throw UsageError(
        cat("the leverage range must be 0 (= T) or from 2 to 2^22 steps, not ", o.leverage_range));
  // A variance of the log-volatility beyond ~2.5 gives returns whose kurtosis exceeds 3 e^10: the
  // samples would be dominated by a handful of values.
  double variance = o.intermittency * std::log(o.integral_scale);
  if (leverage_on(o))
    for (std::size_t s = 1; s < leverage_range(o); ++s)
      variance += std::pow(o.leverage * std::pow(double(s), -o.leverage_exponent), 2);
  if (variance > 2.5)
    throw UsageError(
        sformat("Var(omega) = %.3g is too large (at most 2.5): lower lambda^2, T or the "
                "leverage",
                variance));
}

MrwGenerator::MrwGenerator(const MrwOptions& options)
    : options_((validate(options), options)),
      range_(leverage_range(options)),
      burn_in_(leverage_on(options) ? range_ - 1 : 0),
      embedding_(smooth_size(
          std::max<std::size_t>(2 * static_cast<std::size_t>(std::ceil(options.integral_scale)),
                                options.length + burn_in_ +
                                    static_cast<std::size_t>(std::ceil(options.integral_scale))))),
      transform_({embedding_}) {
  const std::size_t M = embedding_;
  variance_ = log_covariance(options_, 0);
  if (leverage_on(options_))
    for (std::size_t s = 1; s < range_; ++s) variance_ += kernel(long(s)) * kernel(long(s));

  // Eigenvalues of the circulant whose first row is C(min(d, M - d)).
  work_.assign(M, fft::complex{});
  for (std::size_t d = 0; d < M; ++d) work_[d] = log_covariance(options_, long(std::min(d, M - d)));
  transform_.forward(work_.data(), work_.data());
  double largest = 0.0, smallest = 0.0;
  for (const auto& e : work_) {
    largest = std::max(largest, e.real());
    smallest = std::min(smallest, e.real());
  }
  if (smallest < -1e-9 * std::max(largest, 1e-300))
    throw NumericalError(
        sformat("the circulant embedding of the MRW covariance is not positive "
                "(eigenvalue %.3g of %.3g)",
                smallest, largest));
  sqrt_eigenvalues_.resize(M);
  for (std::size_t j = 0; j < M; ++j)
    sqrt_eigenvalues_[j] = std::sqrt(std::max(work_[j].real(), 0.0) / static_cast<double>(M));

  if (leverage_on(options_)) {
    std::fill(work_.begin(), work_.end(), fft::complex{});
    for (std::size_t s = 1; s < range_; ++s) work_[s] = -kernel(long(s));
    kernel_modes_.resize(M);
    transform_.forward(work_.data(), kernel_modes_.data());
    shocks_.resize(M);
  }
  eps_.resize(options_.length + burn_in_);
}

MrwGenerator::~MrwGenerator() = default;
MrwGenerator::MrwGenerator(MrwGenerator&&) noexcept = default;
MrwGenerator& MrwGenerator::operator=(MrwGenerator&&) noexcept = default;

ItemShape MrwGenerator::item_shape() const {
  return ItemShape::grid({options_.length});
}

double MrwGenerator::kernel(long s) const {
  if (!leverage_on(options_) || s < 1 || static_cast<std::size_t>(s) >= range_) return 0.0;
  return options_.leverage * std::pow(static_cast<double>(s), -options_.leverage_exponent);
}

void MrwGenerator::generate(std::size_t index, std::span<double> returns,
                            std::span<double> log_volatility) {
  const std::size_t n = options_.length, total = n + burn_in_, M = embedding_;
  ensure(returns.size() == n && (log_volatility.empty() || log_volatility.size() == n),
         "MrwGenerator::generate: wrong sizes");
  RandomStream stream(options_.seed, StreamPurpose::synth, index);
  // g = Re FFT(sqrt(lambda / M) z) with complex z of unit-variance parts has covariance C.
  for (std::size_t j = 0; j < M; ++j) {
    const double re = stream.normal(), im = stream.normal();
    work_[j] = sqrt_eigenvalues_[j] * fft::complex(re, im);
  }
  transform_.forward(work_.data(), work_.data());
  stream.fill_normal(eps_);
  if (leverage_on(options_)) {
    // h_t = -sum_s K(s) eps_{t-s}: a circular convolution on M >= total points, exact for t >= R
    // - 1.
    std::fill(shocks_.begin(), shocks_.end(), fft::complex{});
    for (std::size_t t = 0; t < total; ++t) shocks_[t] = eps_[t];
    transform_.forward(shocks_.data(), shocks_.data());
    for (std::size_t j = 0; j < M; ++j) shocks_[j] *= kernel_modes_[j] / static_cast<double>(M);
    transform_.backward(shocks_.data(), shocks_.data());
  }
  const double mu = -variance_;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t t = burn_in_ + i;
    const double omega = mu + work_[t].real() + (leverage_on(options_) ? shocks_[t].real() : 0.0);
    returns[i] = options_.volatility * eps_[t] * std::exp(omega);
    if (!log_volatility.empty()) log_volatility[i] = omega;
  }
}

double MrwGenerator::log_volatility_covariance(long lag) const {
  double c = log_covariance(options_, lag);
  if (leverage_on(options_)) {
    const long a = std::labs(lag);
    for (long s = 1; s + a < static_cast<long>(range_); ++s) c += kernel(s) * kernel(s + a);
  }
  return c;
}

double MrwGenerator::kurtosis() const {
  return 3.0 * std::exp(4.0 * variance_);
}

double MrwGenerator::leverage_function(long lag) const {
  if (lag <= 0) return 0.0;
  return -2.0 * kernel(lag) * std::exp(2.0 * log_volatility_covariance(lag) - 0.5 * variance_);
}

}  // namespace ksi::synth
