#include "ksi/fit/fit.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>

#include "fit/checkpoint.hpp"
#include "ksi/core/compensated.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::fit {
namespace {

// One time's partial sums on a rank are kept packed in double-double: the upper triangle of K, then
// h, then E|v|^2, then the sums of phi and of phi^2 over the pairs (the feature moments m_rho(t)
// the guided passes steer to), exactly the values its reduction carries.
std::size_t packed_size(std::size_t P) {
  return P * (P + 1) / 2 + P + 1 + 2 * P;
}

// Adds one batch's K (upper triangle), h and |v|^2 into the packed double-double sums.
// Rows r = 0..nb-1 of X and V: x_t = alpha z + beta x1 and dI/dt = alpha' z + beta' x1 of item
// item0 + r / M (local row) and draw r % M at time k, z from the stream (seed, global item, draw,
// k). Returns sum |V|^2. The assembly and the shell-gain pass both use it, so they see the same
// pairs.
double fill_interpolant(const Matrix& local_items, std::size_t first_item, std::size_t item0,
                        std::size_t nb, std::size_t M, std::size_t k, double t,
                        const Schedule& schedule, std::uint64_t seed, std::vector<double>& noise,
                        Matrix& X, Matrix& V) {
  const std::size_t d = local_items.cols();
  const double a = schedule.alpha(t), bt = schedule.beta(t);
  const double ad = schedule.alpha_dot(t), bd = schedule.beta_dot(t);
  double vsq = 0.0;
  for (std::size_t r = 0; r < nb; ++r) {
    const std::size_t item = item0 + r / M, draw = r % M;
    RandomStream stream(seed, StreamPurpose::fit_noise, first_item + item, draw, k);
    stream.fill_normal(noise);
    const auto x1 = local_items.row(item);
    auto xr = X.row(r);
    auto vr = V.row(r);
    for (std::size_t i = 0; i < d; ++i) {
      xr[i] = a * noise[i] + bt * x1[i];
      vr[i] = ad * noise[i] + bd * x1[i];
      vsq += vr[i] * vr[i];
    }
  }
  return vsq;
}

// `moments`: the batch's sums of phi (P values), then of phi^2 (P values).
void add_batch(const Matrix& K, std::span<const double> h, double vsq,
               std::span<const double> moments, std::vector<DoubleDouble>& out) {
  const std::size_t P = K.rows();
  std::size_t q = 0;
  for (std::size_t i = 0; i < P; ++i) {
    const double* row = K.data() + i * P;
    for (std::size_t j = i; j < P; ++j) out[q++].add(row[j]);
  }
  for (std::size_t i = 0; i < P; ++i) out[q++].add(h[i]);
  out[q++].add(vsq);
  for (std::size_t i = 0; i < 2 * P; ++i) out[q++].add(moments[i]);
}

void unpack(const std::vector<DoubleDouble>& in, Matrix& K, std::vector<double>& h, double& vsq,
            std::vector<double>& moments) {
  const std::size_t P = K.rows();
  std::size_t q = 0;
  for (std::size_t i = 0; i < P; ++i)
    for (std::size_t j = i; j < P; ++j) K(i, j) = in[q++].value();
  h.resize(P);
  for (std::size_t i = 0; i < P; ++i) h[i] = in[q++].value();
  vsq = in[q++].value();
  moments.resize(2 * P);
  for (std::size_t i = 0; i < 2 * P; ++i) moments[i] = in[q++].value();
}

// What a checkpoint must match to be resumed: everything that determines the partial sums.
Params checkpoint_config(const features::FeatureMap& features, const ItemShape& shape,
                         const Standardization& standardization, const FitOptions& options,
                         std::size_t total_items, std::size_t T, std::size_t items_per_batch,
                         const FitPlan& plan) {
  Params config;
  config.set("items", total_items);
  config.set("item_shape", shape.describe());
  config.set("times", T);
  config.set("time_grid", options.time_grid);
  config.set("schedule", options.schedule);
  config.set("draws", options.draws);
  config.set("seed", static_cast<std::int64_t>(options.seed));
  config.set("ridge", options.ridge);
  // Always: a checkpoint of one bin ridge must not be resumed with another (a missing key would
  // pass).
  config.set("bin_ridge", options.bin_ridge);
  config.set("gram", options.gram);
  if (options.gram == "randomized") config.set("gram_probes", options.gram_probes);
  config.set("items_per_batch", items_per_batch);
  config.set("times_per_chunk", plan.chunk_size);
  config.set("distributed_solve", plan.distributed);
  config.set("standardization", standardization.mode);
  config.set("standardization_mean", standardization.mean);
  config.set("standardization_scale", standardization.scale);
  if (!standardization.shell_power.empty()) {
    double sum = 0.0;
    for (double p : standardization.shell_power) sum += p;
    config.set("standardization_shell_power_sum", sum);
  }
  config.set("inputs", options.checkpoint.inputs);
  config.set("sums_layout", "K,h,v2,phi,phi2");  // checkpoints of older layouts are refused
  {
    const auto spec = features.spec();
    config.set("features", spec.kind);
    config.set("feature_count", features.size());
    for (const auto& [k, v] : spec.params.entries()) config.set("feature_" + k, v);
    std::vector<std::byte> bytes;
    for (const auto& [k, v] : spec.arrays) {
      const auto raw = std::as_bytes(std::span<const double>(v));
      bytes.insert(bytes.end(), raw.begin(), raw.end());
    }
    config.set("feature_arrays", fingerprint(bytes));
  }
  return config;
}

// One backfitting sweep of the joint model [features, per-shell linear drift] on the fit's own
// (item, draw, time) pairs: with eta fixed, the per-shell gain g_k(s) = E<P_s x, v - J^T eta> /
// E|P_s x|^2 minimises the drift's error on each shell, so the drift's linear response per |k|
// (which sets the generated spectrum) is the data's even where the features' gradients cover |k|
// only through a few smooth bands. T x shells; `group` items per batch, summed over `items_comm`
// (this rank's time group, which holds all items). Collective over `comm`.
Matrix shell_gains(const Model& model, const Matrix& local_items, std::size_t first_item,
                   std::size_t group, const FitOptions& options, const par::Comm& comm,
                   const par::Comm& items_comm) {
  ScopedPhase phase("fit.shell_gain");
  const ItemShape& shape = model.shape();
  const std::vector<std::size_t> dims(shape.dims().begin(), shape.dims().end());
  const fft::SpectralShells shells(dims);
  const auto& shell = shells.of_mode();
  const auto& weight = shells.weights();
  const std::size_t S = shells.count(), d = shape.size(), M = options.draws;
  const std::vector<double>& times = model.times();
  const std::size_t T = times.size();
  const std::size_t local_batches = (local_items.rows() + group - 1) / group;
  Matrix X, V;
  std::vector<double> noise(d);
  const fft::RealTransform transform(dims);
  std::vector<fft::complex> xs(transform.complex_size()), rs(transform.complex_size());
  std::vector<double> field(d);
  // Per time: S numerators then S denominators, per batch in double, added in double-double; then
  // the data's own power per shell. Shells where the data have no power (the mean after
  // standardisation, beyond a dealiasing cut-off) get no gain: there x_t = alpha z alone and the
  // regression would return alpha'/alpha, which diverges at t = 1.
  std::vector<DoubleDouble> sums(T * 2 * S), data_power(S);
  std::vector<double> batch_sums(2 * S), batch_power(S);
  Matrix B;
  // Over the items of this rank's time group (each group holds all of them): every group finds
  // the same gains.
  par::Progress shell_progress("fit: shell gains", local_batches * T);
  par::collective(comm, [&] {
    for (std::size_t b = 0; b < local_batches; ++b) {
      const std::size_t item0 = b * group;
      const std::size_t nb = std::min(group, local_items.rows() - item0) * M;
      X.resize(nb, d);
      V.resize(nb, d);
      std::fill(batch_power.begin(), batch_power.end(), 0.0);
      for (std::size_t item = item0; item < item0 + nb / M; ++item) {
        const auto x1 = local_items.row(item);
        std::copy(x1.begin(), x1.end(), field.begin());
        transform.forward(field.data(), xs.data());
        for (std::size_t m = 0; m < xs.size(); ++m)
          batch_power[shell[m]] += weight[m] * std::norm(xs[m]);
      }
      for (std::size_t s = 0; s < S; ++s) data_power[s].add(batch_power[s]);
      for (std::size_t k = 0; k < T; ++k) {
        fill_interpolant(local_items, first_item, item0, nb, M, k, times[k], model.schedule(),
                         options.seed, noise, X, V);
        B.resize(nb, d);
        model.drift(times[k], X, B, Side::right);  // J^T eta_k exactly at a grid time
        std::fill(batch_sums.begin(), batch_sums.end(), 0.0);
        for (std::size_t r = 0; r < nb; ++r) {
          const auto x = X.row(r), v = V.row(r), g = B.row(r);
          std::copy(x.begin(), x.end(), field.begin());
          transform.forward(field.data(), xs.data());
          for (std::size_t i = 0; i < d; ++i) field[i] = v[i] - g[i];
          transform.forward(field.data(), rs.data());
          for (std::size_t m = 0; m < xs.size(); ++m) {
            batch_sums[shell[m]] += weight[m] * (rs[m] * std::conj(xs[m])).real();
            batch_sums[S + shell[m]] += weight[m] * std::norm(xs[m]);
          }
        }
        for (std::size_t j = 0; j < 2 * S; ++j) sums[k * 2 * S + j].add(batch_sums[j]);
        shell_progress.advance(1);
      }
    }
  });
  shell_progress.finish();
  items_comm.allreduce_sum(std::span<DoubleDouble>(sums));
  items_comm.allreduce_sum(std::span<DoubleDouble>(data_power));
  double largest = 0.0;
  for (const auto& p : data_power) largest = std::max(largest, p.value());
  Matrix gain(T, S);
  for (std::size_t k = 0; k < T; ++k)
    for (std::size_t s = 0; s < S; ++s) {
      const double num = sums[k * 2 * S + s].value(), den = sums[k * 2 * S + S + s].value();
      const bool has_data = data_power[s].value() > Standardization::kEmptyShell * largest;
      gain(k, s) = has_data && den > 0.0 ? num / den : 0.0;
    }
  return gain;
}

// Rows whose energy E|j_p|^2 is below 1e-24 E|dI/dt|^2 carry nothing (a member's drift that
// vanishes at this time: the Gaussian member at t = 0 and t = 1 of the trig schedule). Left in,
// the relative ridge shrinks with them and their weight is round-off over round-off; their row,
// column and right-hand side are set to 0, so the ridge gives them weight 0. Rows that are exactly
// zero (and so already had weight 0) keep the same bits. Returns the number of such rows.
std::size_t drop_empty_rows(Matrix& K, std::vector<double>& h, double vsq) {
  constexpr double kNegligible = 1e-24;
  const std::size_t P = K.rows();
  std::size_t dropped = 0;
  for (std::size_t p = 0; p < P; ++p) {
    if (K(p, p) > kNegligible * vsq) continue;
    ++dropped;
    for (std::size_t q = 0; q < P; ++q) K(std::min(p, q), std::max(p, q)) = 0.0;
    h[p] = 0.0;
  }
  return dropped;
}

}  // namespace

