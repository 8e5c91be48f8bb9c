// Benchmark of the stats room; prints one JSON object.
//
//   mpirun -n R bench_stats [--n 64] [--fields 8] [--dims 3]
//
// Per-field seconds of the power spectrum, the structure functions, the one-point statistics, the
// bispectrum, peak counts, Minkowski functionals and increment PDFs on n^dims grids (default
// options); the same quantities against their naive references (direct DFT on 16^3, modular index
// loop on 32^3, direct triple sum over wavevectors for the bispectrum on 16^3) measured in this run
// and reported as speed-ups; and a whole comparison (train, test, gen and baseline sets of `fields`
// items each, from HDF5 files) with every statistic and with the bispectrum, peaks, Minkowski
// functionals and increments off, with items per second. Timings follow a warm-up, start after a
// barrier, and are the maximum over ranks.
//
//   mpirun -n 2 bench_stats --n 64 --fields 64 --dims 3      # the target: under a minute
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/version.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "ksi/stats/bispectrum.hpp"
#include "ksi/stats/compare.hpp"
#include "ksi/stats/increments.hpp"
#include "ksi/stats/minkowski.hpp"
#include "ksi/stats/one_point.hpp"
#include "ksi/stats/peaks.hpp"
#include "ksi/stats/power_spectrum.hpp"
#include "ksi/stats/structure_functions.hpp"

