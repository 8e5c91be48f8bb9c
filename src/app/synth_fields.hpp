#pragma once
// The physics field generators of `ksi synth` (cosmology, turbulence, mrw): their options and how
// they write a data set. cmd_synth.cpp lists them with the vector generators.
#include <functional>
#include <vector>

#include "app/cli.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::app {

struct FieldGenerator {
  const char* name;
  const char* summary;
  std::function<void(po::options_description&)> add_options;
  std::function<void(const po::variables_map&, const par::Comm&)> run;
};

std::vector<FieldGenerator> field_generators();

/// --count of every generator: UsageError "--count must be positive" for 0.
std::size_t item_count(const po::variables_map& vm);

}  // namespace ksi::app
