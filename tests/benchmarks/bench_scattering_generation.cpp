// Generation quality and cost with scattering features at the sizes (2D 128 x 128, 3D
// 64^3): fit on log-normal fields, sample, and compare one-point PDF and power spectrum with
// held-out fields and a Gaussian field with the training spectrum (distances of
// tests/features/generation_check.hpp). Prints one JSON object.
//
//   mpirun -n R bench_scattering_generation [dims=128,128]
//       [params=J=5:L=4:isotropic=true:phi4_diagonal=true] [train=64] [test=16] [samples=16]
//       [beta=2] [sigma=0.8] [times=9] [draws=1] [steps=30]
//
// 3D dims (e.g. dims=64,64,64) change the defaults to params=J=4:L=3:isotropic=true and beta=2.5.
// params uses ':' between key=value pairs (ksi fit's ',' separates the dims).
#include <cstdio>
#include <string>

#include "../features/generation_check.hpp"
#include "bench_support.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/threads.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"

int main(int argc, char** argv) {
  using namespace ksi;
  par::Environment environment(argc, argv);
  try {
    const par::Comm world = par::Comm::world();
    par::Log::configure(world.rank(), par::Verbosity::quiet);
    set_blas_threads(1);
    fit::PetscSession petsc(world);
    const bench::Args args(argc, argv);
    test::GenerationCase c;
    c.dims = args.sizes("dims", "128,128");
    c.feature_params =
        args.get("params", c.dims.size() == 3 ? "J=4:L=3:isotropic=true"
                                              : "J=5:L=4:isotropic=true:phi4_diagonal=true");
    for (auto& ch : c.feature_params)
      if (ch == ':') ch = ',';
    c.train = static_cast<std::size_t>(args.number("train", 64));
    c.test = static_cast<std::size_t>(args.number("test", 16));
    c.samples = static_cast<std::size_t>(args.number("samples", 16));
    c.beta = args.number("beta", c.dims.size() == 3 ? 2.5 : 2.0);
    c.sigma = args.number("sigma", 0.8);
    c.times = static_cast<std::size_t>(args.number("times", 9));
    c.draws = static_cast<std::size_t>(args.number("draws", 1));
    c.steps = static_cast<std::size_t>(args.number("steps", 30));
    const auto r = test::run_generation(c, world);
    const double peak_mb = world.allreduce_max(bench::peak_memory_mb());
    if (world.is_root()) {
      std::string dims;
      for (std::size_t a = 0; a < c.dims.size(); ++a)
        dims += (a ? "," : "") + std::to_string(c.dims[a]);
      std::printf(
          "{\"benchmark\": \"scattering_generation\", \"git_hash\": \"%s\", \"ranks\": %d, "
          "\"threads\": 1, \"dims\": [%s], \"feature_params\": \"%s\", \"P\": %zu, \"train\": %zu, "
          "\"test\": %zu, \"samples\": %zu, \"beta\": %g, \"sigma\": %g, \"times\": %zu, "
          "\"draws\": %zu, \"steps\": %zu, \"R2_min\": %.4f, \"R2_max\": %.4f, "
          "\"fit_seconds\": %.4g, \"sample_seconds\": %.4g, "
          "\"pdf_w1\": {\"gen\": %.5g, \"gauss\": %.5g, \"train\": %.5g}, "
          "\"spectrum_rms_log\": {\"gen\": %.5g, \"gauss\": %.5g, \"train\": %.5g}, "
          "\"peak_memory_mb_per_rank\": %.1f}\n",
          KSI_GIT_HASH, world.size(), dims.c_str(), c.feature_params.c_str(), r.features, c.train,
          c.test, c.samples, c.beta, c.sigma, c.times, c.draws, c.steps, r.captured_min,
          r.captured_max, r.fit_seconds, r.sample_seconds, r.pdf_gen, r.pdf_gauss, r.pdf_train,
          r.spectrum_gen, r.spectrum_gauss, r.spectrum_train, peak_mb);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_scattering_generation: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