Matrix training_features(const Matrix& local_items, std::size_t first_item, std::size_t total_items,
                         const features::FeatureMap& features, const par::Comm& comm) {
  ScopedPhase phase("fit.training_features");
  const std::size_t P = features.size();
  std::vector<double> local(local_items.rows() * P);
  par::collective(comm, [&] {
    for (std::size_t i = 0; i < local_items.rows(); ++i)
      features.evaluate(local_items.row(i), std::span<double>(local.data() + i * P, P));
  });
  // Rows are contiguous blocks in rank order, so the concatenation is in item order.
  const std::vector<std::int64_t> firsts = comm.allgather(static_cast<std::int64_t>(first_item));
  for (std::size_t r = 1; r < firsts.size(); ++r)
    ensure(firsts[r] >= firsts[r - 1], "training features: items not dealt in rank order");
  const std::vector<double> all = comm.allgatherv(local);
  if (all.size() != total_items * P)
    throw par::CollectiveError(ExitCode::internal,
                               cat("training features: ", all.size() / std::max<std::size_t>(P, 1),
                                   " items evaluated, ", total_items, " expected"),
                               0);
  Matrix out(total_items, P);
  std::copy(all.begin(), all.end(), out.data());
  return out;
}

std::size_t items_per_batch(const FitOptions& options, const features::FeatureMap& features) {
  const std::size_t rows = options.batch ? options.batch : features.preferred_batch();
  return std::max<std::size_t>(1, rows / std::max<std::size_t>(1, options.draws));
}

