#pragma once
/// @file
/// Parallel HDF5 through move-only handles. Every call that touches file metadata (create,
/// attribute writes) is collective over the file's communicator with identical arguments on every
/// rank; bulk data goes through RowDataset, where each rank writes or reads its own contiguous rows
/// collectively.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ksi/core/params.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::io {

/// A dataset shape as text: "(5, 8)".
std::string dims_text(const std::vector<std::size_t>& dims);

/// The layout of the files ksi writes, stored as the root attribute `ksi_format_version` of every
/// one of them (models, data sets, samples, particles, checkpoints) by write_format_version, and
/// checked by File::open. Files without the attribute were written before it existed and are read
/// as version 1. Raise it when a file written by this ksi could not be read by an earlier one.
inline constexpr std::int64_t kFormatVersion = 1;
inline constexpr const char* kFormatVersionAttribute = "ksi_format_version";

enum class DType { float32, float64, int64 };
std::string to_string(DType type);
/// "float32" or "float64" (also "f4", "f8"); UsageError otherwise.
DType parse_float_dtype(const std::string& text);

/// Owner of one HDF5 identifier (hid_t), released with H5Idec_ref.
class Handle {
 public:
  Handle() = default;
  explicit Handle(std::int64_t id, const char* what);
  ~Handle();
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  std::int64_t id() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  void reset();
  /// Gives up ownership without releasing the identifier.
  std::int64_t release() noexcept;

 private:
  std::int64_t id_ = -1;
};

class RowDataset;

/// A group (or the root group) of an open file; attribute and small-dataset access.
class Group {
 public:
  Group(Handle handle, const par::Comm* comm, std::string path);

  const std::string& path() const noexcept { return path_; }
  bool has(const std::string& name) const;  ///< a child group or dataset
  bool has_attribute(const std::string& name) const;
  std::vector<std::string> attribute_names() const;
  std::vector<std::string> children() const;

  Group create_group(const std::string& name) const;
  /// Removes a child group or dataset (collective when writing in parallel).
  void remove(const std::string& name) const;
  Group open_group(const std::string& name) const;

  // Attributes: collective when the file is open for writing; same value on every rank.
  void set_attribute(const std::string& name, const std::string& value) const;
  void set_attribute(const std::string& name, const char* value) const {
    set_attribute(name, std::string(value));
  }
  void set_attribute(const std::string& name, double value) const;
  void set_attribute(const std::string& name, std::int64_t value) const;
  void set_attribute(const std::string& name, std::span<const double> values) const;
  void set_attribute(const std::string& name, std::span<const std::int64_t> values) const;

  std::string text_attribute(const std::string& name) const;
  double real_attribute(const std::string& name) const;
  std::int64_t integer_attribute(const std::string& name) const;
  std::vector<double> reals_attribute(const std::string& name) const;
  std::vector<std::int64_t> integers_attribute(const std::string& name) const;
  /// Any scalar attribute rendered as text (numbers with full precision), for `ksi info`.
  std::string attribute_as_text(const std::string& name) const;

  /// A whole dataset written from identical data on every rank (rank 0 does the writing; a failure
  /// is agreed by all ranks, as RowDataset's).
  void write(const std::string& name, const std::vector<std::size_t>& dims,
             std::span<const double> values, DType file_type = DType::float64) const;
  void write(const std::string& name, const std::vector<std::size_t>& dims,
             std::span<const std::int64_t> values) const;
  /// A whole dataset read by every rank; `dims` receives its shape.
  std::vector<double> read_reals(const std::string& name,
                                 std::vector<std::size_t>* dims = nullptr) const;
  std::vector<std::int64_t> read_integers(const std::string& name,
                                          std::vector<std::size_t>* dims = nullptr) const;

  /// A one-dimensional dataset of strings (fixed length), written from rank 0.
  void write_strings(const std::string& name, const std::vector<std::string>& values) const;
  std::vector<std::string> read_strings(const std::string& name) const;

