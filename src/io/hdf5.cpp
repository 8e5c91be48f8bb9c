#include "ksi/io/hdf5.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <utility>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "par/native_comm.hpp"

namespace ksi::io {

std::string dims_text(const std::vector<std::size_t>& dims) {
  std::string text = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + ")";
}
namespace {

// HDF5 prints its own error stacks by default; ksi reports one message of its own instead.
void silence_hdf5() {
  static bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

std::int64_t checked(std::int64_t id, const std::string& what) {
  if (id < 0) throw IoError("HDF5: " + what);
  return id;
}

void checked_status(herr_t status, const std::string& what) {
  if (status < 0) throw IoError("HDF5: " + what);
}

std::string file_name_of(hid_t object);

// Reading what a file holds failed: the file is damaged (an input error naming it).
void checked_read(herr_t status, hid_t object, const std::string& what) {
  if (status < 0)
    throw InputError(
        cat("could not read ", what, " from ", file_name_of(object), ": a damaged file"));
}
// An object of a file opened for reading (dataset, group, attribute), or that error.
hid_t opened(hid_t id, hid_t parent, const std::string& what) {
  checked_read(id < 0 ? -1 : 0, parent, what);
  return id;
}

hid_t file_type(DType type) {
  switch (type) {
    case DType::float32:
      return H5T_IEEE_F32LE;
    case DType::float64:
      return H5T_IEEE_F64LE;
    case DType::int64:
      return H5T_STD_I64LE;
  }
  return H5T_IEEE_F64LE;
}

Handle transfer_list() {
  Handle dxpl(H5Pcreate(H5P_DATASET_XFER), "dataset transfer property list");
  checked_status(H5Pset_dxpl_mpio(dxpl.id(), H5FD_MPIO_COLLECTIVE), "collective transfer mode");
  return dxpl;
}

std::vector<std::size_t> extent(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) throw IoError("HDF5: could not read a dataspace");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

std::vector<hsize_t> hdims(const std::vector<std::size_t>& dims) {
  return {dims.begin(), dims.end()};
}

Handle simple_space(const std::vector<std::size_t>& dims) {
  const auto d = hdims(dims);
  if (d.empty()) return Handle(H5Screate(H5S_SCALAR), "scalar dataspace");
  return Handle(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "dataspace");
}

bool is_root(const par::Comm* comm) {
  return comm == nullptr || comm->is_root();
}

// The name of the file an HDF5 object belongs to, for messages.
std::string file_name_of(hid_t object) {
  const ssize_t length = H5Fget_name(object, nullptr, 0);
  if (length <= 0) return "(unknown file)";
  std::string name(static_cast<std::size_t>(length) + 1, '\0');
  H5Fget_name(object, name.data(), name.size());
  name.resize(static_cast<std::size_t>(length));
  return name;
}

// Why writing `what` to `path` failed, as far as its file system tells: HDF5's own stack only says
// that a write failed, and the usual cause is a full disk.
std::string write_failure(const std::string& what, const std::string& path) {
  std::error_code ec;
  const auto folder = std::filesystem::absolute(path, ec).parent_path();
  const auto space = std::filesystem::space(folder, ec);
  if (!ec && space.available < (std::uintmax_t{64} << 20))
    return cat("could not write ", what, " to ", path, ": no space left on its file system (",
               space.available, " bytes free)");
  return cat("could not write ", what, " to ", path, " (file system error)");
}

// Every rank learns of a failure on any rank (one message, from the lowest failing rank).
void agree(const par::Comm* comm, bool ok, const std::function<std::string()>& message,
           ExitCode code) {
  if (comm == nullptr) {
    if (!ok) throw Error(code, message());
    return;
  }
  comm->require_all(ok, ok ? std::string() : message(), code);
}

std::set<std::string>& abandoned() {
  static std::set<std::string> files;
  return files;
}

// Gives up the file `path` after a failed write (see abandoned_files): its contents are dropped to
// free their room, and its handle is never closed.
void abandon(const std::string& path, const par::Comm& comm) {
  abandoned().insert(path);
  if (comm.is_root()) {
    std::error_code ec;
    std::filesystem::resize_file(path, 0, ec);
  }
}

// The same for a write into the file of `object`; a file that could not be written is abandoned.
void agree_on_write(const par::Comm* comm, bool ok, hid_t object, const std::string& what) {
  const auto message = [&] { return write_failure(what, file_name_of(object)); };
  try {
    agree(comm, ok, message, ExitCode::io);
  } catch (const par::CollectiveError&) {
    abandon(file_name_of(object), *comm);
    throw;
  }
}

// Before HDF5 writes its cached metadata (flush, close) of a file open for writing: is there room
// for it? Rank 0 decides for all from the cache's size, with a page for every entry (entries are
// written where the file keeps them); without room the file is abandoned, since a metadata write
// failing on some ranks would leave the others waiting.
void ensure_room_for_metadata(hid_t file, const std::string& path, const par::Comm* comm) {
  unsigned intent = 0;
  if (comm == nullptr || H5Fget_intent(file, &intent) < 0 || (intent & H5F_ACC_RDWR) == 0) return;
  std::int64_t free_bytes = -1;  // -1: enough
  if (comm->is_root()) {
    size_t max_size = 0, min_clean = 0, current = 0;
    int entries = 0;
    std::error_code ec;
    const auto space =
        std::filesystem::space(std::filesystem::absolute(path, ec).parent_path(), ec);
    if (!ec && H5Fget_mdc_size(file, &max_size, &min_clean, &current, &entries) >= 0) {
      const std::uintmax_t needed = current + static_cast<std::uintmax_t>(entries + 16) * 4096;
      if (space.available < needed) free_bytes = static_cast<std::int64_t>(space.available);
    }
  }
  comm->bcast(free_bytes, 0);
  if (free_bytes < 0) return;
  abandon(path, *comm);
  throw par::CollectiveError(ExitCode::io,
                             cat("could not write ", path, ": no space left on its file system (",
                                 free_bytes, " bytes free)"),
                             0);
}

}  // namespace

std::string to_string(DType type) {
  switch (type) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int64:
      return "int64";
  }
  return "?";
}

DType parse_float_dtype(const std::string& text) {
  return parse_choice<DType>("floating-point type", text,
                             {{"float32", DType::float32},
                              {"f4", DType::float32},
                              {"single", DType::float32},
                              {"float64", DType::float64},
                              {"f8", DType::float64},
                              {"double", DType::float64}});
}

Handle::Handle(std::int64_t id, const char* what) : id_(id) {
  if (id_ < 0) throw IoError(std::string("HDF5: could not create ") + what);
}

Handle::~Handle() {
  reset();
}

Handle::Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, -1)) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = std::exchange(other.id_, -1);
  }
  return *this;
}

