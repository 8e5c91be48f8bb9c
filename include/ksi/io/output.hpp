#pragma once
/// @file
/// Outputs appear whole or not at all: an OutputFile is written under a temporary name in the
/// target folder and renamed when commit() is called; an error before that removes the temporary.
/// An existing output is refused unless `force` is set, and an output may never be one of the run's
/// inputs. Every file created here carries the format version (write_format_version): every file
/// ksi writes does.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ksi/io/hdf5.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::io {

/// Checks on rank 0, agreed by all ranks, that `path` may be written: not an input, not existing
/// (unless force), and its folder exists. Throws IoError/UsageError naming the problem (and
/// `option`, the one that named the path). Collective.
void check_output_path(const std::string& path, bool force, const std::vector<std::string>& inputs,
                       const par::Comm& comm, const std::string& option = "--out");

/// Refuses to start over the saved state of an interrupted run (a checkpoint, a partial output):
/// CollectiveError (ExitCode::io) "<what> <path> of an interrupted run exists: use --resume to
/// continue it, or --force to start over" when `path` exists on rank 0 and neither `resume` nor
/// `force` is set. Collective.
void check_interrupted(const std::string& path, const std::string& what, bool resume, bool force,
                       const par::Comm& comm);

class OutputFile {
 public:
  /// Checks the path (see check_output_path) and creates the temporary file. Collective.
  OutputFile(std::string path, bool force, const std::vector<std::string>& inputs,
             const par::Comm& comm);

  /// A resumable output: the temporary is `<path>.partial`, kept by keep_partial() when a run is
  /// interrupted. With `resume` an existing partial file is reopened (resumed() is then true);
  /// otherwise it is created afresh. Collective.
  struct Resumable {
    bool resume = false;
  };
  OutputFile(std::string path, bool force, const std::vector<std::string>& inputs,
             const par::Comm& comm, Resumable resumable);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  File& file() { return *file_; }
  Group root() const { return file_->root(); }
  const std::string& path() const noexcept { return path_; }
  const std::string& temporary_path() const noexcept { return temporary_; }

  /// A text file written next to the output (e.g. the .xmf sidecar), committed with it.
  void add_sidecar(const std::string& path, std::string contents);
  /// Closes the file and renames it (and its sidecars) into place. Collective. All groups and
  /// datasets obtained from file() must have been destroyed.
  void commit();
  /// Resumable outputs: closes the partial file and keeps it for a later --resume. Collective.
  void keep_partial();
  /// True if an existing partial file was reopened.
  bool resumed() const noexcept { return resumed_; }
  /// Pushes buffered data to the file system (collective), so an abrupt end loses little.
  void flush();

 private:
  std::string path_;
  std::string temporary_;
  bool force_;
  const par::Comm* comm_;
  std::unique_ptr<File> file_;
  std::vector<std::pair<std::string, std::string>> sidecars_;
  bool committed_ = false;
  bool resumed_ = false;
  bool tracked_ = false;  ///< the temporary is known to the termination handlers (rank 0)
  /// The temporary is renamed, kept or removed: the termination handlers forget it.
  void untrack() noexcept;
};

/// The command line of this process, recorded in provenance attributes; set once by main().
void set_command_line(int argc, char** argv);
const std::string& command_line();

/// Writes provenance attributes (ksi version, git hash, command line, ranks, UTC date, host, the
/// subcommand) on `group`. Collective.
void write_provenance(const Group& group, const std::string& created_by);

/// XDMF 3 description of a (count, n0[, n1[, n2]]) dataset, one uniform grid per item, so ParaView
/// and VisIt open the HDF5 file directly. `h5_name` is the HDF5 file name relative to the .xmf.
std::string xdmf_for_fields(const std::string& h5_name, const std::string& dataset,
                            std::size_t count, const std::vector<std::size_t>& grid,
                            bool single_precision, double box_size);

/// "out.h5" -> "out.xmf".
std::string xdmf_path_for(const std::string& h5_path);

}  // namespace ksi::io
