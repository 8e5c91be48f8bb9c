#include "ksi/io/items.hpp"

#include <cmath>
#include <filesystem>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/par/log.hpp"

namespace ksi::io {

ItemsInfo inspect_items(const File& file) {
  const Group root = file.root();
  if (!root.has(kFieldsDataset))
    throw InputError(cat(file.path(), " has no /fields dataset (not a ksi data or sample file)"));
  const RowDataset fields = root.open_rows(kFieldsDataset);
  ItemsInfo info;
  info.path = file.path();
  info.count = fields.rows();
  if (fields.dtype() == DType::int64)
    throw InputError(
        cat("/fields in ", file.path(), " holds integers; expected float32 or float64"));
  info.dtype = fields.dtype();
  const auto& dims = fields.row_dims();
  const Group attrs = fields.attributes();
  std::string kind = attrs.has_attribute("item_kind") ? attrs.text_attribute("item_kind") : "";
  if (kind.empty()) kind = dims.size() >= 2 ? "grid" : "vector";
  if (dims.empty())
    throw InputError(
        cat("/fields in ", file.path(), " is one-dimensional; expected (items, values)"));
  if (kind == "vector") {
    if (dims.size() != 1)
      throw InputError(cat("/fields in ", file.path(), " is marked as vectors but has ",
                           dims.size() + 1, " axes"));
    info.shape = ItemShape::vector(dims[0]);
  } else if (kind == "grid") {
    if (dims.size() > 3)
      throw InputError(
          cat("/fields in ", file.path(), " has ", dims.size(), " grid axes (1 to 3)"));
    info.shape = ItemShape::grid(dims);
  } else {
    throw InputError(cat("/fields in ", file.path(), " has unknown item_kind '", kind, "'"));
  }
  info.box_size = attrs.has_attribute("box_size") ? attrs.real_attribute("box_size") : 1.0;
  if (!(info.box_size > 0.0) || !std::isfinite(info.box_size))
    throw InputError(cat("/fields in ", file.path(), " has box_size ", info.box_size,
                         ", not a positive length"));
  return info;
}

LocalItems read_items(const std::string& path, const par::Comm& comm, std::size_t at_least) {
  File file = File::open(path, comm);
  ItemsInfo info;
  par::collective(comm, [&] { info = inspect_items(file); });
  if (info.count < at_least)
    throw par::CollectiveError(
        ExitCode::input,
        cat(path, " holds ", info.count, " items; at least ", at_least, " are needed"), 0);
  const auto range = par::block_range(info.count, comm.rank(), comm.size());
  return read_items(path, comm, range);
}

LocalItems read_items(const std::string& path, const par::Comm& comm, par::Range range) {
  File file = File::open(path, comm);
  LocalItems local;
  par::collective(comm, [&] { local.info = inspect_items(file); });
  comm.require_all(range.end <= local.info.count,
                   cat("items ", range.begin, "..", range.end, " requested from ", path, " with ",
                       local.info.count, " items"),
                   ExitCode::input);
  local.range = range;
  local.values.resize(range.size(), local.info.shape.size());
  {
    const Group root = file.root();
    const RowDataset fields = root.open_rows(kFieldsDataset);
    fields.read_rows(range.begin, range.size(), local.values.values());
  }
  std::int64_t first_bad = static_cast<std::int64_t>(local.info.count);
  for (std::size_t i = 0;
       i < local.values.rows() && first_bad == static_cast<std::int64_t>(local.info.count); ++i)
    for (double v : local.values.row(i))
      if (!std::isfinite(v)) {
        first_bad = static_cast<std::int64_t>(range.begin + i);
        break;
      }
  first_bad = comm.allreduce_min(first_bad);
  if (first_bad < static_cast<std::int64_t>(local.info.count))
    throw par::CollectiveError(
        ExitCode::input, cat(path, ": item ", first_bad, " contains NaN or infinite values"), 0);
  return local;
}

void write_items(OutputFile& out, const ItemShape& shape, std::size_t total, std::size_t first,
                 const Matrix& local, DType dtype, double box_size) {
  {
    const Group root = out.root();
    const RowDataset fields = root.create_rows(kFieldsDataset, dtype, total, shape.dims());
    fields.write_rows(first, local.rows(), local.values());
    const Group attrs = fields.attributes();
    attrs.set_attribute("item_kind", shape.is_grid() ? "grid" : "vector");
    attrs.set_attribute("box_size", box_size);
  }
  add_xdmf_sidecar(out, shape, total, dtype, box_size);
}

void add_xdmf_sidecar(OutputFile& out, const ItemShape& shape, std::size_t total, DType dtype,
                      double box_size) {
  if (shape.grid_rank() < 2) return;
  const std::string name = std::filesystem::path(out.path()).filename().string();
  out.add_sidecar(xdmf_path_for(out.path()),
                  xdmf_for_fields(name, kFieldsDataset, total, shape.dims(),
                                  dtype == DType::float32, box_size));
}

void write_generated_items(const GeneratedItems& set,
                           const std::function<void(std::size_t, std::span<double>)>& produce,
                           const std::function<void(const Group&)>& describe,
                           const par::Comm& comm) {
  const Stopwatch clock;
  OutputFile out(set.path, set.force, {}, comm);
  {
    const Group root = out.root();
    const RowDataset fields =
        root.create_rows(kFieldsDataset, set.dtype, set.total, set.shape.dims());
    const auto rounds =
        static_cast<std::size_t>(comm.allreduce_max(static_cast<std::int64_t>(set.local.size())));
    std::vector<double> item(set.shape.size());
    par::Progress progress(cat("synth ", set.generator), rounds);
    for (std::size_t r = 0; r < rounds; ++r) {
      const bool mine = r < set.local.size();
      par::collective(comm, [&] {
        if (!mine) return;
        ScopedPhase phase("synth.generate");
        produce(set.local.begin + r, item);
        for (double v : item)
          if (!std::isfinite(v))
            throw NumericalError(
                cat(set.generator, ": item ", set.local.begin + r, " has non-finite values"));
      });
      ScopedPhase phase("synth.io");
      fields.write_rows(mine ? set.local.begin + r : 0, mine ? 1 : 0,
                        mine ? std::span<const double>(item) : std::span<const double>());
      progress.advance();
    }
    progress.finish();
    const Group attrs = fields.attributes();
    attrs.set_attribute("item_kind", "grid");
    attrs.set_attribute("box_size", set.box_size);
    write_provenance(root, "ksi synth " + set.generator);
    root.set_attribute("ksi_file_kind", "dataset");
    root.set_attribute("generator", set.generator);
    root.set_attribute("seed", static_cast<std::int64_t>(set.seed));
    describe(root);
  }
  add_xdmf_sidecar(out, set.shape, set.total, set.dtype, set.box_size);
  out.commit();
  par::Log::info(sformat("synth %s: wrote %zu items (%s) to %s in %.1f s", set.generator.c_str(),
                         set.total, set.shape.describe().c_str(), set.path.c_str(),
                         clock.seconds()));
}

}  // namespace ksi::io
