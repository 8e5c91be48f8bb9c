#pragma once
/// @file
/// The drifting particle generator (METHOD section 7). N particles x_i move with the kernel
/// mean-shift field v = m_data - m_model, x_i <- x_i + step v(x_i), until v vanishes. With the
/// Gaussian kernel the field is h^2 (grad log KDE_data - grad log KDE_model), a gradient field (the
/// conservative variant); with the Laplace kernel it is not (the displacement variant).
///
/// Parallel layout: the data and the particles are cut into tiles of `tile` rows by global index,
/// and every rank owns a contiguous run of whole tiles. All-pairs sums (N x M and N x N) circulate
/// the tiles around a ring of ranks. A particle's sum over one tile is computed in a fixed order;
/// the per-tile partials carry a power-of-two scale (log-sum-exp with exact rescaling) and are
/// combined with error-free (double-double) additions, so the result does not depend on the number
/// of ranks beyond the last bit, and typically not even there.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::drifting {

/// k(x, y) = exp(-|x - y|^2 / (2 h^2)) (gauss) or exp(-|x - y| / h) (laplace).
enum class Kernel { gauss, laplace };
/// "gauss" (also "gaussian") or "laplace"; UsageError otherwise.
Kernel parse_kernel(const std::string& name);
const char* to_string(Kernel kernel);

/// Where the particles start: N(data mean, data covariance), or N(0, I).
enum class Initialization { gaussian, standard };
/// "gaussian" or "standard"; UsageError otherwise.
Initialization parse_initialization(const std::string& name);
const char* to_string(Initialization init);

/// Settings of one drifting run; every field has one documented default.
struct DriftOptions {
  Kernel kernel = Kernel::gauss;  ///< gauss (conservative) or laplace (displacement)
  std::size_t particles = 0;      ///< N; 0 means as many particles as data items
  Initialization init = Initialization::gaussian;  ///< initial particle distribution
  std::uint64_t seed = 1;  ///< particle i starts from the stream (seed, drifting, i)
  double bandwidth = 0.0;  ///< fixed h > 0; 0 selects the rule below
  double bandwidth_constant =
      1.0;                       ///< c in h = c sigma N^(-1/(d+4)), sigma^2 = tr(S) / d of the data
  bool self_interaction = true;  ///< whether the particle itself counts in m_model
  double step = 1.0;             ///< eta in x <- x + eta v
  std::size_t iterations = 100;  ///< largest number of updates
  double tolerance = 0.0;        ///< stop once the residual velocity is <= tolerance (0: never)
  std::size_t energy_every = 10;  ///< energy distance every k updates (0: first and last only)
  std::size_t tile = 256;         ///< rows per tile: the unit of blocking and of summation order

  /// UsageError naming the first invalid setting: checked by drift() and by `ksi drift` before
  /// any file is touched.
  void validate() const;
  /// UsageError when the settings do not suit items of dimension d (--init gaussian factors the
  /// d x d data covariance: at most 1024): checked by drift() and by `ksi drift` once the data's
  /// shape is known, before any pair sum.
  void validate_dimension(std::size_t d) const;
};

/// The rows [begin, end) owned by `rank` when `count` rows are cut into tiles of `tile` rows and
/// the tiles are dealt to `size` ranks in contiguous runs (run lengths differ by at most one tile).
par::Range tile_range(std::size_t count, std::size_t tile, int rank, int size);

/// Mean, covariance and the per-axis variance of a set of rows spread over ranks in tile_range
/// blocks, summed tile by tile in global order (identical for any number of ranks). Collective.
struct Moments {
  std::vector<double> mean;  ///< d
  Matrix covariance;         ///< d x d (unbiased); empty unless asked for
  double sigma = 0.0;        ///< sqrt(tr(S) / d), the scale of the bandwidth rule
};
Moments compute_moments(const Matrix& local_rows, std::size_t total_rows, std::size_t tile,
                        bool with_covariance, const par::Comm& comm);

/// h = c sigma N^(-1/(d+4)).
double rule_bandwidth(std::size_t particles, std::size_t dimension, double constant, double sigma);

/// Particles [range) of the initial set: particle i is mean + L z_i with S = L L^T (gaussian) or
/// z_i (standard), z_i ~ N(0, I) from the stream (seed, drifting, i). InputError if S is not
/// positive definite.
Matrix initial_particles(par::Range range, std::size_t dimension, Initialization init,
                         const Moments& moments, std::uint64_t seed);

