#include <gtest/gtest.h>

#include <numeric>

#include "ksi/core/error.hpp"
#include "ksi/par/comm.hpp"
#include "support/test_support.hpp"

using ksi::test::World;

TEST(BlockRange, CoversEverythingOnceAndBalances) {
  for (std::size_t count : {0u, 1u, 5u, 17u, 1000u})
    for (int size : {1, 2, 3, 7}) {
      std::size_t next = 0, smallest = count, largest = 0;
      for (int r = 0; r < size; ++r) {
        const auto range = ksi::par::block_range(count, r, size);
        EXPECT_EQ(range.begin, next);
        next = range.end;
        smallest = std::min(smallest, range.size());
        largest = std::max(largest, range.size());
      }
      EXPECT_EQ(next, count);
      EXPECT_LE(largest - smallest, 1u);
    }
}

TEST(Comm, Reductions) {
  const auto& comm = World::comm();
  const int p = comm.size(), r = comm.rank();
  EXPECT_EQ(comm.allreduce_sum(std::int64_t{r + 1}), std::int64_t{p * (p + 1) / 2});
  EXPECT_DOUBLE_EQ(comm.allreduce_max(double(r)), double(p - 1));
  EXPECT_DOUBLE_EQ(comm.allreduce_min(double(r)), 0.0);
  std::vector<double> v = {double(r), 1.0};
  comm.reduce_sum(v, p - 1);
  if (r == p - 1) {
    EXPECT_DOUBLE_EQ(v[0], p * (p - 1) / 2.0);
    EXPECT_DOUBLE_EQ(v[1], double(p));
  }
}

TEST(Comm, BroadcastAndGather) {
  const auto& comm = World::comm();
  std::string text = comm.is_root() ? "hello from root" : "";
  comm.bcast(text, 0);
  EXPECT_EQ(text, "hello from root");
  std::vector<double> mine(static_cast<std::size_t>(comm.rank()), double(comm.rank()));
  const auto all = comm.allgatherv(mine);
  EXPECT_EQ(all.size(), static_cast<std::size_t>(comm.size() * (comm.size() - 1) / 2));
  std::size_t q = 0;
  for (int r = 0; r < comm.size(); ++r)
    for (int i = 0; i < r; ++i) EXPECT_DOUBLE_EQ(all[q++], double(r));
}

TEST(Comm, RingShiftVisitsEveryRank) {
  const auto& comm = World::comm();
  std::vector<double> block{double(comm.rank())};
  double sum = 0;
  for (int step = 0; step < comm.size(); ++step) {
    sum += block[0];
    comm.sendrecv_replace(block, (comm.rank() + 1) % comm.size(),
                          (comm.rank() + comm.size() - 1) % comm.size());
  }
  EXPECT_DOUBLE_EQ(sum, comm.size() * (comm.size() - 1) / 2.0);
  EXPECT_DOUBLE_EQ(block[0], double(comm.rank()));
}

TEST(Collective, FailureOnOneRankReachesAllWithItsMessageAndCode) {
  const auto& comm = World::comm();
  const int failing = comm.size() - 1;
  try {
    ksi::par::collective(comm, [&] {
      if (comm.rank() == failing) throw ksi::InputError("item 7 is broken");
    });
    FAIL() << "expected a CollectiveError";
  } catch (const ksi::par::CollectiveError& e) {
    EXPECT_STREQ(e.what(), "item 7 is broken");
    EXPECT_EQ(e.code(), ksi::ExitCode::input);
    EXPECT_EQ(e.origin_rank(), failing);
  }
}

TEST(Collective, LowestFailingRankWins) {
  const auto& comm = World::comm();
  try {
    ksi::par::collective(comm,
                         [&] { throw ksi::NumericalError("rank " + std::to_string(comm.rank())); });
    FAIL();
  } catch (const ksi::par::CollectiveError& e) {
    EXPECT_STREQ(e.what(), "rank 0");
    EXPECT_EQ(e.code(), ksi::ExitCode::numerical);
  }
}

TEST(Collective, NoFailureNoThrow) {
  const auto& comm = World::comm();
  int calls = 0;
  EXPECT_NO_THROW(ksi::par::collective(comm, [&] { ++calls; }));
  EXPECT_EQ(calls, 1);
}

TEST(Comm, SplitMakesIndependentGroups) {
  const auto& comm = World::comm();
  const auto half = comm.split(comm.rank() % 2, comm.rank());
  EXPECT_EQ(half.allreduce_sum(std::int64_t{1}),
            std::int64_t{(comm.size() + 1 - comm.rank() % 2) / 2});
}
