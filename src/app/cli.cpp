#include "app/cli.hpp"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/version.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/phase_report.hpp"

namespace boost {
void validate(boost::any& value, const std::vector<std::string>& tokens, std::uint64_t*, int) {
  program_options::validators::check_first_occurrence(value);
  const std::string& text = program_options::validators::get_single_string(tokens);
  std::size_t used = 0;
  unsigned long long parsed = 0;
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  try {
    if (digits) parsed = std::stoull(text, &used);
  } catch (const std::out_of_range&) {
    used = 0;
  }
  if (!digits || used != text.size())
    throw program_options::invalid_option_value(text + " (a whole number 0 or above is expected)");
  value = boost::any(static_cast<std::uint64_t>(parsed));
}
}  // namespace boost

namespace ksi::app {

void add_common_options(po::options_description& desc) {
  desc.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(),
      "read options from FILE (key = value lines, e.g. inputs/*.cfg); the command line wins")(
      "quiet,q", "print errors only")("verbose,v",
                                      "print details (per-time diagnostics, settings)");
}

void add_output_options(po::options_description& desc, const char* what) {
  desc.add_options()("out,o", po::value<std::string>(), what)("force",
                                                              "overwrite an existing output");
}

namespace {

std::string trimmed_line(const std::string& line) {
  std::string t = line;
  t.erase(0, t.find_first_not_of(" \t\r"));
  t.erase(t.find_last_not_of(" \t\r") + 1);
  return t;
}

// The key of a `key = value` line ("" for blank lines and comments).
std::string line_key(const std::string& trimmed) {
  if (trimmed.empty() || trimmed.front() == '#') return {};
  return trimmed_line(trimmed.substr(0, trimmed.find('=')));
}

// ksi guide's keys in [fit] (`guide`, `guide-*`): the settings of ksi fit's own guided passes.
bool guide_key(const std::string& key) {
  return key == "guide" || key.rfind("guide-", 0) == 0;
}

}  // namespace

namespace {

// A config file for reading; UsageError for a folder (which opens, and reads as empty) or an
// unreadable file.
std::ifstream open_config(const std::string& path) {
  if (std::filesystem::is_directory(path))
    throw UsageError(cat("config file ", path, " is a folder"));
  std::ifstream in(path);
  if (!in) throw UsageError(cat("cannot read config file ", path));
  return in;
}

}  // namespace

std::string config_section(const std::string& path, const std::string& subcommand) {
  std::ifstream in = open_config(path);
  // "synth gaussian" reads the [synth] section.
  const std::string own = subcommand.substr(0, subcommand.find(' '));
  static const std::set<std::string> known = {"synth",  "fit",   "calibrate", "guide",
                                              "sample", "stats", "drift",     "info"};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  // ksi guide also takes the guide keys of [fit], where a pipeline's config keeps the settings of
  // the fit's own passes (so `ksi fit --guide 0` then `ksi guide` with one config is `ksi fit`);
  // a key of its own [guide] section wins.
  std::set<std::string> guide_section_keys;
  if (own == "guide") {
    std::string section;
    for (const auto& line : lines) {
      const std::string t = trimmed_line(line);
      if (!t.empty() && t.front() == '[' && t.back() == ']')
        section = t.substr(1, t.size() - 2);
      else if (section == "guide")
        guide_section_keys.insert(line_key(t));
    }
  }
  std::string kept, section;
  int number = 0;
  for (const auto& line : lines) {
    ++number;
    const std::string trimmed = trimmed_line(line);
    if (!trimmed.empty() && trimmed.front() == '[') {
      if (trimmed.back() != ']')
        throw UsageError(cat(path, ":", number, ": malformed section '", trimmed, "'"));
      section = trimmed.substr(1, trimmed.size() - 2);
      if (!known.count(section))
        throw UsageError(cat(path, ":", number, ": unknown section [", section,
                             "] (sections are named after subcommands: synth, fit, calibrate, "
                             "guide, sample, stats, drift, info)"));
      kept += '\n';
      continue;
    }
    // Lines outside any section, and those of this subcommand's section, are this command's
    // options; other subcommands' sections are theirs.
    bool mine = section.empty() || section == own;
    if (own == "guide" && section == "fit") {
      const std::string key = line_key(trimmed);
      mine = guide_key(key) && !guide_section_keys.count(key);
    }
    if (mine && own == "synth" && trimmed.rfind("generator", 0) == 0) {
      kept += '\n';  // read by ksi synth itself (config_generator)
      continue;
    }
    kept += (mine ? line : std::string()) + '\n';
  }
  return kept;
}

