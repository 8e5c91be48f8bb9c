#include "fit/checkpoint.hpp"

#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"

namespace ksi::fit::detail {

void write_checkpoint(const std::string& path, const Params& config, std::size_t chunk_begin,
                      std::size_t chunk_end, const std::vector<std::int64_t>& batch_done,
                      const Matrix& eta, const std::vector<double>& diagnostics,
                      const FeatureTargets& targets, std::size_t packed,
                      const std::vector<std::vector<DoubleDouble>>& sums, const par::Comm& comm) {
  std::vector<std::int64_t> mask = batch_done;
  comm.allreduce_sum(mask);
  Matrix eta_done = eta;
  comm.allreduce_sum(eta_done.values());
  std::vector<double> diag_done = diagnostics;
  comm.allreduce_sum(diag_done);
  FeatureTargets targets_done = targets;
  for (Matrix* m : {&targets_done.mean, &targets_done.variance, &targets_done.rhs})
    comm.allreduce_sum(m->values());

  io::OutputFile out(path, /*force=*/true, {}, comm);
  {
    const io::Group root = out.root();
    io::write_provenance(root, "ksi fit (checkpoint)");
    root.set_attribute("ksi_file_kind", "fit_checkpoint");
    root.set_attribute("chunk_begin", static_cast<std::int64_t>(chunk_begin));
    root.set_attribute("chunk_end", static_cast<std::int64_t>(chunk_end));
    io::write_params(root.create_group("config"), config);
    root.write("eta", {eta_done.rows(), eta_done.cols()}, eta_done.values());
    root.write("diagnostics", {diag_done.size()}, diag_done);
    const auto write_matrix = [&](const char* name, const Matrix& m) {
      root.write(name, {m.rows(), m.cols()}, m.values());
    };
    write_matrix("target_mean", targets_done.mean);
    write_matrix("target_variance", targets_done.variance);
    write_matrix("target_rhs", targets_done.rhs);
    root.write("batch_done", {mask.size()}, std::span<const std::int64_t>(mask));
    const io::RowDataset rows =
        root.create_rows("sums", io::DType::float64, sums.size(), {2 * packed});
    std::vector<DoubleDouble> reduced;
    for (std::size_t k = 0; k < sums.size(); ++k) {
      reduced = sums[k];
      comm.reduce_sum(std::span<DoubleDouble>(reduced), 0);
      const std::span<const double> values(reinterpret_cast<const double*>(reduced.data()),
                                           2 * reduced.size());
      rows.write_rows(k, comm.is_root() ? 1 : 0,
                      comm.is_root() ? values : std::span<const double>());
    }
  }
  out.commit();
}

std::string damaged_message(const std::string& kind, const std::string& path,
                            const std::string& what) {
  return cat(kind, " ", path, " is damaged: ", what, " (remove it, or use --force to start over)");
}

Matrix read_checkpoint_matrix(const io::Group& root, const std::string& kind,
                              const std::string& path, const char* name, std::size_t rows,
                              std::size_t cols, bool finite) {
  std::vector<std::size_t> dims;
  const auto values = root.read_reals(name, &dims);
  if (dims.size() != 2 || dims[1] != cols || (rows > 0 && dims[0] != rows))
    throw InputError(
        damaged_message(kind, path,
                        cat("/", name, " has shape ", io::dims_text(dims), ", expected (",
                            rows > 0 ? std::to_string(rows) : std::string("n"), ", ", cols, ")")));
  if (finite)
    for (const double v : values)
      if (!std::isfinite(v))
        throw InputError(damaged_message(kind, path, cat("/", name, " holds a non-finite value")));
  Matrix m(dims[0], dims[1]);
  std::copy(values.begin(), values.end(), m.data());
  return m;
}

CheckpointContent read_checkpoint(const std::string& path, const Params& config, std::size_t packed,
                                  const CheckpointShape& shape, const par::Comm& comm) {
  const auto damaged = [&](const std::string& what) {
    return InputError(damaged_message("checkpoint", path, what));
  };
  io::File file = io::File::open(path, comm);
  CheckpointContent content;
  par::collective(comm, [&] {
    const io::Group root = file.root();
    if (!root.has_attribute("ksi_file_kind") ||
        root.text_attribute("ksi_file_kind") != "fit_checkpoint")
      throw InputError(cat(path, " is not a ksi fit checkpoint"));
    const std::string differences = io::params_differences(root.open_group("config"), config);
    if (!differences.empty())
      throw InputError(cat("checkpoint ", path, " belongs to another configuration", differences,
                           " (remove it, or use --force to start over)"));
    const std::int64_t begin = root.integer_attribute("chunk_begin");
    const std::int64_t end = root.integer_attribute("chunk_end");
    const auto T = static_cast<std::int64_t>(shape.times);
    if (begin < 0 || end < begin || end > T || (begin < T && end == begin))
      throw damaged(cat("its chunk [", begin, ", ", end, ") is not one of ", T, " times"));
    content.chunk_begin = static_cast<std::size_t>(begin);
    content.chunk_end = static_cast<std::size_t>(end);
    const auto read_matrix = [&](const char* name) {
      return read_checkpoint_matrix(root, "checkpoint", path, name, shape.times, shape.features);
    };
    content.eta = read_matrix("eta");
    std::vector<std::size_t> dims;
    const auto expect_length = [&](const char* name, std::size_t length) {
      if (dims != std::vector<std::size_t>{length})
        throw damaged(
            cat("/", name, " has shape ", io::dims_text(dims), ", expected (", length, ")"));
    };
    content.diagnostics = root.read_reals("diagnostics", &dims);
    expect_length("diagnostics", 6 * shape.times);
    content.targets = {read_matrix("target_mean"), read_matrix("target_variance"),
                       read_matrix("target_rhs")};
    content.batch_done = root.read_integers("batch_done", &dims);
    expect_length("batch_done", shape.batches);
    // Flags summed over the ranks that wrote them (each time group marks its batches).
    for (const auto flag : content.batch_done)
      if (flag < 0) throw damaged("/batch_done holds a negative flag");
  });
  const io::Group root = file.root();
  const io::RowDataset rows = root.open_rows("sums");
  const std::size_t chunk = content.chunk_end - content.chunk_begin;
  comm.require_all(rows.row_size() == 2 * packed && rows.rows() == chunk,
                   damaged_message("checkpoint", path,
                                   cat("/sums holds ", rows.rows(), " x ", rows.row_size(),
                                       " values, expected ", chunk, " x ", 2 * packed)),
                   ExitCode::input);
  content.sums.assign(rows.rows(), std::vector<DoubleDouble>(comm.is_root() ? packed : 0));
  bool finite = true;
  for (std::size_t k = 0; k < rows.rows(); ++k) {
    const std::span<double> values(reinterpret_cast<double*>(content.sums[k].data()),
                                   2 * content.sums[k].size());
    rows.read_rows(k, comm.is_root() ? 1 : 0, values);
    for (const double v : values) finite = finite && std::isfinite(v);
  }
  comm.require_all(finite, damaged_message("checkpoint", path, "/sums holds a non-finite value"),
                   ExitCode::input);
  return content;
}

}  // namespace ksi::fit::detail
