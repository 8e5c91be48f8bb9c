#pragma once
/// @file
/// The files of a `ksi stats` report, all named from one prefix:
///
///     PREFIX.json                 summary: inputs, options, every distance and Q ratio, file names
///     PREFIX_q.csv                one row per judged statistic: distances to test and Q ratios
///     PREFIX_<table>.csv          per-set mean and spread of each statistic's components, in long
///                                 form: statistic, index columns, then <set>_mean, <set>_std for
///                                 train, test, gen (and baseline)
///     PREFIX.png                  drawn afterwards by jobs/plot_report.py PREFIX.json
///
/// The text files appear together or not at all (temporaries renamed once all are written); an
/// existing file is refused without `force`, and no output may be an input.

#include <map>
#include <string>
#include <vector>

#include "ksi/par/comm.hpp"
#include "ksi/stats/compare.hpp"

namespace ksi::stats {

struct ReportFiles {
  std::string folder;          ///< where the files go
  bool create_folder = false;  ///< the folder is made when the report is written (--out-dir)
  std::string json;
  std::map<std::string, std::string> tables;  ///< table name ("q", "pdf", ...) -> CSV path
  /// The baseline items' HDF5 file when the caller writes one (recorded in the JSON for the plots).
  std::string baseline_items;
  /// Every text file of the report, JSON first.
  std::vector<std::string> all() const;
};

/// The files for `--out PREFIX` (exactly one of `out` and `out_dir` non-empty; UsageError
/// otherwise) or `--out-dir DIR` (prefix DIR/stats; DIR is made if missing), and the comparison's
/// tables (the Q table is always added).
ReportFiles report_files(const std::string& out, const std::string& out_dir,
                         const std::vector<std::string>& tables);

/// Checks that the report may be written (folder exists or can be made, files absent unless
/// `force`, no file an input). IoError or UsageError agreed by all ranks otherwise. Collective.
void check_report_files(const ReportFiles& files, bool force,
                        const std::vector<std::string>& inputs, const par::Comm& comm);

/// The CSV text of one statistics table.
std::string table_csv(const StatsReport& report, const std::string& table);
/// The CSV text of the Q table.
std::string judgement_csv(const StatsReport& report);
/// The JSON summary (provenance, inputs, options, judgements, file names relative to the JSON).
std::string summary_json(const StatsReport& report, const ReportFiles& files, int ranks);

/// Writes every file of the report on rank 0 and renames them into place. Collective.
void write_report_files(const StatsReport& report, const ReportFiles& files, bool force,
                        const par::Comm& comm);

}  // namespace ksi::stats
