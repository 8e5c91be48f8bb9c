#pragma once
/// @file
/// The fit stage (METHOD section 2): per-time Gram systems assembled over this rank's items,
/// reduced to the rank (or rank group) that solves each time, solved with PETSc, and gathered into
/// a Model.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::fit {

/// Checkpoints of a fit in progress (issue: runs on clusters).
struct CheckpointOptions {
  std::string path;  ///< checkpoint file; empty: no checkpoints and no signal handling
  double every_seconds =
      600.0;            ///< also write one at this interval (0: only when stopped by a signal)
  bool resume = false;  ///< continue from `path` when it exists
  std::string inputs;   ///< the caller's identity of the inputs (data file), checked on resume
};

struct FitOptions {
  std::string schedule = "linear";    ///< interpolant schedule (linear, trig)
  std::size_t times = 33;             ///< T, times t_k in [0, 1] at which eta is solved
  std::string time_grid = "uniform";  ///< uniform, or chebyshev (denser near t = 0 and t = 1)
  std::size_t draws = 4;              ///< M, noise draws z per data item and time
  std::uint64_t seed = 1;             ///< key of the noise streams (seed, item, draw, time)
  double ridge = 1e-8;                ///< relative ridge lambda: K + lambda tr(K)/P I
  /// Further relative ridge on the weights of the map's one-point bins (FeatureMap::bin_features):
  /// + bin_ridge tr(K)/P on their diagonal. At 64^3 the bins' tail force made every sample run
  /// away with 0; 1e-2 kept them stable (docs/fidelity.md).
  double bin_ridge = 0.0;
  std::size_t batch = 0;      ///< items x draws per accumulate call (0: the map's preference)
  double memory_mb = 4096.0;  ///< per-rank budget for partial sums; times are chunked to fit
  /// P from which a time is solved on a rank group (ScaLAPACK, whose rounding follows the process
  /// grid; below it one rank solves each time with the same bits on any number of ranks). 8192:
  /// the 256^2 maps (P ~ 4 200) stay rank-count invariant.
  std::size_t distributed_threshold = 8192;
  int solve_group = 0;           ///< ranks per distributed solve (0: spread idle ranks over times)
  CheckpointOptions checkpoint;  ///< checkpoint and restart
  /// Fields only: after eta, fit per-shell gains of a linear drift correction (Model::shell_gain)
  /// on the same (item, draw, time) pairs; one more pass of vjp's.
  bool shell_correction = false;
  /// G: the ranks form G groups of size / G consecutive ranks; every group walks all items (dealt
  /// over its ranks, time_group_item_range) for the times t_k with k mod G = its index, so that
  /// more ranks than item batches still find work. The model is the same bits for every G and rank
  /// count.
  std::size_t time_groups = 1;
  /// The Gram of each time: "exact" (sum J J^T over the pairs, FeatureMap::accumulate) or
  /// "randomized" (features::accumulate_randomized with gram_probes Rademacher probes per pair,
  /// keyed by (seed, item, draw, time, probe): an unbiased estimate from gram_probes + 1
  /// forward-mode products per pair instead of the P rows of J).
  std::string gram = "exact";
  std::size_t gram_probes = 16;

  /// UsageError naming the first invalid setting that needs neither data nor ranks (the schedule,
  /// the time grid, draws, ridge, the Gram, memory budget, checkpoint interval; the time groups
  /// need the rank count: time_group): checked by fit_model and by `ksi fit` before any file is
  /// touched.
  void validate() const;
};

/// The per-feature relative penalty of the solves (solve_normal_equations): bin_ridge on the map's
/// bin features, 0 elsewhere; empty when bin_ridge is 0. UsageError when bin_ridge > 0 and the map
/// has no bins.
std::vector<double> bin_penalty(const features::FeatureMap& features, double bin_ridge);

