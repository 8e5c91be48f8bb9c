#include "ksi/sample/job.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/io/items.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::sample {
namespace {

// The SDE sampler: integrates each batch with `generate`.
class SdeMethod final : public SampleMethod {
 public:
  SdeMethod(const Model& model, const SampleOptions& options) : model_(model), options_(options) {
    if (options_.batch == 0) options_.batch = default_batch(model);
  }
  std::string name() const override { return "sde"; }
  std::size_t batch() const override { return options_.batch; }
  Params settings() const override {
    Params config;
    config.set("seed", static_cast<std::int64_t>(options_.seed));
    config.set("steps", options_.steps);
    if (on_model_grid(model_, options_)) config.set("step_grid", to_string(options_.step_grid));
    config.set("integrator", to_string(options_.integrator));
    config.set("diffusion", options_.diffusion);
    if (options_.diffusion_scale != 1.0) config.set("diffusion_scale", options_.diffusion_scale);
    config.set("batch", options_.batch);
    return config;
  }
  Matrix generate(std::size_t first, std::size_t count) override {
    return sample::generate(model_, options_, first, count, &escaped_);
  }
  // Where the model maps to data units through a table (copula): each sample's escaped fraction.
  void create_records(const io::Group& root, std::size_t count) const override {
    if (!has_range()) return;
    root.create_group(kGroup).create_rows("escaped_fraction", io::DType::float64, count, {});
  }
  void write_records(const io::Group& root, std::size_t first, std::size_t count,
                     const par::Comm&) override {
    if (!has_range() || !root.has(kGroup)) return;  // (a partial output of an older ksi)
    ensure(count == 0 || count == escaped_.size(), "sde records of another batch");
    root.open_group(kGroup)
        .open_rows("escaped_fraction")
        .write_rows(first, count, std::span<const double>(escaped_.data(), count));
    escaped_.clear();
  }
  void finish(const io::Group& root, const par::Comm&) const override {
    root.set_attribute("seed", static_cast<std::int64_t>(options_.seed));
    root.set_attribute("integrator", to_string(options_.integrator));
    root.set_attribute("steps", static_cast<std::int64_t>(options_.steps));
    root.set_attribute("step_grid", to_string(options_.step_grid));
    root.set_attribute("integration_steps",
                       static_cast<std::int64_t>(sample_grid(model_, options_).size() - 1));
    root.set_attribute("diffusion", options_.diffusion);
    root.set_attribute("diffusion_scale", options_.diffusion_scale);
    if (!has_range()) return;
    if (!root.has(kGroup)) {
      par::Log::info("sample: no escaped fractions recorded (a partial output of an older ksi)");
      return;
    }
    const io::Group group = root.open_group(kGroup);
    const std::vector<double> escaped = group.read_reals("escaped_fraction");
    const std::size_t away = static_cast<std::size_t>(std::count_if(
        escaped.begin(), escaped.end(), [](double f) { return !(f <= kEscapedWarning); }));
    const auto& z = model_.standardization().marginal.z;
    group.set_attribute(
        "escaped_definition",
        sformat("fraction of a sample's values whose Gaussian level (final state "
                "after any output gains, coloured, plus the mean: what the copula "
                "table maps to data units) lies at or beyond the table's ends [%.4g, "
                "%.4g] (the training data's range)",
                z.front(), z.back()));
    group.set_attribute("escaped_warning", kEscapedWarning);
    group.set_attribute("run_away", static_cast<std::int64_t>(away));
    if (away == 0) return;
    const double largest = *std::max_element(escaped.begin(), escaped.end());
    par::Log::warn(sformat(
        "sample: %zu of %zu samples ran away: more than %g of their values (up to %.3g) ended "
        "beyond the training data's range in model units (z outside [%.3g, %.3g]), where the "
        "map to data units is flat; the fitted drift is unstable and these samples are not the "
        "data's law (docs/fidelity.md)",
        away, escaped.size(), kEscapedWarning, largest, z.front(), z.back()));
  }

 private:
  static constexpr const char* kGroup = "sde";
  bool has_range() const { return model_.standardization().has_table(); }
  const Model& model_;
  SampleOptions options_;
  std::vector<double> escaped_;
};

Params job_config(const Model& model, const SampleMethod& method, const SampleJob& job) {
  Params config = method.settings();
  config.set("method", method.name());
  config.set("model_id", model.identity());
  config.set("count", job.count);
  config.set("dtype", io::to_string(job.dtype));
  config.set("item_shape", model.shape().describe());
  return config;
}

void check_resumable(const io::Group& root, const Params& config, const std::string& path) {
  if (!root.has("config") || !root.has("batch_done") || !root.has(io::kFieldsDataset))
    throw InputError(cat(path, " is not a partial ksi samples file"));
  const std::string differences = io::params_differences(root.open_group("config"), config);
  if (!differences.empty())
    throw InputError(cat("partial output ", path, " belongs to another sampling run", differences,
                         " (use --force to start over)"));
}

}  // namespace

