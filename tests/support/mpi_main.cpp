// GoogleTest main for every ksi test: MPI and PETSc up once, results printed by rank 0, failures
// seen on other ranks printed with their rank, and the exit code agreed over all ranks.
#include <gtest/gtest.h>

#include <cstdio>

#include "ksi/core/threads.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "support/test_support.hpp"

namespace {

class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (result.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_,
                   result.file_name() ? result.file_name() : "?", result.line_number(),
                   result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ksi::par::Environment environment(argc, argv);
  int status = 0;
  {
    ksi::test::World world;
    ksi::par::Log::configure(world.comm().rank(), ksi::par::Verbosity::quiet);
    ksi::set_blas_threads(1);
    ksi::fit::PetscSession petsc(world.comm());
    testing::InitGoogleTest(&argc, argv);
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    if (world.comm().rank() != 0) {
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(world.comm().rank()));
    }
    status = RUN_ALL_TESTS();
    status = static_cast<int>(world.comm().allreduce_max(static_cast<std::int64_t>(status)));
  }
  return status;
}
