// Machine parameters of the performance model (jobs/perf_model.py, README "Performance model"): the
// rates of what a fit and a sampling run spend their time on, measured on this machine with ksi's
// own code paths. Prints one JSON object:
//   fft            r2c and c2r transforms of one grid^3 field (ksi::fft::RealTransform), seconds
//   and
//                  GFLOP/s (2.5 N log2 N flops per real transform)
//   syrk           cblas_dsyrk C (P x P) += S^T S with S of B x P, the fit's Gram update, GFLOP/s
//                  (P (P + 1) B flops) for every P and B asked for
//   double_double  ns per value of the fit's double-double accumulation of a batch's upper triangle
//                  (DoubleDouble::add(double)) and of the reduction's merge (DoubleDouble::add(dd))
//   solve          seconds of one normal-equations solve (PETSc dense Cholesky + eigenvalue
//   estimates) reduce         seconds of Comm::reduce_sum of one time's packed sums (P (P + 1) / 2
//   + P + 1
//                  double-doubles) over this run's ranks, as the fit does once per time
//   random         ns per standard normal value of RandomStream::fill_normal (the fit's noise
//   draws) hdf5           collective write (then fdatasync) and cold read of an item file of grid^3
//   float64
//                  fields through ksi::io, MB/s
// Every timing is taken after a warm-up, between barriers, as the maximum over ranks, best of
// repeats.
//
//   mpirun -n R bench_machine [grid=64] [features=256,512,1024,2048] [rows=64,256,1024]
//                             [solve=512,1024] [reduce=1024] [items=32] [dir=/tmp] [repeats=3]
#include <cblas.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "ksi/core/compensated.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/matrix.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/io/items.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"

using namespace ksi;

namespace {

// Best over repeats of the slowest rank's time of `work` (which runs `reps` times per measurement).
double best_seconds(const par::Comm& world, int repeats, int reps,
                    const std::function<void()>& work) {
  work();  // warm-up: plans, pages, BLAS buffers
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    world.barrier();
    const Stopwatch clock;
    for (int i = 0; i < reps; ++i) work();
    best = std::min(best, world.allreduce_max(clock.seconds()) / reps);
  }
  return best;
}

// Repetitions that make one measurement last about `target` seconds (agreed over ranks).
int repetitions(const par::Comm& world, double target, const std::function<void()>& work) {
  work();
  const Stopwatch clock;
  work();
  const double once = std::max(1e-7, world.allreduce_max(clock.seconds()));
  return static_cast<int>(std::clamp(target / once, 1.0, 1e5));
}

std::string fft_json(const par::Comm& world, std::size_t n, int repeats) {
  const fft::RealTransform transform({n, n, n});
  std::vector<double> field(transform.real_size()), back(transform.real_size());
  std::vector<fft::complex> spectrum(transform.complex_size());
  RandomStream(1, StreamPurpose::test, static_cast<std::uint64_t>(world.rank())).fill_normal(field);
  const auto forward = [&] { transform.forward(field.data(), spectrum.data()); };
  const auto backward = [&] { transform.backward(spectrum.data(), back.data()); };
  const double r2c = best_seconds(world, repeats, repetitions(world, 0.2, forward), forward);
  const double c2r = best_seconds(world, repeats, repetitions(world, 0.2, backward), backward);
  const double N = static_cast<double>(transform.real_size());
  const double flops = 2.5 * N * std::log2(N);
  return sformat(
      "{\"shape\": \"%zux%zux%zu\", \"r2c_seconds\": %.6g, \"c2r_seconds\": %.6g, "
      "\"r2c_gflops\": %.4g, \"c2r_gflops\": %.4g}",
      n, n, n, r2c, c2r, flops / r2c / 1e9, flops / c2r / 1e9);
}

std::string syrk_json(const par::Comm& world, const std::vector<std::size_t>& features,
                      const std::vector<std::size_t>& rows, int repeats) {
  std::string out = "[";
  for (std::size_t P : features) {
    for (std::size_t B : rows) {
      Matrix S(B, P), C(P, P);
      RandomStream(2, StreamPurpose::test, P, B).fill_normal(S.values());
      const int n = static_cast<int>(P), k = static_cast<int>(B);
      const auto update = [&] {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, S.data(), n, 1.0, C.data(),
                    n);
      };
      const double seconds = best_seconds(world, repeats, repetitions(world, 0.1, update), update);
      out += sformat("%s{\"P\": %zu, \"B\": %zu, \"seconds\": %.6g, \"gflops\": %.4g}",
                     out.size() > 1 ? ", " : "", P, B, seconds,
                     double(P) * double(P + 1) * double(B) / seconds / 1e9);
    }
  }
  return out + "]";
}

