// Microcanonical synthesis (ksi sample --method microcanonical): seconds per field to a relative
// feature residual of 1e-3, against the per-field times the scattering-spectra codes report (pywph
// about 6-7 s per 256^2 field, the 1D scattering-spectra code about 5 s per series). Prints one
// JSON object.
//
// Each case: `train` power-law log-normal fields (tests/features/generation_check.hpp) in model
// units normalise the scattering map and give the training features (their rms distance from
// their mean is the residual's scale s); `samples` fields are synthesised from white noise, sample
// i matched to training field i mod train, until |phi - target| <= tolerance * s. Every rank does
// the same work; times are maxima over ranks after a warm-up. Run on one rank for the per-core
// figure:
//
//   bench_microcanonical [cases=256x256,64x64x64] [train=4] [samples=2] [tolerance=1e-3]
//       [history=10] [max_iterations=5000] [params2d=J=6:L=4] [params3d=J=4:L=3:isotropic=true]
//       [beta2d=2] [beta3d=2.5] [sigma=0.8] [standardize=scalar] [effort=estimate] [trace=0]
//       [precondition=none] [refine_below=0] [refine_iterations=100] [refine_refresh=0.85]
//
// refine_below=R: L-BFGS to r <= R, then Levenberg-Marquardt steps on the exact Gram (ksi sample
// --refine-below); per sample the refinement steps and Grams assembled. Per sample also the share
// of the final |phi - target|^2 in each feature family (where the residual is left).
// precondition=spectrum: L-BFGS in the variable z of x = C z, C the square root of the training
// fields' mean spectrum (sample::SpectralPreconditioner; the start z is the sample's white noise);
// both: every sample without, then with it (one case object each; the second holds the ratio of
// seconds sample by sample).
// standardize: the model units (scalar: the fields' own features, as the peers compute them;
// spectrum or copula: whitened units, as ksi's field models use). trace=K adds the residual every K
// iterations of each synthesis (0: none). effort=measure plans FFTs by timing (ksi itself plans by
// estimate, which keeps plans, and so samples, the same on every rank). Per sample: the iterations
// and seconds to residuals 1e-1, 1e-2, 1e-3; the wall and CPU seconds (the CPU time tells a busy
// machine from a slow code).
//
// params use ':' between key=value pairs (any scattering parameter of ksi fit --feature-params).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <sstream>
#include <string>

#include "../features/generation_check.hpp"
#include "bench_support.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "ksi/sample/microcanonical.hpp"