TimeGroup time_group(const FitOptions& options, std::size_t times, int rank, int size) {
  const std::size_t G = options.time_groups;
  if (G == 0) throw UsageError("--time-groups must be at least 1");
  if (G > times)
    throw UsageError(cat("--time-groups ", G, " exceeds the ", times, " times of the grid"));
  if (static_cast<std::size_t>(size) % G != 0)
    throw UsageError(cat("--time-groups ", G, " does not divide the ", size,
                         " ranks (every group needs the same number of ranks)"));
  TimeGroup g;
  g.size = size / static_cast<int>(G);
  g.index = rank / g.size;
  g.rank = rank % g.size;
  return g;
}

par::Range time_group_item_range(std::size_t total_items, std::size_t items_per_batch,
                                 const TimeGroup& group) {
  return assembly_item_range(total_items, items_per_batch, group.rank, group.size);
}

par::Range assembly_item_range(std::size_t total_items, std::size_t items_per_batch, int rank,
                               int size) {
  const std::size_t batches = (total_items + items_per_batch - 1) / items_per_batch;
  const auto mine = par::block_range(batches, rank, size);
  return {std::min(total_items, mine.begin * items_per_batch),
          std::min(total_items, mine.end * items_per_batch)};
}

namespace {

// sums[p] += phi_p, sums[P + p] += phi_p^2 (one row of feature_moment_sums).
void add_moments(std::span<const double> phi, std::span<double> sums) {
  const std::size_t P = phi.size();
  for (std::size_t p = 0; p < P; ++p) {
    sums[p] += phi[p];
    sums[P + p] += phi[p] * phi[p];
  }
}

}  // namespace

void feature_moment_sums(const features::FeatureMap& features, const Matrix& X,
                         std::span<double> sums) {
  std::vector<double> phi(features.size());
  std::fill(sums.begin(), sums.end(), 0.0);
  for (std::size_t r = 0; r < X.rows(); ++r) {
    features.evaluate(X.row(r), phi);
    add_moments(phi, sums);
  }
}

void feature_moment_sums(const Matrix& Phi, std::span<double> sums) {
  std::fill(sums.begin(), sums.end(), 0.0);
  for (std::size_t r = 0; r < Phi.rows(); ++r) add_moments(Phi.row(r), sums);
}

std::vector<double> make_time_grid(std::size_t times, const std::string& grid) {
  if (times < 2) throw UsageError("--times must be at least 2 (t = 0 and t = 1)");
  std::vector<double> t(times);
  for (std::size_t k = 0; k < times; ++k) {
    const double u = static_cast<double>(k) / static_cast<double>(times - 1);
    if (grid == "uniform")
      t[k] = u;
    else if (grid == "chebyshev")
      t[k] = 0.5 * (1.0 - std::cos(std::numbers::pi * u));
    else
      throw UsageError(cat("unknown time grid '", grid, "' (known: uniform, chebyshev)"));
  }
  t.front() = 0.0;
  t.back() = 1.0;
  return t;
}

