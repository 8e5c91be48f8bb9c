#include "ksi/par/log.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ksi/core/format.hpp"

namespace ksi::par {
namespace {

struct LogState {
  int rank = 0;
  Verbosity verbosity = Verbosity::normal;
  Stopwatch clock;
};

LogState& state() {
  static LogState s;
  return s;
}

std::string stamp() {
  return sformat("[%8.1fs] ", state().clock.seconds());
}

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const long s = std::lround(seconds);
  if (s >= 3600) return sformat("%ldh%02ldm", s / 3600, (s / 60) % 60);
  return sformat("%02ld:%02ld", s / 60, s % 60);
}

}  // namespace

void Log::configure(int rank, Verbosity verbosity) {
  state().rank = rank;
  state().verbosity = verbosity;
  state().clock.restart();
}

Verbosity Log::verbosity() {
  return state().verbosity;
}
bool Log::is_root() {
  return state().rank == 0;
}
double Log::elapsed() {
  return state().clock.seconds();
}

void Log::info(const std::string& message) {
  if (state().rank != 0 || state().verbosity < Verbosity::normal) return;
  std::fprintf(stdout, "%s%s\n", stamp().c_str(), message.c_str());
  std::fflush(stdout);
}

void Log::detail(const std::string& message) {
  if (state().rank != 0 || state().verbosity < Verbosity::verbose) return;
  std::fprintf(stdout, "%s%s\n", stamp().c_str(), message.c_str());
  std::fflush(stdout);
}

void Log::warn(const std::string& message) {
  if (state().rank != 0) return;
  std::fprintf(stderr, "ksi: warning: %s\n", message.c_str());
  std::fflush(stderr);
}

namespace {

// Carriage-return bars only on an interactive terminal. Open MPI's launcher gives every rank a pty
// even when mpirun's output goes to a file (a Slurm log), so under a launcher lines are printed
// unless KSI_PROGRESS=bar asks otherwise (KSI_PROGRESS=lines forces lines everywhere).
bool progress_bars() {
  if (const char* mode = std::getenv("KSI_PROGRESS")) return std::string(mode) == "bar";
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK") ||
      std::getenv("SLURM_JOB_ID"))
    return false;
  return isatty(STDOUT_FILENO) != 0;
}

}  // namespace

Progress::Progress(std::string label, std::size_t total)
    : label_(std::move(label)),
      total_(total),
      enabled_(Log::is_root() && Log::verbosity() >= Verbosity::normal && total > 0),
      terminal_(progress_bars()) {}

Progress::~Progress() {
  finish();
}

void Progress::advance(std::size_t units) {
  done_ += units;
  if (!enabled_) return;
  const double now = clock_.seconds();
  // A line every 10 s in logs (every 0.2 s on a terminal) keeps Slurm output readable.
  if (now - last_print_ >= (terminal_ ? 0.2 : 10.0)) print(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) print(true);
}

void Progress::print(bool final) {
  last_print_ = clock_.seconds();
  const double fraction = total_ ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const double elapsed = clock_.seconds();
  const double eta = fraction > 0 ? elapsed * (1.0 - fraction) / fraction : NAN;
  std::string line = sformat("%s: %3.0f%% (%zu/%zu) elapsed %s", label_.c_str(), 100.0 * fraction,
                             done_, total_, clock_text(elapsed).c_str());
  if (!final) line += " ETA " + clock_text(eta);
  if (terminal_) {
    std::fprintf(stdout, "\r%s%s\033[K%s", stamp().c_str(), line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stdout, "%s%s\n", stamp().c_str(), line.c_str());
  }
  std::fflush(stdout);
}

}  // namespace ksi::par
