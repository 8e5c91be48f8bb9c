// Pair interactions per second of the drifting field: the blocked, vectorised ring kernel
// (DriftField::velocity) against a plain double loop over the same particles in the same run.
// Prints one JSON object. Run over ranks for the scaling:
//   mpirun -n 2 build/tests/benchmarks/bench_drifting --particles 20000 --dim 2 --kernel gauss
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/version.hpp"
#include "ksi/drifting/drifting.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"

namespace {

using ksi::Matrix;
namespace drifting = ksi::drifting;

struct Settings {
  std::size_t particles = 20000;
  std::size_t data = 20000;
  std::size_t dimension = 2;
  std::string kernel = "gauss";
  std::size_t tile = 256;
  std::size_t repeats = 3;
  std::size_t naive_particles = 2000;  // per rank: the plain loop is slow, a subset gives its rate
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const char* value = argv[i + 1];
    if (key == "--particles")
      s.particles = std::strtoull(value, nullptr, 10);
    else if (key == "--data")
      s.data = std::strtoull(value, nullptr, 10);
    else if (key == "--dim")
      s.dimension = std::strtoull(value, nullptr, 10);
    else if (key == "--kernel")
      s.kernel = value;
    else if (key == "--tile")
      s.tile = std::strtoull(value, nullptr, 10);
    else if (key == "--repeats")
      s.repeats = std::strtoull(value, nullptr, 10);
    else if (key == "--naive-particles")
      s.naive_particles = std::strtoull(value, nullptr, 10);
    else {
      std::fprintf(stderr, "bench_drifting: unknown option %s\n", key.c_str());
      std::exit(2);
    }
  }
  return s;
}

// Rows [range) of a Gaussian cloud; row i from the stream (seed, test, i) as in the tests.
Matrix cloud(ksi::par::Range range, std::size_t d, std::uint64_t seed, double offset) {
  Matrix X(range.size(), d);
  for (std::size_t i = 0; i < range.size(); ++i) {
    ksi::RandomStream stream(seed, ksi::StreamPurpose::test, range.begin + i);
    for (std::size_t k = 0; k < d; ++k) X(i, k) = offset + stream.normal();
  }
  return X;
}

// The plain double loop a first implementation would use: v = m_data - m_model, one pair at a time.
void plain_velocity(const Matrix& x, std::size_t count, const Matrix& data, const Matrix& particles,
                    bool laplace, double h, Matrix& v) {
  const std::size_t d = x.cols();
  std::vector<double> toward(d), away(d);
  for (std::size_t i = 0; i < count; ++i) {
    for (int set = 0; set < 2; ++set) {
      const Matrix& sources = set == 0 ? data : particles;
      std::vector<double>& shift = set == 0 ? toward : away;
      double weight = 0.0;
      std::fill(shift.begin(), shift.end(), 0.0);
      for (std::size_t j = 0; j < sources.rows(); ++j) {
        double r2 = 0.0;
        for (std::size_t k = 0; k < d; ++k)
          r2 += (sources(j, k) - x(i, k)) * (sources(j, k) - x(i, k));
        const double w = laplace ? std::exp(-std::sqrt(r2) / h) : std::exp(-r2 / (2.0 * h * h));
        weight += w;
        for (std::size_t k = 0; k < d; ++k) shift[k] += w * (sources(j, k) - x(i, k));
      }
      for (std::size_t k = 0; k < d; ++k) shift[k] /= weight;
    }
    for (std::size_t k = 0; k < d; ++k) v(i, k) = toward[k] - away[k];
  }
}

const char* vector_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "x86-64-v4 (avx512)";
  if (__builtin_cpu_supports("avx2")) return "x86-64-v3 (avx2)";
  return "x86-64 (sse2)";
#else
  return "generic";
#endif
}

}  // namespace

