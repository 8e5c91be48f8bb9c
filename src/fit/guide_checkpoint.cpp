#include "fit/guide_checkpoint.hpp"

#include <cmath>

#include "fit/checkpoint.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"

namespace ksi::fit::detail {

Matrix rows_to_matrix(const std::vector<std::vector<double>>& rows, std::size_t cols) {
  Matrix m(rows.size(), cols);
  for (std::size_t r = 0; r < rows.size(); ++r)
    std::copy(rows[r].begin(), rows[r].end(), m.row(r).begin());
  return m;
}

std::vector<std::vector<double>> matrix_rows(const Matrix& m) {
  std::vector<std::vector<double>> rows(m.rows());
  for (std::size_t r = 0; r < m.rows(); ++r) rows[r].assign(m.row(r).begin(), m.row(r).end());
  return rows;
}

Params checkpoint_config(const Model& model, const GuideOptions& o, std::size_t per_batch) {
  Params config;
  config.set("features", model.features().kind());
  config.set("feature_count", model.features().size());
  config.set("times", model.times().size());
  config.set("item_shape", model.shape().describe());
  const auto& t = model.targets();
  std::vector<std::byte> bytes;
  for (const Matrix* m : {&t.mean, &t.variance, &t.rhs}) {
    const auto raw = std::as_bytes(m->values());
    bytes.insert(bytes.end(), raw.begin(), raw.end());
  }
  config.set("targets", fingerprint(bytes));
  // The per-shell linear drift (ksi fit --shell-correction) is part of the drift the members follow
  // and of the fixed term of K^q eta = h - E[J G x]: a checkpoint of one must not resume another.
  config.set("shell_gain", fingerprint(std::as_bytes(model.shell_gain().values())));
  // K^q in final units (finalize_gram applied to the exact sums since 2026-12-07): checkpoints
  // that kept a raw K^q for later passes are refused.
  config.set("gram_units", "final");
  config.set("passes", o.passes);
  config.set("ensemble", o.ensemble);
  config.set("tau", o.tau);
  config.set("damping", o.damping);
  config.set("integral", o.integral);
  config.set("tolerance", o.tolerance);
  config.set("steps", o.steps);
  config.set("integrator", to_string(o.integrator));
  config.set("diffusion", o.diffusion);
  config.set("diffusion_scale", o.diffusion_scale);
  config.set("seed", static_cast<std::int64_t>(o.seed));
  config.set("ridge", o.ridge);
  config.set("bin_ridge", o.bin_ridge);  // always, as the fit's
  if (o.first_stream > 0) config.set("first_stream", o.first_stream);
  if (o.update != GuideUpdate::full) config.set("update", to_string(o.update));
  if (o.dead_band > 0.0) config.set("dead_band", o.dead_band);
  config.set("members_per_batch", per_batch);
  config.set("gram_members", o.gram_members);
  config.set("max_step", o.max_step);
  config.set("divergence", o.divergence);
  config.set("divergence_growth", o.divergence_growth);
  if (o.interval_retries > 0) config.set("interval_retries", o.interval_retries);
  config.set("fallback", to_string(o.fallback));
  config.set("gram", to_string(o.gram));
  config.set("gram_probes", o.gram_probes);  // always: 0 (exact) must not resume randomized
  config.set("interpolation", to_string(o.interpolation));
  if (o.interpolation == EtaInterpolation::ramp) config.set("ramp_fraction", o.ramp_fraction);
  config.set("inputs", o.checkpoint.inputs);
  return config;
}

void write_guide_checkpoint(const std::string& path, const Params& config, const Position& at,
                            const std::vector<Batch>& batches, std::size_t members, std::size_t d,
                            const par::Comm& comm) {
  ScopedPhase phase("guide.checkpoint");
  io::OutputFile out(path, /*force=*/true, {}, comm);
  {
    const io::Group root = out.root();
    io::write_provenance(root, "ksi fit (guide checkpoint)");
    root.set_attribute("ksi_file_kind", "guide_checkpoint");
    root.set_attribute("pass", static_cast<std::int64_t>(at.pass));
    root.set_attribute("time_index", static_cast<std::int64_t>(at.time));
    root.set_attribute("step_limit", at.step_limit);
    root.set_attribute("fallback_pass", static_cast<std::int64_t>(at.fallback_pass));
    root.set_attribute("fallback_level", static_cast<std::int64_t>(at.fallback_level));
    root.set_attribute("best_pass", static_cast<std::int64_t>(at.best_pass));
    root.set_attribute("best_rms", at.best_rms);
    root.set_attribute("diverged_pass", static_cast<std::int64_t>(at.diverged));
    root.set_attribute("verifying", static_cast<std::int64_t>(at.verifying ? 1 : 0));
    root.set_attribute("interval_retries", static_cast<std::int64_t>(at.interval_retries));
    if (at.sweep_error.rows() > 0) {
      root.set_attribute("sweep_scale", at.sweep_scale);
      root.write("sweep_error", {at.sweep_error.rows(), at.sweep_error.cols()},
                 at.sweep_error.values());
      root.write("best_error", {at.best_error.rows(), at.best_error.cols()},
                 at.best_error.values());
    }
    if (!at.gram_ready.empty()) {
      root.write("gram", {at.gram.rows(), at.gram.cols()}, at.gram.values());
      root.write("gram_h", {at.gram_h.rows(), at.gram_h.cols()}, at.gram_h.values());
      root.set_attribute("gram_ready", std::span<const std::int64_t>(at.gram_ready));
    }
    if (at.best_pass > 0)
      root.write("best_eta", {at.best_eta.rows(), at.best_eta.cols()}, at.best_eta.values());
    if (at.eta_base.rows() > 0)
      root.write("eta_base", {at.eta_base.rows(), at.eta_base.cols()}, at.eta_base.values());
    io::write_params(root.create_group("config"), config);
    root.write("eta", {at.eta.rows(), at.eta.cols()}, at.eta.values());
    root.write("pass_start_eta", {at.pass_start_eta.rows(), at.pass_start_eta.cols()},
               at.pass_start_eta.values());
    root.write("correction", {at.correction.rows(), at.correction.cols()}, at.correction.values());
    root.write("pass_start_correction",
               {at.pass_start_correction.rows(), at.pass_start_correction.cols()},
               at.pass_start_correction.values());
    const std::size_t T = at.eta.rows();
    const Matrix rms = rows_to_matrix(at.rms, T), largest = rows_to_matrix(at.largest, T);
    root.write("rms_z", {rms.rows(), T}, rms.values());
    root.write("max_z", {largest.rows(), T}, largest.values());
    const io::RowDataset X = root.create_rows("X", io::DType::float64, members, {d});
    const io::RowDataset Y = root.create_rows("Y", io::DType::float64, members, {d});
    // Every rank writes its batches; ranks with fewer batches take part with empty writes.
    const auto rounds =
        static_cast<std::size_t>(comm.allreduce_max(static_cast<std::int64_t>(batches.size())));
    for (std::size_t r = 0; r < rounds; ++r) {
      const bool mine = r < batches.size();
      const std::size_t first = mine ? batches[r].first : 0, n = mine ? batches[r].count : 0;
      X.write_rows(first, n, mine ? batches[r].state.X.values() : std::span<const double>());
      Y.write_rows(first, n, mine ? batches[r].state.Y.values() : std::span<const double>());
    }
  }
  out.commit();
}

// Reads a checkpoint into `at` and the states of this rank's batches; InputError naming what
// differs.
void read_guide_checkpoint(const std::string& path, const Params& config, const GuideShape& shape,
                           Position& at, std::vector<Batch>& batches, const par::Comm& comm) {
  const auto damaged = [&](const std::string& what) {
    return InputError(damaged_message("guide checkpoint", path, what));
  };
  const std::size_t T = shape.times, P = shape.features;
  io::File file = io::File::open(path, comm);
  par::collective(comm, [&] {
    const io::Group root = file.root();
    if (!root.has_attribute("ksi_file_kind") ||
        root.text_attribute("ksi_file_kind") != "guide_checkpoint")
      throw InputError(cat(path, " is not a ksi guide checkpoint"));
    const std::string differences = io::params_differences(root.open_group("config"), config);
    if (!differences.empty())
      throw InputError(cat("guide checkpoint ", path, " belongs to another configuration",
                           differences, " (remove it, or use --force to start over)"));
    at.pass = static_cast<std::size_t>(root.integer_attribute("pass"));
    at.time = static_cast<std::size_t>(root.integer_attribute("time_index"));
    at.step_limit = root.real_attribute("step_limit");
    at.fallback_pass = static_cast<std::size_t>(root.integer_attribute("fallback_pass"));
    at.fallback_level = static_cast<std::size_t>(root.integer_attribute("fallback_level"));
    at.best_pass = static_cast<std::size_t>(root.integer_attribute("best_pass"));
    at.best_rms = root.real_attribute("best_rms");
    // Checkpoints written before the verification sweeps have neither (nor a pass that stopped
    // there).
    if (root.has_attribute("diverged_pass"))
      at.diverged = static_cast<std::size_t>(root.integer_attribute("diverged_pass"));
    if (root.has_attribute("verifying")) at.verifying = root.integer_attribute("verifying") != 0;
    if (root.has_attribute("interval_retries"))
      at.interval_retries = static_cast<std::size_t>(root.integer_attribute("interval_retries"));
    if (at.time > T) throw damaged(cat("its time index ", at.time, " is past its ", T, " times"));
    // A rows x cols matrix (rows 0: any number), finite where `finite`.
    const auto read = [&](const char* name, std::size_t rows, std::size_t cols,
                          bool finite = true) {
      return read_checkpoint_matrix(root, "guide checkpoint", path, name, rows, cols, finite);
    };
    at.eta = read("eta", T, P);
    at.pass_start_eta = read("pass_start_eta", T, P);
    at.correction = read("correction", T, P);
    at.pass_start_correction = read("pass_start_correction", T, P);
    if (at.best_pass > 0) at.best_eta = read("best_eta", T, P);
    if (root.has("eta_base")) at.eta_base = read("eta_base", T, P);
    if (root.has("sweep_error")) {
      at.sweep_scale = root.real_attribute("sweep_scale");
      at.sweep_error = read("sweep_error", T, P);
      at.best_error = read("best_error", T, P);
    }
    if (root.has("gram")) {
      at.gram = read("gram", T, P * (P + 1) / 2);
      at.gram_h = read("gram_h", T, P);
      at.gram_ready = root.integers_attribute("gram_ready");
      if (at.gram_ready.size() != T) throw damaged("its gram_ready flags are not one per time");
    }
    // The z's of passes (NaN beyond a sweep's divergence).
    at.rms = matrix_rows(read("rms_z", 0, T, false));
    at.largest = matrix_rows(read("max_z", 0, T, false));
  });
  const io::Group root = file.root();
  const io::RowDataset X = root.open_rows("X"), Y = root.open_rows("Y");
  for (const auto* rows : {&X, &Y})
    comm.require_all(
        rows->rows() == shape.members && rows->row_size() == shape.dimension,
        damaged_message("guide checkpoint", path,
                        cat("its paths are ", rows->rows(), " x ", rows->row_size(),
                            " values, expected ", shape.members, " x ", shape.dimension)),
        ExitCode::input);
  const auto rounds =
      static_cast<std::size_t>(comm.allreduce_max(static_cast<std::int64_t>(batches.size())));
  for (std::size_t r = 0; r < rounds; ++r) {
    const bool mine = r < batches.size();
    const std::size_t first = mine ? batches[r].first : 0, n = mine ? batches[r].count : 0;
    if (mine) {
      batches[r].state.X = Matrix(n, X.row_size());
      batches[r].state.Y = Matrix(n, Y.row_size());
    }
    X.read_rows(first, n, mine ? batches[r].state.X.values() : std::span<double>());
    Y.read_rows(first, n, mine ? batches[r].state.Y.values() : std::span<double>());
  }
  bool finite = true;
  for (const auto& batch : batches)
    for (const Matrix* m : {&batch.state.X, &batch.state.Y})
      for (const double v : m->values()) finite = finite && std::isfinite(v);
  comm.require_all(finite,
                   damaged_message("guide checkpoint", path, "its paths hold a non-finite value"),
                   ExitCode::input);
}

}  // namespace ksi::fit::detail