void SampleJob::validate() const {
  if (count == 0) throw UsageError("--count must be positive");
  if (!(flush_every_seconds >= 0.0)) throw UsageError("--flush-every must be >= 0");
}

namespace {

// A partial output's samples and ids have the run's shape, and its finished batches hold finite
// samples with their own ids: a damaged file would otherwise be finished with them (or, with too
// few rows, hang the ranks that read past its end). Each rank reads the finished batches of its
// own block. Collective.
void check_finished_batches(const io::Group& root, const std::vector<std::int64_t>& done,
                            std::size_t batch, std::size_t count, std::size_t d,
                            const std::string& partial, const par::Comm& comm) {
  const io::RowDataset fields = root.open_rows(io::kFieldsDataset);
  const io::RowDataset ids = root.open_rows("sample_ids");
  comm.require_all(fields.rows() == count && fields.row_size() == d && ids.rows() == count,
                   cat("partial output ", partial, " is damaged: it holds ", fields.rows(), " x ",
                       fields.row_size(), " sample values and ", ids.rows(), " ids, expected ",
                       count, " x ", d, " (use --force to start over)"),
                   ExitCode::input);
  const auto mine = par::block_range(done.size(), comm.rank(), comm.size());
  const std::int64_t rounds = comm.allreduce_max(static_cast<std::int64_t>(mine.size()));
  bool sound = true;
  std::vector<double> values;
  std::vector<std::int64_t> id;
  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::size_t b = mine.begin + static_cast<std::size_t>(r);
    const bool check = static_cast<std::size_t>(r) < mine.size() && done[b] != 0;
    const std::size_t first = check ? b * batch : 0;
    const std::size_t n = check ? std::min(batch, count - first) : 0;
    values.resize(n * d);
    id.resize(n);
    fields.read_rows(first, n, std::span<double>(values));
    ids.read_rows(first, n, std::span<std::int64_t>(id));
    for (const double v : values) sound = sound && std::isfinite(v);
    for (std::size_t i = 0; i < n; ++i)
      sound = sound && id[i] == static_cast<std::int64_t>(first + i);
  }
  comm.require_all(sound,
                   cat("partial output ", partial,
                       " is damaged: a finished batch holds a non-finite sample or another "
                       "sample's id (use --force to start over)"),
                   ExitCode::input);
}

}  // namespace

SamplingResult run_sampling(const Model& model, const SampleOptions& options, const SampleJob& job,
                            const par::Comm& comm) {
  SdeMethod method(model, options);
  return run_sampling(model, method, job, comm);
}

