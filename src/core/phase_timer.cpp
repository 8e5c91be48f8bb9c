#include "ksi/core/phase_timer.hpp"

namespace ksi {

PhaseTimes& PhaseTimes::global() {
  static PhaseTimes instance;
  return instance;
}

void PhaseTimes::add(const std::string& phase, double seconds) {
  seconds_[phase] += seconds;
}

void PhaseTimes::clear() {
  seconds_.clear();
}

std::map<std::string, double> PhaseTimes::snapshot() const {
  return seconds_;
}

}  // namespace ksi
