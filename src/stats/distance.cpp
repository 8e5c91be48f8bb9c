#include "ksi/stats/distance.hpp"

#include <cmath>
#include <limits>

#include "ksi/core/error.hpp"

namespace ksi::stats {

RunningMoments::RunningMoments(std::size_t components)
    : mean_(components, 0.0), squared_deviations_(components, 0.0) {}

void RunningMoments::add(std::span<const double> values) {
  ensure(values.size() == mean_.size(), "running moments: wrong number of components");
  ++count_;
  const double inverse = 1.0 / static_cast<double>(count_);
  for (std::size_t k = 0; k < values.size(); ++k) {
    const double before = values[k] - mean_[k];
    mean_[k] += before * inverse;
    squared_deviations_[k] += before * (values[k] - mean_[k]);
  }
}

SetSummary summarize(const RunningMoments& local, const par::Comm& comm) {
  const std::size_t K = local.components();
  const double n_local = static_cast<double>(local.count());
  // Pass 1: the global count and mean. Pass 2: squared deviations about the global mean, each
  // rank's own sum shifted by n_r (mean_r - mean)^2.
  std::vector<double> sums(K + 1);
  for (std::size_t k = 0; k < K; ++k) sums[k] = n_local * local.mean()[k];
  sums[K] = n_local;
  comm.allreduce_sum(sums);
  const double n = sums[K];
  SetSummary summary;
  summary.count = static_cast<std::size_t>(std::llround(n));
  summary.mean.resize(K);
  for (std::size_t k = 0; k < K; ++k) summary.mean[k] = n > 0 ? sums[k] / n : 0.0;
  std::vector<double> deviations(K);
  for (std::size_t k = 0; k < K; ++k) {
    const double shift = local.mean()[k] - summary.mean[k];
    deviations[k] = local.count() ? local.squared_deviations()[k] + n_local * shift * shift : 0.0;
  }
  comm.allreduce_sum(deviations);
  summary.stddev.resize(K);
  for (std::size_t k = 0; k < K; ++k)
    summary.stddev[k] = summary.count >= 2 ? std::sqrt(deviations[k] / (n - 1.0))
                                           : std::numeric_limits<double>::quiet_NaN();
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