/// The mean-shift velocity v = m_data - m_model over ranks. The data rows are held for the lifetime
/// of the object (packed into tiles once); particles are passed per evaluation. Both sets must be
/// distributed by tile_range with the same tile (checked). Collective.
class DriftField {
 public:
  DriftField(const Matrix& local_data, std::size_t total_data, Kernel kernel, double bandwidth,
             bool self_interaction, std::size_t tile, const par::Comm& comm);

  /// Fills `velocity` (local rows x d) for this rank's particles, rows [first, first + rows) of
  /// `total` particles. Collective.
  void velocity(const Matrix& local_particles, std::size_t total, Matrix& velocity) const;

  /// Mean shifts m_data(x_i) and m_model(x_i) separately (v is their difference). Collective.
  void mean_shifts(const Matrix& local_particles, std::size_t total, Matrix& toward_data,
                   Matrix& toward_model) const;

  Kernel kernel() const noexcept { return kernel_; }
  double bandwidth() const noexcept { return bandwidth_; }
  std::size_t dimension() const noexcept { return dimension_; }

 private:
  const par::Comm* comm_;
  Kernel kernel_;
  double bandwidth_;
  bool self_interaction_;
  std::size_t tile_;
  std::size_t dimension_;
  std::size_t total_data_;
  std::vector<double> packed_data_;  // this rank's data tiles, ring-buffer layout
  std::size_t ring_capacity_data_ = 0;
};

/// Sum of a per-row quantity over all rows of a tile_range-distributed set, accumulated tile by
/// tile in global order (identical for any number of ranks). `local_values` has one value per local
/// row. Collective.
double ordered_sum(const std::vector<double>& local_values, std::size_t total_rows,
                   std::size_t tile, const par::Comm& comm);

/// Energy distance to a fixed reference set (the held-out data): 2 E|X - Y| - E|X - X'| - E|Y - Y'|
/// between the two empirical distributions (V-statistic: all pairs, so it is >= 0 and two
/// independent samples of sizes N and M sit near E|Y - Y'| (1/N + 1/M), not near 0). Both sets are
/// distributed by tile_range with the same tile. Collective.
class EnergyDistance {
 public:
  EnergyDistance(const Matrix& local_reference, std::size_t total_reference, std::size_t tile,
                 const par::Comm& comm);
  /// The distance of `total` rows (this rank's in `local_rows`) to the reference. Collective.
  double operator()(const Matrix& local_rows, std::size_t total) const;
  /// E|Y - Y'| of the reference set.
  double reference_spread() const noexcept { return reference_spread_; }

 private:
  const par::Comm* comm_;
  std::size_t tile_;
  std::size_t dimension_;
  std::size_t total_reference_;
  std::vector<double> packed_reference_;
  std::size_t ring_capacity_ = 0;
  double reference_spread_ = 0.0;
};

/// Per-iteration record of a run: residual velocity sqrt(mean_i |v(x_i)|^2) after 0, 1, ...
/// updates, and the energy distance at the iterations listed in energy_iterations (if a reference
/// was given).
struct DriftDiagnostics {
  std::vector<double> residual_velocity;
  std::vector<std::int64_t> energy_iterations;
  std::vector<double> energy_distance;
};

struct DriftResult {
  Matrix particles;         ///< this rank's rows (first = range.begin)
  par::Range range;         ///< tile_range of the particles on this rank
  std::size_t total = 0;    ///< N
  double bandwidth = 0.0;   ///< the h used
  std::size_t updates = 0;  ///< updates performed (<= options.iterations)
  bool converged = false;   ///< stopped because the residual velocity reached the tolerance
  DriftDiagnostics diagnostics;
};

/// Runs the drifting generator: initial particles, then updates until the residual velocity is at
/// most options.tolerance or options.iterations updates were made. `local_data` holds this rank's
/// tile_range block of the data; `reference` (may be null) measures the energy distance. Throws
/// NumericalError (on every rank) if the particles stop being finite. Collective.
DriftResult drift(const Matrix& local_data, std::size_t total_data, const DriftOptions& options,
                  const EnergyDistance* reference, const par::Comm& comm);

}  // namespace ksi::drifting