/// Which group of `options.time_groups` a rank belongs to, its rank and the group's size, and the
/// items it holds: UsageError when the ranks do not split evenly or there are more groups than
/// times.
struct TimeGroup {
  int index = 0;  ///< the group's number, 0 .. G - 1
  int rank = 0;   ///< the rank within the group
  int size = 1;   ///< ranks per group
};
TimeGroup time_group(const FitOptions& options, std::size_t times, int rank, int size);
/// This rank's items for the assembly with time groups: assembly_item_range within its group.
par::Range time_group_item_range(std::size_t total_items, std::size_t items_per_batch,
                                 const TimeGroup& group);

/// Where one run's times go: chunks of consecutive times that fit the memory budget, and the owner
/// of each time. Exposed for tests and the performance model.
struct FitPlan {
  std::size_t chunk_size = 0;  ///< times per chunk
  std::size_t group_size = 1;  ///< ranks per solve group (1: every time solved on one rank)
  std::size_t groups = 1;      ///< number of solve groups
  bool distributed = false;    ///< ScaLAPACK solves
};
FitPlan plan_fit(std::size_t features, std::size_t times, int ranks, const FitOptions& options);

/// Items per assembly batch: whole items, (options.batch or the map's preferred batch) / draws.
std::size_t items_per_batch(const FitOptions& options, const features::FeatureMap& features);

/// This rank's items for the assembly: whole batches dealt in contiguous blocks. Every batch then
/// holds the same items on any number of ranks, so its Gram contribution is the same bits, and with
/// double-double sums the model is bitwise independent of the rank count.
par::Range assembly_item_range(std::size_t total_items, std::size_t items_per_batch, int rank,
                               int size);

/// phi of every training item (rows of `local_items`, this rank's contiguous block starting at
/// global item `first_item`; blocks in rank order), all `total_items` rows in item order on every
/// rank; the targets of microcanonical synthesis. Collective.
Matrix training_features(const Matrix& local_items, std::size_t first_item, std::size_t total_items,
                         const features::FeatureMap& features, const par::Comm& comm);

/// The feature moments of a batch: sums[p] = sum of phi_p(x), sums[P + p] = sum of phi_p(x)^2 over
/// the rows x of X (sums.size() == 2P), as the fit records them and the guided passes measure them.
void feature_moment_sums(const features::FeatureMap& features, const Matrix& X,
                         std::span<double> sums);
/// The same sums from features already evaluated (the rows of Phi, B x P), in the same order: the
/// same bits as feature_moment_sums on the fields they came from.
void feature_moment_sums(const Matrix& Phi, std::span<double> sums);

/// t_0 = 0 < ... < t_{T-1} = 1 for the named grid.
std::vector<double> make_time_grid(std::size_t times, const std::string& grid);

/// What a fit with checkpoints did, for logs and reports: where it resumed, and the assembly
/// batches (one batch of items over one chunk of times) it took from the checkpoint and assembled
/// itself, each summed over ranks where it happens.
struct FitStart {
  bool resumed = false;             ///< a checkpoint was read
  bool finished = false;            ///< ... holding the finished fit's solution: no assembly at all
  std::size_t time = 0;             ///< first time of the chunk it resumed in (T when finished)
  std::size_t batches = 0;          ///< assembly batches of the whole fit (batches x chunks)
  std::size_t batches_skipped = 0;  ///< found in the checkpoint (whole chunks before `time` too)
  std::size_t batches_assembled = 0;  ///< assembled by this run
};

/// Fits eta_t for items already in standardised units. With options.checkpoint.path set, a stop
/// request (SIGUSR1/SIGTERM, see par/signals.hpp) writes a checkpoint and throws a CollectiveError
/// with ExitCode::interrupted; with options.checkpoint.resume the fit continues from that
/// checkpoint. `first_item` is the global index of the first local row (noise streams are keyed by
/// global item index); for results independent of the rank count the local rows must be
/// assembly_item_range(...); with options.time_groups = G > 1 they are time_group_item_range(...)
/// (every group holds all items) and `comm` is the whole job. `start`, if given, receives what the
/// run did (FitStart). Collective.
Model fit_model(const Matrix& local_items, std::size_t first_item, std::size_t total_items,
                std::unique_ptr<features::FeatureMap> features, const ItemShape& shape,
                const Standardization& standardization, const FitOptions& options,
                const par::Comm& comm, FitStart* start = nullptr);

}  // namespace ksi::fit
