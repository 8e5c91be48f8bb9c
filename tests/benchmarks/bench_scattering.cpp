// Scattering spectra benchmark: evaluate, vjp and accumulate on log-normal fields, against the
// naive Gram route (P vjp's into a dense J, then syrk) measured in the same run where J fits in
// memory. Prints one JSON object. Every rank does the same work on its own fields; times are the
// maximum over ranks after a warm-up and a barrier.
//
//   mpirun -n R bench_scattering [dims=64,64] [J=0] [L=0] [families=all] [isotropic=0]
//       [phi4_diagonal=0] [items=1] [repeats=3] [naive=auto|yes|no] [naive_max_gb=6]
//       [workspace_mb=1536] [effort=estimate|measure] [probes=16]
//
// probes=m > 0 also times the randomized Gram (ksi fit --gram randomized --gram-probes m) on the
// same items in the same run: its seconds per item, the ratio exact / randomized, and how far one
// item's estimate is from the exact Gram (about sqrt(2 / m) of K; the fit averages it over pairs).
//
// J = 0 and L = 0 select the map's defaults. effort=measure plans FFTs by timing (faster
// transforms, but plans may differ between ranks); estimate is the library default.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "bench_support.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/features/scattering.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/par/comm.hpp"

namespace {

using namespace ksi;
using bench::Counts;
using bench::fft_counts;
using bench::lognormal_field;

double status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field)));
  return -1.0;
}

// Resets VmHWM to the current resident size (Linux >= 4.0), so a later read is the phase's peak.
void reset_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

std::string counts_json(const Counts& c, double per) {
  std::string s = "{";
  bool first = true;
  for (const auto& [shape, n] : c.count) {
    s += sformat("%s\"%s\": %.6g", first ? "" : ", ", shape.c_str(), static_cast<double>(n) / per);
    first = false;
  }
  return s + "}";
}

}  // namespace

