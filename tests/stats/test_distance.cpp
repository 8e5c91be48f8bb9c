// Set summaries over ranks (bitwise those of one rank), the Welch distance and its calibration
// under the null, Q ratios, and the parallel energy distance against a serial all-pairs reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ksi/core/random.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/stats/distance.hpp"
#include "support/test_support.hpp"

namespace {

using ksi::RandomStream;
using ksi::StreamPurpose;
using ksi::stats::RunningMoments;
using ksi::stats::SetSummary;

std::vector<double> item(std::size_t i, std::size_t K) {
  std::vector<double> v(K);
  RandomStream stream(21, StreamPurpose::test, i);
  stream.fill_normal(v);
  for (std::size_t k = 0; k < K; ++k) v[k] = 1e6 + static_cast<double>(k) + (k + 1) * v[k];
  return v;
}

TEST(SetSummary, CombinesRanksLikeOneTwoPassSum) {
  const auto& comm = ksi::test::World::comm();
  const std::size_t K = 5;
  // Sizes that leave some ranks with one item or none.
  for (std::size_t count : {2u, 3u, 17u}) {
    const auto mine = ksi::par::block_range(count, comm.rank(), comm.size());
    RunningMoments local(K);
    for (std::size_t i = mine.begin; i < mine.end; ++i) local.add(item(i, K));
    const SetSummary summary = ksi::stats::summarize(local, comm);
    ASSERT_EQ(summary.count, count);
    for (std::size_t k = 0; k < K; ++k) {
      double mean = 0.0, squares = 0.0;
      for (std::size_t i = 0; i < count; ++i) mean += item(i, K)[k];
      mean /= static_cast<double>(count);
      for (std::size_t i = 0; i < count; ++i) squares += std::pow(item(i, K)[k] - mean, 2);
      const double stddev = std::sqrt(squares / static_cast<double>(count - 1));
      EXPECT_NEAR(summary.mean[k], mean, 1e-15 * mean) << "count " << count << " k " << k;
      EXPECT_NEAR(summary.stddev[k], stddev, 1e-8 * stddev) << "count " << count << " k " << k;
    }
    // The same bits as one rank holding every item.
    RunningMoments all(K);
    for (std::size_t i = 0; i < count; ++i) all.add(item(i, K));
    const SetSummary serial = ksi::stats::summarize(all, ksi::par::Comm::self());
    EXPECT_EQ(summary.mean, serial.mean) << "count " << count;
    EXPECT_EQ(summary.stddev, serial.stddev) << "count " << count;
  }
}

TEST(SetSummary, KeepsTheSpreadAboutALargeMean) {
  // Values near 1e8 that differ by about 1e-4: their squares (1e16) round in steps of 2 in double,
  // far above the squared deviations (1e-8). The differences to the first value are exact, so
  // their spread is the reference.
  const std::vector<double> x{1e8, 1e8 + 1e-4, 1e8 + 2.5e-4, 1e8 + 0.7e-4};
  RunningMoments m(1);
  for (double v : x) m.add(std::span<const double>(&v, 1));
  const SetSummary s = ksi::stats::summarize(m, ksi::par::Comm::self());
  double mean = 0.0, squares = 0.0;
  for (double v : x) mean += (v - x[0]) / 4.0;
  for (double v : x) squares += std::pow(v - x[0] - mean, 2);
  const double expected = std::sqrt(squares / 3.0);
  EXPECT_NEAR(s.stddev[0], expected, 1e-6 * expected);
  EXPECT_NEAR(s.mean[0], x[0] + mean, 1e-15 * x[0]);
}

SetSummary summary(std::size_t count, std::vector<double> mean, std::vector<double> stddev) {
  SetSummary s;
  s.count = count;
  s.mean = std::move(mean);
  s.stddev = std::move(stddev);
  return s;
}

TEST(WelchDistance, ClosedFormAndDegenerateComponents) {
  // Component 0: difference 1, standard error^2 = 1/4 + 9/9; component 1 is constant and equal.
  const auto a = summary(4, {1.0, 2.0, 0.5}, {1.0, 0.0, 2.0});
  const auto b = summary(9, {0.0, 2.0, -0.5}, {3.0, 0.0, 3.0});
  // Component 2: difference 1, standard error^2 = 4/4 + 9/9 = 2.
  EXPECT_NEAR(ksi::stats::welch_distance(a, b), std::sqrt((1.0 / 1.25 + 1.0 / 2.0) / 2.0), 1e-15);
  EXPECT_EQ(ksi::stats::welch_distance(a, a), 0.0);
  const auto c = summary(9, {0.0, 2.5, -0.5}, {3.0, 0.0, 3.0});  // a constant that differs
  EXPECT_TRUE(std::isinf(ksi::stats::welch_distance(a, c)));
  const auto d = summary(9, {0.0, std::nan(""), 0.0}, {1.0, 1.0, 1.0});
  EXPECT_TRUE(std::isnan(ksi::stats::welch_distance(a, d)));
}

// Mean of distance(A, B)^2 over 200 pairs of independent sets of 20 and 30 items of 10 standard
// normal components, the items drawn from the streams (seed, test, item id).
template <class Distance>
double mean_square_between_sets(Distance distance, std::uint64_t seed) {
  const std::size_t K = 10, pairs = 200;
  double sum = 0.0;
  std::size_t item_id = 0;
  const auto draw_set = [&](std::size_t n) {
    RunningMoments m(K);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<double> v(K);
      RandomStream stream(seed, StreamPurpose::test, item_id++);
      stream.fill_normal(v);
      m.add(v);
    }
    return ksi::stats::summarize(m, ksi::par::Comm::self());
  };
  for (std::size_t p = 0; p < pairs; ++p) {
    const double d = distance(draw_set(20), draw_set(30));
    sum += d * d;
  }
  return sum / pairs;
}

