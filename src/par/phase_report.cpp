#include "ksi/par/phase_report.hpp"

#include <set>
#include <vector>

#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"

namespace ksi::par {

std::map<std::string, PhaseStats> gather_phase_times(const Comm& comm) {
  const auto local = PhaseTimes::global().snapshot();
  // Agree on the union of phase names: rank order concatenation of the names, broadcast as text.
  std::string names;
  for (const auto& [name, seconds] : local) names += name + '\n';
  std::vector<double> bytes(names.begin(), names.end());
  const auto all = comm.allgatherv(bytes);
  std::set<std::string> phases;
  std::string current;
  for (double c : all) {
    if (static_cast<char>(c) == '\n') {
      phases.insert(current);
      current.clear();
    } else {
      current += static_cast<char>(c);
    }
  }
  std::map<std::string, PhaseStats> out;
  for (const auto& name : phases) {
    auto it = local.find(name);
    const double mine = it == local.end() ? 0.0 : it->second;
    PhaseStats s;
    s.min = comm.allreduce_min(mine);
    s.max = comm.allreduce_max(mine);
    s.mean = comm.allreduce_sum(mine) / comm.size();
    out[name] = s;
  }
  return out;
}

std::string phase_times_json(const std::map<std::string, PhaseStats>& phases) {
  std::string json = "{";
  bool first = true;
  for (const auto& [name, s] : phases) {
    json += sformat("%s\"%s\": {\"min\": %.6g, \"mean\": %.6g, \"max\": %.6g}", first ? "" : ", ",
                    name.c_str(), s.min, s.mean, s.max);
    first = false;
  }
  return json + "}";
}

}  // namespace ksi::par