namespace {

using ksi::Matrix;

std::vector<double> gaussian_field(std::size_t size, std::uint64_t id) {
  std::vector<double> f(size);
  ksi::RandomStream stream(1, ksi::StreamPurpose::test, id);
  stream.fill_normal(f);
  return f;
}

// Seconds per call of `body` (after one warm-up call), the maximum over ranks.
template <class Body>
double seconds_per_call(const ksi::par::Comm& comm, std::size_t calls, Body&& body) {
  body(0);
  comm.barrier();
  const ksi::Stopwatch clock;
  for (std::size_t i = 0; i < calls; ++i) body(i);
  return comm.allreduce_max(clock.seconds()) / static_cast<double>(calls);
}

// The shell spectrum by a direct DFT over all modes (the reference the FFT version is tested on).
void direct_spectrum(const std::vector<double>& f, std::size_t n, std::vector<double>& power) {
  std::fill(power.begin(), power.end(), 0.0);
  const std::size_t N = n * n * n;
  std::vector<std::complex<double>> twiddle(n);
  for (std::size_t q = 0; q < n; ++q) twiddle[q] = std::polar(1.0, -2.0 * std::numbers::pi * q / n);
  for (std::size_t m = 0; m < N; ++m) {
    const std::size_t m0 = m / (n * n), m1 = (m / n) % n, m2 = m % n;
    std::complex<double> delta = 0.0;
    for (std::size_t x = 0; x < N; ++x) {
      const std::size_t x0 = x / (n * n), x1 = (x / n) % n, x2 = x % n;
      delta += f[x] * twiddle[(m0 * x0 + m1 * x1 + m2 * x2) % n];
    }
    const auto k = [&](std::size_t i) { return static_cast<double>(i <= n / 2 ? i : n - i); };
    const auto shell = static_cast<std::size_t>(
        std::lround(std::sqrt(k(m0) * k(m0) + k(m1) * k(m1) + k(m2) * k(m2))));
    power[shell] += std::norm(delta);
  }
}

// S_p(r) by explicit modular indexing and pow().
void naive_structure(const std::vector<double>& f, std::size_t n, std::size_t R,
                     std::vector<double>& S) {
  std::fill(S.begin(), S.end(), 0.0);
  for (std::size_t x = 0; x < n * n * n; ++x) {
    const std::size_t c[3] = {x / (n * n), (x / n) % n, x % n};
    for (std::size_t a = 0; a < 3; ++a)
      for (std::size_t r = 1; r <= R; ++r) {
        std::size_t y[3] = {c[0], c[1], c[2]};
        y[a] = (y[a] + r) % n;
        const double d = std::abs(f[(y[0] * n + y[1]) * n + y[2]] - f[x]);
        for (int p = 2; p <= 6; ++p) S[(p - 2) * R + r - 1] += std::pow(d, p);
      }
  }
}

// B of each configuration by a direct sum over pairs of modes of the given DFT (full n^3 grid), the
// reference the FFT estimator is tested on.
void direct_bispectrum(const std::vector<std::complex<double>>& delta, std::size_t n,
                       const ksi::stats::Bispectrum& bispectrum, std::vector<double>& out) {
  const auto f = [&](std::size_t i) { return ksi::fft::frequency(i, n); };
  const std::size_t bins = bispectrum.bins(), N = n * n * n;
  const double width = static_cast<double>(bispectrum.kmax()) / static_cast<double>(bins);
  const auto bin_of = [&](long a, long b, long c) -> long {
    const double k = std::sqrt(static_cast<double>(a * a + b * b + c * c));
    if (k < 0.5 || k >= 0.5 + static_cast<double>(bispectrum.kmax())) return -1;
    return static_cast<long>((k - 0.5) / width);
  };
  std::vector<std::vector<std::size_t>> members(bins);
  for (std::size_t q = 0; q < N; ++q) {
    const long b = bin_of(f(q / (n * n)), f((q / n) % n), f(q % n));
    if (b >= 0) members[static_cast<std::size_t>(b)].push_back(q);
  }
  const auto wrap = [&](long v) {
    return static_cast<std::size_t>((v + static_cast<long>(n)) % static_cast<long>(n));
  };
  out.clear();
  for (const auto& c : bispectrum.configurations()) {
    double sum = 0.0;
    for (std::size_t q1 : members[c.bins[0]])
      for (std::size_t q2 : members[c.bins[1]]) {
        const long a = -(f(q1 / (n * n)) + f(q2 / (n * n))),
                   b = -(f((q1 / n) % n) + f((q2 / n) % n)), d = -(f(q1 % n) + f(q2 % n));
        if (bin_of(a, b, d) != static_cast<long>(c.bins[2])) continue;
        sum += (delta[q1] * delta[q2] * delta[(wrap(a) * n + wrap(b)) * n + wrap(d)]).real();
      }
    const double n3 = static_cast<double>(N) * static_cast<double>(N) * static_cast<double>(N);
    out.push_back(sum / (n3 * c.triangles));  // unit box
  }
}

std::size_t option(int argc, char** argv, const std::string& name, std::size_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (name == argv[i]) return static_cast<std::size_t>(std::strtoul(argv[i + 1], nullptr, 10));
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  ksi::par::Environment environment(argc, argv);
  {
    const auto comm = ksi::par::Comm::world();
    ksi::par::Log::configure(comm.rank(), ksi::par::Verbosity::quiet);
    const std::size_t n = option(argc, argv, "--n", 64);
    const std::size_t fields = option(argc, argv, "--fields", 8);
    const std::size_t dims = option(argc, argv, "--dims", 3);
    const std::vector<std::size_t> grid(dims, n);
    std::size_t size = 1;
    for (auto g : grid) size *= g;

    // Per-field costs of each statistic.
    const ksi::stats::PowerSpectrum spectrum(grid, 1.0);
    const ksi::stats::StructureFunctions structure(grid);
    const ksi::stats::HistogramBins bins(-5.0, 5.0, 50);
    std::vector<std::vector<double>> inputs;
    for (std::size_t i = 0; i < fields; ++i) inputs.push_back(gaussian_field(size, i));
    std::vector<double> power(spectrum.shells()), S(structure.size()), fractions(bins.size());
    const double spectrum_seconds =
        seconds_per_call(comm, fields, [&](std::size_t i) { spectrum.measure(inputs[i], power); });
    const double structure_seconds =
        seconds_per_call(comm, fields, [&](std::size_t i) { structure.measure(inputs[i], S); });
    const double one_point_seconds = seconds_per_call(comm, fields, [&](std::size_t i) {
      ksi::stats::one_point_moments(inputs[i]);
      bins.fractions(inputs[i], fractions);
    });
    // The new families with the options `ksi stats` resolves by default for this grid.
    const ksi::stats::StatsOptions defaults;
    const std::size_t kmax = ksi::stats::Bispectrum::largest_kmax(grid);
    std::vector<std::size_t> separations;
    for (std::size_t r : {std::size_t{1}, std::max<std::size_t>(2, n / 16), n / 4})
      if (r <= n / 2 && std::find(separations.begin(), separations.end(), r) == separations.end())
        separations.push_back(r);
    double bispectrum_seconds = 0.0, peaks_seconds = 0.0, minkowski_seconds = 0.0;
    if (dims >= 2) {
      const ksi::stats::Bispectrum bispectrum(grid, 1.0, std::min<std::size_t>(8, kmax), kmax);
      std::vector<double> b(bispectrum.configurations().size()), q(b.size());
      bispectrum_seconds = seconds_per_call(
          comm, fields, [&](std::size_t i) { bispectrum.measure(inputs[i], b, q); });
      const ksi::stats::PeakCounts peaks(
          grid, 1.0,
          ksi::stats::HistogramBins(defaults.peak_min, defaults.peak_max, defaults.peak_bins));
      std::vector<double> maxima(peaks.size()), minima(peaks.size());
      peaks_seconds = seconds_per_call(
          comm, fields, [&](std::size_t i) { peaks.measure(inputs[i], 0.0, 1.0, maxima, minima); });
      const ksi::stats::MinkowskiFunctionals minkowski(grid, 1.0,
                                                       ksi::stats::minkowski_thresholds(defaults));
      std::vector<double> v(minkowski.size());
      minkowski_seconds = seconds_per_call(
          comm, fields, [&](std::size_t i) { minkowski.measure(inputs[i], 0.0, 1.0, v); });
    }
    const ksi::stats::IncrementPdf increments(
        grid, separations,
        ksi::stats::HistogramBins(-defaults.increment_range, defaults.increment_range,
                                  defaults.increment_bins));
    std::vector<double> increment_values(increments.size()), units(separations.size(), 1.4);
    const double increments_seconds = seconds_per_call(comm, fields, [&](std::size_t i) {
      increments.measure(inputs[i], units, increment_values);
    });

    // Ours against the naive references, on grids small enough for them.
    const std::size_t dft_n = 16, loop_n = 32;
    const ksi::stats::PowerSpectrum small_spectrum({dft_n, dft_n, dft_n}, 1.0);
    const auto small_field = gaussian_field(dft_n * dft_n * dft_n, 99);
    std::vector<double> small_power(small_spectrum.shells()), direct_power(small_spectrum.shells());
    const double fft_seconds = seconds_per_call(
        comm, 20, [&](std::size_t) { small_spectrum.measure(small_field, small_power); });
    const double dft_seconds = seconds_per_call(
        comm, 1, [&](std::size_t) { direct_spectrum(small_field, dft_n, direct_power); });
    const ksi::stats::StructureFunctions loop_structure({loop_n, loop_n, loop_n});
    const auto loop_field = gaussian_field(loop_n * loop_n * loop_n, 98);
    std::vector<double> fast_S(loop_structure.size()), naive_S(loop_structure.size());
    const double fast_seconds =
        seconds_per_call(comm, 5, [&](std::size_t) { loop_structure.measure(loop_field, fast_S); });
    const double naive_seconds = seconds_per_call(comm, 1, [&](std::size_t) {
      naive_structure(loop_field, loop_n, loop_structure.separations(), naive_S);
    });

    // The bispectrum against the direct triple sum on 16^3 (4 bins up to kmax 4).
    const ksi::stats::Bispectrum small_bispectrum({dft_n, dft_n, dft_n}, 1.0, 4, 4);
    std::vector<double> fft_b(small_bispectrum.configurations().size()), fft_q(fft_b.size()),
        direct_b;
    const double bispectrum_fft_seconds = seconds_per_call(
        comm, 20, [&](std::size_t) { small_bispectrum.measure(small_field, fft_b, fft_q); });
    std::vector<std::complex<double>> delta(dft_n * dft_n * dft_n);
    {
      const ksi::fft::ComplexTransform transform({dft_n, dft_n, dft_n});
      std::vector<std::complex<double>> in(small_field.begin(), small_field.end());
      transform.forward(in.data(), delta.data());
    }
    const double bispectrum_direct_seconds = seconds_per_call(
        comm, 1, [&](std::size_t) { direct_bispectrum(delta, dft_n, small_bispectrum, direct_b); });
    double bispectrum_error = 0.0;
    for (std::size_t c = 0; c < fft_b.size(); ++c)
      bispectrum_error =
          std::max(bispectrum_error, std::abs(fft_b[c] - direct_b[c]) / std::abs(direct_b[c]));

    // A whole comparison from files.
    std::string folder;
    if (comm.is_root()) {
      std::string pattern =
          (std::filesystem::temp_directory_path() / "ksi-bench-stats-XXXXXX").string();
      if (mkdtemp(pattern.data()) == nullptr) return 1;
      folder = pattern;
    }
    comm.bcast(folder, 0);
    const auto shape = ksi::ItemShape::grid(grid);
    const auto mine = ksi::par::block_range(fields, comm.rank(), comm.size());
    const char* names[] = {"train", "test", "gen"};
    for (std::size_t set = 0; set < 3; ++set) {
      const std::string name = names[set];
      Matrix local(mine.size(), size);
      for (std::size_t i = 0; i < mine.size(); ++i) {
        const auto f = gaussian_field(size, 1000000 * (set + 1) + mine.begin + i);
        std::copy(f.begin(), f.end(), local.row(i).begin());
      }
      ksi::io::OutputFile out(folder + "/" + name + ".h5", true, {}, comm);
      ksi::io::write_items(out, shape, fields, mine.begin, local, ksi::io::DType::float32);
      out.commit();
    }
    const ksi::stats::StatsInputs files{folder + "/train.h5", folder + "/test.h5",
                                        folder + "/gen.h5", ""};
    std::size_t judged = 0;
    const double comparison_seconds = seconds_per_call(comm, 1, [&](std::size_t) {
      ksi::stats::Comparison comparison(files, {}, nullptr, comm);
      judged = comparison.run().judgements.size();
    });
    ksi::stats::StatsOptions without;
    without.bispectrum = without.peaks = without.minkowski = without.increments = false;
    const double without_seconds = seconds_per_call(comm, 1, [&](std::size_t) {
      ksi::stats::Comparison comparison(files, without, nullptr, comm);
      comparison.run();
    });
    comm.barrier();
    if (comm.is_root()) std::filesystem::remove_all(folder);

    if (comm.is_root()) {
      std::printf(
          "{\"benchmark\": \"stats\", \"git_hash\": \"%s\", \"ranks\": %d, \"threads\": 1, "
          "\"grid\": %zu, \"dims\": %zu, \"fields\": %zu, "
          "\"seconds_per_field\": {\"power_spectrum\": %.6g, \"structure_functions\": %.6g, "
          "\"one_point\": %.6g, \"bispectrum\": %.6g, \"peaks\": %.6g, \"minkowski\": %.6g, "
          "\"increments\": %.6g}, "
          "\"bispectrum_vs_direct_sum\": {\"grid\": %zu, \"fft_seconds\": %.6g, "
          "\"direct_seconds\": %.6g, \"speedup\": %.4g, \"max_relative_difference\": %.3g}, "
          "\"power_spectrum_vs_direct_dft\": {\"grid\": %zu, \"fft_seconds\": %.6g, "
          "\"direct_seconds\": %.6g, \"speedup\": %.4g}, "
          "\"structure_functions_vs_naive_loop\": {\"grid\": %zu, \"seconds\": %.6g, "
          "\"naive_seconds\": %.6g, \"speedup\": %.4g}, "
          "\"comparison\": {\"items_per_set\": %zu, \"sets\": 4, \"judged_statistics\": %zu, "
          "\"seconds\": %.6g, \"items_per_second\": %.6g, "
          "\"seconds_without_bispectrum_peaks_minkowski_increments\": %.6g}}\n",
          KSI_GIT_HASH, comm.size(), n, dims, fields, spectrum_seconds, structure_seconds,
          one_point_seconds, bispectrum_seconds, peaks_seconds, minkowski_seconds,
          increments_seconds, dft_n, bispectrum_fft_seconds, bispectrum_direct_seconds,
          bispectrum_direct_seconds / bispectrum_fft_seconds, bispectrum_error, dft_n, fft_seconds,
          dft_seconds, dft_seconds / fft_seconds, loop_n, fast_seconds, naive_seconds,
          naive_seconds / fast_seconds, fields, judged, comparison_seconds,
          4.0 * static_cast<double>(fields) / comparison_seconds, without_seconds);
    }
  }
  return 0;
}