TEST(WelchDistance, IsAboutOneBetweenSetsOfOneDistribution) {
  // Each z^2 has expectation 1 + O(1/n) with estimated variances.
  const double mean_square = mean_square_between_sets(ksi::stats::welch_distance, 5);
  // 2000 z^2 values of variance about 2: standard error 0.03.
  EXPECT_GT(mean_square, 0.9);
  EXPECT_LT(mean_square, 1.2);
}

TEST(SpreadDistance, ClosedFormAndTheCaseWelchCannotSee) {
  // ln(sd_a / sd_b) in standard errors sqrt(1/(2 (n_a - 1)) + 1/(2 (n_b - 1))).
  const auto a = summary(5, {0.0, 1.0, 0.0}, {2.0, 0.0, 1.0});
  const auto b = summary(9, {0.0, 1.0, 0.0}, {1.0, 3.0, 1.0});
  const double se = std::sqrt(0.5 / 4.0 + 0.5 / 8.0);
  // Component 1 has no log ratio (a constant in a): skipped; components 0 and 2 count.
  EXPECT_NEAR(ksi::stats::spread_distance(a, b),
              std::sqrt((std::log(2.0) * std::log(2.0) / (se * se)) / 2.0), 1e-14);
  EXPECT_EQ(ksi::stats::spread_distance(b, b), 0.0);
  EXPECT_TRUE(
      std::isnan(ksi::stats::spread_distance(summary(1, {0.0}, {1.0}), summary(4, {0.0}, {1.0}))));
  // A set ten times wider than the test set with the same mean: Welch's distance shrinks (its
  // standard error grows with the spread), the spread distance does not.
  const auto test = summary(64, {0.0, 0.0}, {1.0, 1.0});
  const auto close = summary(64, {0.2, 0.2}, {1.0, 1.0});
  const auto wide = summary(64, {0.2, 0.2}, {10.0, 10.0});
  EXPECT_LT(ksi::stats::welch_distance(wide, test), ksi::stats::welch_distance(close, test));
  EXPECT_NEAR(ksi::stats::spread_distance(wide, test), std::log(10.0) * std::sqrt(63.0), 1e-12);
  EXPECT_LT(ksi::stats::spread_distance(close, test), 1e-12);
}

TEST(SpreadDistance, IsAboutOneBetweenSetsOfOneDistribution) {
  const double mean_square = mean_square_between_sets(ksi::stats::spread_distance, 7);
  EXPECT_GT(mean_square, 0.85);
  EXPECT_LT(mean_square, 1.25);
}

TEST(QualityRatio, RatioOrNaN) {
  EXPECT_DOUBLE_EQ(ksi::stats::quality_ratio(3.0, 1.5), 2.0);
  EXPECT_TRUE(std::isnan(ksi::stats::quality_ratio(1.0, 0.0)));
  EXPECT_TRUE(std::isnan(ksi::stats::quality_ratio(std::nan(""), 1.0)));
}

TEST(EnergyDistance, ParallelPairSumsMatchSerialAllPairs) {
  const auto& comm = ksi::test::World::comm();
  ksi::Matrix X(37, 3), Y(23, 3);
  RandomStream sx(1, StreamPurpose::test, 1), sy(1, StreamPurpose::test, 2);
  sx.fill_normal(X.values());
  sy.fill_normal(Y.values());
  for (auto& v : Y.values()) v = 0.5 + 1.5 * v;
  const double expected = ksi::test::energy_distance(X, Y);
  EXPECT_NEAR(ksi::stats::energy_distance(X, Y, comm), expected, 1e-12 * expected);
  EXPECT_NEAR(ksi::stats::energy_distance(X, X, comm), 0.0, 1e-12);
}

}  // namespace
