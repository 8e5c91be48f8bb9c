#pragma once
// Shared pieces of the benchmark programs: command-line parsing of key=value arguments, peak
// memory, and JSON output on rank 0.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../support/smooth_fields.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/version.hpp"  // KSI_GIT_HASH for the JSON records
#include "ksi/fft/fft.hpp"

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

// exp of a Gaussian field with spectrum ~ exp(-|k|^2 / 0.8), scaled to variance 0.64, minus 1.
inline std::vector<double> lognormal_field(const std::vector<std::size_t>& dims, std::uint64_t id) {
  return test::smooth_lognormal_field(dims, 3, id);
}

struct Counts {
  std::map<std::string, std::size_t> count;
  double seconds = 0.0;
};

// Transforms per kind and shape: a batched call of B arrays ("c2c 64x64 (batch 16)") counts B.
inline Counts fft_counts() {
  Counts c;
  for (const auto& t : fft::transform_counts()) {
    std::string shape = t.shape;
    std::size_t batch = 1;
    if (const auto open = shape.find(" (batch "); open != std::string::npos) {
      batch = std::stoul(shape.substr(open + 8));
      shape = shape.substr(0, open);
    }
    c.count[shape] += t.count * batch;
    c.seconds += t.seconds;
  }
  return c;
}

}  // namespace ksi::bench
