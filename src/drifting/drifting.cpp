#include "ksi/drifting/drifting.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "drifting/tile_kernels.hpp"
#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/par/log.hpp"

namespace ksi::drifting {
namespace {

using detail::kLanes;

// Ring buffer: [first row, row count, tiles...], each tile d x tile values by coordinate. Every
// rank allocates room for the largest block so that sendrecv_replace moves equal lengths.
constexpr std::size_t kHeader = 2;

std::size_t tiles_for(std::size_t rows, std::size_t tile) {
  return (rows + tile - 1) / tile;
}

std::size_t ring_capacity(std::size_t total, std::size_t tile, int ranks) {
  const std::size_t tiles = tiles_for(total, tile);
  return (tiles + static_cast<std::size_t>(ranks) - 1) / static_cast<std::size_t>(ranks);
}

std::vector<double> pack_tiles(const Matrix& rows, std::size_t first, std::size_t d,
                               std::size_t tile, std::size_t capacity_tiles) {
  std::vector<double> buffer(kHeader + capacity_tiles * d * tile, 0.0);
  buffer[0] = static_cast<double>(first);
  buffer[1] = static_cast<double>(rows.rows());
  for (std::size_t i = 0; i < rows.rows(); ++i) {
    double* soa = buffer.data() + kHeader + (i / tile) * d * tile;
    const std::size_t j = i % tile;
    for (std::size_t k = 0; k < d; ++k) soa[k * tile + j] = rows(i, k);
  }
  return buffer;
}

// Calls visit(block) for every tile of a packed buffer, with the given targets.
template <class Visit>
void for_each_tile(const std::vector<double>& buffer, const Matrix& targets,
                   std::size_t first_target, std::size_t d, std::size_t tile, Visit&& visit) {
  const auto first = static_cast<std::size_t>(buffer[0]);
  const auto rows = static_cast<std::size_t>(buffer[1]);
  for (std::size_t t = 0; t < tiles_for(rows, tile); ++t) {
    detail::TileBlock block{targets.data(),
                            targets.rows(),
                            first_target,
                            d,
                            buffer.data() + kHeader + t * d * tile,
                            tile,
                            std::min(tile, rows - t * tile),
                            first + t * tile};
    visit(block);
  }
}

// Circulates the buffers around the ring: visit() sees every rank's block once (its own first).
template <class Visit>
void around_ring(const par::Comm& comm, const char* phase_name,
                 std::vector<std::vector<double>*> buffers, Visit&& visit) {
  const int next = (comm.rank() + 1) % comm.size();
  const int previous = (comm.rank() + comm.size() - 1) % comm.size();
  for (int step = 0; step < comm.size(); ++step) {
    {
      ScopedPhase phase(phase_name);
      visit();
    }
    if (step + 1 < comm.size()) {
      ScopedPhase phase("drift.ring");
      for (auto* buffer : buffers) comm.sendrecv_replace(*buffer, next, previous);
    }
  }
}

// Checks that a set is laid out as tile_range says and returns this rank's range.
par::Range checked_range(const Matrix& local, std::size_t total, std::size_t tile,
                         const par::Comm& comm, const char* what) {
  const par::Range range = tile_range(total, tile, comm.rank(), comm.size());
  if (local.rows() != range.size())
    throw InternalError(cat("internal error: ", what, " holds ", local.rows(), " rows on rank ",
                            comm.rank(), " but its tile range has ", range.size()));
  return range;
}

void check_tile(std::size_t tile) {
  if (tile < kLanes || tile % kLanes != 0)
    throw UsageError(cat("--tile must be a positive multiple of ", kLanes, ", not ", tile));
}

// The dimension agreed by all ranks (ranks without rows may hold a 0 x 0 matrix).
std::size_t agreed_dimension(const Matrix& local, const par::Comm& comm) {
  const auto d = comm.allreduce_max(static_cast<std::int64_t>(local.cols()));
  return static_cast<std::size_t>(d);
}

// Sums a vector quantity of width w over all rows, tile by tile in global order.
std::vector<double> ordered_tile_sums(std::size_t local_rows, std::size_t total, std::size_t tile,
                                      std::size_t width, const par::Comm& comm,
                                      const std::function<void(std::size_t, double*)>& add_row) {
  const par::Range range = tile_range(total, tile, comm.rank(), comm.size());
  if (local_rows != range.size())
    throw InternalError(cat("internal error: ", local_rows, " rows on rank ", comm.rank(),
                            " but its tile range has ", range.size()));
  const std::size_t tiles = tiles_for(range.size(), tile);
  std::vector<double> partial(tiles * width, 0.0);
  for (std::size_t i = 0; i < range.size(); ++i) add_row(i, partial.data() + (i / tile) * width);
  const std::vector<double> all = comm.allgatherv(partial);
  std::vector<double> hi(width, 0.0), lo(width, 0.0);
  for (std::size_t t = 0; t < all.size() / std::max<std::size_t>(width, 1); ++t)
    for (std::size_t q = 0; q < width; ++q) detail::add_exact(hi[q], lo[q], all[t * width + q]);
  for (std::size_t q = 0; q < width; ++q) hi[q] += lo[q];
  return hi;
}

}  // namespace

Kernel parse_kernel(const std::string& name) {
  return parse_choice<Kernel>(
      "kernel", name,
      {{"gauss", Kernel::gauss}, {"gaussian", Kernel::gauss}, {"laplace", Kernel::laplace}});
}

const char* to_string(Kernel kernel) {
  return kernel == Kernel::gauss ? "gauss" : "laplace";
}

Initialization parse_initialization(const std::string& name) {
  return parse_choice<Initialization>(
      "initialisation", name,
      {{"gaussian", Initialization::gaussian}, {"standard", Initialization::standard}});
}

const char* to_string(Initialization init) {
  return init == Initialization::gaussian ? "gaussian" : "standard";
}

par::Range tile_range(std::size_t count, std::size_t tile, int rank, int size) {
  const par::Range tiles = par::block_range(tiles_for(count, tile), rank, size);
  par::Range rows;
  rows.begin = std::min(count, tiles.begin * tile);
  rows.end = std::min(count, tiles.end * tile);
  return rows;
}

double ordered_sum(const std::vector<double>& local_values, std::size_t total_rows,
                   std::size_t tile, const par::Comm& comm) {
  return ordered_tile_sums(local_values.size(), total_rows, tile, 1, comm,
                           [&](std::size_t i, double* sum) { sum[0] += local_values[i]; })[0];
}

Moments compute_moments(const Matrix& local_rows, std::size_t total_rows, std::size_t tile,
                        bool with_covariance, const par::Comm& comm) {
  check_tile(tile);
  const std::size_t d = agreed_dimension(local_rows, comm);
  checked_range(local_rows, total_rows, tile, comm, "the data");
  Moments moments;
  moments.mean = ordered_tile_sums(local_rows.rows(), total_rows, tile, d, comm,
                                   [&](std::size_t i, double* sum) {
                                     for (std::size_t k = 0; k < d; ++k) sum[k] += local_rows(i, k);
                                   });
  for (double& m : moments.mean) m /= static_cast<double>(total_rows);
  const double dof = total_rows > 1 ? static_cast<double>(total_rows - 1) : 1.0;
  const auto& mean = moments.mean;
  if (with_covariance) {
    const auto second = ordered_tile_sums(
        local_rows.rows(), total_rows, tile, d * d, comm, [&](std::size_t i, double* sum) {
          for (std::size_t a = 0; a < d; ++a)
            for (std::size_t b = 0; b < d; ++b)
              sum[a * d + b] += (local_rows(i, a) - mean[a]) * (local_rows(i, b) - mean[b]);
        });
    moments.covariance = Matrix(d, d);
    for (std::size_t q = 0; q < d * d; ++q) moments.covariance.data()[q] = second[q] / dof;
    double trace = 0.0;
    for (std::size_t k = 0; k < d; ++k) trace += moments.covariance(k, k);
    moments.sigma = std::sqrt(trace / static_cast<double>(d));
  } else {
    const auto variance = ordered_tile_sums(local_rows.rows(), total_rows, tile, d, comm,
                                            [&](std::size_t i, double* sum) {
                                              for (std::size_t k = 0; k < d; ++k) {
                                                const double c = local_rows(i, k) - mean[k];
                                                sum[k] += c * c;
                                              }
                                            });
    double trace = 0.0;
    for (double v : variance) trace += v / dof;
    moments.sigma = std::sqrt(trace / static_cast<double>(d));
  }
  return moments;
}

double rule_bandwidth(std::size_t particles, std::size_t dimension, double constant, double sigma) {
  return constant * sigma *
         std::pow(static_cast<double>(particles), -1.0 / (static_cast<double>(dimension) + 4.0));
}

Matrix initial_particles(par::Range range, std::size_t dimension, Initialization init,
                         const Moments& moments, std::uint64_t seed) {
  const std::size_t d = dimension;
  Matrix factor;
  if (init == Initialization::gaussian) {
    if (moments.covariance.rows() != d || moments.mean.size() != d)
      throw InternalError("internal error: gaussian initialisation without the data covariance");
    // Cholesky factor of the data covariance; a singular one (fewer items than dimensions, a
    // constant axis) cannot shape the initial cloud.
    factor = Matrix(d, d);
    for (std::size_t j = 0; j < d; ++j) {
      double diagonal = moments.covariance(j, j);
      for (std::size_t k = 0; k < j; ++k) diagonal -= factor(j, k) * factor(j, k);
      if (!(diagonal > 1e-14 * moments.covariance(j, j)) || !(diagonal > 0.0))
        throw InputError(
            "the data covariance is singular (fewer items than dimensions, or a constant "
            "direction): use --init standard");
      factor(j, j) = std::sqrt(diagonal);
      for (std::size_t i = j + 1; i < d; ++i) {
        double v = moments.covariance(i, j);
        for (std::size_t k = 0; k < j; ++k) v -= factor(i, k) * factor(j, k);
        factor(i, j) = v / factor(j, j);
      }
    }
  }
  Matrix particles(range.size(), d);
  std::vector<double> z(d);
  for (std::size_t i = 0; i < range.size(); ++i) {
    RandomStream stream(seed, StreamPurpose::drifting, range.begin + i);
    stream.fill_normal(z);
    for (std::size_t a = 0; a < d; ++a) {
      if (init == Initialization::standard) {
        particles(i, a) = z[a];
        continue;
      }
      double x = moments.mean[a];
      for (std::size_t b = 0; b <= a; ++b) x += factor(a, b) * z[b];
      particles(i, a) = x;
    }
  }
  return particles;
}

DriftField::DriftField(const Matrix& local_data, std::size_t total_data, Kernel kernel,
                       double bandwidth, bool self_interaction, std::size_t tile,
                       const par::Comm& comm)
    : comm_(&comm),
      kernel_(kernel),
      bandwidth_(bandwidth),
      self_interaction_(self_interaction),
      tile_(tile),
      total_data_(total_data) {
  check_tile(tile);
  if (!(bandwidth > 0.0) || !std::isfinite(bandwidth))
    throw UsageError(cat("the bandwidth must be positive and finite, not ", bandwidth));
  if (total_data == 0) throw InputError("the drifting field needs at least one data item");
  dimension_ = agreed_dimension(local_data, comm);
  const par::Range range = checked_range(local_data, total_data, tile, comm, "the data");
  ring_capacity_data_ = ring_capacity(total_data, tile, comm.size());
  packed_data_ = pack_tiles(local_data, range.begin, dimension_, tile, ring_capacity_data_);
}

void DriftField::mean_shifts(const Matrix& local_particles, std::size_t total, Matrix& toward_data,
                             Matrix& toward_model) const {
  const par::Comm& comm = *comm_;
  const std::size_t d = dimension_;
  const par::Range range = checked_range(local_particles, total, tile_, comm, "the particles");
  if (local_particles.rows() > 0 && local_particles.cols() != d)
    throw InputError(cat("particles of dimension ", local_particles.cols(),
                         " do not match data of dimension ", d));
  const bool laplace = kernel_ == Kernel::laplace;
  // Exponents in base 2, so that the per-tile scales are exact powers of two.
  const double scale = laplace ? std::numbers::log2e / bandwidth_
                               : std::numbers::log2e / (2.0 * bandwidth_ * bandwidth_);

  detail::ScaledSums data_sums, model_sums;
  data_sums.reset(range.size(), 1 + d);
  model_sums.reset(range.size(), 1 + d);
  std::vector<double> data_buffer = packed_data_;
  std::vector<double> particle_buffer =
      pack_tiles(local_particles, range.begin, d, tile_, ring_capacity(total, tile_, comm.size()));
  AlignedVector<double> scratch((2 + d) * tile_ + kLanes);
  around_ring(comm, "drift.pairs", {&data_buffer, &particle_buffer}, [&] {
    for_each_tile(
        data_buffer, local_particles, range.begin, d, tile_, [&](const detail::TileBlock& block) {
          detail::accumulate_kernel_tile(block, laplace, scale, false, data_sums, scratch.data());
        });
    for_each_tile(particle_buffer, local_particles, range.begin, d, tile_,
                  [&](const detail::TileBlock& block) {
                    detail::accumulate_kernel_tile(block, laplace, scale, !self_interaction_,
                                                   model_sums, scratch.data());
                  });
  });

  toward_data.resize(range.size(), d);
  toward_model.resize(range.size(), d);
  for (std::size_t i = 0; i < range.size(); ++i) {
    const double data_weight = data_sums.value(i, 0);
    const double model_weight = model_sums.value(i, 0);
    for (std::size_t k = 0; k < d; ++k) {
      toward_data(i, k) = data_sums.value(i, 1 + k) / data_weight;
      // Without the self term a lone particle has no model neighbours: no push.
      toward_model(i, k) = model_weight > 0.0 ? model_sums.value(i, 1 + k) / model_weight : 0.0;
    }
  }
}

void DriftField::velocity(const Matrix& local_particles, std::size_t total,
                          Matrix& velocity) const {
  Matrix toward_model;
  mean_shifts(local_particles, total, velocity, toward_model);
  for (std::size_t q = 0; q < velocity.size(); ++q) velocity.data()[q] -= toward_model.data()[q];
}

EnergyDistance::EnergyDistance(const Matrix& local_reference, std::size_t total_reference,
                               std::size_t tile, const par::Comm& comm)
    : comm_(&comm), tile_(tile), total_reference_(total_reference) {
  check_tile(tile);
  if (total_reference == 0) throw InputError("the held-out set is empty");
  dimension_ = agreed_dimension(local_reference, comm);
  const par::Range range =
      checked_range(local_reference, total_reference, tile, comm, "the held-out set");
  ring_capacity_ = ring_capacity(total_reference, tile, comm.size());
  packed_reference_ = pack_tiles(local_reference, range.begin, dimension_, tile, ring_capacity_);

  std::vector<double> hi(range.size(), 0.0), lo(range.size(), 0.0);
  std::vector<double> buffer = packed_reference_;
  AlignedVector<double> scratch(tile);
  around_ring(comm, "drift.energy", {&buffer}, [&] {
    for_each_tile(buffer, local_reference, range.begin, dimension_, tile,
                  [&](const detail::TileBlock& block) {
                    detail::accumulate_distance_tile(block, hi.data(), lo.data(), scratch.data());
                  });
  });
  for (std::size_t i = 0; i < hi.size(); ++i) hi[i] += lo[i];
  const double pairs = static_cast<double>(total_reference) * static_cast<double>(total_reference);
  reference_spread_ = ordered_sum(hi, total_reference, tile, comm) / pairs;
}

double EnergyDistance::operator()(const Matrix& local_rows, std::size_t total) const {
  const par::Comm& comm = *comm_;
  const par::Range range = checked_range(local_rows, total, tile_, comm, "the particles");
  if (local_rows.rows() > 0 && local_rows.cols() != dimension_)
    throw InputError(cat("items of dimension ", local_rows.cols(),
                         " do not match the held-out set's dimension ", dimension_));
  std::vector<double> cross_hi(range.size(), 0.0), cross_lo(range.size(), 0.0);
  std::vector<double> own_hi(range.size(), 0.0), own_lo(range.size(), 0.0);
  std::vector<double> reference_buffer = packed_reference_;
  std::vector<double> own_buffer = pack_tiles(local_rows, range.begin, dimension_, tile_,
                                              ring_capacity(total, tile_, comm.size()));
  AlignedVector<double> scratch(tile_);
  around_ring(comm, "drift.energy", {&reference_buffer, &own_buffer}, [&] {
    for_each_tile(reference_buffer, local_rows, range.begin, dimension_, tile_,
                  [&](const detail::TileBlock& block) {
                    detail::accumulate_distance_tile(block, cross_hi.data(), cross_lo.data(),
                                                     scratch.data());
                  });
    for_each_tile(own_buffer, local_rows, range.begin, dimension_, tile_,
                  [&](const detail::TileBlock& block) {
                    detail::accumulate_distance_tile(block, own_hi.data(), own_lo.data(),
                                                     scratch.data());
                  });
  });
  for (std::size_t i = 0; i < range.size(); ++i) {
    cross_hi[i] += cross_lo[i];
    own_hi[i] += own_lo[i];
  }
  const double n = static_cast<double>(total);
  const double m = static_cast<double>(total_reference_);
  const double cross = ordered_sum(cross_hi, total, tile_, comm) / (n * m);
  const double own = ordered_sum(own_hi, total, tile_, comm) / (n * n);
  return 2.0 * cross - own - reference_spread_;
}

void DriftOptions::validate() const {
  check_tile(tile);
  if (!(step > 0.0) || !std::isfinite(step))
    throw UsageError(cat("--step must be positive and finite, not ", step));
  if (!(tolerance >= 0.0) || !std::isfinite(tolerance))
    throw UsageError("--tolerance must be non-negative and finite");
  if (!(bandwidth >= 0.0) || !std::isfinite(bandwidth))
    throw UsageError(
        "--bandwidth must be positive and finite (or 0 for the rule c sigma N^(-1/(d+4)))");
  if (!(bandwidth_constant > 0.0) || !std::isfinite(bandwidth_constant))
    throw UsageError("--bandwidth-constant must be positive and finite");
}

void DriftOptions::validate_dimension(std::size_t d) const {
  if (init == Initialization::gaussian && d > 1024)
    throw UsageError(cat("--init gaussian factors the d x d data covariance; with d = ", d,
                         " use --init standard on standardised data"));
}

DriftResult drift(const Matrix& local_data, std::size_t total_data, const DriftOptions& options,
                  const EnergyDistance* reference, const par::Comm& comm) {
  options.validate();
  if (total_data == 0) throw InputError("the data set is empty");

  const std::size_t d = agreed_dimension(local_data, comm);
  options.validate_dimension(d);
  const std::size_t count = options.particles > 0 ? options.particles : total_data;
  const bool gaussian_init = options.init == Initialization::gaussian;
  const Moments moments =
      compute_moments(local_data, total_data, options.tile, gaussian_init, comm);

  DriftResult result;
  result.total = count;
  result.range = tile_range(count, options.tile, comm.rank(), comm.size());
  result.bandwidth = options.bandwidth > 0.0
                         ? options.bandwidth
                         : rule_bandwidth(count, d, options.bandwidth_constant, moments.sigma);
  if (!(result.bandwidth > 0.0))
    throw InputError("the data have no spread (all items equal): give a fixed --bandwidth");
  par::collective(comm, [&] {
    result.particles = initial_particles(result.range, d, options.init, moments, options.seed);
  });

  const DriftField field(local_data, total_data, options.kernel, result.bandwidth,
                         options.self_interaction, options.tile, comm);
  par::Log::detail(
      sformat("drift: N = %zu particles, M = %zu data items, d = %zu, %s kernel, "
              "h = %.6g, step %.6g, self-interaction %s",
              count, total_data, d, to_string(options.kernel), result.bandwidth, options.step,
              options.self_interaction ? "on" : "off"));
  Matrix velocity;
  std::vector<double> speed_squared;
  auto& diagnostics = result.diagnostics;
  par::Progress progress("drift", options.iterations + 1);
  for (std::size_t update = 0;; ++update) {
    field.velocity(result.particles, count, velocity);
    speed_squared.assign(velocity.rows(), 0.0);
    for (std::size_t i = 0; i < velocity.rows(); ++i)
      for (std::size_t k = 0; k < d; ++k) speed_squared[i] += velocity(i, k) * velocity(i, k);
    const double residual = std::sqrt(ordered_sum(speed_squared, count, options.tile, comm) /
                                      static_cast<double>(count));
    diagnostics.residual_velocity.push_back(residual);
    if (!std::isfinite(residual))  // the same ordered sum on every rank: an agreed error
      throw par::CollectiveError(ExitCode::numerical,
                                 cat("the drifting velocity is not finite after ", update,
                                     " updates (reduce --step or check --bandwidth)"),
                                 0);

    const bool converged = options.tolerance > 0.0 && residual <= options.tolerance;
    const bool done = converged || update == options.iterations;
    const bool measure =
        update == 0 || done || (options.energy_every > 0 && update % options.energy_every == 0);
    if (reference && measure) {
      diagnostics.energy_iterations.push_back(static_cast<std::int64_t>(update));
      diagnostics.energy_distance.push_back((*reference)(result.particles, count));
      par::Log::detail(sformat("drift: update %zu: residual velocity %.6e, energy distance %.6e",
                               update, residual, diagnostics.energy_distance.back()));
    } else {
      par::Log::detail(sformat("drift: update %zu: residual velocity %.6e", update, residual));
    }
    progress.advance();
    if (done) {
      result.updates = update;
      result.converged = converged;
      break;
    }
    for (std::size_t q = 0; q < velocity.size(); ++q)
      result.particles.data()[q] += options.step * velocity.data()[q];
  }
  progress.finish();
  return result;
}

}  // namespace ksi::drifting