  /// A dataset of `rows` rows of shape `row_dims` each, distributed by rows.
  RowDataset create_rows(const std::string& name, DType type, std::size_t rows,
                         const std::vector<std::size_t>& row_dims) const;
  RowDataset open_rows(const std::string& name) const;

  std::int64_t id() const noexcept { return handle_.id(); }
  const par::Comm& comm() const noexcept { return *comm_; }

 private:
  Handle handle_;
  const par::Comm* comm_;
  std::string path_;
};

/// Writes kFormatVersion as the root attribute `ksi_format_version` (collective). io::OutputFile
/// calls it for every file it creates, so every file ksi writes carries it.
void write_format_version(const Group& root);
/// The format version of an open file: its `ksi_format_version`, 1 without one; InputError naming
/// the file if the attribute is not an integer.
std::int64_t format_version(const Group& root, const std::string& path);

/// Stores every entry of `params` as a text attribute of `group` (collective).
void write_params(const Group& group, const Params& params);
/// "; key = stored there, expected here" for every entry of `expected` that `group` stores
/// otherwise (empty when all match): the message body when a checkpoint or partial output belongs
/// to another run.
std::string params_differences(const Group& group, const Params& expected);

/// A dataset whose first axis indexes items; each rank transfers its own rows, collectively.
class RowDataset {
 public:
  RowDataset(Handle dataset, const par::Comm* comm, std::string name);

  std::size_t rows() const noexcept { return rows_; }
  const std::vector<std::size_t>& row_dims() const noexcept { return row_dims_; }
  std::size_t row_size() const noexcept { return row_size_; }
  DType dtype() const noexcept { return dtype_; }
  const std::string& name() const noexcept { return name_; }

  /// Rows [first, first + count); values.size() == count * row_size(). Collective (count may be 0);
  /// a failure on any rank is agreed by all (par::CollectiveError naming the file: ExitCode::io for
  /// writes, e.g. a full disk, ExitCode::input for reads of a damaged file).
  void write_rows(std::size_t first, std::size_t count, std::span<const double> values) const;
  void write_rows(std::size_t first, std::size_t count, std::span<const std::int64_t> values) const;
  void read_rows(std::size_t first, std::size_t count, std::span<double> values) const;
  void read_rows(std::size_t first, std::size_t count, std::span<std::int64_t> values) const;
  /// Attributes on the dataset itself.
  Group attributes() const;

 private:
  void transfer(bool write, std::size_t first, std::size_t count, void* values,
                std::int64_t memory_type) const;
  Handle dataset_;
  const par::Comm* comm_;
  std::string name_;
  std::size_t rows_ = 0;
  std::vector<std::size_t> row_dims_;
  std::size_t row_size_ = 1;
  DType dtype_ = DType::float64;
};

/// An HDF5 file opened on every rank of a communicator through MPI-IO.
class File {
 public:
  /// Creates (truncating) a file; collective.
  static File create(const std::string& path, const par::Comm& comm);
  /// Opens an existing HDF5 file. Collective; errors are agreed by every rank
  /// (par::CollectiveError, ExitCode::input) and name the file: missing, not HDF5, truncated or
  /// damaged, or written in a format version (format_version) other than kFormatVersion.
  static File open(const std::string& path, const par::Comm& comm, bool writable = false);

  /// Closes the file unless it was given up (abandoned_files).
  ~File();
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  Group root() const;
  const std::string& path() const noexcept { return path_; }
  const par::Comm& comm() const noexcept { return *comm_; }
  /// Closes the file (collective; a failure on any rank, e.g. a full disk, is agreed by all);
  /// further use is an error.
  void close();
  /// Flushes buffers to storage (collective, failures agreed).
  void flush();

 private:
  File(Handle handle, const par::Comm* comm, std::string path);
  Handle handle_;
  const par::Comm* comm_;
  std::string path_;
};

/// True once a write failure (a full disk) made ksi give up a file: its contents were dropped and
/// it is never closed, because HDF5 cannot write its cached metadata and a close that fails on some
/// ranks waits forever on the others. The process must then end without finalising HDF5 and MPI
/// (main does: std::_Exit after the agreed message).
bool abandoned_files();

}  // namespace ksi::io