SamplingResult run_sampling(const Model& model, SampleMethod& method, const SampleJob& job,
                            const par::Comm& comm) {
  const std::size_t batch = method.batch();
  ensure(batch > 0, "a sampling method with an empty batch");
  const std::string partial = job.out + ".partial";
  job.validate();
  io::check_interrupted(partial, "partial output", job.resume, job.force, comm);
  const Params config = job_config(model, method, job);
  const std::size_t batches = (job.count + batch - 1) / batch;

  const auto open_output = [&] {
    try {
      return std::make_unique<io::OutputFile>(job.out, job.force,
                                              std::vector<std::string>{job.model_path}, comm,
                                              io::OutputFile::Resumable{job.resume});
    } catch (const par::CollectiveError& e) {
      if (e.code() != ExitCode::input) throw;
      throw par::CollectiveError(ExitCode::input,
                                 cat("partial output ", partial, " cannot be resumed (", e.what(),
                                     "); use --force to start over"),
                                 e.origin_rank());
    }
  };
  const std::unique_ptr<io::OutputFile> output = open_output();
  io::OutputFile& out = *output;
  std::vector<std::int64_t> done(batches, 0);
  SamplingResult result;
  result.batches = batches;
  result.resumed = out.resumed();
  if (out.resumed()) {
    const io::Group root = out.root();
    par::collective(comm, [&] {
      check_resumable(root, config, partial);
      done = root.read_integers("batch_done");
      if (done.size() != batches)
        throw InputError(cat(partial, " records ", done.size(), " batches, not ", batches));
    });
    check_finished_batches(root, done, batch, job.count, model.shape().size(), partial, comm);
    for (auto v : done) result.batches_skipped += v != 0 ? 1 : 0;
    par::Log::info(sformat("sample: resuming %s: %zu of %zu batches already done, skipped",
                           partial.c_str(), result.batches_skipped, batches));
  } else {
    const io::Group root = out.root();
    io::write_params(root.create_group("config"), config);
    root.create_rows(io::kFieldsDataset, job.dtype, job.count, model.shape().dims());
    root.create_rows("sample_ids", io::DType::int64, job.count, {});
    root.write("batch_done", {batches}, std::span<const std::int64_t>(done));
    method.create_records(root, job.count);
  }
  // The layout on disk now: later writes only fill rows of datasets allocated here, so a run killed
  // outright (SIGKILL, a node failure) leaves a partial output that --resume can still read, with
  // the batches it marked done.
  if (!out.resumed()) out.flush();

  // Whole batches are dealt to ranks, so every sample is integrated in the same batch (same BLAS
  // blocking) on any number of ranks: the output is bitwise independent of the rank count.
  const auto mine = par::block_range(batches, comm.rank(), comm.size());
  const std::int64_t iterations = comm.allreduce_max(static_cast<std::int64_t>(mine.size()));
  par::install_stop_handlers();
  par::Progress progress("sample", mine.size());
  Stopwatch clock, since_flush;
  bool stopped = false;
  std::int64_t generated = 0;  // batches generated here, counted where the work is done
  {
    const io::Group root = out.root();
    const io::RowDataset fields = root.open_rows(io::kFieldsDataset);
    const io::RowDataset ids = root.open_rows("sample_ids");
    const io::RowDataset batch_done = root.open_rows("batch_done");
    for (std::int64_t it = 0; it < iterations && !stopped; ++it) {
      const std::size_t b = mine.begin + static_cast<std::size_t>(it);
      const bool work = static_cast<std::size_t>(it) < mine.size() && done[b] == 0;
      std::exception_ptr failure;
      Matrix part;
      std::size_t first = 0;
      if (work) {
        first = b * batch;
        try {
          part = method.generate(first, std::min(batch, job.count - first));
          ++generated;
        } catch (...) {
          failure = std::current_exception();
        }
      }
      comm.raise_if_any(failure);
      {
        // Every rank enters the collective writes; ranks without a finished batch write nothing.
        ScopedPhase phase("sample.io");
        const std::size_t n = work ? part.rows() : 0;
        fields.write_rows(first, n, part.values());
        std::vector<std::int64_t> id(n);
        for (std::size_t i = 0; i < n; ++i) id[i] = static_cast<std::int64_t>(first + i);
        ids.write_rows(first, n, std::span<const std::int64_t>(id));
        const std::int64_t one = 1;
        batch_done.write_rows(work ? b : 0, work ? 1 : 0,
                              std::span<const std::int64_t>(&one, work ? 1 : 0));
        method.write_records(root, first, n, comm);
      }
      if (static_cast<std::size_t>(it) < mine.size()) progress.advance(1);
      const bool due =
          job.flush_every_seconds > 0 && since_flush.seconds() >= job.flush_every_seconds;
      const par::Pause pause = par::agree_to_pause(comm, due);
      if (pause == par::Pause::none) continue;
      ScopedPhase phase("sample.io");
      out.flush();
      since_flush.restart();
      stopped = pause == par::Pause::stop;
    }
  }
  result.seconds = comm.allreduce_max(clock.seconds());
  result.batches_integrated = static_cast<std::size_t>(comm.allreduce_sum(generated));
  if (stopped) {
    out.keep_partial();
    throw par::CollectiveError(
        ExitCode::interrupted,
        "stopped by a signal; finished batches kept in " + partial + " (rerun with --resume)", 0);
  }
  progress.finish();
  {
    const io::Group root = out.root();
    root.remove("batch_done");
    io::write_provenance(root, "ksi sample");
    root.set_attribute("ksi_file_kind", "samples");
    root.set_attribute("model", job.model_path);
    root.set_attribute("model_id", model.identity());
    root.set_attribute("method", method.name());
    method.finish(root, comm);
    const io::RowDataset fields = root.open_rows(io::kFieldsDataset);
    const io::Group attrs = fields.attributes();
    attrs.set_attribute("item_kind", model.shape().is_grid() ? "grid" : "vector");
    attrs.set_attribute("box_size", model.box_size());
  }
  io::add_xdmf_sidecar(out, model.shape(), job.count, job.dtype, model.box_size());
  out.commit();
  return result;
}

}  // namespace ksi::sample
