#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ksi/core/random.hpp"

using ksi::RandomStream;
using ksi::StreamPurpose;

TEST(RandomStream, SameNameSameNumbers) {
  RandomStream a(42, StreamPurpose::test, 3, 4, 5), b(42, StreamPurpose::test, 3, 4, 5);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.bits(), b.bits());
}

TEST(RandomStream, NamesSeparateStreams) {
  RandomStream base(42, StreamPurpose::test, 3, 4, 5);
  const auto first = base.bits();
  EXPECT_NE(first, RandomStream(43, StreamPurpose::test, 3, 4, 5).bits());
  EXPECT_NE(first, RandomStream(42, StreamPurpose::fit_noise, 3, 4, 5).bits());
  EXPECT_NE(first, RandomStream(42, StreamPurpose::test, 4, 4, 5).bits());
  EXPECT_NE(first, RandomStream(42, StreamPurpose::test, 3, 5, 5).bits());
  EXPECT_NE(first, RandomStream(42, StreamPurpose::test, 3, 4, 6).bits());
}

TEST(RandomStream, FillEqualsSequentialDraws) {
  RandomStream a(1, StreamPurpose::test, 0), b(1, StreamPurpose::test, 0);
  std::vector<double> filled(101);
  a.fill_normal(filled);
  for (double v : filled) EXPECT_EQ(v, b.normal());
}

TEST(RandomStream, NormalMoments) {
  RandomStream s(7, StreamPurpose::test, 1);
  const int n = 400000;
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = s.normal();
    m1 += x;
    m2 += x * x;
    m3 += x * x * x;
    m4 += x * x * x * x;
  }
  m1 /= n, m2 /= n, m3 /= n, m4 /= n;
  // Standard errors: 1/sqrt(n), sqrt(2/n), sqrt(15/n), sqrt(96/n); allow 5 of them.
  EXPECT_NEAR(m1, 0.0, 5 * std::sqrt(1.0 / n));
  EXPECT_NEAR(m2, 1.0, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(m3, 0.0, 5 * std::sqrt(15.0 / n));
  EXPECT_NEAR(m4, 3.0, 5 * std::sqrt(96.0 / n));
}

TEST(RandomStream, UniformRangeAndMean) {
  RandomStream s(9, StreamPurpose::test, 2);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = s.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12.0 / n));
}