std::string double_double_json(const par::Comm& world, std::size_t P, int repeats) {
  // The fit adds each batch's upper triangle of K, h and |v|^2 into packed double-double sums.
  const std::size_t packed = P * (P + 1) / 2 + P + 1;
  Matrix K(P, P);
  RandomStream(3, StreamPurpose::test, P).fill_normal(K.values());
  std::vector<DoubleDouble> sums(packed), other(packed);
  for (std::size_t i = 0; i < packed; ++i) other[i].add(K.data()[i % (P * P)]);
  const auto accumulate = [&] {
    std::size_t q = 0;
    for (std::size_t i = 0; i < P; ++i) {
      const double* row = K.data() + i * P;
      for (std::size_t j = i; j < P; ++j) sums[q++].add(row[j]);
    }
    for (std::size_t i = 0; i < P + 1; ++i) sums[q++].add(K.data()[i]);
  };
  const auto merge = [&] {
    for (std::size_t i = 0; i < packed; ++i) sums[i].add(other[i]);
  };
  const double add_s =
      best_seconds(world, repeats, repetitions(world, 0.1, accumulate), accumulate);
  const double merge_s = best_seconds(world, repeats, repetitions(world, 0.1, merge), merge);
  volatile double sink = sums[packed / 2].value();
  (void)sink;
  return sformat(
      "{\"P\": %zu, \"values\": %zu, \"accumulate_ns_per_value\": %.4g, "
      "\"merge_ns_per_value\": %.4g}",
      P, packed, add_s / packed * 1e9, merge_s / packed * 1e9);
}

std::string solve_json(const par::Comm& world, const std::vector<std::size_t>& sizes, int repeats) {
  std::string out = "[";
  for (std::size_t P : sizes) {
    // A Gram matrix of random rows, as conditioned as a small fit's: K = S^T S / B, h = S^T v / B.
    const std::size_t B = 2 * P;
    Matrix S(B, P), K(P, P);
    RandomStream(4, StreamPurpose::test, P).fill_normal(S.values());
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(P), static_cast<int>(B),
                1.0 / double(B), S.data(), static_cast<int>(P), 0.0, K.data(), static_cast<int>(P));
    std::vector<double> h(P), eta(P);
    RandomStream(5, StreamPurpose::test, P).fill_normal(h);
    // Every rank solves its own system, as the owners of different times do.
    const auto solve = [&] { fit::solve_normal_equations(K, h, 1e-8, eta); };
    const double seconds = best_seconds(world, repeats, 1, solve);
    out += sformat("%s{\"P\": %zu, \"seconds\": %.6g}", out.size() > 1 ? ", " : "", P, seconds);
  }
  return out + "]";
}

std::string reduce_json(const par::Comm& world, std::size_t P, int repeats) {
  const std::size_t packed = P * (P + 1) / 2 + P + 1;
  std::vector<DoubleDouble> sums(packed);
  for (std::size_t i = 0; i < packed; ++i) sums[i].add(1.0 + 1e-3 * double(i % 97));
  const auto reduce = [&] { world.reduce_sum(std::span<DoubleDouble>(sums), 0); };
  const double seconds = best_seconds(world, repeats, 2, reduce);
  const double bytes = double(packed) * sizeof(DoubleDouble);
  return sformat("{\"P\": %zu, \"bytes\": %.0f, \"seconds\": %.6g, \"gb_per_s\": %.4g}", P, bytes,
                 seconds, bytes / seconds / 1e9);
}