std::vector<double> bin_penalty(const features::FeatureMap& features, double bin_ridge) {
  if (bin_ridge == 0.0) return {};
  const std::vector<std::size_t> bins = features.bin_features();
  if (bins.empty())
    throw UsageError(
        "--bin-ridge penalises the bins of a one-point law, and this feature map has none (add "
        "marginal=B, conditional=B or contrast=B to the scattering map's --feature-params, or drop "
        "--bin-ridge)");
  std::vector<double> penalty(features.size(), 0.0);
  for (const std::size_t p : bins) penalty[p] = bin_ridge;
  return penalty;
}

void FitOptions::validate() const {
  make_schedule(schedule);
  make_time_grid(times, time_grid);
  if (draws == 0) throw UsageError("--draws must be at least 1");
  if (gram != "exact" && gram != "randomized")
    throw UsageError(cat("unknown --gram '", gram, "' (known: exact, randomized)"));
  if (gram_probes == 0 || gram_probes > (std::size_t{1} << 31))
    throw UsageError("--gram-probes must be between 1 and 2^31");
  if (!(ridge >= 0.0) || !std::isfinite(ridge))
    throw UsageError("--ridge must be non-negative and finite");
  if (!(bin_ridge >= 0.0) || !std::isfinite(bin_ridge))
    throw UsageError("--bin-ridge must be non-negative and finite");
  if (!(memory_mb > 0.0) || !std::isfinite(memory_mb))
    throw UsageError("--memory-mb must be positive");
  if (!(checkpoint.every_seconds >= 0.0) || !std::isfinite(checkpoint.every_seconds))
    throw UsageError("--checkpoint-every must be a finite number of seconds >= 0");
}

FitPlan plan_fit(std::size_t P, std::size_t T, int ranks, const FitOptions& options) {
  FitPlan plan;
  // Per time: the packed double-double sums. Fixed: one batch's K and the owner's unpacked K.
  const double bytes_per_time = static_cast<double>(packed_size(P)) * sizeof(DoubleDouble);
  const double fixed_bytes = 2.0 * static_cast<double>(P * P) * sizeof(double);
  const double budget = options.memory_mb * 1024.0 * 1024.0;
  if (budget < bytes_per_time + fixed_bytes)
    throw UsageError(
        sformat("%zu features need %.0f MB for one time's Gram sums; --memory-mb %.0f "
                "is too small",
                P, (bytes_per_time + fixed_bytes) / 1048576.0, options.memory_mb));
  plan.chunk_size = std::clamp<std::size_t>(
      static_cast<std::size_t>((budget - fixed_bytes) / bytes_per_time), 1, T);
  plan.distributed = P >= options.distributed_threshold && ranks > 1;
  if (plan.distributed) {
    std::size_t g =
        options.solve_group > 0
            ? static_cast<std::size_t>(options.solve_group)
            : std::max<std::size_t>(
                  2, static_cast<std::size_t>(ranks) /
                         std::min<std::size_t>(plan.chunk_size, static_cast<std::size_t>(ranks)));
    g = std::min<std::size_t>(g, static_cast<std::size_t>(ranks));
    plan.group_size = g;
    plan.groups = static_cast<std::size_t>(ranks) / g;
  } else {
    plan.group_size = 1;
    plan.groups = static_cast<std::size_t>(ranks);
  }
  return plan;
}

namespace {

// What the stages of one fit share: its inputs, sizes, time grid, the plan of chunks and owners,
// the batches and the communicators. Built once by fit_model (collective: it splits `comm`).
struct FitJob {
  FitJob(const Matrix& items, std::size_t first_item, std::size_t total_items,
         const features::FeatureMap& features, const ItemShape& shape,
         const Standardization& standardization, const FitOptions& options, const par::Comm& comm);

  const Matrix& items;  // this rank's items, standardised
  std::size_t first_item, total_items;
  const features::FeatureMap& features;
  const FitOptions& options;
  const par::Comm& comm;
  std::vector<double> times;
  std::size_t P, d, M, T, G;
  bool randomized;  // the randomized Gram (FitOptions::gram)
  std::unique_ptr<Schedule> schedule;
  FitPlan plan;
  // Time groups: this rank's group assembles the times k with k mod G = its index, over the items
  // it holds (the group's share of all of them); the per-time sums are still reduced over the whole
  // job (the other groups add zeros), so checkpoints and solves are as with one group.
  TimeGroup time_grp;
  par::Comm items_comm;
  std::size_t group;  // items per batch: whole items, aligned to the global item index
  double total_pairs;
  // Solve groups (distributed solves only): consecutive ranks.
  int my_group;
  bool in_a_group;
  std::unique_ptr<par::Comm> group_comm;
  Params config;  // the checkpoint's identity
  bool checkpointing;
  std::size_t local_batches, total_batches, first_batch;
  std::int64_t iterations = 0;  // batches of the rank with the most

