#pragma once
/// @file
/// Wall-clock time per named phase of a run (features, gram, reduce, solve, sample, io, ...),
/// accumulated process-wide; par::gather_phase_times combines ranks for the JSON reports.

#include <chrono>
#include <map>
#include <string>

namespace ksi {

class PhaseTimes {
 public:
  /// The process-wide registry.
  static PhaseTimes& global();
  void add(const std::string& phase, double seconds);
  void clear();
  /// Seconds per phase, in name order.
  std::map<std::string, double> snapshot() const;

 private:
  std::map<std::string, double> seconds_;
};

/// Adds the lifetime of the scope to one phase of PhaseTimes::global().
class ScopedPhase {
 public:
  explicit ScopedPhase(std::string phase)
      : phase_(std::move(phase)), start_(std::chrono::steady_clock::now()) {}
  ~ScopedPhase() {
    PhaseTimes::global().add(
        phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  std::string phase_;
  std::chrono::steady_clock::time_point start_;
};

/// Seconds since construction.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ksi
