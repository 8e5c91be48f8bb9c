#include "ksi/stats/distance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ksi/core/error.hpp"

namespace ksi::stats {

void add_square(DoubleDouble& squares, double x) noexcept {
  const double product = x * x;
  squares.add(product);
  squares.add(std::fma(x, x, -product));
}

CentredMoments centred_moments(const DoubleDouble& sum, const DoubleDouble& squares, double count) {
  CentredMoments m;
  if (!(count > 0.0)) return m;
  m.mean = sum.value() / count;
  // sum (x - mean)^2 = squares - mean * sum - mean * (sum - count * mean), every product split
  // into its rounded value and rounding error so that the cancellation happens in double-double.
  DoubleDouble deviations = squares;
  const double product = m.mean * sum.hi;
  deviations.add(-product);
  deviations.add(-std::fma(m.mean, sum.hi, -product));
  deviations.add(-m.mean * sum.lo);
  const double scaled = count * m.mean;
  const double residual = (sum.hi - scaled) - std::fma(count, m.mean, -scaled) + sum.lo;
  deviations.add(-m.mean * residual);
  m.squared_deviations = std::max(deviations.value(), 0.0);
  return m;
}

RunningMoments::RunningMoments(std::size_t components) : sums_(components), squares_(components) {}

void RunningMoments::add(std::span<const double> values) {
  ensure(values.size() == sums_.size(), "running moments: wrong number of components");
  ++count_;
  for (std::size_t k = 0; k < values.size(); ++k) {
    sums_[k].add(values[k]);
    add_square(squares_[k], values[k]);
  }
}

SetSummary summarize(const RunningMoments& local, const par::Comm& comm) {
  const std::size_t K = local.components();
  // Sums and squares of every component and the count, in one double-double reduction.
  std::vector<DoubleDouble> sums(2 * K + 1);
  std::copy(local.sums().begin(), local.sums().end(), sums.begin());
  std::copy(local.squares().begin(), local.squares().end(), sums.begin() + K);
  sums[2 * K].add(static_cast<double>(local.count()));
  comm.allreduce_sum(std::span<DoubleDouble>(sums));
  const double n = sums[2 * K].value();
  SetSummary summary;
  summary.count = static_cast<std::size_t>(std::llround(n));
  summary.mean.resize(K);
  summary.stddev.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    const CentredMoments m = centred_moments(sums[k], sums[K + k], n);
    summary.mean[k] = m.mean;
    summary.stddev[k] = summary.count >= 2 ? std::sqrt(m.squared_deviations / (n - 1.0))
                                           : std::numeric_limits<double>::quiet_NaN();
  }
  return summary;
}

double welch_distance(const SetSummary& a, const SetSummary& b) {
  ensure(a.mean.size() == b.mean.size(), "distance between statistics of different sizes");
  const double na = static_cast<double>(a.count), nb = static_cast<double>(b.count);
  double sum = 0.0;
  std::size_t used = 0;
  for (std::size_t k = 0; k < a.mean.size(); ++k) {
    const double difference = a.mean[k] - b.mean[k];
    const double variance = a.stddev[k] * a.stddev[k] / na + b.stddev[k] * b.stddev[k] / nb;
    if (std::isnan(difference) || std::isnan(variance))
      return std::numeric_limits<double>::quiet_NaN();
    if (variance > 0.0) {
      sum += difference * difference / variance;
      ++used;
    } else if (difference != 0.0) {
      return std::numeric_limits<double>::infinity();
    }
  }
  return used ? std::sqrt(sum / static_cast<double>(used)) : 0.0;
}

double quality_ratio(double gen_test, double train_test) {
  if (std::isnan(gen_test) || std::isnan(train_test) || train_test == 0.0)
    return std::numeric_limits<double>::quiet_NaN();
  return gen_test / train_test;
}

double mean_pair_distance(const Matrix& X, const Matrix& Y, const par::Comm& comm) {
  ensure(X.cols() == Y.cols(), "pair distances between vectors of different sizes");
  const auto mine = par::block_range(X.rows(), comm.rank(), comm.size());
  const std::size_t d = X.cols();
  double sum = 0.0;
  for (std::size_t i = mine.begin; i < mine.end; ++i) {
    const double* x = X.row(i).data();
    double row = 0.0;
    for (std::size_t j = 0; j < Y.rows(); ++j) {
      const double* y = Y.row(j).data();
      double s = 0.0;
      for (std::size_t c = 0; c < d; ++c) s += (x[c] - y[c]) * (x[c] - y[c]);
      row += std::sqrt(s);
    }
    sum += row;
  }
  sum = comm.allreduce_sum(sum);
  return sum / (static_cast<double>(X.rows()) * static_cast<double>(Y.rows()));
}

double energy_distance(const Matrix& X, const Matrix& Y, const par::Comm& comm) {
  return 2.0 * mean_pair_distance(X, Y, comm) - mean_pair_distance(X, X, comm) -
         mean_pair_distance(Y, Y, comm);
}

}  // namespace ksi::stats
