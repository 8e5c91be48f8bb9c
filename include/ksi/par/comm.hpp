#pragma once
/// @file
/// MPI without mpi.h in the public API: the environment, a communicator handle that owns a
/// duplicate, the collectives ksi uses, and the collective error path that keeps a failure on one
/// rank from hanging the others.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "ksi/core/compensated.hpp"
#include "ksi/core/error.hpp"

namespace ksi::par {

/// Initialises MPI (thread level FUNNELED) unless it already is, and finalises what it initialised.
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  static bool initialized();
  static bool finalized();
  /// Ends every rank of the job at once; for errors that were not agreed collectively.
  [[noreturn]] static void abort(int exit_code);

 private:
  bool owns_ = false;
};

/// Move-only owner of a duplicated communicator; freed on destruction unless MPI is finalised.
class Comm {
 public:
  /// A duplicate of MPI_COMM_WORLD.
  static Comm world();
  /// A duplicate of MPI_COMM_SELF.
  static Comm self();

  Comm(Comm&& other) noexcept;
  Comm& operator=(Comm&& other) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  bool is_root() const noexcept { return rank_ == 0; }

  /// Ranks with the same colour form a new communicator, ordered by key.
  Comm split(int color, int key) const;
  void barrier() const;
  /// Whether every rank calls this within `seconds` of this rank's call (a non-blocking barrier,
  /// polled): how ranks that each caught an error learn that they all did, so that the job can end
  /// without an abort. On false the barrier stays pending: use it only on a communicator kept for
  /// this and only before the job is aborted.
  bool all_arrive_within(double seconds) const;

  // Reductions (element-wise, in place, on every rank unless stated).
  void allreduce_sum(std::span<double> values) const;
  void allreduce_sum(std::span<std::int64_t> values) const;
  double allreduce_sum(double value) const;
  std::int64_t allreduce_sum(std::int64_t value) const;
  double allreduce_max(double value) const;
  double allreduce_min(double value) const;
  std::int64_t allreduce_max(std::int64_t value) const;
  std::int64_t allreduce_min(std::int64_t value) const;
  /// Sums `values` over ranks into `values` at `root`; the other ranks' `values` are left as they
  /// were.
  void reduce_sum(std::span<double> values, int root) const;

  /// Double-double sums over ranks (order-independent to ~1e-32): on every rank, or at `root`.
  void allreduce_sum(std::span<DoubleDouble> values) const;
  void reduce_sum(std::span<DoubleDouble> values, int root) const;

  // Broadcasts from `root`.
  void bcast(std::span<double> values, int root) const;
  void bcast(std::span<std::int64_t> values, int root) const;
  void bcast(std::span<std::byte> bytes, int root) const;
  void bcast(std::string& text, int root) const;
  void bcast(std::int64_t& value, int root) const;
  void bcast(double& value, int root) const;

  /// Every rank contributes `local` (any length); all ranks receive the concatenation in rank
  /// order.
  std::vector<double> allgatherv(std::span<const double> local) const;
  /// Every rank contributes one integer; all ranks receive them in rank order.
  std::vector<std::int64_t> allgather(std::int64_t value) const;
  /// Sends `values` to `dest` and replaces them with what `source` sends (ring shifts).
  void sendrecv_replace(std::span<double> values, int dest, int source) const;

  /// If `failure` is set on any rank, every rank throws CollectiveError carrying the message and
  /// exit code of the lowest failing rank. Must be entered by all ranks.
  void raise_if_any(std::exception_ptr failure) const;
  /// raise_if_any and a maximum over ranks of `vote` in one allreduce: returns the largest vote.
  std::int64_t raise_if_any_or_vote(std::exception_ptr failure, std::int64_t vote) const;
  /// Throws on every rank if `ok` is false on any rank (message from the lowest such rank).
  void require_all(bool ok, const std::string& message_if_not, ExitCode code) const;

  /// The MPI_Comm, as an opaque pointer, for libksi internals that talk to MPI-aware libraries.
  void* native_handle() const noexcept { return handle_; }

 private:
  Comm() = default;
  void adopt(void* handle);
  void* handle_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
};

/// An error that every rank of a communicator agreed on; main() exits cleanly instead of aborting.
class CollectiveError : public Error {
 public:
  CollectiveError(ExitCode code, const std::string& message, int origin_rank)
      : Error(code, message), origin_rank_(origin_rank) {}
  int origin_rank() const noexcept { return origin_rank_; }

 private:
  int origin_rank_;
};

/// Runs rank-local work; if it throws on any rank, all ranks throw the same CollectiveError.
/// `body` must not enter collectives itself.
template <class Body>
void collective(const Comm& comm, Body&& body) {
  std::exception_ptr failure;
  try {
    body();
  } catch (...) {
    failure = std::current_exception();
  }
  comm.raise_if_any(failure);
}

/// Contiguous block [begin, end) of `count` items owned by `rank` of `size` (sizes differ by <= 1).
struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const noexcept { return end - begin; }
};
Range block_range(std::size_t count, int rank, int size);

}  // namespace ksi::par
