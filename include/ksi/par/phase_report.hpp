#pragma once
/// @file
/// Phase timings combined over ranks (min, mean, max), for logs and JSON reports.

#include <map>
#include <string>

#include "ksi/par/comm.hpp"

namespace ksi::par {

struct PhaseStats {
  double min = 0.0;
  double mean = 0.0;
  double max = 0.0;
};

/// Combines PhaseTimes::global() of all ranks (collective). Phases missing on a rank count as 0.
std::map<std::string, PhaseStats> gather_phase_times(const Comm& comm);

/// {"phase": {"min": .., "mean": .., "max": ..}, ...} as a JSON object.
std::string phase_times_json(const std::map<std::string, PhaseStats>& phases);

}  // namespace ksi::par
