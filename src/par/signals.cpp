#include "ksi/par/signals.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>

namespace ksi::par {
namespace {

volatile std::sig_atomic_t stop_flag = 0;

extern "C" void on_stop_signal(int) {
  stop_flag = 1;
}

}  // namespace

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
