#include "ksi/par/signals.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>

namespace ksi::par {
namespace {

volatile std::sig_atomic_t stop_flag = 0;

extern "C" void on_stop_signal(int) {
  stop_flag = 1;
}

// Paths of outputs in progress, read by the termination handler: fixed slots, each published by
// its flag after the path is written (nothing in the handler allocates or locks).
constexpr std::size_t slot_count = 64, path_capacity = 4096;
std::array<std::array<char, path_capacity>, slot_count> temporary_paths{};
std::array<std::atomic<int>, slot_count> temporary_used{};  // 0 free, 1 being written, 2 tracked
volatile std::sig_atomic_t say_on_termination = 0;

void say(const char* text) noexcept {
  const ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" void on_termination_signal(int signal_number) {
  for (std::size_t i = 0; i < slot_count; ++i)
    if (temporary_used[i].load() == 2) unlink(temporary_paths[i].data());
  if (say_on_termination) {
    const char* name = signal_number == SIGTERM  ? "SIGTERM"
                       : signal_number == SIGINT ? "SIGINT"
                       : signal_number == SIGHUP ? "SIGHUP"
                                                 : "SIGUSR1";
    say("ksi: stopped by ");
    say(name);
    say(": this command keeps no checkpoint; the output in progress was removed\n");
  }
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

}  // namespace

void install_termination_handlers(bool say_it) {
  say_on_termination = say_it ? 1 : 0;
  struct sigaction action {};
  action.sa_handler = on_termination_signal;
  sigemptyset(&action.sa_mask);
  for (const int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&action.sa_mask, s);
  action.sa_flags = SA_RESETHAND;
  for (const int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaction(s, &action, nullptr);
}

void track_temporary(const std::string& path) noexcept {
  if (path.size() + 1 > path_capacity) return;
  for (std::size_t i = 0; i < slot_count; ++i) {
    int free = 0;
    if (!temporary_used[i].compare_exchange_strong(free, 1)) continue;
    std::memcpy(temporary_paths[i].data(), path.c_str(), path.size() + 1);
    temporary_used[i].store(2);
    return;
  }
}

std::string temporary_path(const std::string& target, long long pid) {
  const std::filesystem::path p(target);
  return (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(pid))).string();
}

void untrack_temporary(const std::string& path) noexcept {
  for (std::size_t i = 0; i < slot_count; ++i) {
    if (temporary_used[i].load() != 2 || path != temporary_paths[i].data()) continue;
    temporary_used[i].store(0);
    return;
  }
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() noexcept {
  return stop_flag != 0;
}
void clear_stop_request() noexcept {
  stop_flag = 0;
}
void request_stop() noexcept {
  stop_flag = 1;
}

namespace {
std::int64_t local_vote(const Comm& comm, bool checkpoint_due) {
  std::int64_t want = stop_requested() ? 2 : 0;
  if (comm.is_root() && checkpoint_due) want = std::max<std::int64_t>(want, 1);
  return want;
}
}  // namespace

Pause agree_to_pause(const Comm& comm, bool checkpoint_due) {
  return static_cast<Pause>(comm.allreduce_max(local_vote(comm, checkpoint_due)));
}

Pause agree_to_pause_or_raise(const Comm& comm, std::exception_ptr failure, bool checkpoint_due) {
  return static_cast<Pause>(comm.raise_if_any_or_vote(failure, local_vote(comm, checkpoint_due)));
}

}  // namespace ksi::par
