#pragma once
// Command-line plumbing shared by the subcommands: Boost.Program_options with --config files in
// which unknown keys are errors and the command line wins.
#include <boost/program_options.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace boost {
/// Unsigned options (counts, steps, seeds) refuse a sign: Boost's conversion would take "-1" as
/// 2^64 - 1. Found by argument-dependent lookup (boost::any) in place of Boost's generic one.
void validate(boost::any& value, const std::vector<std::string>& tokens, std::uint64_t*, int);
}  // namespace boost

#include "ksi/core/params.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::app {

namespace po = boost::program_options;

struct Invocation {
  const par::Comm& world;
  std::string name;               // "fit"
  std::vector<std::string> args;  // after the subcommand
};

/// --help, --config, --quiet, --verbose.
void add_common_options(po::options_description& desc);
/// --out, --force.
void add_output_options(po::options_description& desc, const char* what);

/// Parses the arguments, then the --config file (if any) for keys not given on the command line.
/// Returns false (after printing help on rank 0) when --help was asked for. UsageError otherwise.
bool parse_options(const Invocation& call, const po::options_description& desc,
                   const po::positional_options_description& positional, po::variables_map& vm,
                   const std::string& usage);

/// The lines of a config file that belong to `subcommand`: lines before any section and those of
/// its own section ([synth], [fit], [calibrate], [guide], [sample], [stats], [drift], [info]); one
/// file can describe a whole pipeline. `guide` also takes the guide keys (guide, guide-*) of [fit]
/// that its own section does not set.
std::string config_section(const std::string& path, const std::string& subcommand);
/// The `generator = NAME` entry of a config file ([synth] section or no section); "" if none.
std::string config_generator(const std::string& path);

/// The options given on the command line itself (no --config, no defaults): after parse_options,
/// to tell a command-line value from a config file's.
po::variables_map command_line_options(const Invocation& call, const po::options_description& desc,
                                       const po::positional_options_description& positional);

/// Applies --quiet / --verbose to the logger.
void configure_logging(const po::variables_map& vm, const par::Comm& world);

/// Splits "1,2.5,3" into numbers; UsageError naming the option otherwise.
std::vector<double> parse_list(const std::string& option, const std::string& text);
/// "key=value,key=value" into a Params.
Params parse_key_values(const std::string& option, const std::string& text);

/// That --report FILE, if given, may be written: not one of `inputs` or the run's outputs, not
/// existing unless `force`, in an existing folder (io::check_output_path). Before any work.
/// Collective.
void check_report_path(const po::variables_map& vm, bool force,
                       const std::vector<std::string>& others, const par::Comm& world);

/// Writes the JSON run report (phase timings over ranks, ranks, git hash, extra fields) if
/// --report FILE was given; rank 0 writes. Collective.
void write_report(const po::variables_map& vm, const par::Comm& world, const std::string& stage,
                  const std::string& extra_fields_json);

}  // namespace ksi::app
