// Fit and sample throughput with random Fourier features on d = 64 vectors (issue: pipeline
// benchmarks). Prints one JSON object: for each P, items x draws x times per second, the split of
// fit time over phases, the syrk phase's rate against dsyrk measured alone in this run, sampling
// throughput, and the solve time per time.
//
//   mpirun -n R bench_fit [d=64] [features=256,1024,2048] [items=4096] [draws=2] [times=8]
//                         [samples=512] [steps=20]
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_support.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/core/version.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/phase_report.hpp"
#include "ksi/sample/sample.hpp"
#include "ksi/synth/vectors.hpp"

using namespace ksi;

namespace {

// Best-of-three dsyrk rate (GFLOP/s) on the shape the fit uses: C (P x P) += S^T S, S is B x P.
double dsyrk_rate(std::size_t P, std::size_t B) {
  Matrix S(B, P), C(P, P);
  RandomStream(1, StreamPurpose::test, 0).fill_normal(S.values());
  const int n = static_cast<int>(P), k = static_cast<int>(B);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, S.data(), n, 1.0, C.data(), n);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    Stopwatch clock;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, S.data(), n, 1.0, C.data(), n);
    best = std::min(best, clock.seconds());
  }
  return double(P) * double(P + 1) * double(B) / best / 1e9;
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
    const std::size_t d = static_cast<std::size_t>(args.number("d", 64));
    const std::size_t items = static_cast<std::size_t>(args.number("items", 4096));
    const std::size_t draws = static_cast<std::size_t>(args.number("draws", 2));
    const std::size_t times = static_cast<std::size_t>(args.number("times", 8));
    const std::size_t samples = static_cast<std::size_t>(args.number("samples", 512));
    const std::size_t steps = static_cast<std::size_t>(args.number("steps", 20));
    const auto g = synth::random_gaussian(d, 1);

    std::string runs;
    for (std::size_t P : args.sizes("features", "256,1024,2048")) {
      fit::FitOptions options;
      options.times = times;
      options.draws = draws;
      const auto make_map = [&] {
        return std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(d), P,
                                                                 std::sqrt(double(d)), 1);
      };
      const std::size_t group = fit::items_per_batch(options, *make_map());
      const auto range = fit::assembly_item_range(items, group, world.rank(), world.size());
      Matrix local = synth::draw_gaussian(g, 2, range.begin, range.size());
      const Standardization st = Standardization::fit(local, ItemShape::vector(d), "scalar", world);

      // Warm-up (plans, pages, BLAS buffers) on a slice of the data.
      {
        fit::FitOptions warm = options;
        warm.times = 2;
        const std::size_t n = std::min<std::size_t>(range.size(), group);
        Matrix head(n, d);
        std::copy(local.data(), local.data() + n * d, head.data());
        fit::fit_model(head, range.begin, world.allreduce_sum(std::int64_t(n)), make_map(),
                       ItemShape::vector(d), st, warm, world);
      }
      world.barrier();
      PhaseTimes::global().clear();
      Stopwatch clock;
      Model model = fit::fit_model(local, range.begin, items, make_map(), ItemShape::vector(d), st,
                                   options, world);
      const double fit_seconds = world.allreduce_max(clock.seconds());
      auto phases = par::gather_phase_times(world);

      // Model output (collective HDF5 write).
      const std::string path = (std::filesystem::temp_directory_path() /
                                ("ksi-bench-model-" + std::to_string(P) + ".h5"))
                                   .string();
      world.barrier();
      clock.restart();
      {
        io::OutputFile out(path, true, {}, world);
        model.write(out);
        out.commit();
      }
      const double write_seconds = world.allreduce_max(clock.seconds());
      if (world.is_root()) std::filesystem::remove(path);

      // The syrk phase's achieved rate: every batch of B = group * draws rows does P^2 B flops per
      // time.
      const std::size_t rows = group * draws;
      const double syrk_flops = double(P) * double(P + 1) * double(items * draws) * double(times);
      const double syrk_seconds = phases["fit.syrk"].max;
      // Ranks run their syrks at the same time: the aggregate rate is flops / max time; per rank:
      const double fit_syrk_rate = syrk_flops / world.size() / syrk_seconds / 1e9;
      const double alone_rate = dsyrk_rate(P, rows);

      // Sampling: whole batches per rank, as ksi sample deals them.
      sample::SampleOptions sopt;
      sopt.steps = steps;
      sopt.batch = sample::default_batch(model);
      const std::size_t batches = (samples + sopt.batch - 1) / sopt.batch;
      const auto mine = par::block_range(batches, world.rank(), world.size());
      const std::size_t first = std::min(samples, mine.begin * sopt.batch);
      const std::size_t last = std::min(samples, mine.end * sopt.batch);
      sample::generate(model, sopt, first, std::min<std::size_t>(last - first, 8));  // warm-up
      world.barrier();
      clock.restart();
      sample::generate(model, sopt, first, last - first);
      const double sample_seconds = world.allreduce_max(clock.seconds());

      const std::size_t solves_per_rank = (times + world.size() - 1) / world.size();
      char buffer[2048];
      std::snprintf(
          buffer, sizeof buffer,
          "%s{\"features\": %zu, \"batch_rows\": %zu, \"fit_seconds\": %.4f, "
          "\"item_draw_times_per_second\": %.6g, \"phases_max_seconds\": {\"noise\": %.4f, "
          "\"features\": %.4f, \"syrk\": %.4f, \"double_double_sum\": %.4f, \"reduce\": %.4f, "
          "\"solve\": %.4f, \"gather\": %.4f, \"io_write\": %.4f}, "
          "\"syrk_gflops_in_fit\": %.3f, \"dsyrk_gflops_alone\": %.3f, \"syrk_efficiency\": %.3f, "
          "\"solve_seconds_per_time\": %.5f, \"sample_steps_per_second\": %.6g, "
          "\"peak_memory_mb\": %.1f}",
          runs.empty() ? "" : ", ", P, rows, fit_seconds,
          double(items * draws * times) / fit_seconds, phases["fit.noise"].max,
          phases["fit.features"].max, syrk_seconds, phases["fit.sum"].max, phases["fit.reduce"].max,
          phases["fit.solve"].max, phases["fit.gather"].max, write_seconds, fit_syrk_rate,
          alone_rate, fit_syrk_rate / alone_rate, phases["fit.solve"].max / double(solves_per_rank),
          double(samples * steps) / sample_seconds, world.allreduce_max(bench::peak_memory_mb()));
      runs += buffer;
    }
    if (world.is_root())
      std::printf(
          "{\"benchmark\": \"fit\", \"git_hash\": \"%s\", \"ranks\": %d, \"threads\": 1, "
          "\"d\": %zu, \"items\": %zu, \"draws\": %zu, \"times\": %zu, \"samples\": %zu, "
          "\"steps\": %zu, \"runs\": [%s]}\n",
          KSI_GIT_HASH, world.size(), d, items, draws, times, samples, steps, runs.c_str());
  }
  return 0;
}
