#include "ksi/par/comm.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <utility>

#include "ksi/core/format.hpp"
#include "par/native_comm.hpp"

namespace ksi::par {
namespace {

void check(int status, const char* what) {
  if (status != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, text, &length);
    throw EnvironmentError(cat("MPI call ", what, " failed: ", std::string(text, length)));
  }
}

// MPI counts are int: long messages go in pieces.
constexpr std::size_t kMaxPiece = std::size_t{1} << 30;

template <class Fn>
void in_pieces(std::size_t count, Fn&& fn) {
  for (std::size_t offset = 0; offset < count; offset += kMaxPiece)
    fn(offset, static_cast<int>(std::min(kMaxPiece, count - offset)));
}

MPI_Comm& raw(void* handle) {
  return *static_cast<MPI_Comm*>(handle);
}

// An MPI datatype of one DoubleDouble and the commutative sum over it, created once.
void double_double_sum(void* in, void* inout, int* length, MPI_Datatype*) {
  const auto* a = static_cast<const DoubleDouble*>(in);
  auto* b = static_cast<DoubleDouble*>(inout);
  for (int i = 0; i < *length; ++i) b[i].add(a[i]);
}

struct DoubleDoubleOp {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  DoubleDoubleOp() {
    check(MPI_Type_contiguous(2, MPI_DOUBLE, &type), "MPI_Type_contiguous");
    check(MPI_Type_commit(&type), "MPI_Type_commit");
    check(MPI_Op_create(double_double_sum, /*commute=*/1, &op), "MPI_Op_create");
  }
};

const DoubleDoubleOp& double_double_op() {
  // Freed by MPI_Finalize; never released before (a process-wide constant).
  static const DoubleDoubleOp instance;
  return instance;
}

}  // namespace

Environment::Environment(int& argc, char**& argv) {
  if (!initialized()) {
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owns_ = true;
  }
}

Environment::~Environment() {
  if (owns_ && !finalized()) MPI_Finalize();
}

bool Environment::initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

bool Environment::finalized() {
  int flag = 0;
  MPI_Finalized(&flag);
  return flag != 0;
}

void Environment::abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (initialized() && !finalized()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

void Comm::adopt(void* handle) {
  handle_ = handle;
  check(MPI_Comm_rank(raw(handle_), &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(raw(handle_), &size_), "MPI_Comm_size");
}

Comm Comm::world() {
  Comm c;
  auto* handle = new MPI_Comm(MPI_COMM_NULL);
  check(MPI_Comm_dup(MPI_COMM_WORLD, handle), "MPI_Comm_dup");
  c.adopt(handle);
  return c;
}

Comm Comm::self() {
  Comm c;
  auto* handle = new MPI_Comm(MPI_COMM_NULL);
  check(MPI_Comm_dup(MPI_COMM_SELF, handle), "MPI_Comm_dup");
  c.adopt(handle);
  return c;
}

Comm::Comm(Comm&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), rank_(other.rank_), size_(other.size_) {}

Comm& Comm::operator=(Comm&& other) noexcept {
  if (this != &other) {
    Comm old(std::move(*this));
    handle_ = std::exchange(other.handle_, nullptr);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

Comm::~Comm() {
  if (handle_ == nullptr) return;
  if (!Environment::finalized() && raw(handle_) != MPI_COMM_NULL) MPI_Comm_free(&raw(handle_));
  delete static_cast<MPI_Comm*>(handle_);
}

Comm Comm::split(int color, int key) const {
  Comm c;
  auto* handle = new MPI_Comm(MPI_COMM_NULL);
  check(MPI_Comm_split(raw(handle_), color, key, handle), "MPI_Comm_split");
  c.adopt(handle);
  return c;
}

bool Comm::all_arrive_within(double seconds) const {
  MPI_Request request;
  check(MPI_Ibarrier(raw(handle_), &request), "MPI_Ibarrier");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Comm::barrier() const {
  check(MPI_Barrier(raw(handle_)), "MPI_Barrier");
}

void Comm::allreduce_sum(std::span<double> values) const {
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, values.data() + offset, n, MPI_DOUBLE, MPI_SUM, raw(handle_)),
          "MPI_Allreduce");
  });
}

void Comm::allreduce_sum(std::span<std::int64_t> values) const {
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    check(
        MPI_Allreduce(MPI_IN_PLACE, values.data() + offset, n, MPI_INT64_T, MPI_SUM, raw(handle_)),
        "MPI_Allreduce");
  });
}

