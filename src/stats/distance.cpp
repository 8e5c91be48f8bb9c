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

namespace {

// a - b exactly as hi + lo (Knuth's two-difference).
DoubleDouble two_difference(double a, double b) noexcept {
  const double s = a - b;
  const double bb = s - a;
  DoubleDouble d;
  d.hi = s;
  d.lo = (a - (s - bb)) - (b + bb);
  return d;
}

// acc += a * b with the product's rounding error.
void add_product(DoubleDouble& acc, double a, double b) noexcept {
  const double p = a * b;
  acc.add(p);
  acc.add(std::fma(a, b, -p));
}

}  // namespace

RunningMoments::RunningMoments(std::size_t components)
    : shift_(components, 0.0), sums_(components), squares_(components) {}

void RunningMoments::add(std::span<const double> values) {
  ensure(values.size() == sums_.size(), "running moments: wrong number of components");
  if (count_ == 0) std::copy(values.begin(), values.end(), shift_.begin());
  ++count_;
  for (std::size_t k = 0; k < values.size(); ++k) {
    // (s + e)^2 = s^2 + 2 s e + e^2 with |e| <= ulp(s) / 2: e^2 is below double-double precision.
    const DoubleDouble d = two_difference(values[k], shift_[k]);
    sums_[k].add(d);
    add_square(squares_[k], d.hi);
    squares_[k].add(2.0 * d.hi * d.lo);
  }
}

SetSummary summarize(const RunningMoments& local, const par::Comm& comm) {
  const std::size_t K = local.components();
  // Every rank's count, shifts, sums and squares (5 K + 1 doubles), in rank order on every rank.
  const std::size_t block = 5 * K + 1;
  std::vector<double> mine(block);
  mine[0] = static_cast<double>(local.count());
  for (std::size_t k = 0; k < K; ++k) {
    double* m = mine.data() + 1 + 5 * k;
    m[0] = local.shift()[k];
    m[1] = local.sums()[k].hi;
    m[2] = local.sums()[k].lo;
    m[3] = local.squares()[k].hi;
    m[4] = local.squares()[k].lo;
  }
  const std::vector<double> all = comm.allgatherv(mine);
  ensure(all.size() == block * static_cast<std::size_t>(comm.size()),
         "set summaries with different numbers of components on different ranks");
  const auto rank_block = [&](int r) { return all.data() + block * static_cast<std::size_t>(r); };
  int first = 0;
  while (first + 1 < comm.size() && rank_block(first)[0] == 0.0) ++first;
  double n = 0.0;
  for (int r = 0; r < comm.size(); ++r) n += rank_block(r)[0];

  SetSummary summary;
  summary.count = static_cast<std::size_t>(std::llround(n));
  summary.mean.resize(K);
  summary.stddev.resize(K);
  for (std::size_t k = 0; k < K; ++k) {
    const double shift = rank_block(first)[1 + 5 * k];
    // About `shift`: sum (x - shift) = T_r + n_r D and sum (x - shift)^2 = S_r + 2 D T_r + n_r D^2
    // for rank r's sums T_r, S_r about its own shift, D = its shift - `shift` (exact).
    DoubleDouble sum, squares;
    for (int r = 0; r < comm.size(); ++r) {
      const double* b = rank_block(r);
      const double n_r = b[0];
      if (n_r == 0.0) continue;
      const double* m = b + 1 + 5 * k;
      const DoubleDouble T{m[1], m[2]}, S{m[3], m[4]};
      const DoubleDouble D = two_difference(m[0], shift);
      sum.add(T);
      add_product(sum, n_r, D.hi);
      sum.add(n_r * D.lo);
      squares.add(S);
      add_product(squares, 2.0 * D.hi, T.hi);
      squares.add(2.0 * (D.hi * T.lo + D.lo * T.hi));
      const double D2 = D.hi * D.hi;
      add_product(squares, n_r, D2);
      squares.add(n_r * (std::fma(D.hi, D.hi, -D2) + 2.0 * D.hi * D.lo));
    }
    const CentredMoments m = centred_moments(sum, squares, n);
    summary.mean[k] = shift + m.mean;
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

double spread_distance(const SetSummary& a, const SetSummary& b) {
  ensure(a.mean.size() == b.mean.size(), "distance between statistics of different sizes");
  if (a.count < 2 || b.count < 2) return std::numeric_limits<double>::quiet_NaN();
  const double se = std::sqrt(0.5 / (static_cast<double>(a.count) - 1.0) +
                              0.5 / (static_cast<double>(b.count) - 1.0));
  double sum = 0.0;
  std::size_t used = 0;
  for (std::size_t k = 0; k < a.mean.size(); ++k) {
    const double sa = a.stddev[k], sb = b.stddev[k];
    if (std::isnan(sa) || std::isnan(sb)) return std::numeric_limits<double>::quiet_NaN();
    if (sa == 0.0 || sb == 0.0) continue;  // no log ratio (e.g. PDF bins one set never reaches)
    const double z = std::log(sa / sb) / se;
    sum += z * z;
    ++used;
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
  DoubleDouble sum;  // rows' sums in double-double: the same bits on any number of ranks
  for (std::size_t i = mine.begin; i < mine.end; ++i) {
    const double* x = X.row(i).data();
    double row = 0.0;
    for (std::size_t j = 0; j < Y.rows(); ++j) {
      const double* y = Y.row(j).data();
      double s = 0.0;
      for (std::size_t c = 0; c < d; ++c) s += (x[c] - y[c]) * (x[c] - y[c]);
      row += std::sqrt(s);
    }
    sum.add(row);
  }
  comm.allreduce_sum(std::span<DoubleDouble>(&sum, 1));
  return sum.value() / (static_cast<double>(X.rows()) * static_cast<double>(Y.rows()));
}

double energy_distance(const Matrix& X, const Matrix& Y, const par::Comm& comm) {
  return 2.0 * mean_pair_distance(X, Y, comm) - mean_pair_distance(X, X, comm) -
         mean_pair_distance(Y, Y, comm);
}

}  // namespace ksi::stats
