#include "ksi/stats/report_files.hpp"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <type_traits>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/version.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/signals.hpp"

namespace fs = std::filesystem;

namespace ksi::stats {
namespace {

constexpr const char* kJudgementTable = "q";

std::string csv_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return sformat("%.12g", v);
}

// JSON has no NaN or infinity: those become null.
std::string json_number(double v) {
  return std::isfinite(v) ? sformat("%.12g", v) : "null";
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += sformat("\\u%04x", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

// A CSV field: quoted when it holds a separator, a quote or a line break.
template <class T>
std::string json_array(const std::vector<T>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += i ? ", " : "";
    if constexpr (std::is_floating_point_v<T>)
      out += json_number(values[i]);
    else
      out += std::to_string(values[i]);
  }
  return out + "]";
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  const auto p = fs::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

std::vector<SetRole> roles_of(const StatsReport& report) {
  std::vector<SetRole> roles;
  for (SetRole role : kSetRoles)
    if (report.counts.count(role)) roles.push_back(role);
  return roles;
}

}  // namespace

std::vector<std::string> ReportFiles::all() const {
  std::vector<std::string> paths{json};
  for (const auto& [table, path] : tables) paths.push_back(path);
  return paths;
}

ReportFiles report_files(const std::string& out, const std::string& out_dir,
                         const std::vector<std::string>& tables) {
  if (out.empty() == out_dir.empty())
    throw UsageError("ksi stats: give exactly one of --out PREFIX and --out-dir DIR");
  ReportFiles files;
  std::string prefix;
  if (!out_dir.empty()) {
    files.folder = out_dir;
    files.create_folder = true;
    prefix = (fs::path(out_dir) / "stats").string();
  } else {
    if (out.back() == '/') throw UsageError(cat("--out ", out, " names a folder; use --out-dir"));
    const fs::path p(out);
    files.folder = p.has_parent_path() ? p.parent_path().string() : ".";
    prefix = out;
  }
  files.json = prefix + ".json";
  files.tables[kJudgementTable] = prefix + "_" + kJudgementTable + ".csv";
  for (const auto& table : tables) files.tables[table] = prefix + "_" + table + ".csv";
  return files;
}

void check_report_files(const ReportFiles& files, bool force,
                        const std::vector<std::string>& inputs, const par::Comm& comm) {
  std::int64_t folder_exists = 0;
  std::string problem;
  if (comm.is_root()) {
    std::error_code ec;
    const fs::path folder(files.folder);
    folder_exists = fs::is_directory(folder, ec) ? 1 : 0;
    if (!folder_exists) {
      const fs::path parent = folder.has_parent_path() ? folder.parent_path() : fs::path(".");
      if (!files.create_folder)
        problem = cat("folder ", files.folder, " of the report does not exist");
      else if (fs::exists(folder, ec))
        problem = cat("--out-dir ", files.folder, " exists and is not a folder");
      else if (!fs::is_directory(parent, ec) || access(parent.c_str(), W_OK) != 0)
        problem = cat("cannot make the report folder ", files.folder, ": ", parent.string(),
                      " is missing or not writable");
    }
  }
  comm.require_all(problem.empty(), problem, ExitCode::io);
  comm.bcast(folder_exists, 0);
  // In a folder still to be made nothing can exist yet, and no input can live there.
  if (folder_exists)
    for (const auto& path : files.all()) io::check_output_path(path, force, inputs, comm);
}

std::string table_csv(const StatsReport& report, const std::string& table) {
  const auto roles = roles_of(report);
  std::ostringstream out;
  bool header = false;
  for (const auto& s : report.statistics) {
    if (s.table != table) continue;
    if (!header) {
      out << "statistic";
      for (const auto& column : s.index_columns) out << ',' << column;
      for (SetRole role : roles)
        out << ',' << to_string(role) << "_mean," << to_string(role) << "_std";
      out << '\n';
      header = true;
    }
    for (std::size_t k = 0; k < s.components(); ++k) {
      out << s.name;
      for (const auto& value : s.index_rows[k]) out << ',' << csv_field(value);
      for (SetRole role : roles) {
        const auto& summary = s.sets.at(role);
        out << ',' << csv_number(summary.mean[k]) << ',' << csv_number(summary.stddev[k]);
      }
      out << '\n';
    }
  }
  ensure(header, "table without statistics");
  return out.str();
}

std::string judgement_csv(const StatsReport& report) {
  std::ostringstream out;
  out << "statistic,label,components,dist_train_test,dist_gen_test,dist_baseline_test,q_gen,"
         "q_baseline,spread_train_test,spread_gen_test,spread_baseline_test,q_spread_gen,"
         "q_spread_baseline\n";
  for (const auto& j : report.judgements)
    out << j.name << ',' << csv_field(j.label) << ',' << j.components << ','
        << csv_number(j.train_test) << ',' << csv_number(j.gen_test) << ','
        << csv_number(j.baseline_test) << ',' << csv_number(j.q_gen()) << ','
        << csv_number(j.q_baseline()) << ',' << csv_number(j.spread_train_test) << ','
        << csv_number(j.spread_gen_test) << ',' << csv_number(j.spread_baseline_test) << ','
        << csv_number(j.q_spread_gen()) << ',' << csv_number(j.q_spread_baseline()) << '\n';
  return out.str();
}

std::string summary_json(const StatsReport& report, const ReportFiles& files, int ranks) {
  const auto name_of = [](const std::string& path) {
    return json_string(fs::path(path).filename().string());
  };
  const auto& o = report.options;
  std::ostringstream out;
  out << "{\n  \"ksi_version\": " << json_string(KSI_VERSION)
      << ",\n  \"git_hash\": " << json_string(KSI_GIT_HASH)
      << ",\n  \"command_line\": " << json_string(io::command_line())
      << ",\n  \"ranks\": " << ranks;
  out << ",\n  \"item_shape\": {\"kind\": "
      << json_string(report.shape.is_grid() ? "grid" : "vector") << ", \"dims\": [";
  const auto dims =
      report.shape.is_grid() ? report.shape.dims() : std::vector<std::size_t>{report.shape.size()};
  for (std::size_t a = 0; a < dims.size(); ++a) out << (a ? ", " : "") << dims[a];
  out << "], \"box_size\": " << json_number(report.box_size) << "}";
  out << ",\n  \"sets\": {";
  bool first = true;
  for (SetRole role : roles_of(report)) {
    out << (first ? "" : ",") << "\n    " << json_string(to_string(role))
        << ": {\"count\": " << report.counts.at(role);
    if (role == SetRole::baseline)
      out << ", \"seed\": " << o.baseline_seed;
    else
      out << ", \"path\": "
          << json_string(absolute(role == SetRole::train  ? report.inputs.train
                                  : role == SetRole::test ? report.inputs.test
                                                          : report.inputs.gen));
    out << "}";
    first = false;
  }
  out << "\n  },\n  \"model\": "
      << (report.inputs.model.empty() ? "null" : json_string(absolute(report.inputs.model)));
  out << ",\n  \"baseline_items\": "
      << (files.baseline_items.empty() ? "null" : json_string(absolute(files.baseline_items)));
  out << ",\n  \"options\": {\"pdf_bins\": " << o.pdf_bins
      << ", \"pdf_min\": " << json_number(o.pdf_min) << ", \"pdf_max\": " << json_number(o.pdf_max)
      << ", \"kmax\": " << o.kmax
      << ", \"structure_functions\": " << (o.structure_functions ? "true" : "false")
      << ", \"max_separation\": " << o.max_separation
      << ", \"baseline\": " << (o.baseline ? "true" : "false")
      << ", \"baseline_count\": " << o.baseline_count << ", \"baseline_seed\": " << o.baseline_seed
      << ", \"energy_items\": " << o.energy_items
      << ", \"bispectrum\": " << (o.bispectrum ? "true" : "false")
      << ", \"bispectrum_bins\": " << o.bispectrum_bins
      << ", \"bispectrum_kmax\": " << o.bispectrum_kmax
      << ", \"peaks\": " << (o.peaks ? "true" : "false") << ", \"peak_bins\": " << o.peak_bins
      << ", \"peak_min\": " << json_number(o.peak_min)
      << ", \"peak_max\": " << json_number(o.peak_max)
      << ", \"minkowski\": " << (o.minkowski ? "true" : "false")
      << ", \"minkowski_thresholds\": " << o.minkowski_thresholds
      << ", \"minkowski_min\": " << json_number(o.minkowski_min)
      << ", \"minkowski_max\": " << json_number(o.minkowski_max)
      << ", \"increments\": " << (o.increments ? "true" : "false")
      << ", \"increment_separations\": " << json_array(o.increment_separations)
      << ", \"increment_bins\": " << o.increment_bins
      << ", \"increment_range\": " << json_number(o.increment_range) << "}";
  // The units every set was binned in, and the Gaussian reference of the Minkowski functionals.
  out << ",\n  \"reference\": {\"field_mean\": " << json_number(report.field_mean)
      << ", \"field_std\": " << json_number(report.field_std)
      << ", \"increment_std\": " << json_array(report.increment_std) << "}";
  out << ",\n  \"gaussian_minkowski\": ";
  if (report.gaussian_minkowski.empty()) {
    out << "null";
  } else {
    out << "{\"sigma0\": " << json_number(report.gaussian_sigma0)
        << ", \"sigma1\": " << json_number(report.gaussian_sigma1)
        << ", \"nu\": " << json_array(minkowski_thresholds(o));
    for (std::size_t j = 0; j < report.gaussian_minkowski.size(); ++j)
      out << ", \"V_" << j << "\": " << json_array(report.gaussian_minkowski[j]);
    out << "}";
  }
  out << ",\n  \"statistics\": [";
  for (std::size_t s = 0; s < report.statistics.size(); ++s) {
    const auto& st = report.statistics[s];
    out << (s ? "," : "") << "\n    {\"name\": " << json_string(st.name)
        << ", \"label\": " << json_string(st.label) << ", \"table\": " << json_string(st.table)
        << ", \"judged\": " << (st.judged ? "true" : "false")
        << ", \"components\": " << st.components() << "}";
  }
  out << "\n  ],\n  \"judgements\": [";
  for (std::size_t i = 0; i < report.judgements.size(); ++i) {
    const auto& j = report.judgements[i];
    out << (i ? "," : "") << "\n    {\"statistic\": " << json_string(j.name)
        << ", \"label\": " << json_string(j.label) << ", \"components\": " << j.components
        << ", \"dist_train_test\": " << json_number(j.train_test)
        << ", \"dist_gen_test\": " << json_number(j.gen_test)
        << ", \"dist_baseline_test\": " << json_number(j.baseline_test)
        << ", \"q_gen\": " << json_number(j.q_gen())
        << ", \"q_baseline\": " << json_number(j.q_baseline())
        << ", \"spread_train_test\": " << json_number(j.spread_train_test)
        << ", \"spread_gen_test\": " << json_number(j.spread_gen_test)
        << ", \"spread_baseline_test\": " << json_number(j.spread_baseline_test)
        << ", \"q_spread_gen\": " << json_number(j.q_spread_gen())
        << ", \"q_spread_baseline\": " << json_number(j.q_spread_baseline()) << "}";
  }
  out << "\n  ],\n  \"tables\": {";
  first = true;
  for (const auto& [table, path] : files.tables) {
    out << (first ? "" : ", ") << json_string(table) << ": " << name_of(path);
    first = false;
  }
  out << "},\n  \"png\": " << name_of(fs::path(files.json).replace_extension(".png").string())
      << "\n}\n";
  return out.str();
}

void write_report_files(const StatsReport& report, const ReportFiles& files, bool force,
                        const par::Comm& comm) {
  std::string problem;
  if (comm.is_root()) {
    std::vector<std::pair<std::string, std::string>> contents;
    contents.emplace_back(files.json, summary_json(report, files, comm.size()));
    for (const auto& [table, path] : files.tables)
      contents.emplace_back(
          path, table == kJudgementTable ? judgement_csv(report) : table_csv(report, table));
    std::error_code ec;
    if (files.create_folder) fs::create_directories(files.folder, ec);
    if (ec) problem = cat("cannot make the report folder ", files.folder, ": ", ec.message());
    // All temporaries first, then the renames: a failure leaves no partial report behind.
    std::vector<std::string> temporaries;
    for (const auto& [path, text] : contents) {
      if (!problem.empty()) break;
      const std::string temporary = par::temporary_path(path, getpid());
      temporaries.push_back(temporary);
      par::track_temporary(temporary);  // removed if a signal ends ksi stats here
      std::ofstream stream(temporary);
      stream << text;
      stream.close();
      if (!stream) problem = cat("could not write ", path);
    }
    for (std::size_t i = 0; problem.empty() && i < contents.size(); ++i) {
      if (!force && fs::exists(contents[i].first, ec)) {
        problem =
            cat(contents[i].first, " appeared while ksi stats ran; use --force to overwrite it");
        break;
      }
    }
    for (std::size_t i = 0; problem.empty() && i < contents.size(); ++i) {
      fs::rename(temporaries[i], contents[i].first, ec);
      if (ec)
        problem =
            cat("could not rename ", temporaries[i], " to ", contents[i].first, ": ", ec.message());
    }
    if (!problem.empty())
      for (const auto& temporary : temporaries) fs::remove(temporary, ec);
    for (const auto& temporary : temporaries) par::untrack_temporary(temporary);
  }
  comm.require_all(problem.empty(), problem, ExitCode::io);
}

}  // namespace ksi::stats