namespace {
template <class T>
T allreduce_one(T value, MPI_Datatype type, MPI_Op op, MPI_Comm comm) {
  check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, type, op, comm), "MPI_Allreduce");
  return value;
}
}  // namespace

double Comm::allreduce_sum(double v) const {
  return allreduce_one(v, MPI_DOUBLE, MPI_SUM, raw(handle_));
}
std::int64_t Comm::allreduce_sum(std::int64_t v) const {
  return allreduce_one(v, MPI_INT64_T, MPI_SUM, raw(handle_));
}
double Comm::allreduce_max(double v) const {
  return allreduce_one(v, MPI_DOUBLE, MPI_MAX, raw(handle_));
}
double Comm::allreduce_min(double v) const {
  return allreduce_one(v, MPI_DOUBLE, MPI_MIN, raw(handle_));
}
std::int64_t Comm::allreduce_max(std::int64_t v) const {
  return allreduce_one(v, MPI_INT64_T, MPI_MAX, raw(handle_));
}
std::int64_t Comm::allreduce_min(std::int64_t v) const {
  return allreduce_one(v, MPI_INT64_T, MPI_MIN, raw(handle_));
}

void Comm::reduce_sum(std::span<double> values, int root) const {
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    double* p = values.data() + offset;
    if (rank_ == root)
      check(MPI_Reduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_SUM, root, raw(handle_)), "MPI_Reduce");
    else
      check(MPI_Reduce(p, nullptr, n, MPI_DOUBLE, MPI_SUM, root, raw(handle_)), "MPI_Reduce");
  });
}

void Comm::allreduce_sum(std::span<DoubleDouble> values) const {
  static_assert(sizeof(DoubleDouble) == 2 * sizeof(double));
  const auto& dd = double_double_op();
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, values.data() + offset, n, dd.type, dd.op, raw(handle_)),
          "MPI_Allreduce");
  });
}

void Comm::reduce_sum(std::span<DoubleDouble> values, int root) const {
  const auto& dd = double_double_op();
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    auto* p = values.data() + offset;
    if (rank_ == root)
      check(MPI_Reduce(MPI_IN_PLACE, p, n, dd.type, dd.op, root, raw(handle_)), "MPI_Reduce");
    else
      check(MPI_Reduce(p, nullptr, n, dd.type, dd.op, root, raw(handle_)), "MPI_Reduce");
  });
}

void Comm::bcast(std::span<double> values, int root) const {
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    check(MPI_Bcast(values.data() + offset, n, MPI_DOUBLE, root, raw(handle_)), "MPI_Bcast");
  });
}

void Comm::bcast(std::span<std::int64_t> values, int root) const {
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    check(MPI_Bcast(values.data() + offset, n, MPI_INT64_T, root, raw(handle_)), "MPI_Bcast");
  });
}

void Comm::bcast(std::span<std::byte> bytes, int root) const {
  in_pieces(bytes.size(), [&](std::size_t offset, int n) {
    check(MPI_Bcast(bytes.data() + offset, n, MPI_BYTE, root, raw(handle_)), "MPI_Bcast");
  });
}

void Comm::bcast(std::string& text, int root) const {
  std::int64_t length = static_cast<std::int64_t>(text.size());
  bcast(length, root);
  text.resize(static_cast<std::size_t>(length));
  bcast(std::as_writable_bytes(std::span<char>(text.data(), text.size())), root);
}