int main(int argc, char** argv) {
  ksi::par::Environment environment(argc, argv);
  const Settings s = parse(argc, argv);
  const ksi::par::Comm world = ksi::par::Comm::world();
  ksi::par::Log::configure(world.rank(), ksi::par::Verbosity::quiet);
  const drifting::Kernel kernel = drifting::parse_kernel(s.kernel);
  const bool laplace = kernel == drifting::Kernel::laplace;
  const std::size_t d = s.dimension;
  const double h = drifting::rule_bandwidth(s.particles, d, 1.0, 1.0);

  const auto data_range = drifting::tile_range(s.data, s.tile, world.rank(), world.size());
  const auto particle_range = drifting::tile_range(s.particles, s.tile, world.rank(), world.size());
  const Matrix data = cloud(data_range, d, 1, 0.5);
  const Matrix particles = cloud(particle_range, d, 2, 0.0);
  const drifting::DriftField field(data, s.data, kernel, h, true, s.tile, world);

  // Blocked ring kernel: one warm-up evaluation, then the mean of `repeats`, slowest rank.
  Matrix velocity;
  field.velocity(particles, s.particles, velocity);
  world.barrier();
  ksi::Stopwatch clock;
  for (std::size_t r = 0; r < s.repeats; ++r) field.velocity(particles, s.particles, velocity);
  const double blocked_seconds =
      world.allreduce_max(clock.seconds()) / static_cast<double>(s.repeats);
  const double pairs = static_cast<double>(s.particles) * static_cast<double>(s.particles + s.data);

  // Plain double loop on a subset of this rank's particles, against all data and all particles.
  const Matrix all_data = [&] {
    const auto values = world.allgatherv(data.values());
    Matrix m(values.size() / d, d);
    std::copy(values.begin(), values.end(), m.data());
    return m;
  }();
  const Matrix all_particles = [&] {
    const auto values = world.allgatherv(particles.values());
    Matrix m(values.size() / d, d);
    std::copy(values.begin(), values.end(), m.data());
    return m;
  }();
  const std::size_t naive_count = std::min(s.naive_particles, particles.rows());
  Matrix plain(naive_count, d);
  plain_velocity(particles, std::min<std::size_t>(naive_count, 16), all_data, all_particles,
                 laplace, h,
                 plain);  // warm-up
  world.barrier();
  clock.restart();
  plain_velocity(particles, naive_count, all_data, all_particles, laplace, h, plain);
  const double plain_local = clock.seconds();
  const double plain_seconds = world.allreduce_max(plain_local);
  const double plain_pairs =
      static_cast<double>(world.allreduce_sum(static_cast<std::int64_t>(naive_count))) *
      static_cast<double>(s.particles + s.data);
  double difference = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < naive_count; ++i)
    for (std::size_t k = 0; k < d; ++k) {
      difference = std::max(difference, std::abs(plain(i, k) - velocity(i, k)));
      scale = std::max(scale, std::abs(velocity(i, k)));
    }
  difference = world.allreduce_max(difference);
  scale = world.allreduce_max(scale);

  const double blocked_rate = pairs / blocked_seconds;
  const double plain_rate = plain_pairs / plain_seconds;
  if (world.is_root())
    std::printf(
        "{\"benchmark\": \"drifting_field\", \"git_hash\": \"%s\", \"ranks\": %d, \"threads\": 1, "
        "\"vector_isa\": \"%s\", \"kernel\": \"%s\", \"particles\": %zu, \"data\": %zu, "
        "\"dimension\": %zu, \"bandwidth\": %.6g, \"tile\": %zu, \"repeats\": %zu, "
        "\"pairs_per_evaluation\": %.6g, \"blocked_seconds\": %.6g, "
        "\"blocked_pairs_per_second\": %.6g, \"blocked_pairs_per_second_per_rank\": %.6g, "
        "\"plain_particles_per_rank\": %zu, \"plain_seconds\": %.6g, "
        "\"plain_pairs_per_second\": %.6g, \"speedup_vs_plain\": %.4g, "
        "\"max_abs_difference_vs_plain\": %.3e, \"max_abs_velocity\": %.3e}\n",
        KSI_GIT_HASH, world.size(), vector_isa(), s.kernel.c_str(), s.particles, s.data, d, h,
        s.tile, s.repeats, pairs, blocked_seconds, blocked_rate, blocked_rate / world.size(),
        naive_count, plain_seconds, plain_rate, blocked_rate / plain_rate, difference, scale);
  return 0;
}