  bool my_time(std::size_t k) const { return k % G == static_cast<std::size_t>(time_grp.index); }
  std::size_t my_times(std::size_t from, std::size_t to) const {
    std::size_t n = 0;
    for (std::size_t k = from; k < to; ++k) n += my_time(k) ? 1 : 0;
    return n;
  }
  int owner_of(std::size_t k, std::size_t k0) const {
    if (!plan.distributed) return static_cast<int>(k % static_cast<std::size_t>(comm.size()));
    return static_cast<int>(((k - k0) % plan.groups) * plan.group_size);
  }
};

FitJob::FitJob(const Matrix& items, std::size_t first_item, std::size_t total_items,
               const features::FeatureMap& features, const ItemShape& shape,
               const Standardization& standardization, const FitOptions& options,
               const par::Comm& comm)
    : items(items),
      first_item(first_item),
      total_items(total_items),
      features(features),
      options(options),
      comm(comm),
      times(make_time_grid(options.times, options.time_grid)),
      P(features.size()),
      d(shape.size()),
      M(options.draws),
      T(times.size()),
      G(options.time_groups),
      randomized(options.gram == "randomized"),
      schedule(make_schedule(options.schedule)),
      plan(plan_fit(P, T, comm.size(), options)),
      time_grp(time_group(options, T, comm.rank(), comm.size())),
      items_comm(comm.split(time_grp.index, comm.rank())),
      group(items_per_batch(options, features)),
      total_pairs(static_cast<double>(total_items) * static_cast<double>(M)),
      my_group(plan.distributed ? comm.rank() / static_cast<int>(plan.group_size) : comm.rank()),
      in_a_group(!plan.distributed || static_cast<std::size_t>(my_group) < plan.groups),
      config(checkpoint_config(features, shape, standardization, options, total_items, T, group,
                               plan)),
      checkpointing(!options.checkpoint.path.empty()),
      local_batches((items.rows() + group - 1) / group),
      total_batches((total_items + group - 1) / group),
      first_batch(first_item / group) {
  if (plan.distributed)
    group_comm =
        std::make_unique<par::Comm>(comm.split(in_a_group ? my_group : 1 << 20, comm.rank()));
  if (checkpointing && items.rows() > 0 && first_item % group != 0)
    throw InternalError(
        "checkpointed fits need items dealt in whole batches (assembly_item_range)");
  iterations = comm.allreduce_max(static_cast<std::int64_t>(local_batches));
}

// The solution: each time's row on the rank that solved it (rank 0's after a resume), summed over
// ranks at the end.
struct FitSolution {
  Matrix eta;
  std::vector<double> diagnostics;  // T x 6
  FeatureTargets targets;
};

// Where the assembly starts: the chunk, and within it the batches and partial sums of a checkpoint.
struct FitResume {
  std::size_t start_chunk = 0;
  std::vector<std::int64_t> done;  // global batches already in the resumed sums
  std::vector<std::vector<DoubleDouble>> sums;
};

// Reads the checkpoint, if asked to and there is one: the solution so far (rank 0), the chunk to
// start with and its partial sums; counts what it skips in `start`.
FitResume resume_fit(const FitJob& job, FitSolution& solution, FitStart& start) {
  FitResume at;
  const FitOptions& options = job.options;
  const par::Comm& comm = job.comm;
  if (!job.checkpointing || !options.checkpoint.resume) return at;
  std::int64_t exists = 0;
  if (comm.is_root()) exists = std::filesystem::exists(options.checkpoint.path) ? 1 : 0;
  comm.bcast(exists, 0);
  if (!exists) {
    par::Log::info("fit: no checkpoint " + options.checkpoint.path +
                   " yet; starting from the beginning");
    return at;
  }
  auto content = detail::read_checkpoint(options.checkpoint.path, job.config, packed_size(job.P),
                                         {job.T, job.P, job.total_batches}, comm);
  at.start_chunk = content.chunk_begin;
  at.done = std::move(content.batch_done);
  at.sums = std::move(content.sums);
  // The finished rows and the partial sums live on rank 0 only: every later sum over ranks then
  // counts them once.
  if (comm.is_root()) {
    solution.eta = std::move(content.eta);
    solution.diagnostics = std::move(content.diagnostics);
    solution.targets = std::move(content.targets);
  }
  std::size_t done = 0;
  for (auto v : at.done) done += v != 0 ? 1 : 0;
  const std::size_t chunks = (job.T + job.plan.chunk_size - 1) / job.plan.chunk_size;
  start.resumed = true;
  start.finished = at.start_chunk >= job.T;
  start.time = at.start_chunk;
  start.batches_skipped =
      (start.finished ? chunks : at.start_chunk / job.plan.chunk_size) * job.total_batches +
      (start.finished ? 0 : done);
  if (start.finished)
    par::Log::info(
        sformat("fit: resuming from %s: the fit is finished there (its solution is in the "
                "checkpoint), skipping all %zu batches",
                options.checkpoint.path.c_str(), start.batches));
  else
    par::Log::info(
        sformat("fit: resuming from %s at time %zu of %zu (%zu of %zu batches of that "
                "chunk done): skipping %zu of %zu batches",
                options.checkpoint.path.c_str(), at.start_chunk, job.T, done, job.total_batches,
                start.batches_skipped, start.batches));
  return at;
}

// The assembly of the chunk [k0, k1): this rank's partial sums per time (with the resumed ones on
// rank 0 in the resumed chunk). With checkpoints every rank takes the same number of steps, so
// that errors and stop requests are agreed on after each batch; a checkpoint holds `solution` and
// the chunk's sums. `assembled` counts the (batch, chunk) units this rank assembled.
std::vector<std::vector<DoubleDouble>> assemble_chunk(const FitJob& job, std::size_t k0,
                                                      std::size_t k1, FitResume& resume,
                                                      const FitSolution& solution,
                                                      par::Progress& progress,
                                                      Stopwatch& since_checkpoint,
                                                      std::int64_t& assembled) {
  const FitOptions& options = job.options;
  const par::Comm& comm = job.comm;
  const std::size_t P = job.P, M = job.M;
  std::vector<std::vector<DoubleDouble>> sums(k1 - k0);
  for (auto& s : sums) s.assign(packed_size(P), DoubleDouble{});
  const bool resumed_chunk = k0 == resume.start_chunk && !resume.done.empty();
  std::vector<std::int64_t> done(job.checkpointing ? job.total_batches : 0, 0);
  if (resumed_chunk && comm.is_root()) {
    for (std::size_t k = k0; k < k1; ++k) sums[k - k0] = std::move(resume.sums[k - k0]);
    done = resume.done;  // counted once in the next checkpoint's sum over ranks
  }
  const auto already_done = [&](std::size_t b) {
    return resumed_chunk && resume.done[job.first_batch + b] != 0;
  };

  Matrix X, V, batch_K(P, P), phi_rows;
  std::vector<double> noise(job.d), batch_h(P), batch_moments(2 * P);
  // One batch of whole items, all times of the chunk.
  const auto assemble = [&](std::size_t b) {
    ++assembled;
    const std::size_t item0 = b * job.group;
    const std::size_t items_here = std::min(job.group, job.items.rows() - item0);
    const std::size_t nb = items_here * M;
    X.resize(nb, job.d);
    V.resize(nb, job.d);
    for (std::size_t k = k0; k < k1; ++k) {
      if (!job.my_time(k)) continue;  // another group's time
      double vsq = 0.0;
      {
        ScopedPhase phase("fit.noise");
        vsq = fill_interpolant(job.items, job.first_item, item0, nb, M, k, job.times[k],
                               *job.schedule, options.seed, noise, X, V);
      }
      // Each batch is summed on its own, then added in double-double: the order in which
      // batches and ranks are combined then no longer shows in the result.
      batch_K.fill(0.0);
      std::fill(batch_h.begin(), batch_h.end(), 0.0);
      if (job.randomized) {
        const std::size_t global0 = job.first_item + item0;
        features::accumulate_randomized(
            job.features, X, V, options.gram_probes,
            [&](std::size_t r, std::size_t j) {
              return RandomStream(options.seed, StreamPurpose::gram_probe, global0 + r / M, r % M,
                                  (std::uint64_t{k} << 32) | j);
            },
            batch_K, batch_h, &phi_rows);
        ScopedPhase phase("fit.moments");  // from the phi(x) the differences took
        feature_moment_sums(phi_rows, batch_moments);
      } else {
        job.features.accumulate_at(job.times[k], X, V, batch_K, batch_h);
        ScopedPhase phase("fit.moments");
        feature_moment_sums(job.features, X, batch_moments);
      }
      {
        ScopedPhase phase("fit.sum");
        add_batch(batch_K, batch_h, vsq, batch_moments, sums[k - k0]);
      }
      progress.advance(1);  // per (batch, time): a batch of large fields can take minutes
    }
  };

  if (!job.checkpointing) {
    // Rank-local work: one agreement on errors at the end of the chunk.
    par::collective(comm, [&] {
      for (std::size_t b = 0; b < job.local_batches; ++b) assemble(b);
    });
    return sums;
  }
  for (std::int64_t it = 0; it < job.iterations; ++it) {
    const auto b = static_cast<std::size_t>(it);
    std::exception_ptr failure;
    if (b < job.local_batches && !already_done(b)) {
      try {
        assemble(b);
        done[job.first_batch + b] = 1;
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (b < job.local_batches && already_done(b)) progress.advance(job.my_times(k0, k1));
    const bool due = options.checkpoint.every_seconds > 0 &&
                     since_checkpoint.seconds() >= options.checkpoint.every_seconds;
    const par::Pause pause = par::agree_to_pause_or_raise(comm, failure, due);
    if (pause == par::Pause::none) continue;
    {
      ScopedPhase phase("fit.checkpoint");
      detail::write_checkpoint(options.checkpoint.path, job.config, k0, k1, done, solution.eta,
                               solution.diagnostics, solution.targets, packed_size(P), sums, comm);
    }
    since_checkpoint.restart();
    if (pause == par::Pause::stop)
      throw par::CollectiveError(ExitCode::interrupted,
                                 "stopped by a signal; checkpoint written to " +
                                     options.checkpoint.path + " (rerun with --resume)",
                                 0);
    par::Log::info("fit: checkpoint written to " + options.checkpoint.path);
  }
  return sums;
}

// Reduces each time's sums of the chunk [k0, k1) to the rank that solves it (upper triangle only:
// half the volume) and solves the times this rank (or its group) owns into `solution`.
void solve_chunk(const FitJob& job, std::size_t k0, std::size_t k1,
                 std::vector<std::vector<DoubleDouble>>& sums, FitSolution& solution) {
  const par::Comm& comm = job.comm;
  const FitPlan& plan = job.plan;
  const std::size_t P = job.P;
  std::vector<Matrix> systems(k1 - k0);
  std::vector<std::vector<double>> rhs(k1 - k0);
  std::vector<double> velocity_sq(k1 - k0, 0.0);
  std::vector<std::vector<double>> moments(k1 - k0);
  {
    ScopedPhase phase("fit.reduce");
    for (std::size_t k = k0; k < k1; ++k) {
      auto& s = sums[k - k0];
      const int owner = job.owner_of(k, k0);
      comm.reduce_sum(std::span<DoubleDouble>(s), owner);
      if (comm.rank() == owner) {
        systems[k - k0] = Matrix(P, P);
        unpack(s, systems[k - k0], rhs[k - k0], velocity_sq[k - k0], moments[k - k0]);
      }
      s = std::vector<DoubleDouble>();  // release memory as soon as possible
    }
  }

  const std::vector<double> penalty = bin_penalty(job.features, job.options.bin_ridge);
  std::exception_ptr failure;
  ScopedPhase phase("fit.solve");
  for (std::size_t k = k0; k < k1; ++k) {
    const int owner = job.owner_of(k, k0);
    const bool mine = comm.rank() == owner;
    const bool my_groups_time = plan.distributed && job.in_a_group &&
                                owner == job.my_group * static_cast<int>(plan.group_size);
    if (!mine && !my_groups_time) continue;
    try {
      Matrix& K = systems[k - k0];
      std::vector<double>& h = rhs[k - k0];
      double& vsq = velocity_sq[k - k0];
      std::vector<double> x(P, 0.0);
      SolveResult result;
      bool no_rows = false;
      if (mine) {
        if (!job.randomized) job.features.finalize_gram(K);  // the randomized one is final
        const double scale = 1.0 / job.total_pairs;
        for (auto& v : K.values()) v *= scale;
        for (auto& v : h) v *= scale;
        vsq *= scale;
        no_rows = drop_empty_rows(K, h, vsq) == P && job.features.time_dependent();
      }
      if (plan.distributed) {
        std::int64_t flag = no_rows ? 1 : 0;
        job.group_comm->bcast(flag, 0);
        no_rows = flag != 0;
      }
      if (no_rows)
        result = SolveResult{};  // every member's drift vanishes here: eta_k = 0
      else if (plan.distributed)
        result = solve_normal_equations_distributed(K, h, job.options.ridge, x, *job.group_comm,
                                                    penalty);
      else
        result = solve_normal_equations(K, h, job.options.ridge, x, penalty);
      if (!mine) continue;
      std::copy(x.begin(), x.end(), solution.eta.row(k).begin());
      // The targets of the guided passes: h_k and the feature moments of the pairs.
      const std::vector<double>& sum = moments[k - k0];
      for (std::size_t p = 0; p < P; ++p) {
        const double mean = sum[p] / job.total_pairs;
        solution.targets.mean(k, p) = mean;
        solution.targets.variance(k, p) = std::max(0.0, sum[P + p] / job.total_pairs - mean * mean);
        solution.targets.rhs(k, p) = h[p];
      }
      double captured = 0.0;
      for (std::size_t p = 0; p < P; ++p) captured += x[p] * h[p];
      double* dg = solution.diagnostics.data() + 6 * k;
      dg[0] = result.residual;
      dg[1] = result.lambda_min;
      dg[2] = result.lambda_max;
      dg[3] = vsq > 0 ? captured / vsq : 0.0;
      dg[4] = result.ridge;
      dg[5] = vsq;
    } catch (const Error& e) {
      failure = std::make_exception_ptr(
          NumericalError(sformat("solve at t = %.4f failed: %s", job.times[k], e.what())));
    } catch (...) {
      failure = std::current_exception();
    }
  }
  comm.raise_if_any(failure);
}

// The model of a finished solution (summed over ranks here): eta, the targets, the training
// features and spectrum, the shell gains if asked for, the diagnostics and the fit's settings.
Model make_model(FitJob& job, FitSolution solution, std::unique_ptr<features::FeatureMap> features,
                 const ItemShape& shape, const Standardization& standardization) {
  const par::Comm& comm = job.comm;
  {
    ScopedPhase phase("fit.gather");
    comm.allreduce_sum(solution.eta.values());
    comm.allreduce_sum(solution.diagnostics);
    comm.allreduce_sum(solution.targets.mean.values());
    comm.allreduce_sum(solution.targets.variance.values());
    comm.allreduce_sum(solution.targets.rhs.values());
  }
  // Over this rank's time group (each group holds all items; the same rows in every group), errors
  // agreed on by the whole job.
  Matrix training;
  par::collective(comm, [&] {
    training =
        training_features(job.items, job.first_item, job.total_items, *features, job.items_comm);
  });
  Model model(std::move(features), std::move(job.schedule), shape, standardization, job.times,
              std::move(solution.eta));
  solution.targets.pairs = job.total_pairs;
  model.set_targets(std::move(solution.targets));
  model.set_training_features(std::move(training));
  if (shape.is_grid()) {
    ScopedPhase phase("fit.training_features");
    model.set_training_spectrum(Standardization::shell_powers(
        job.items, {shape.dims().begin(), shape.dims().end()}, 0.0, job.items_comm));
  }
  const FitOptions& options = job.options;
  if (options.shell_correction)
    model.set_shell_gain(
        shell_gains(model, job.items, job.first_item, job.group, options, comm, job.items_comm));
  for (std::size_t k = 0; k < job.T; ++k) {
    const double* dg = solution.diagnostics.data() + 6 * k;
    model.diagnostics()[k] = {dg[0], dg[1], dg[2], dg[3], dg[4], dg[5]};
    par::Log::detail(sformat("  t = %.4f  R^2 = %.6f  residual = %.2e  condition ~ %.3g",
                             job.times[k], dg[3], dg[0], dg[1] > 0 ? dg[2] / dg[1] : INFINITY));
  }
  auto& s = model.fit_settings();
  s.set("items", job.total_items);
  s.set("draws", job.M);
  s.set("seed", static_cast<std::int64_t>(options.seed));
  s.set("ridge", options.ridge);
  if (options.bin_ridge > 0.0) s.set("bin_ridge", options.bin_ridge);
  s.set("times", job.T);
  s.set("time_grid", options.time_grid);
  s.set("ranks", comm.size());
  s.set("time_groups", job.G);
  s.set("gram", options.gram);
  if (job.randomized) s.set("gram_probes", options.gram_probes);
  s.set("distributed_solve", job.plan.distributed);
  s.set("shell_correction", options.shell_correction);
  return model;
}

}  // namespace

Model fit_model(const Matrix& local_items, std::size_t first_item, std::size_t total_items,
                std::unique_ptr<features::FeatureMap> features, const ItemShape& shape,
                const Standardization& standardization, const FitOptions& options,
                const par::Comm& comm, FitStart* start_out) {
  options.validate();
  if (options.shell_correction && !shape.is_grid())
    throw UsageError("shell gains need fields on a periodic grid, but the items are " +
                     shape.describe());
  bin_penalty(*features, options.bin_ridge);  // the same map on every rank: refused on all
  if (options.gram == "randomized" && features->time_dependent())
    throw UsageError(
        "--gram randomized needs a feature map of x alone; a combination of models' drifts "
        "depends on t (use --gram exact: its P is the number of members)");
  FitJob job(local_items, first_item, total_items, *features, shape, standardization, options,
             comm);
  const std::size_t T = job.T, P = job.P;
  const FitPlan& plan = job.plan;
  // The randomized Gram of a time has rank at most N M m: below P it is singular, and eta then
  // follows the ridge alone (eta ~ 1e8 on a 32^2 test map with P = 465 and 48 probes).
  if (job.randomized && total_items * job.M * options.gram_probes < P)
    throw UsageError(sformat(
        "--gram randomized: %zu items x %zu draws x %zu probes give each time's Gram matrix rank "
        "at most %zu, below its P = %zu features: raise --gram-probes or --draws, or use --gram "
        "exact",
        total_items, job.M, options.gram_probes, total_items * job.M * options.gram_probes, P));
  par::Log::info(sformat(
      "fit: %zu items x %zu draws x %zu times, P = %zu features, %d ranks, "
      "%zu time(s) per chunk%s%s",
      total_items, job.M, T, P, comm.size(), plan.chunk_size,
      job.randomized
          ? sformat(", randomized Gram (%zu probes per pair)", options.gram_probes).c_str()
          : "",
      plan.distributed
          ? sformat(", ScaLAPACK solves on %zu groups of %zu ranks", plan.groups, plan.group_size)
                .c_str()
          : ""));

  FitSolution solution{Matrix(T, P), std::vector<double>(T * 6, 0.0),
                       FeatureTargets{Matrix(T, P, 0.0), Matrix(T, P, 0.0), Matrix(T, P, 0.0)}};
  FitStart start;
  const std::size_t chunks = (T + plan.chunk_size - 1) / plan.chunk_size;
  start.batches = chunks * job.total_batches;
  FitResume resume = resume_fit(job, solution, start);
  if (job.checkpointing) par::install_stop_handlers();

  std::int64_t assembled = 0;  // batches assembled here, counted where the work is done
  // batch x time units
  par::Progress progress("fit: assembly", job.local_batches * job.my_times(resume.start_chunk, T));
  Stopwatch since_checkpoint;
  for (std::size_t k0 = resume.start_chunk; k0 < T; k0 += plan.chunk_size) {
    const std::size_t k1 = std::min(T, k0 + plan.chunk_size);
    auto sums =
        assemble_chunk(job, k0, k1, resume, solution, progress, since_checkpoint, assembled);
    solve_chunk(job, k0, k1, sums, solution);
  }
  progress.finish();
  // Every group assembles each of its batches (for its own times): count a batch once.
  start.batches_assembled = static_cast<std::size_t>(comm.allreduce_sum(assembled)) / job.G;
  if (start_out != nullptr) *start_out = start;
  if (job.checkpointing && resume.start_chunk < T) {
    // The solution itself, until the caller has written the model: stages after the fit (guided
    // passes, calibration) can be interrupted and resumed without assembling again.
    ScopedPhase phase("fit.checkpoint");
    const std::vector<std::int64_t> all_done(job.total_batches, comm.is_root() ? 1 : 0);
    detail::write_checkpoint(options.checkpoint.path, job.config, T, T, all_done, solution.eta,
                             solution.diagnostics, solution.targets, packed_size(P), {}, comm);
  }
  return make_model(job, std::move(solution), std::move(features), shape, standardization);
}

}  // namespace ksi::fit
