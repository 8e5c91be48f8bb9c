#pragma once
// The subcommands of the ksi executable; each returns the process exit code.
#include "app/cli.hpp"

namespace ksi::app {

int run_synth(const Invocation& call);
int run_fit(const Invocation& call);
int run_calibrate(const Invocation& call);
int run_guide(const Invocation& call);
int run_sample(const Invocation& call);
int run_info(const Invocation& call);
int run_drift(const Invocation& call);
int run_stats(const Invocation& call);

}  // namespace ksi::app
