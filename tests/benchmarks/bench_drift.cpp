// Drift evaluations of a scattering map (the sampler's inner loop: J(x)^T eta for a batch of
// fields) with FFTW's estimated plans (ksi's default) and with measured plans, in the same run:
// the two maps are built side by side and timed in turn (A B A B ...), so the ratio is taken pair
// by pair. Prints one JSON object: evaluations per second, transforms per evaluation and the
// fraction of the time inside FFTW for each, the pairwise speed-up, and the largest difference
// between the two drifts (measured plans round differently, nothing else changes).
//
//   bench_drift [dims=64,64,64] [J=4] [L=3] [isotropic=1] [families=all] [batch=2] [repeats=5]
//       [effort=measure|patient]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "bench_support.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/features/scattering.hpp"
#include "ksi/par/comm.hpp"

using namespace ksi;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Timing {
  std::vector<double> seconds, fft_seconds;
  double transforms = 0.0;  // per evaluation of the batch
};

}  // namespace

int main(int argc, char** argv) {
  par::Environment env(argc, argv);
  const bench::Args args(argc, argv);
  try {
    set_blas_threads(1);  // figures per core (ksi runs one BLAS thread per rank by default)
    const auto dims = args.sizes("dims", "64,64,64");
    const auto batch = static_cast<std::size_t>(args.number("batch", 2));
    const auto repeats = static_cast<std::size_t>(args.number("repeats", 5));
    const std::string effort = args.get("effort", "measure");
    if (effort != "measure" && effort != "patient")
      throw UsageError("effort must be measure or patient");
    const ItemShape shape = ItemShape::grid(dims);
    const std::size_t d = shape.size();
    features::ScatteringOptions options;
    options.scales = static_cast<int>(args.number("J", 4));
    options.orientations = static_cast<int>(args.number("L", 3));
    options.isotropic = args.number("isotropic", 1) != 0;
    options.families = features::ScatteringFamilies::parse(args.get("families", "all"));

    Matrix X(batch, d);
    for (std::size_t b = 0; b < batch; ++b) {
      const auto x = bench::lognormal_field(dims, b);
      std::copy(x.begin(), x.end(), X.row(b).begin());
    }
    fft::configure(fft::Effort::estimate, 1);
    const auto [resolved, normalization] = [&] {
      const features::ScatteringSpectra raw(shape, options);
      return std::make_pair(raw.options(), raw.calibrate(X, par::Comm::self()));
    }();
    const features::ScatteringSpectra estimated(shape, resolved, normalization);
    Stopwatch planning;
    fft::set_effort(effort == "measure" ? fft::Effort::measure : fft::Effort::patient);
    const features::ScatteringSpectra measured(shape, resolved, normalization);
    fft::set_effort(fft::Effort::estimate);
    const double planning_seconds = planning.seconds();

    const std::size_t P = estimated.size();
    std::vector<double> eta(P);
    RandomStream stream(5, StreamPurpose::test, 0);
    stream.fill_normal(eta);
    Matrix GA, GB;
    estimated.vjp_batch(X, eta, GA);  // warm-up (and plans made on first use)
    measured.vjp_batch(X, eta, GB);
    double largest = 0.0, scale = 0.0;
    for (std::size_t i = 0; i < GA.size(); ++i) {
      largest = std::max(largest, std::abs(GA.data()[i] - GB.data()[i]));
      scale = std::max(scale, std::abs(GA.data()[i]));
    }
    const auto run = [&](const features::ScatteringSpectra& map, Matrix& G, Timing& t) {
      fft::reset_transform_counts();
      const Stopwatch clock;
      map.vjp_batch(X, eta, G);
      t.seconds.push_back(clock.seconds());
      const bench::Counts counts = bench::fft_counts();
      double transforms = 0.0;
      for (const auto& c : counts.count) transforms += static_cast<double>(c.second);
      t.fft_seconds.push_back(counts.seconds);
      t.transforms = transforms;
    };
    Timing A, B;
    std::vector<double> ratio;
    for (std::size_t r = 0; r < repeats; ++r) {
      run(estimated, GA, A);
      run(measured, GB, B);
      ratio.push_back(A.seconds.back() / B.seconds.back());
    }
    const auto json = [&](const Timing& t) {
      const double s = median(t.seconds);
      return sformat(
          "{\"seconds_per_batch\": %.6g, \"evaluations_per_second\": %.6g, "
          "\"transforms_per_evaluation\": %.6g, \"fraction_in_fftw\": %.4f}",
          s, static_cast<double>(batch) / s, t.transforms / static_cast<double>(batch),
          median(t.fft_seconds) / s);
    };
    std::printf(
        "{\"benchmark\": \"drift\", \"git_hash\": \"%s\", \"dims\": \"%s\", \"J\": %d, \"L\": %d, "
        "\"isotropic\": %s, \"features\": %zu, \"batch\": %zu, \"repeats\": %zu, "
        "\"estimate\": %s, \"%s\": %s, \"speedup_median\": %.4f, \"speedup_min\": %.4f, "
        "\"speedup_max\": %.4f, \"planning_seconds\": %.3g, \"largest_relative_difference\": "
        "%.3g}\n",
        KSI_GIT_HASH, shape.describe().c_str(), resolved.scales, resolved.orientations,
        resolved.isotropic ? "true" : "false", P, batch, repeats, json(A).c_str(), effort.c_str(),
        json(B).c_str(), median(ratio), *std::min_element(ratio.begin(), ratio.end()),
        *std::max_element(ratio.begin(), ratio.end()), planning_seconds,
        scale > 0 ? largest / scale : 0.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_drift: %s\n", e.what());
    return 1;
  }
  return 0;
}