std::int64_t Handle::release() noexcept {
  return std::exchange(id_, -1);
}

void Handle::reset() {
  if (id_ >= 0 && H5Iis_valid(id_) > 0) H5Idec_ref(id_);
  id_ = -1;
}

// ----------------------------------------------------------------------------------------------
// File

File::File(Handle handle, const par::Comm* comm, std::string path)
    : handle_(std::move(handle)), comm_(comm), path_(std::move(path)) {}

File File::create(const std::string& path, const par::Comm& comm) {
  silence_hdf5();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), "file access property list");
  checked_status(H5Pset_fapl_mpio(fapl.id(), par::native(comm), MPI_INFO_NULL), "MPI-IO driver");
  // Metadata writes collectively too, so thousands of ranks do not each touch the file's metadata.
  H5Pset_all_coll_metadata_ops(fapl.id(), true);
  H5Pset_coll_metadata_write(fapl.id(), true);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  std::int64_t ok = id >= 0 ? 1 : 0;
  ok = comm.allreduce_min(ok);
  if (!ok) {
    if (id >= 0) H5Fclose(id);
    throw IoError(
        cat("could not create ", path, " (check that the folder exists and is writable)"));
  }
  return File(Handle(id, "file"), &comm, path);
}

File File::open(const std::string& path, const par::Comm& comm, bool writable) {
  silence_hdf5();
  // One rank looks first, so a missing or foreign file gives one clear message on every rank.
  std::int64_t status = 0;  // 0 ok, 1 missing, 2 not HDF5, 3 is a directory
  if (comm.is_root()) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      status = 1;
    else if (std::filesystem::is_directory(path, ec))
      status = 3;
    else if (H5Fis_hdf5(path.c_str()) <= 0)
      status = 2;
  }
  comm.bcast(status, 0);
  // Every rank saw rank 0's verdict: the error is agreed, one message and a clean exit.
  const auto refuse = [&](const std::string& message) {
    throw par::CollectiveError(ExitCode::input, message, 0);
  };
  if (status == 1) refuse(cat("file not found: ", path));
  if (status == 2) refuse(cat("not an HDF5 file: ", path));
  if (status == 3) refuse(cat("expected a file but found a folder: ", path));
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), "file access property list");
  checked_status(H5Pset_fapl_mpio(fapl.id(), par::native(comm), MPI_INFO_NULL), "MPI-IO driver");
  H5Pset_all_coll_metadata_ops(fapl.id(), true);
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.id());
  std::int64_t ok = id >= 0 ? 1 : 0;
  ok = comm.allreduce_min(ok);
  if (!ok) {
    if (id >= 0) H5Fclose(id);
    refuse(cat("could not open ", path,
               ": a truncated or damaged HDF5 file (or one still open for writing)"));
  }
  File file(Handle(id, "file"), &comm, path);
  // The layout this ksi reads; the root group is read here too, so a file whose metadata is damaged
  // fails now with its name rather than later at some dataset.
  std::exception_ptr failure;
  try {
    const std::int64_t version = format_version(file.root(), path);
    if (version != kFormatVersion)
      throw InputError(cat(path, " is in ksi file format version ", version,
                           ", but this ksi reads format version ", kFormatVersion,
                           " (files without a version as 1): it was written by another ksi"));
  } catch (const InputError&) {
    failure = std::current_exception();
  } catch (const Error& e) {
    failure = std::make_exception_ptr(
        InputError(cat("could not read ", path, ": a damaged HDF5 file (", e.what(), ")")));
  }
  comm.raise_if_any(failure);
  return file;
}