int main(int argc, char** argv) {
  par::Environment environment(argc, argv);
  try {
    const par::Comm world = par::Comm::world();
    set_blas_threads(1);
    const bench::Args cli(argc, argv);
    struct {
      std::vector<std::size_t> dims;
      int J, L;
      std::string families, naive, effort;
      bool isotropic, phi4_diagonal;
      std::size_t items, repeats, probes;
      double naive_max_gb, workspace_mb;
    } args{cli.sizes("dims", "64,64"),
           static_cast<int>(cli.number("J", 0)),
           static_cast<int>(cli.number("L", 0)),
           cli.get("families", "all"),
           cli.get("naive", "auto"),
           cli.get("effort", "estimate"),
           cli.number("isotropic", 0) != 0,
           cli.number("phi4_diagonal", 0) != 0,
           static_cast<std::size_t>(cli.number("items", 1)),
           static_cast<std::size_t>(cli.number("repeats", 3)),
           static_cast<std::size_t>(cli.number("probes", 16)),
           cli.number("naive_max_gb", 6.0),
           cli.number("workspace_mb", 1536.0)};
    if (args.effort != "estimate" && args.effort != "measure")
      throw UsageError("effort must be estimate or measure");
    fft::configure(args.effort == "measure" ? fft::Effort::measure : fft::Effort::estimate, 1);
    const ItemShape shape = ItemShape::grid(args.dims);
    const std::size_t d = shape.size();

    features::ScatteringOptions options;
    options.scales = args.J;
    options.orientations = args.L;
    options.families = features::ScatteringFamilies::parse(args.families);
    options.isotropic = args.isotropic;
    options.phi4_diagonal = args.phi4_diagonal;
    options.workspace_mb = args.workspace_mb;

    // Fields of this rank, and a map normalised on them (over all ranks).
    const std::size_t items = std::max<std::size_t>(1, args.items);
    Matrix X(items, d), V(items, d);
    for (std::size_t b = 0; b < items; ++b) {
      const std::uint64_t id = static_cast<std::uint64_t>(world.rank()) * 1000 + b;
      const auto x = lognormal_field(args.dims, id);
      std::copy(x.begin(), x.end(), X.row(b).begin());
      RandomStream stream(4, StreamPurpose::test, id);
      stream.fill_normal(V.row(b));
    }
    Stopwatch build_clock;
    // The unnormalised map only calibrates: gone before the map is built, as in ksi fit.
    const auto [resolved_options, normalization] = [&] {
      const features::ScatteringSpectra raw(shape, options);
      return std::make_pair(raw.options(), raw.calibrate(X, world));
    }();
    const features::ScatteringSpectra map(shape, resolved_options, normalization);
    const double build_seconds = world.allreduce_max(build_clock.seconds());
    const std::size_t P = map.size();
    const auto resolved = map.options();

    std::vector<double> phi(P), eta(P), grad(d);
    RandomStream eta_stream(5, StreamPurpose::test, 0);
    eta_stream.fill_normal(eta);

    // Warm-up, then evaluate and vjp.
    map.evaluate(X.row(0), phi);
    map.vjp(X.row(0), eta, grad);
    const auto time_op = [&](auto&& op, Counts& counts) {
      world.barrier();
      fft::reset_transform_counts();
      Stopwatch clock;
      for (std::size_t r = 0; r < args.repeats; ++r) op();
      const double seconds = clock.seconds() / static_cast<double>(args.repeats);
      counts = fft_counts();
      counts.seconds /= static_cast<double>(args.repeats);
      return world.allreduce_max(seconds);
    };
    Counts evaluate_counts, vjp_counts, accumulate_counts;
    const double evaluate_seconds = time_op([&] { map.evaluate(X.row(0), phi); }, evaluate_counts);
    const double vjp_seconds = time_op([&] { map.vjp(X.row(0), eta, grad); }, vjp_counts);

    // Structured accumulate, with its own memory peak.
    Matrix K(P, P);
    std::vector<double> h(P, 0.0);
    world.barrier();
    const double rss_before_kb = status_kb("VmRSS:");
    reset_peak();
    fft::reset_transform_counts();
    PhaseTimes::global().clear();
    Stopwatch accumulate_clock;
    map.accumulate(X, V, K, h);
    const double accumulate_local = accumulate_clock.seconds() / static_cast<double>(items);
    const double accumulate_seconds = world.allreduce_max(accumulate_local);
    const double peak_accumulate_gb = world.allreduce_max(status_kb("VmHWM:") / 1048576.0);
    accumulate_counts = fft_counts();
    const auto phases = PhaseTimes::global().snapshot();
    const double fft_fraction_accumulate = world.allreduce_max(
        accumulate_counts.seconds / (accumulate_local * static_cast<double>(items)));
    const double gram_seconds = world.allreduce_max(
        (phases.count("fit.syrk") ? phases.at("fit.syrk") : 0.0) / static_cast<double>(items));

    // The randomized Gram on the same items: m + 1 forward-mode products per item.
    double randomized_seconds = -1.0, randomized_difference = -1.0, randomized_h_difference = -1.0;
    if (args.probes > 0) {
      Matrix Kr(P, P);
      std::vector<double> hr(P, 0.0);
      world.barrier();
      Stopwatch clock;
      features::accumulate_randomized(
          map, X, V, args.probes,
          [&](std::size_t r, std::size_t j) {
            return RandomStream(1, StreamPurpose::gram_probe,
                                static_cast<std::uint64_t>(world.rank()) * 1000 + r, 0, j);
          },
          Kr, hr);
      randomized_seconds = world.allreduce_max(clock.seconds() / static_cast<double>(items));
      Matrix Kf = K;
      map.finalize_gram(Kf);
      double num = 0.0, den = 0.0, hn = 0.0, hd = 0.0;
      for (std::size_t i = 0; i < P; ++i) {
        for (std::size_t j = i; j < P; ++j) {
          num += std::pow(Kr(i, j) - Kf(i, j), 2);
          den += std::pow(Kf(i, j), 2);
        }
        hn += std::pow(hr[i] - h[i], 2);
        hd += h[i] * h[i];
      }
      randomized_difference = world.allreduce_max(std::sqrt(num / den));
      randomized_h_difference = world.allreduce_max(std::sqrt(hn / hd));
    }

    // Naive route: P vjp's per item into a dense J, then syrk (and gemv for h).
    const double dense_gb = static_cast<double>(P) * static_cast<double>(d) * 8.0 / 1073741824.0;
    const bool run_naive =
        args.naive == "yes" || (args.naive == "auto" && dense_gb <= args.naive_max_gb);
    double naive_seconds = -1.0, naive_difference = -1.0, naive_vjp_seconds = -1.0;
    if (run_naive) {
      Matrix J(P, d), K_naive(P, P);
      std::vector<double> h_naive(P, 0.0), unit(P, 0.0);
      world.barrier();
      Stopwatch clock;
      double vjp_part = 0.0;
      for (std::size_t b = 0; b < items; ++b) {
        Stopwatch vjp_clock;
        for (std::size_t p = 0; p < P; ++p) {
          unit[p] = 1.0;
          map.vjp(X.row(b), unit, J.row(p));
          unit[p] = 0.0;
        }
        vjp_part += vjp_clock.seconds();
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(P),
                    static_cast<int>(d), 1.0, J.data(), static_cast<int>(d), 1.0, K_naive.data(),
                    static_cast<int>(P));
        cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(P), static_cast<int>(d), 1.0,
                    J.data(), static_cast<int>(d), V.row(b).data(), 1, 1.0, h_naive.data(), 1);
      }
      naive_seconds = world.allreduce_max(clock.seconds() / static_cast<double>(items));
      naive_vjp_seconds = world.allreduce_max(vjp_part / static_cast<double>(items));
      double num = 0.0, den = 0.0;
      for (std::size_t i = 0; i < P; ++i)
        for (std::size_t j = i; j < P; ++j) {
          num += std::pow(K(i, j) - K_naive(i, j), 2);
          den += std::pow(K_naive(i, j), 2);
        }
      naive_difference = world.allreduce_max(std::sqrt(num / den));
    }
    const double peak_total_gb = world.allreduce_max(status_kb("VmHWM:") / 1048576.0);

    if (world.is_root()) {
      std::string dims_text;
      for (std::size_t a = 0; a < args.dims.size(); ++a)
        dims_text += (a ? "," : "") + std::to_string(args.dims[a]);
      std::string grids;
      for (int j = 0; j < resolved.scales; ++j)
        grids += sformat("%s%zu", j ? ", " : "", map.bank().subsampling(j));
      std::printf(
          "{\"benchmark\": \"scattering\", \"git_hash\": \"%s\", \"ranks\": %d, \"threads\": 1, "
          "\"dims\": [%s], \"J\": %d, \"L\": %d, \"slant\": %.4g, \"families\": \"%s\", "
          "\"isotropic\": %s, \"phi4_diagonal\": %s, \"subsampling\": [%s], \"P\": %zu, \"d\": "
          "%zu, "
          "\"items_per_rank\": %zu, \"repeats\": %zu, \"fft_effort\": \"%s\", \"workspace_mb\": "
          "%.0f, "
          "\"build_seconds\": %.4g, "
          "\"evaluate_seconds\": %.6g, \"vjp_seconds\": %.6g, \"vjp_over_evaluate\": %.3f, "
          "\"accumulate_seconds_per_item\": %.6g, \"accumulate_gram_seconds_per_item\": %.6g, "
          "\"fft_fraction\": {\"evaluate\": %.3f, \"vjp\": %.3f, \"accumulate\": %.3f}, "
          "\"fft_counts\": {\"evaluate\": %s, \"vjp\": %s, \"accumulate_per_item\": %s}, "
          "\"naive\": {\"ran\": %s, \"seconds_per_item\": %.6g, \"vjp_seconds_per_item\": %.6g, "
          "\"dense_jacobian_gb\": %.4g, \"relative_difference_K\": %.3g, "
          "\"naive_over_accumulate\": %.3f}, "
          "\"memory_gb\": {\"rss_before_accumulate\": %.4g, \"peak_accumulate\": %.4g, "
          "\"peak_total\": %.4g}, "
          "\"randomized\": {\"probes\": %zu, \"seconds_per_item\": %.6g, "
          "\"exact_over_randomized\": %.3f, \"relative_difference_K_one_item\": %.3g, "
          "\"relative_difference_h\": %.3g}}\n",
          KSI_GIT_HASH, world.size(), dims_text.c_str(), resolved.scales, resolved.orientations,
          resolved.slant, resolved.families.text().c_str(), args.isotropic ? "true" : "false",
          args.phi4_diagonal ? "true" : "false", grids.c_str(), P, d, items, args.repeats,
          args.effort.c_str(), args.workspace_mb, build_seconds, evaluate_seconds, vjp_seconds,
          vjp_seconds / evaluate_seconds, accumulate_seconds, gram_seconds,
          evaluate_counts.seconds / evaluate_seconds, vjp_counts.seconds / vjp_seconds,
          fft_fraction_accumulate,
          counts_json(evaluate_counts, static_cast<double>(args.repeats)).c_str(),
          counts_json(vjp_counts, static_cast<double>(args.repeats)).c_str(),
          counts_json(accumulate_counts, static_cast<double>(items)).c_str(),
          run_naive ? "true" : "false", naive_seconds, naive_vjp_seconds, dense_gb,
          naive_difference, run_naive ? naive_seconds / accumulate_seconds : -1.0,
          rss_before_kb / 1048576.0, peak_accumulate_gb, peak_total_gb, args.probes,
          randomized_seconds,
          randomized_seconds > 0 ? accumulate_seconds / randomized_seconds : -1.0,
          randomized_difference, randomized_h_difference);
    }
  } catch (const ksi::Error& e) {
    std::fprintf(stderr, "bench_scattering: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
