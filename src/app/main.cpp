// The ksi executable: git-style subcommands over libksi. Errors are caught here, once, and mapped
// to one message and the exit code of their class (README, "Exit codes").
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>

#include "app/commands.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/core/version.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace {

using Command = int (*)(const ksi::app::Invocation&);

struct Subcommand {
  Command run;
  const char* summary;
};

const std::map<std::string, Subcommand>& subcommands() {
  static const std::map<std::string, Subcommand> table = {
      {"synth", {ksi::app::run_synth, "generate a data set (gaussian, mixture, ...)"}},
      {"fit", {ksi::app::run_fit, "fit a kernelized interpolant model to a data set"}},
      {"calibrate",
       {ksi::app::run_calibrate, "fit a model's output gains on its own samples' spectrum"}},
      {"guide",
       {ksi::app::run_guide, "add moment-guided passes to a fitted model (no data needed)"}},
      {"sample", {ksi::app::run_sample, "generate samples from a fitted model"}},
      {"info", {ksi::app::run_info, "describe a data, model or samples file"}},
      {"drift", {ksi::app::run_drift, "generate particles with the drifting method (no fit)"}},
      {"stats",
       {ksi::app::run_stats, "judge generated items against data: spectra, PDFs, Q ratios"}},
  };
  return table;
}

void print_usage(std::ostream& out) {
  out << "ksi " << KSI_VERSION
      << ": training-free generative modelling with kernelized stochastic "
         "interpolants\n\nusage: ksi <subcommand> [options]   (ksi <subcommand> --help)\n\n";
  for (const auto& [name, sub] : subcommands())
    out << ksi::sformat("  %-8s %s\n", name.c_str(), sub.summary);
  out << "\n  --version  print the version\n";
}

// A silent run of N singletons (srun without MPI support) is the classic cluster failure.
void check_slurm_tasks(const ksi::par::Comm& world) {
  const char* tasks = std::getenv("SLURM_NTASKS");
  const bool checked = tasks != nullptr && std::getenv("KSI_IGNORE_SLURM_NTASKS") == nullptr;
  const long expected = checked ? std::strtol(tasks, nullptr, 10) : 0;
  // Agreed by the ranks (one message, exit 6, no MPI abort); with singletons each one says it.
  const bool ok = !(expected > 0 && expected != world.size());
  world.require_all(
      ok,
      ok ? std::string()
         : ksi::cat("MPI reports ", world.size(), " rank(s) but SLURM_NTASKS is ", expected,
                    ": ksi was not launched as one MPI job (use srun with --mpi=pmix, or "
                    "mpirun; see README)"),
      ksi::ExitCode::environment);
}

int run(int argc, char** argv, const ksi::par::Comm& world) {
  ksi::io::set_command_line(argc, argv);
  ksi::par::Log::configure(world.rank(), ksi::par::Verbosity::normal);
  const char* threads = std::getenv("KSI_BLAS_THREADS");
  ksi::set_blas_threads(threads ? std::atoi(threads) : 1);
  if (argc < 2) {
    if (world.is_root()) print_usage(std::cerr);
    return static_cast<int>(ksi::ExitCode::usage);
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    if (world.is_root()) print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    if (world.is_root()) std::cout << "ksi " << KSI_VERSION << " (" << KSI_GIT_HASH << ")\n";
    return 0;
  }
  const auto it = subcommands().find(name);
  if (it == subcommands().end())
    throw ksi::UsageError(ksi::cat("unknown subcommand '", name, "' (see ksi --help)"));
  check_slurm_tasks(world);
  ksi::app::Invocation call{world, name, {argv + 2, argv + argc}};
  return it->second.run(call);
}

}  // namespace

int main(int argc, char** argv) {
  ksi::par::Environment environment(argc, argv);
  int code = 0;
  {
    const ksi::par::Comm world = ksi::par::Comm::world();
    // Kept for the error path alone: ranks that each caught an error meet on it (nothing else
    // waits there) to learn whether all did.
    const ksi::par::Comm errors = ksi::par::Comm::world();
    const bool parallel = world.size() > 1;
    // A signal ends the commands that keep no checkpoint with one line and no temporary left;
    // fit, guide, sample and calibrate turn SIGUSR1 and SIGTERM into a checkpoint and exit 75.
    ksi::par::install_termination_handlers(world.is_root());
    const auto report = [&](const char* message, int exit_code, bool agreed) {
      // An agreed error is printed once; so is one that every rank caught within a moment of the
      // others (a usage error, an unreadable input: every rank checks the same), and the job ends
      // without an abort. Any other error is printed by the rank that saw it, which then ends the
      // job (the other ranks may be waiting in a collective).
      if (parallel && !agreed) agreed = errors.all_arrive_within(2.0);
      if (agreed && !world.is_root()) return;
      // Progress lines go out first (cout is synchronised with stdio: this flushes stdout), and
      // the message leaves in one fprintf on the unbuffered stderr, one write as Log::warning's:
      // mpirun forwards a rank's stdout and stderr apart, and a message written piece by piece
      // could arrive with a progress line inside it.
      std::cout.flush();
      if (parallel && !agreed)
        std::fprintf(stderr, "ksi: error (rank %d): %s\n", world.rank(), message);
      else
        std::fprintf(stderr, "ksi: error: %s\n", message);
      if (parallel && !agreed) ksi::par::Environment::abort(exit_code);
    };
    try {
      code = run(argc, argv, world);
    } catch (const ksi::par::CollectiveError& e) {
      code = e.exit_code();
      report(e.what(), code, true);
    } catch (const ksi::Error& e) {
      code = e.exit_code();
      report(e.what(), code, false);
    } catch (const std::bad_alloc&) {
      code = static_cast<int>(ksi::ExitCode::failure);
      report("out of memory (reduce --memory-mb, --batch or the problem size per rank)", code,
             false);
    } catch (const std::exception& e) {
      code = static_cast<int>(ksi::ExitCode::failure);
      report(e.what(), code, false);
    }
    if (code != 0 && ksi::io::abandoned_files()) {
      // A file that could not be written (full disk) is left open: closing it, as finalising HDF5
      // and MPI would, can wait forever on ranks that failed at another step. Every rank agreed on
      // the error and ends here.
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);
      std::_Exit(code);
    }
  }
  return code;
}