std::string config_generator(const std::string& path) {
  std::ifstream in = open_config(path);
  std::string line, section;
  while (std::getline(in, line)) {
    std::string t = line;
    t.erase(0, t.find_first_not_of(" \t\r"));
    if (!t.empty() && t.front() == '[') {
      section = t.substr(1, t.find(']') - 1);
      continue;
    }
    if ((section.empty() || section == "synth") && t.rfind("generator", 0) == 0) {
      const auto eq = t.find('=');
      if (eq == std::string::npos) continue;
      std::string value = t.substr(eq + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t\r") + 1);
      return value;
    }
  }
  return "";
}

bool parse_options(const Invocation& call, const po::options_description& desc,
                   const po::positional_options_description& positional, po::variables_map& vm,
                   const std::string& usage) {
  try {
    po::store(po::command_line_parser(call.args).options(desc).positional(positional).run(), vm);
    if (vm.count("help")) {
      if (call.world.is_root()) std::cout << "usage: " << usage << "\n\n" << desc << "\n";
      return false;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::istringstream in(config_section(path, call.name));
      // Values already given on the command line are kept: po::store never overwrites.
      try {
        po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
      } catch (const po::unknown_option& e) {
        throw UsageError(cat("ksi ", call.name, ": unknown key '", e.get_option_name(),
                             "' in config file ", path, " (see ksi ", call.name, " --help)"));
      } catch (const po::error& e) {
        throw UsageError(cat("ksi ", call.name, ": config file ", path, ": ", e.what()));
      }
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError(cat("ksi ", call.name, ": unknown option '", e.get_option_name(),
                         "' (see ksi ", call.name, " --help)"));
  } catch (const po::error& e) {
    throw UsageError(cat("ksi ", call.name, ": ", e.what()));
  }
  return true;
}

po::variables_map command_line_options(const Invocation& call, const po::options_description& desc,
                                       const po::positional_options_description& positional) {
  // parse_options has checked the arguments already. Without po::notify no default is stored.
  po::variables_map line;
  po::store(po::command_line_parser(call.args).options(desc).positional(positional).run(), line);
  return line;
}

void configure_logging(const po::variables_map& vm, const par::Comm& world) {
  par::Verbosity v = par::Verbosity::normal;
  if (vm.count("quiet")) v = par::Verbosity::quiet;
  if (vm.count("verbose")) v = par::Verbosity::verbose;
  par::Log::configure(world.rank(), v);
}

std::vector<double> parse_list(const std::string& option, const std::string& text) {
  std::vector<double> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    if (item.empty() || used != item.size() || !std::isfinite(v))
      throw UsageError(cat("--", option, ": '", item, "' is not a finite number"));
    values.push_back(v);
  }
  return values;
}

Params parse_key_values(const std::string& option, const std::string& text) {
  Params params;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError(cat("--", option, ": expected key=value, not '", item, "'"));
    params.set(item.substr(0, eq), item.substr(eq + 1));
  }
  return params;
}

void check_report_path(const po::variables_map& vm, bool force,
                       const std::vector<std::string>& others, const par::Comm& world) {
  if (!vm.count("report")) return;
  io::check_output_path(vm["report"].as<std::string>(), force, others, world, "--report");
}

void write_report(const po::variables_map& vm, const par::Comm& world, const std::string& stage,
                  const std::string& extra_fields_json) {
  const auto phases = par::gather_phase_times(world);
  if (!vm.count("report")) return;
  const std::string path = vm["report"].as<std::string>();
  if (!world.is_root()) return;
  std::ofstream out(path);
  out << "{\"stage\": \"" << stage << "\", \"ranks\": " << world.size() << ", \"git_hash\": \""
      << KSI_GIT_HASH << "\", \"version\": \"" << KSI_VERSION
      << "\", \"wall_seconds\": " << par::Log::elapsed()
      << ", \"phases\": " << par::phase_times_json(phases);
  if (!extra_fields_json.empty()) out << ", " << extra_fields_json;
  out << "}\n";
  if (!out) par::Log::warn("could not write the report " + path);
}

}  // namespace ksi::app