// Flushes a file to disk and drops it from the page cache, so the next read comes from the device.
void sync_and_drop(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

std::string random_json(const par::Comm& world, std::size_t n, int repeats) {
  std::vector<double> noise(n * n * n);
  std::uint64_t id = 0;
  const auto draw = [&] { RandomStream(7, StreamPurpose::test, id++).fill_normal(noise); };
  const double seconds = best_seconds(world, repeats, repetitions(world, 0.1, draw), draw);
  return sformat("{\"values\": %zu, \"normal_ns_per_value\": %.4g}", noise.size(),
                 seconds / double(noise.size()) * 1e9);
}

std::string hdf5_json(const par::Comm& world, std::size_t n, std::size_t items,
                      const std::string& dir, int repeats) {
  const ItemShape shape = ItemShape::grid({n, n, n});
  const auto mine = par::block_range(items, world.rank(), world.size());
  Matrix local(mine.size(), shape.size());
  RandomStream(6, StreamPurpose::test, static_cast<std::uint64_t>(world.rank()))
      .fill_normal(local.values());
  const std::string path =
      (std::filesystem::path(dir) / sformat("ksi-bench-machine-%zu.h5", items)).string();
  double write_best = 1e300, read_best = 1e300;
  for (int r = 0; r < repeats + 1; ++r) {  // the first round is the warm-up
    world.barrier();
    Stopwatch clock;
    {
      io::OutputFile out(path, true, {}, world);
      io::write_items(out, shape, items, mine.begin, local, io::DType::float64);
      out.commit();
    }
    if (world.is_root()) sync_and_drop(path);
    const double write = world.allreduce_max(clock.seconds());
    world.barrier();
    clock.restart();
    const io::LocalItems back = io::read_items(path, world);
    const double read = world.allreduce_max(clock.seconds());
    if (r > 0) {
      write_best = std::min(write_best, write);
      read_best = std::min(read_best, read);
    }
  }
  if (world.is_root()) {
    std::filesystem::remove(path);
    std::filesystem::remove(path.substr(0, path.size() - 3) + ".xmf");
  }
  const double mb = double(items) * double(shape.size()) * 8.0 / 1e6;
  return sformat(
      "{\"items\": %zu, \"shape\": \"%zux%zux%zu\", \"megabytes\": %.1f, \"dir\": \"%s\", "
      "\"write_seconds\": %.6g, \"read_seconds\": %.6g, \"write_mb_per_s\": %.5g, "
      "\"read_mb_per_s\": %.5g}",
      items, n, n, n, mb, dir.c_str(), write_best, read_best, mb / write_best, mb / read_best);
}

}  // namespace

int main(int argc, char** argv) {
  par::Environment environment(argc, argv);
  {
    const par::Comm world = par::Comm::world();
    par::Log::configure(world.rank(), par::Verbosity::quiet);
    set_blas_threads(1);
    fit::PetscSession petsc(world);
    const bench::Args args(argc, argv);
    const auto grid = static_cast<std::size_t>(args.number("grid", 64));
    const auto repeats = static_cast<int>(args.number("repeats", 3));
    const auto features = args.sizes("features", "256,512,1024,2048");
    const auto rows = args.sizes("rows", "64,256,1024");
    const auto solves = args.sizes("solve", "512,1024");
    const auto reduce_P = static_cast<std::size_t>(args.number("reduce", 1024));
    const auto items = static_cast<std::size_t>(args.number("items", 32));
    const std::string dir = args.get("dir", std::filesystem::temp_directory_path().string());

    const std::string fft = fft_json(world, grid, repeats);
    const std::string syrk = syrk_json(world, features, rows, repeats);
    const std::string dd = double_double_json(world, reduce_P, repeats);
    const std::string solve = solve_json(world, solves, repeats);
    const std::string reduce = reduce_json(world, reduce_P, repeats);
    const std::string random = random_json(world, grid, repeats);
    const std::string hdf5 = hdf5_json(world, grid, items, dir, repeats);
    char host[256] = "";
    ::gethostname(host, sizeof host - 1);
    if (world.is_root())
      std::printf(
          "{\"benchmark\": \"machine\", \"git_hash\": \"%s\", \"host\": \"%s\", \"ranks\": %d, "
          "\"threads\": 1, \"repeats\": %d, \"fft\": %s, \"syrk\": %s, \"double_double\": %s, "
          "\"solve\": %s, \"reduce\": %s, \"random\": %s, \"hdf5\": %s, "
          "\"peak_memory_mb\": %.1f}\n",
          KSI_GIT_HASH, host, world.size(), repeats, fft.c_str(), syrk.c_str(), dd.c_str(),
          solve.c_str(), reduce.c_str(), random.c_str(), hdf5.c_str(),
          world.allreduce_max(bench::peak_memory_mb()));
    else
      world.allreduce_max(bench::peak_memory_mb());
  }
  return 0;
}