namespace {

using namespace ksi;

// Per-field times the peers report (seconds): pywph on a 256^2 field (6-7 s), the 1D
// scattering-spectra code on one series.
constexpr double kPywph256 = 6.5;
constexpr double kSpectra1d = 5.0;

struct Case {
  std::vector<std::size_t> dims;
  std::string params;
  double beta = 2.0;
};

std::string run_case(const Case& c, const bench::Args& args, const par::Comm& world) {
  const ItemShape shape = ItemShape::grid(c.dims);
  const std::size_t d = shape.size();
  const auto train = static_cast<std::size_t>(args.number("train", 4));
  const auto samples = static_cast<std::size_t>(args.number("samples", 2));
  const auto trace_every = static_cast<std::size_t>(args.number("trace", 0));
  sample::MicrocanonicalOptions options;
  options.tolerance = args.number("tolerance", 1e-3);
  options.history = static_cast<std::size_t>(args.number("history", 10));
  options.max_iterations = static_cast<std::size_t>(args.number("max_iterations", 5000));
  options.refine_below = args.number("refine_below", 0.0);
  options.refine_iterations = static_cast<std::size_t>(args.number("refine_iterations", 100));
  options.refine_refresh = args.number("refine_refresh", 0.85);
  options.validate();

  // Every rank holds all training fields (the same work on every rank).
  Matrix fields = test::lognormal_fields(c.dims, 0, train, c.beta, args.number("sigma", 0.8));
  const par::Comm self = par::Comm::self();
  const std::string units = args.get("standardize", "scalar");
  Standardization::fit(fields, shape, units, self);
  Params params;
  std::stringstream in(c.params);
  std::string item;
  while (std::getline(in, item, ':'))
    params.set(item.substr(0, item.find('=')), item.substr(item.find('=') + 1));
  Stopwatch build_clock;
  const auto map = features::build_feature_map("scattering", params, shape, fields, self);
  const double build_seconds = world.allreduce_max(build_clock.seconds());
  const std::size_t P = map->size();
  Matrix phi(train, P);
  for (std::size_t i = 0; i < train; ++i) map->evaluate(fields.row(i), phi.row(i));
  const auto targets = sample::TrainingFeatures::from_rows(std::move(phi));
  // precondition=spectrum: L-BFGS on z, x = C z, C the training fields' mean spectrum's square
  // root; both: each sample without and with, in turn (the ratio pair by pair).
  const std::string precondition = args.get("precondition", "none");
  if (precondition != "none" && precondition != "spectrum" && precondition != "both")
    throw UsageError("precondition must be none, spectrum or both, not '" + precondition + "'");
  std::vector<std::string> modes;
  if (precondition != "spectrum") modes.push_back("none");
  if (precondition != "none") modes.push_back("spectrum");
  double mean = 0.0;
  for (const double v : fields.values()) mean += v;
  mean /= static_cast<double>(fields.values().size());
  const auto spectral =
      std::make_unique<sample::SpectralPreconditioner>(sample::SpectralPreconditioner::from_powers(
          c.dims, Standardization::shell_powers(fields, c.dims, mean, self)));

  // Warm-up, then one evaluate and one vjp for the per-call costs.
  std::vector<double> values(P), eta(P, 1.0), grad(d);
  map->evaluate(fields.row(0), values);
  map->vjp(fields.row(0), eta, grad);
  const int repeats = 3;
  world.barrier();
  Stopwatch evaluate_clock;
  for (int r = 0; r < repeats; ++r) map->evaluate(fields.row(0), values);
  const double evaluate_seconds = world.allreduce_max(evaluate_clock.seconds() / repeats);
  Stopwatch vjp_clock;
  for (int r = 0; r < repeats; ++r) map->vjp(fields.row(0), eta, grad);
  const double vjp_seconds = world.allreduce_max(vjp_clock.seconds() / repeats);
  const features::FeatureMap::EtaOfPhi ones = [](std::span<const double>, std::span<double> out) {
    std::fill(out.begin(), out.end(), 1.0);
  };
  Stopwatch fused_clock;
  for (int r = 0; r < repeats; ++r) map->evaluate_and_vjp(fields.row(0), values, ones, grad);
  const double fused_seconds = world.allreduce_max(fused_clock.seconds() / repeats);

  struct Totals {
    double seconds = 0.0, cpu_seconds = 0.0, iterations = 0.0, evaluations = 0.0, worst = 0.0;
    std::size_t converged = 0;
    std::string per_sample;
  };
  std::vector<Totals> totals(modes.size());
  std::string ratios;  // seconds without / with the preconditioner, sample by sample
  AlignedVector<double> x(d);
  for (std::size_t i = 0; i < samples; ++i) {
    std::vector<double> sample_seconds;
    for (std::size_t m = 0; m < modes.size(); ++m) {
      Totals& tot = totals[m];
      RandomStream(options.seed, StreamPurpose::microcanonical, i).fill_normal(x);
      world.barrier();
      const std::clock_t cpu_start = std::clock();
      Stopwatch clock;
      // Residual and time of every iterate: the seconds to each residual level.
      std::vector<double> residuals, times;
      const LbfgsObserver observe = [&](const LbfgsIteration& it) {
        residuals.push_back(std::sqrt(it.value) / targets.scale);
        times.push_back(clock.seconds());
      };
      const auto r =
          sample::synthesize(*map, targets.target(options.target, i), targets.scale, options, x,
                             observe, modes[m] == "spectrum" ? spectral.get() : nullptr);
      const double s = world.allreduce_max(clock.seconds());
      sample_seconds.push_back(s);
      tot.cpu_seconds +=
          world.allreduce_max(static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
      std::string trace, levels;
      for (std::size_t k = 0; trace_every > 0 && k < residuals.size(); k += trace_every)
        trace += sformat("%s%.3g", k ? ", " : "", residuals[k]);
      for (double level : {1e-1, 1e-2, 1e-3}) {
        const auto at =
            std::find_if(residuals.begin(), residuals.end(), [&](double v) { return v <= level; });
        const std::size_t k = static_cast<std::size_t>(at - residuals.begin());
        levels +=
            sformat("%s\"%g\": %s", levels.empty() ? "" : ", ", level,
                    at == residuals.end()
                        ? "null"
                        : sformat("{\"iterations\": %zu, \"seconds\": %.4g}", k, times[k]).c_str());
      }
      // Where the residual is left: the share of |phi(x) - target|^2 per feature family (the
      // name's first word after "iso"/"Re"/"Im", up to '('), and the largest single share.
      std::string families;
      {
        std::vector<double> phi_x(P);
        map->evaluate(x, phi_x);
        const auto target = targets.target(options.target, i);
        const auto names = map->feature_names();
        std::map<std::string, std::pair<double, std::size_t>> share;
        double total = 0.0, largest = 0.0;
        std::size_t worst = 0;
        for (std::size_t p = 0; p < P; ++p) {
          const double e2 = (phi_x[p] - target[p]) * (phi_x[p] - target[p]);
          std::string name = p < names.size() ? names[p] : "unnamed";
          for (const char* prefix : {"iso ", "Re ", "Im "})
            if (name.rfind(prefix, 0) == 0) name = name.substr(std::strlen(prefix));
          name = name.substr(0, std::min(name.find('('), name.find(' ')));
          share[name].first += e2;
          ++share[name].second;
          total += e2;
          if (e2 > largest) largest = e2, worst = p;
        }
        for (const auto& [name, v] : share)
          families += sformat("%s\"%s\": {\"features\": %zu, \"share\": %.3g}",
                              families.empty() ? "" : ", ", name.c_str(), v.second,
                              total > 0 ? v.first / total : 0.0);
        families += sformat(", \"largest\": {\"feature\": \"%s\", \"share\": %.3g}",
                            worst < names.size() ? names[worst].c_str() : "",
                            total > 0 ? largest / total : 0.0);
      }
      tot.seconds += s;
      tot.iterations += static_cast<double>(r.iterations);
      tot.evaluations += static_cast<double>(r.evaluations);
      tot.worst = std::max(tot.worst, r.residual);
      tot.converged += r.residual <= options.tolerance ? 1 : 0;
      tot.per_sample += sformat(
          "%s{\"seconds\": %.4g, \"iterations\": %zu, \"evaluations\": %zu, "
          "\"residual\": %.3g, \"status\": \"%s\", \"to_residual\": {%s}, "
          "\"residual_trace\": [%s], \"refine_steps\": %zu, \"grams\": %zu, "
          "\"residual_by_family\": {%s}}",
          i ? ", " : "", s, r.iterations, r.evaluations, r.residual, to_string(r.status).c_str(),
          levels.c_str(), trace.c_str(), r.refine_steps, r.grams, families.c_str());
    }
    if (modes.size() == 2)
      ratios += sformat("%s%.4g", i ? ", " : "", sample_seconds[0] / sample_seconds[1]);
  }
  const double n = static_cast<double>(samples);
  std::string dims;
  for (std::size_t a = 0; a < c.dims.size(); ++a)
    dims += sformat("%s%zu", a ? ", " : "", c.dims[a]);
  std::string out;
  for (std::size_t m = 0; m < modes.size(); ++m) {
    const Totals& tot = totals[m];
    const double per_field = tot.seconds / n;
    out += sformat(
        "%s{\"dims\": [%s], \"feature_params\": \"%s\", \"standardize\": \"%s\", "
        "\"precondition\": \"%s\", \"beta\": %g, \"P\": %zu, \"d\": %zu, \"train\": %zu, "
        "\"samples\": %zu, \"residual_scale\": %.4g, \"build_seconds\": %.4g, "
        "\"evaluate_seconds\": %.4g, \"vjp_seconds\": %.4g, \"evaluate_and_vjp_seconds\": %.4g, "
        "\"seconds_per_sample\": %.4g, \"cpu_seconds_per_sample\": %.4g, "
        "\"iterations_mean\": %.1f, \"evaluations_mean\": %.1f, \"seconds_per_evaluation\": %.4g, "
        "\"residual_max\": %.3g, \"converged\": %zu, \"ratio_to_pywph_256x256\": %.3f, "
        "\"ratio_to_spectra_1d\": %.3f, %s\"per_sample\": [%s]}",
        m ? ", " : "", dims.c_str(), c.params.c_str(), units.c_str(), modes[m].c_str(), c.beta, P,
        d, train, samples, targets.scale, build_seconds, evaluate_seconds, vjp_seconds,
        fused_seconds, per_field, tot.cpu_seconds / n, tot.iterations / n, tot.evaluations / n,
        tot.seconds / tot.evaluations, tot.worst, tot.converged, per_field / kPywph256,
        per_field / kSpectra1d,
        m == 1 ? sformat("\"seconds_ratio_none_over_spectrum\": [%s], ", ratios.c_str()).c_str()
               : "",
        tot.per_sample.c_str());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  par::Environment environment(argc, argv);
  try {
    const par::Comm world = par::Comm::world();
    par::Log::configure(world.rank(), par::Verbosity::quiet);
    set_blas_threads(1);
    const bench::Args args(argc, argv);
    const std::string effort = args.get("effort", "estimate");
    if (effort != "estimate" && effort != "measure")
      throw UsageError("effort must be estimate or measure");
    fft::configure(effort == "measure" ? fft::Effort::measure : fft::Effort::estimate, 1);
    std::vector<Case> cases;
    std::stringstream list(args.get("cases", "256x256,64x64x64"));
    std::string text;
    while (std::getline(list, text, ',')) {
      Case c;
      std::stringstream dims(text);
      std::string n;
      while (std::getline(dims, n, 'x')) c.dims.push_back(std::stoul(n));
      const bool three = c.dims.size() == 3;
      c.params =
          args.get(three ? "params3d" : "params2d", three ? "J=4:L=3:isotropic=true" : "J=6:L=4");
      c.beta = args.number(three ? "beta3d" : "beta2d", three ? 2.5 : 2.0);
      cases.push_back(c);
    }
    std::string results;
    for (std::size_t k = 0; k < cases.size(); ++k)
      results += (k ? ", " : "") + run_case(cases[k], args, world);
    if (world.is_root())
      std::printf(
          "{\"benchmark\": \"microcanonical\", \"git_hash\": \"%s\", \"ranks\": %d, \"threads\": "
          "1, "
          "\"fft_effort\": \"%s\", \"tolerance\": %g, \"lbfgs_history\": %g, "
          "\"reference_seconds_per_field\": "
          "{\"pywph_256x256\": %g, \"spectra_1d\": %g}, \"cases\": [%s]}\n",
          KSI_GIT_HASH, world.size(), effort.c_str(), args.number("tolerance", 1e-3),
          args.number("history", 10), kPywph256, kSpectra1d, results.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_microcanonical: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