void Comm::bcast(std::int64_t& value, int root) const {
  check(MPI_Bcast(&value, 1, MPI_INT64_T, root, raw(handle_)), "MPI_Bcast");
}

void Comm::bcast(double& value, int root) const {
  check(MPI_Bcast(&value, 1, MPI_DOUBLE, root, raw(handle_)), "MPI_Bcast");
}

std::vector<std::int64_t> Comm::allgather(std::int64_t value) const {
  std::vector<std::int64_t> all(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, raw(handle_)),
        "MPI_Allgather");
  return all;
}

std::vector<double> Comm::allgatherv(std::span<const double> local) const {
  const auto counts64 = allgather(static_cast<std::int64_t>(local.size()));
  std::vector<int> counts(counts64.size()), displs(counts64.size());
  std::int64_t total = 0;
  for (std::size_t r = 0; r < counts64.size(); ++r) {
    if (total + counts64[r] > INT_MAX)
      throw EnvironmentError("allgatherv: more than 2^31 values in one gather");
    counts[r] = static_cast<int>(counts64[r]);
    displs[r] = static_cast<int>(total);
    total += counts64[r];
  }
  std::vector<double> all(static_cast<std::size_t>(total));
  check(MPI_Allgatherv(local.data(), static_cast<int>(local.size()), MPI_DOUBLE, all.data(),
                       counts.data(), displs.data(), MPI_DOUBLE, raw(handle_)),
        "MPI_Allgatherv");
  return all;
}

void Comm::sendrecv_replace(std::span<double> values, int dest, int source) const {
  in_pieces(values.size(), [&](std::size_t offset, int n) {
    check(MPI_Sendrecv_replace(values.data() + offset, n, MPI_DOUBLE, dest, 17, source, 17,
                               raw(handle_), MPI_STATUS_IGNORE),
          "MPI_Sendrecv_replace");
  });
}

namespace {

// The exit code and message of a failure (code 0 for none).
std::pair<std::int64_t, std::string> describe_failure(std::exception_ptr failure) {
  if (!failure) return {0, {}};
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    return {e.exit_code() != 0 ? e.exit_code() : static_cast<int>(ExitCode::failure), e.what()};
  } catch (const std::bad_alloc&) {
    return {static_cast<int>(ExitCode::failure), "out of memory"};
  } catch (const std::exception& e) {
    return {static_cast<int>(ExitCode::failure), e.what()};
  } catch (...) {
    return {static_cast<int>(ExitCode::failure), "unknown error"};
  }
}

}  // namespace

std::int64_t Comm::raise_if_any_or_vote(std::exception_ptr failure, std::int64_t vote) const {
  auto [code, message] = describe_failure(failure);
  // One allreduce (max) carries both: the lowest failing rank as size - rank, and the vote.
  std::int64_t values[2] = {code != 0 ? std::int64_t{size_ - rank_} : 0, vote};
  check(MPI_Allreduce(MPI_IN_PLACE, values, 2, MPI_INT64_T, MPI_MAX, raw(handle_)),
        "MPI_Allreduce");
  if (values[0] == 0) return values[1];
  const int origin = size_ - static_cast<int>(values[0]);
  bcast(code, origin);
  bcast(message, origin);
  throw CollectiveError(static_cast<ExitCode>(code), message, origin);
}

void Comm::raise_if_any(std::exception_ptr failure) const {
  raise_if_any_or_vote(failure, 0);
}

void Comm::require_all(bool ok, const std::string& message_if_not, ExitCode code) const {
  std::exception_ptr failure;
  if (!ok) failure = std::make_exception_ptr(Error(code, message_if_not));
  raise_if_any(failure);
}

Range block_range(std::size_t count, int rank, int size) {
  const auto r = static_cast<std::size_t>(rank);
  const auto s = static_cast<std::size_t>(size);
  const std::size_t base = count / s;
  const std::size_t extra = count % s;
  Range range;
  range.begin = r * base + std::min(r, extra);
  range.end = range.begin + base + (r < extra ? 1 : 0);
  return range;
}

}  // namespace ksi::par
