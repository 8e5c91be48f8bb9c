#pragma once
// Shared pieces of the benchmark programs: command-line parsing of key=value arguments, peak
// memory, and JSON output on rank 0.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ksi/core/version.hpp"  // KSI_GIT_HASH for the JSON records

namespace ksi::bench {

/// Arguments of the form key=value; get() falls back to a default.
class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto eq = a.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "benchmark arguments are key=value, not '%s'\n", a.c_str());
        std::exit(2);
      }
      values_[a.substr(0, eq)] = a.substr(eq + 1);
    }
  }
  std::string get(const std::string& key, const std::string& fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  double number(const std::string& key, double fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : std::stod(it->second);
  }
  std::vector<std::size_t> sizes(const std::string& key, const std::string& fallback) const {
    std::vector<std::size_t> out;
    std::stringstream in(get(key, fallback));
    std::string item;
    while (std::getline(in, item, ',')) out.push_back(std::stoul(item));
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

/// Peak resident memory of this process in MB (VmHWM).
inline double peak_memory_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

}  // namespace ksi::bench
