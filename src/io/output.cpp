#include "ksi/io/output.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/version.hpp"
#include "ksi/par/signals.hpp"

namespace fs = std::filesystem;

namespace ksi::io {
namespace {

std::string& command_line_storage() {
  static std::string text;
  return text;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// The folder a file of `path` is written in.
fs::path folder_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path() : fs::path(".");
}

}  // namespace

void check_interrupted(const std::string& path, const std::string& what, bool resume, bool force,
                       const par::Comm& comm) {
  std::int64_t exists = 0, folder = 1;
  if (comm.is_root()) {
    exists = std::filesystem::exists(path) ? 1 : 0;
    // It will be written there: a missing folder is said now, not after the run's work.
    std::error_code ec;
    folder = fs::is_directory(folder_of(path), ec) ? 1 : 0;
  }
  comm.bcast(exists, 0);
  comm.bcast(folder, 0);
  if (!folder)
    throw par::CollectiveError(ExitCode::io,
                               cat("folder of the ", what, " ", path, " does not exist"), 0);
  if (exists && !resume && !force)
    throw par::CollectiveError(ExitCode::io,
                               cat(what, " ", path,
                                   " of an interrupted run exists: use --resume to continue it, or "
                                   "--force to start over"),
                               0);
}

void check_output_path(const std::string& path, bool force, const std::vector<std::string>& inputs,
                       const par::Comm& comm, const std::string& option) {
  std::string problem;
  ExitCode code = ExitCode::io;
  if (comm.is_root()) {
    std::error_code ec;
    const fs::path p(path);
    const fs::path folder = folder_of(path);
    if (path.empty()) {
      problem = "no output file given (use --out FILE)";
      code = ExitCode::usage;
    } else if (fs::is_directory(p, ec)) {
      problem = cat("output ", path, " is a folder");
    } else if (!fs::is_directory(folder, ec)) {
      problem = cat("folder of output ", path, " does not exist");
    } else if (access(folder.c_str(), W_OK) != 0) {
      problem = cat("folder of output ", path, " is not writable");
    } else {
      for (const auto& input : inputs) {
        if (!input.empty() && same_file(input, path)) {
          problem = cat("output ", path, " is also an input", option == "--out" ? "" : " or output",
                        " of this run; choose another ", option);
          code = ExitCode::usage;
        }
      }
      if (problem.empty() && fs::exists(p, ec) && !force)
        problem = cat("output ", path, " exists; use --force to overwrite it");
      const std::string sidecar = xdmf_path_for(path);
      if (problem.empty() && fs::exists(sidecar, ec) && !force)
        problem = cat("output sidecar ", sidecar, " exists; use --force to overwrite it");
    }
  }
  std::int64_t bad = problem.empty() ? 0 : 1;
  comm.bcast(bad, 0);
  if (bad) {
    std::int64_t c = static_cast<int>(code);
    comm.bcast(problem, 0);
    comm.bcast(c, 0);
    throw par::CollectiveError(static_cast<ExitCode>(c), problem, 0);
  }
}

OutputFile::OutputFile(std::string path, bool force, const std::vector<std::string>& inputs,
                       const par::Comm& comm)
    : path_(std::move(path)), force_(force), comm_(&comm) {
  check_output_path(path_, force_, inputs, comm);
  // The temporary lives in the target folder (same file system, so the rename is atomic).
  std::int64_t pid = static_cast<std::int64_t>(getpid());
  comm.bcast(pid, 0);
  temporary_ = par::temporary_path(path_, pid);
  // Removed by the termination handlers if a signal ends the process first (rank 0 removes it, as
  // the destructor does). A resumable partial output is never tracked: it stays for --resume.
  tracked_ = comm.is_root();
  if (tracked_) par::track_temporary(temporary_);
  file_ = std::make_unique<File>(File::create(temporary_, comm));
  write_format_version(file_->root());
}

OutputFile::OutputFile(std::string path, bool force, const std::vector<std::string>& inputs,
                       const par::Comm& comm, Resumable resumable)
    : path_(std::move(path)), force_(force), comm_(&comm) {
  check_output_path(path_, force_, inputs, comm);
  temporary_ = path_ + ".partial";
  std::int64_t exists = 0;
  if (comm.is_root()) exists = fs::exists(temporary_) ? 1 : 0;
  comm.bcast(exists, 0);
  if (resumable.resume && exists) {
    file_ = std::make_unique<File>(File::open(temporary_, comm, /*writable=*/true));
    resumed_ = true;
  } else {
    file_ = std::make_unique<File>(File::create(temporary_, comm));
    write_format_version(file_->root());
  }
}

void OutputFile::keep_partial() {
  file_->close();
  untrack();
  committed_ = true;  // nothing for the destructor to remove
}

void OutputFile::flush() {
  file_->flush();
}

OutputFile::~OutputFile() {
  if (committed_) return;
  // Not committed: drop the partial file. Closing is collective under MPI-IO; while an exception is
  // in flight other ranks may be elsewhere (a rank-local error ends in MPI_Abort), so the handle is
  // then left to HDF5's shutdown instead. Unlinking an open file is safe on POSIX file systems.
  if (std::uncaught_exceptions() == 0) {
    try {
      if (file_) file_->close();
    } catch (...) {
    }
  }
  // A partial output that was reopened holds an earlier run's work: it stays for another --resume.
  if (comm_->is_root() && !resumed_) {
    std::error_code ec;
    fs::remove(temporary_, ec);
  }
  untrack();
}

void OutputFile::untrack() noexcept {
  if (tracked_) par::untrack_temporary(temporary_);
  tracked_ = false;
}

void OutputFile::add_sidecar(const std::string& path, std::string contents) {
  sidecars_.emplace_back(path, std::move(contents));
}

void OutputFile::commit() {
  try {
    file_->close();
  } catch (const par::CollectiveError& e) {
    // Name the output, not its temporary.
    std::string message = e.what();
    for (auto at = message.find(temporary_); at != std::string::npos;
         at = message.find(temporary_, at + path_.size()))
      message.replace(at, temporary_.size(), path_);
    throw par::CollectiveError(e.code(), message, e.origin_rank());
  }
  comm_->barrier();
  std::string problem;
  if (comm_->is_root()) {
    std::error_code ec;
    for (const auto& [side_path, contents] : sidecars_) {
      if (fs::exists(side_path, ec) && !force_) {
        problem = cat(side_path, " exists; use --force to overwrite it");
        break;
      }
      const std::string tmp = side_path + ".tmp." + std::to_string(getpid());
      std::ofstream out(tmp);
      out << contents;
      out.close();
      if (!out) {
        problem = cat("could not write ", side_path);
        break;
      }
      fs::rename(tmp, side_path, ec);
      if (ec) problem = cat("could not rename ", tmp, " to ", side_path, ": ", ec.message());
    }
    if (problem.empty()) {
      fs::rename(temporary_, path_, ec);
      if (ec) problem = cat("could not rename ", temporary_, " to ", path_, ": ", ec.message());
    }
    if (!problem.empty()) fs::remove(temporary_, ec);
  }
  untrack();
  committed_ = true;                                           // the temporary is gone either way
  comm_->require_all(problem.empty(), problem, ExitCode::io);  // problem is only set on rank 0
}

void set_command_line(int argc, char** argv) {
  std::string text;
  for (int i = 0; i < argc; ++i) {
    if (i) text += ' ';
    text += argv[i];
  }
  command_line_storage() = text;
}

const std::string& command_line() {
  return command_line_storage();
}

void write_provenance(const Group& group, const std::string& created_by) {
  // Every rank must write identical values: take rank 0's date and host.
  std::string date = utc_now();
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::string hostname = host;
  group.comm().bcast(date, 0);
  group.comm().bcast(hostname, 0);
  group.set_attribute("ksi_version", KSI_VERSION);
  group.set_attribute("ksi_git_hash", KSI_GIT_HASH);
  group.set_attribute("created_by", created_by);
  std::string cmd = command_line();
  group.comm().bcast(cmd, 0);
  group.set_attribute("command_line", cmd);
  group.set_attribute("mpi_ranks", static_cast<std::int64_t>(group.comm().size()));
  group.set_attribute("created_utc", date);
  group.set_attribute("host", hostname);
}

std::string xdmf_path_for(const std::string& h5_path) {
  fs::path p(h5_path);
  p.replace_extension(".xmf");
  return p.string();
}

std::string xdmf_for_fields(const std::string& h5_name, const std::string& dataset,
                            std::size_t count, const std::vector<std::size_t>& grid,
                            bool single_precision, double box_size) {
  // XDMF orders dimensions slowest first, like HDF5; 2D fields are shown as one-cell-thick 3D slabs
  // would be odd, so they use 2DCoRectMesh.
  const std::size_t rank = grid.size();
  std::string dims, origin, spacing;
  for (std::size_t i = 0; i < rank; ++i) {
    dims += (i ? " " : "") + std::to_string(grid[i]);
    origin += i ? " 0" : "0";
    spacing += (i ? " " : "") + sformat("%.10g", box_size / static_cast<double>(grid[i]));
  }
  const std::string topology = rank == 3 ? "3DCoRectMesh" : "2DCoRectMesh";
  const std::string geometry = rank == 3 ? "ORIGIN_DXDYDZ" : "ORIGIN_DXDY";
  std::string x = "<?xml version=\"1.0\" ?>\n<Xdmf Version=\"3.0\">\n <Domain>\n";
  x += "  <Grid Name=\"fields\" GridType=\"Collection\" CollectionType=\"Temporal\">\n";
  for (std::size_t item = 0; item < count; ++item) {
    x += sformat("   <Grid Name=\"item %zu\" GridType=\"Uniform\">\n", item);
    x += sformat("    <Time Value=\"%zu\"/>\n", item);
    x += "    <Topology TopologyType=\"" + topology + "\" Dimensions=\"" + dims + "\"/>\n";
    x += "    <Geometry GeometryType=\"" + geometry + "\">\n";
    x += sformat("     <DataItem Format=\"XML\" Dimensions=\"%zu\">%s</DataItem>\n", rank,
                 origin.c_str());
    x += sformat("     <DataItem Format=\"XML\" Dimensions=\"%zu\">%s</DataItem>\n", rank,
                 spacing.c_str());
    x += "    </Geometry>\n";
    x += "    <Attribute Name=\"field\" AttributeType=\"Scalar\" Center=\"Node\">\n";
    x += "     <DataItem ItemType=\"HyperSlab\" Dimensions=\"" + dims + "\" Type=\"HyperSlab\">\n";
    std::string start = std::to_string(item), stride = "1", block = "1";
    for (std::size_t i = 0; i < rank; ++i) {
      start += " 0";
      stride += " 1";
      block += " " + std::to_string(grid[i]);
    }
    x += sformat("      <DataItem Dimensions=\"3 %zu\" Format=\"XML\">%s %s %s</DataItem>\n",
                 rank + 1, start.c_str(), stride.c_str(), block.c_str());
    x += sformat(
        "      <DataItem Format=\"HDF\" NumberType=\"Float\" Precision=\"%d\" "
        "Dimensions=\"%zu %s\">%s:/%s</DataItem>\n",
        single_precision ? 4 : 8, count, dims.c_str(), h5_name.c_str(), dataset.c_str());
    x += "     </DataItem>\n    </Attribute>\n   </Grid>\n";
  }
  x += "  </Grid>\n </Domain>\n</Xdmf>\n";
  return x;
}

}  // namespace ksi::io