Group File::root() const {
  if (!handle_.valid()) throw InternalError("use of a closed HDF5 file");
  return Group(
      Handle(opened(H5Gopen2(handle_.id(), "/", H5P_DEFAULT), handle_.id(), "the root group"),
             "group"),
      comm_, "/");
}

File::~File() {
  if (handle_.valid() && abandoned().count(path_) > 0) handle_.release();
}

void File::close() {
  if (!handle_.valid() || abandoned().count(path_) > 0) return;
  // With the MPI-IO driver every group and dataset of the file must be closed before this point.
  // Closing writes what HDF5 still caches (metadata): on a full disk this is where it fails.
  ensure_room_for_metadata(handle_.id(), path_, comm_);
  const herr_t status = H5Fclose(static_cast<hid_t>(handle_.release()));
  if (status < 0) abandoned().insert(path_);  // half closed: HDF5 must not try again at exit
  agree(
      comm_, status >= 0, [&] { return write_failure("the last of the file", path_); },
      ExitCode::io);
}

void File::flush() {
  if (!handle_.valid() || abandoned().count(path_) > 0) return;
  ensure_room_for_metadata(handle_.id(), path_, comm_);
  const herr_t status = H5Fflush(handle_.id(), H5F_SCOPE_GLOBAL);
  agree(
      comm_, status >= 0, [&] { return write_failure("buffered data", path_); }, ExitCode::io);
}

bool abandoned_files() {
  return !abandoned().empty();
}

// ---------------------------------------------------------------------------------------------
// Group

Group::Group(Handle handle, const par::Comm* comm, std::string path)
    : handle_(std::move(handle)), comm_(comm), path_(std::move(path)) {}

bool Group::has(const std::string& name) const {
  return H5Lexists(handle_.id(), name.c_str(), H5P_DEFAULT) > 0;
}

bool Group::has_attribute(const std::string& name) const {
  return H5Aexists(handle_.id(), name.c_str()) > 0;
}

