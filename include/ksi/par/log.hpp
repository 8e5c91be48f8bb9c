#pragma once
/// @file
/// Rank-0 logging with a wall-clock stamp, and progress lines with percentage and ETA. When
/// standard error is not a terminal (Slurm logs) progress is printed as whole lines, never carriage
/// returns.

#include <cstddef>
#include <string>

#include "ksi/core/phase_timer.hpp"

namespace ksi::par {

enum class Verbosity { quiet = 0, normal = 1, verbose = 2 };

/// Process-wide logging settings; configure once after MPI is up.
class Log {
 public:
  static void configure(int rank, Verbosity verbosity);
  static Verbosity verbosity();
  static bool is_root();
  /// Progress and results (rank 0, not with --quiet), to standard output.
  static void info(const std::string& message);
  /// Details (rank 0, only with --verbose), to standard output.
  static void detail(const std::string& message);
  /// Warnings (rank 0, always), to standard error.
  static void warn(const std::string& message);
  /// Seconds since configure().
  static double elapsed();
};

/// Progress of a loop of `total` units on rank 0 (work is balanced, so rank 0 speaks for all).
class Progress {
 public:
  Progress(std::string label, std::size_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::size_t units = 1);
  /// Prints the final line (also called by the destructor).
  void finish();

 private:
  void print(bool final);
  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  bool enabled_;
  bool terminal_;
  bool finished_ = false;
  Stopwatch clock_;
  double last_print_ = -1e9;
};

}  // namespace ksi::par