namespace {
herr_t collect_attribute(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
herr_t collect_link(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> Group::attribute_names() const {
  std::vector<std::string> names;
  hsize_t index = 0;
  H5Aiterate2(handle_.id(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_attribute, &names);
  return names;
}

std::vector<std::string> Group::children() const {
  std::vector<std::string> names;
  hsize_t index = 0;
  H5Literate(handle_.id(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_link, &names);
  return names;
}

Group Group::create_group(const std::string& name) const {
  const hid_t id = H5Gcreate2(handle_.id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  return Group(Handle(checked(id, "create group " + name), "group"), comm_,
               path_ == "/" ? "/" + name : path_ + "/" + name);
}

void Group::remove(const std::string& name) const {
  if (has(name))
    checked_status(H5Ldelete(handle_.id(), name.c_str(), H5P_DEFAULT), "remove " + name);
}

Group Group::open_group(const std::string& name) const {
  const std::string full = path_ == "/" ? "/" + name : path_ + "/" + name;
  if (!has(name)) throw InputError(cat("missing group ", full));
  const hid_t id = H5Gopen2(handle_.id(), name.c_str(), H5P_DEFAULT);
  return Group(Handle(opened(id, handle_.id(), "group " + full), "group"), comm_, full);
}

namespace {

void replace_attribute(hid_t object, const std::string& name) {
  if (H5Aexists(object, name.c_str()) > 0) H5Adelete(object, name.c_str());
}

void write_attribute(hid_t object, const std::string& name, hid_t memory_type, hid_t stored_type,
                     const std::vector<std::size_t>& dims, const void* data) {
  replace_attribute(object, name);
  Handle space = simple_space(dims);
  Handle attr(H5Acreate2(object, name.c_str(), stored_type, space.id(), H5P_DEFAULT, H5P_DEFAULT),
              "attribute");
  checked_status(H5Awrite(attr.id(), memory_type, data), "write attribute " + name);
}

Handle open_attribute(hid_t object, const std::string& name, const std::string& where) {
  if (H5Aexists(object, name.c_str()) <= 0)
    throw InputError(cat("missing attribute '", name, "' on ", where));
  return Handle(opened(H5Aopen(object, name.c_str(), H5P_DEFAULT), object, "attribute " + name),
                "attribute handle");
}

std::size_t attribute_length(hid_t attr) {
  Handle space(H5Aget_space(attr), "attribute dataspace");
  const hssize_t n = H5Sget_simple_extent_npoints(space.id());
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

}  // namespace

void Group::set_attribute(const std::string& name, const std::string& value) const {
  Handle type(H5Tcopy(H5T_C_S1), "string type");
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  const char* text = value.c_str();
  write_attribute(handle_.id(), name, type.id(), type.id(), {}, &text);
}

void Group::set_attribute(const std::string& name, double value) const {
  write_attribute(handle_.id(), name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, {}, &value);
}

void Group::set_attribute(const std::string& name, std::int64_t value) const {
  write_attribute(handle_.id(), name, H5T_NATIVE_INT64, H5T_STD_I64LE, {}, &value);
}

void Group::set_attribute(const std::string& name, std::span<const double> values) const {
  write_attribute(handle_.id(), name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, {values.size()},
                  values.data());
}

void Group::set_attribute(const std::string& name, std::span<const std::int64_t> values) const {
  write_attribute(handle_.id(), name, H5T_NATIVE_INT64, H5T_STD_I64LE, {values.size()},
                  values.data());
}

std::string Group::text_attribute(const std::string& name) const {
  Handle attr = open_attribute(handle_.id(), name, path_);
  Handle type(H5Aget_type(attr.id()), "attribute type");
  if (H5Tget_class(type.id()) != H5T_STRING)
    throw InputError(cat("attribute '", name, "' on ", path_, " is not text"));
  if (H5Tis_variable_str(type.id()) > 0) {
    Handle memtype(H5Tcopy(H5T_C_S1), "string type");
    H5Tset_size(memtype.id(), H5T_VARIABLE);
    H5Tset_cset(memtype.id(), H5Tget_cset(type.id()));
    char* text = nullptr;
    checked_read(H5Aread(attr.id(), memtype.id(), &text), attr.id(), "attribute " + name);
    std::string value = text ? text : "";
    Handle space(H5Aget_space(attr.id()), "attribute dataspace");
    H5Dvlen_reclaim(memtype.id(), space.id(), H5P_DEFAULT, &text);
    return value;
  }
  const std::size_t size = H5Tget_size(type.id());
  std::string value(size, '\0');
  checked_read(H5Aread(attr.id(), type.id(), value.data()), attr.id(), "attribute " + name);
  value.resize(std::strlen(value.c_str()));
  return value;
}

double Group::real_attribute(const std::string& name) const {
  const auto values = reals_attribute(name);
  if (values.size() != 1)
    throw InputError(cat("attribute '", name, "' on ", path_, " is not a number"));
  return values[0];
}

std::int64_t Group::integer_attribute(const std::string& name) const {
  const auto values = integers_attribute(name);
  if (values.size() != 1)
    throw InputError(cat("attribute '", name, "' on ", path_, " is not an integer"));
  return values[0];
}

std::vector<double> Group::reals_attribute(const std::string& name) const {
  Handle attr = open_attribute(handle_.id(), name, path_);
  Handle type(H5Aget_type(attr.id()), "attribute type");
  const auto cls = H5Tget_class(type.id());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw InputError(cat("attribute '", name, "' on ", path_, " is not numeric"));
  std::vector<double> values(attribute_length(attr.id()));
  checked_read(H5Aread(attr.id(), H5T_NATIVE_DOUBLE, values.data()), attr.id(),
               "attribute " + name);
  return values;
}

std::vector<std::int64_t> Group::integers_attribute(const std::string& name) const {
  Handle attr = open_attribute(handle_.id(), name, path_);
  Handle type(H5Aget_type(attr.id()), "attribute type");
  if (H5Tget_class(type.id()) != H5T_INTEGER)
    throw InputError(cat("attribute '", name, "' on ", path_, " is not an integer"));
  std::vector<std::int64_t> values(attribute_length(attr.id()));
  checked_read(H5Aread(attr.id(), H5T_NATIVE_INT64, values.data()), attr.id(), "attribute " + name);
  return values;
}

std::string Group::attribute_as_text(const std::string& name) const {
  Handle attr = open_attribute(handle_.id(), name, path_);
  Handle type(H5Aget_type(attr.id()), "attribute type");
  const auto cls = H5Tget_class(type.id());
  if (cls == H5T_STRING) return text_attribute(name);
  std::ostringstream out;
  out.precision(12);
  if (cls == H5T_INTEGER) {
    const auto v = integers_attribute(name);
    for (std::size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  } else if (cls == H5T_FLOAT) {
    const auto v = reals_attribute(name);
    for (std::size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  } else {
    out << "(unsupported type)";
  }
  return out.str();
}

namespace {

void write_whole(hid_t group, const par::Comm* comm, const std::string& name,
                 const std::vector<std::size_t>& dims, const void* data, hid_t memory_type,
                 hid_t stored_type) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) > 0) H5Ldelete(group, name.c_str(), H5P_DEFAULT);
  Handle space = simple_space(dims);
  Handle dataset(H5Dcreate2(group, name.c_str(), stored_type, space.id(), H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT),
                 "dataset");
  Handle memspace = simple_space(dims);
  if (!is_root(comm)) {
    H5Sselect_none(space.id());
    H5Sselect_none(memspace.id());
  }
  Handle dxpl = transfer_list();
  const herr_t status =
      H5Dwrite(dataset.id(), memory_type, memspace.id(), space.id(), dxpl.id(), data);
  agree_on_write(comm, status >= 0, group, "dataset " + name);
}

template <class T>
std::vector<T> read_whole(hid_t group, const std::string& where, const std::string& name,
                          std::vector<std::size_t>* dims_out, hid_t memory_type) {
  if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0)
    throw InputError(cat("missing dataset '", name, "' in ", where));
  Handle dataset(opened(H5Dopen2(group, name.c_str(), H5P_DEFAULT), group, "dataset " + name),
                 "dataset handle");
  Handle space(H5Dget_space(dataset.id()), "dataspace");
  const auto dims = extent(space.id());
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<T> values(n);
  if (n > 0) {
    checked_read(H5Dread(dataset.id(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
                 dataset.id(), "dataset " + name);
  }
  if (dims_out) *dims_out = dims;
  return values;
}

}  // namespace

void Group::write(const std::string& name, const std::vector<std::size_t>& dims,
                  std::span<const double> values, DType stored) const {
  write_whole(handle_.id(), comm_, name, dims, values.data(), H5T_NATIVE_DOUBLE, file_type(stored));
}

void Group::write(const std::string& name, const std::vector<std::size_t>& dims,
                  std::span<const std::int64_t> values) const {
  write_whole(handle_.id(), comm_, name, dims, values.data(), H5T_NATIVE_INT64, H5T_STD_I64LE);
}

std::vector<double> Group::read_reals(const std::string& name,
                                      std::vector<std::size_t>* dims) const {
  return read_whole<double>(handle_.id(), path_, name, dims, H5T_NATIVE_DOUBLE);
}

std::vector<std::int64_t> Group::read_integers(const std::string& name,
                                               std::vector<std::size_t>* dims) const {
  return read_whole<std::int64_t>(handle_.id(), path_, name, dims, H5T_NATIVE_INT64);
}

void Group::write_strings(const std::string& name, const std::vector<std::string>& values) const {
  std::size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size() + 1);
  std::string packed(width * values.size(), '\0');
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i].copy(packed.data() + i * width, width - 1);
  Handle type(H5Tcopy(H5T_C_S1), "string type");
  H5Tset_size(type.id(), width);
  H5Tset_strpad(type.id(), H5T_STR_NULLTERM);
  write_whole(handle_.id(), comm_, name, {values.size()}, packed.data(), type.id(), type.id());
}

std::vector<std::string> Group::read_strings(const std::string& name) const {
  if (!has(name)) throw InputError(cat("missing dataset '", name, "' in ", path_));
  Handle dataset(
      opened(H5Dopen2(handle_.id(), name.c_str(), H5P_DEFAULT), handle_.id(), "dataset " + name),
      "dataset handle");
  Handle type(H5Dget_type(dataset.id()), "datatype");
  if (H5Tget_class(type.id()) != H5T_STRING || H5Tis_variable_str(type.id()) > 0)
    throw InputError(cat("dataset '", name, "' in ", path_, " is not fixed-length text"));
  Handle space(H5Dget_space(dataset.id()), "dataspace");
  const auto dims = extent(space.id());
  const std::size_t count = dims.empty() ? 1 : dims[0];
  const std::size_t width = H5Tget_size(type.id());
  std::string packed(width * count, '\0');
  if (count > 0)
    checked_read(H5Dread(dataset.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, packed.data()),
                 dataset.id(), "dataset " + name);
  std::vector<std::string> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    values[i].assign(packed.data() + i * width, width);
    values[i].resize(std::strlen(values[i].c_str()));
  }
  return values;
}

RowDataset Group::create_rows(const std::string& name, DType type, std::size_t rows,
                              const std::vector<std::size_t>& row_dims) const {
  if (has(name)) H5Ldelete(handle_.id(), name.c_str(), H5P_DEFAULT);
  std::vector<std::size_t> dims{rows};
  dims.insert(dims.end(), row_dims.begin(), row_dims.end());
  Handle space = simple_space(dims);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), "dataset creation property list");
  // Allocate at creation so that collective writes never extend the file piecemeal.
  H5Pset_alloc_time(dcpl.id(), H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_NEVER);
  const hid_t id = H5Dcreate2(handle_.id(), name.c_str(), file_type(type), space.id(), H5P_DEFAULT,
                              dcpl.id(), H5P_DEFAULT);
  return RowDataset(Handle(checked(id, "create dataset " + name), "dataset"), comm_, name);
}

RowDataset Group::open_rows(const std::string& name) const {
  const std::string full = path_ == "/" ? "/" + name : path_ + "/" + name;
  if (!has(name)) throw InputError(cat("missing dataset ", full));
  const hid_t id = H5Dopen2(handle_.id(), name.c_str(), H5P_DEFAULT);
  return RowDataset(Handle(opened(id, handle_.id(), "dataset " + full), "dataset"), comm_, full);
}

void write_format_version(const Group& root) {
  root.set_attribute(kFormatVersionAttribute, kFormatVersion);
}

std::int64_t format_version(const Group& root, const std::string& path) {
  if (!root.has_attribute(kFormatVersionAttribute)) return 1;
  try {
    return root.integer_attribute(kFormatVersionAttribute);
  } catch (const Error&) {
    throw InputError(cat(path, ": its ", kFormatVersionAttribute, " is not an integer"));
  }
}

void write_params(const Group& group, const Params& params) {
  for (const auto& [key, value] : params.entries()) group.set_attribute(key, value);
}

std::string params_differences(const Group& group, const Params& expected) {
  std::string differences;
  for (const auto& [key, value] : expected.entries()) {
    const std::string stored = group.has_attribute(key) ? group.text_attribute(key) : "(missing)";
    if (stored != value) differences += cat("; ", key, " = ", stored, " there, ", value, " here");
  }
  return differences;
}

// ----------------------------------------------------------------------------------------
// RowDataset

RowDataset::RowDataset(Handle dataset, const par::Comm* comm, std::string name)
    : dataset_(std::move(dataset)), comm_(comm), name_(std::move(name)) {
  Handle space(H5Dget_space(dataset_.id()), "dataspace");
  const auto dims = extent(space.id());
  if (dims.empty()) throw InputError(cat("dataset ", name_, " is a scalar, not an array of items"));
  rows_ = dims[0];
  row_dims_.assign(dims.begin() + 1, dims.end());
  row_size_ = 1;
  for (auto d : row_dims_) row_size_ *= d;
  Handle type(H5Dget_type(dataset_.id()), "datatype");
  const auto cls = H5Tget_class(type.id());
  const std::size_t size = H5Tget_size(type.id());
  if (cls == H5T_FLOAT && size == 4)
    dtype_ = DType::float32;
  else if (cls == H5T_FLOAT && size == 8)
    dtype_ = DType::float64;
  else if (cls == H5T_INTEGER)
    dtype_ = DType::int64;
  else
    throw InputError(cat("dataset ", name_, " has an unsupported type (need float32 or float64)"));
}

void RowDataset::transfer(bool write, std::size_t first, std::size_t count, void* values,
                          std::int64_t memory_type) const {
  if (first + count > rows_)
    throw InternalError(cat("rows ", first, "..", first + count, " outside ", name_));
  Handle filespace(H5Dget_space(dataset_.id()), "dataspace");
  std::vector<hsize_t> start(1 + row_dims_.size(), 0), block(1 + row_dims_.size());
  block[0] = count;
  for (std::size_t i = 0; i < row_dims_.size(); ++i) block[i + 1] = row_dims_[i];
  const hsize_t total = static_cast<hsize_t>(count * row_size_);
  Handle memspace(H5Screate_simple(1, &total, nullptr), "memory dataspace");
  if (count == 0) {
    // Ranks with nothing to transfer still take part in the collective call.
    H5Sselect_none(filespace.id());
    H5Sselect_none(memspace.id());
  } else {
    start[0] = first;
    checked_status(H5Sselect_hyperslab(filespace.id(), H5S_SELECT_SET, start.data(), nullptr,
                                       block.data(), nullptr),
                   "select rows of " + name_);
  }
  Handle dxpl = transfer_list();
  const herr_t status =
      write ? H5Dwrite(dataset_.id(), memory_type, memspace.id(), filespace.id(), dxpl.id(), values)
            : H5Dread(dataset_.id(), memory_type, memspace.id(), filespace.id(), dxpl.id(), values);
  if (write)
    agree_on_write(comm_, status >= 0, dataset_.id(), "rows of " + name_);
  else
    agree(
        comm_, status >= 0,
        [&] {
          return cat("could not read rows of ", name_, " from ", file_name_of(dataset_.id()),
                     ": a truncated or damaged file");
        },
        ExitCode::input);
}

void RowDataset::write_rows(std::size_t first, std::size_t count,
                            std::span<const double> values) const {
  if (values.size() != count * row_size_) throw InternalError("write_rows: size mismatch");
  transfer(true, first, count, const_cast<double*>(values.data()), H5T_NATIVE_DOUBLE);
}

void RowDataset::write_rows(std::size_t first, std::size_t count,
                            std::span<const std::int64_t> values) const {
  if (values.size() != count * row_size_) throw InternalError("write_rows: size mismatch");
  transfer(true, first, count, const_cast<std::int64_t*>(values.data()), H5T_NATIVE_INT64);
}

void RowDataset::read_rows(std::size_t first, std::size_t count, std::span<double> values) const {
  if (values.size() != count * row_size_) throw InternalError("read_rows: size mismatch");
  transfer(false, first, count, values.data(), H5T_NATIVE_DOUBLE);
}

void RowDataset::read_rows(std::size_t first, std::size_t count,
                           std::span<std::int64_t> values) const {
  if (values.size() != count * row_size_) throw InternalError("read_rows: size mismatch");
  transfer(false, first, count, values.data(), H5T_NATIVE_INT64);
}

Group RowDataset::attributes() const {
  H5Iinc_ref(dataset_.id());
  return Group(Handle(dataset_.id(), "dataset reference"), comm_, name_);
}

}  // namespace ksi::io
