// Physics generators (issue 4, targets): Navier-Stokes time steps per second at 64^3 and 128^3 with
// the fraction of the time spent inside FFTW, and the time to generate 64 cosmology fields at 64^3
// and 128^3. Prints one JSON object.
//
// Navier-Stokes: every rank advances its own run (as `ksi synth turbulence` runs whole chains per
// rank) by a fixed time step after 3 warm-up steps. Timings are the maximum over ranks after a
// barrier. The FFTW fraction is measured two ways in the same run: from
// ksi::fft::transform_counts() (time inside the transforms during the steps), and against the same
// transforms executed alone (3 stages x one batched c2r of 6 arrays + one batched r2c of 3 arrays
// per step).
//
// Cosmology: `fields` fields are dealt to ranks in blocks, as `ksi synth cosmology` does (no I/O);
// one field per rank is generated first as a warm-up; the split over the stages (white noise and
// colouring, LPT displacements, CIC deposit) is measured on one more field per rank.
//
//   mpirun -n R bench_physics [ns_grids=64,128] [ns_steps=20] [cosmo_grids=64,128] [fields=64]
//                             [lpt=2] [sampling=1] [effort=measure]
// (sampling: particles per cell and axis, e.g. sampling=1,2)
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "ksi/core/aligned.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "ksi/synth/cosmology.hpp"
#include "ksi/synth/turbulence.hpp"

using namespace ksi;

namespace {

double fft_seconds() {
  double s = 0.0;
  for (const auto& c : fft::transform_counts()) s += c.seconds;
  return s;
}

std::string navier_stokes_run(const par::Comm& world, std::size_t n, int steps) {
  synth::NavierStokesOptions options;
  options.grid = n;
  synth::NavierStokes3D flow(options);
  flow.randomize(1, static_cast<std::uint64_t>(world.rank()), 3.0, 2.5);
  const double dt = flow.stable_time_step();
  for (int s = 0; s < 3; ++s) flow.step(dt);

  world.barrier();
  fft::reset_transform_counts();
  const Stopwatch clock;
  for (int s = 0; s < steps; ++s) flow.step(dt);
  const double local_seconds = clock.seconds();
  const double local_fft = fft_seconds();
  const double seconds = world.allreduce_max(local_seconds);
  const double fraction = world.allreduce_sum(local_fft) / world.allreduce_sum(local_seconds);
  const double worst_fraction = world.allreduce_min(local_fft / local_seconds);

  // The same transforms alone, on arrays of the same size (best of 3 passes of one step's worth).
  fft::RealTransform six({n, n, n}, 6), three({n, n, n}, 3);
  AlignedVector<fft::complex> spectral(6 * six.complex_size());
  AlignedVector<double> real(6 * six.real_size(), 0.0);
  double alone = 1e300;
  for (int rep = 0; rep < 4; ++rep) {
    world.barrier();
    const Stopwatch pass;
    for (int stage = 0; stage < 3; ++stage) {
      std::fill(spectral.begin(), spectral.end(), fft::complex{});  // c2r destroys its input
      six.backward_destroying(spectral.data(), real.data());
      three.forward(real.data(), spectral.data());
    }
    const double t = world.allreduce_max(pass.seconds());
    if (rep > 0) alone = std::min(alone, t);  // the first pass warms the caches
  }
  // Memset time is part of `alone` but not of the FFT counters: report it.
  double fill = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const Stopwatch pass;
    for (int stage = 0; stage < 3; ++stage)
      std::fill(spectral.begin(), spectral.end(), fft::complex{});
    fill = std::min(fill, world.allreduce_max(pass.seconds()));
  }
  const double per_step = seconds / steps;
  return sformat(
      "{\"n\": %zu, \"steps\": %d, \"dt\": %.4g, \"viscosity\": %.5g, \"seconds\": %.4f, "
      "\"steps_per_second\": %.3f, \"steps_per_second_all_ranks\": %.3f, "
      "\"fftw_fraction\": %.4f, \"fftw_fraction_worst_rank\": %.4f, "
      "\"fft_alone_seconds_per_step\": %.5f, \"step_seconds\": %.5f, "
      "\"fft_alone_over_step\": %.4f}",
      n, steps, dt, flow.viscosity(), seconds, steps / seconds, world.size() * steps / seconds,
      fraction, worst_fraction, alone - fill, per_step, (alone - fill) / per_step);
}

std::string cosmology_run(const par::Comm& world, std::size_t n, std::size_t fields, int lpt,
                          std::size_t sampling) {
  synth::CosmologyOptions options;
  options.grid = n;
  options.box_size = 4.0 * static_cast<double>(n);  // 4 Mpc/h cells
  options.lpt_order = lpt;
  options.particle_sampling = sampling;
  options.output = synth::DensityOutput::log_density;
  synth::CosmologyGenerator generator(options);
  const auto range = par::block_range(fields, world.rank(), world.size());
  std::vector<double> item(generator.item_shape().size());
  generator.generate(fields + static_cast<std::size_t>(world.rank()), item);  // warm-up

  world.barrier();
  const Stopwatch clock;
  for (std::size_t i = range.begin; i < range.end; ++i) generator.generate(i, item);
  const double seconds = world.allreduce_max(clock.seconds());

  // Stage split on one more field.
  AlignedVector<fft::complex> modes(generator.modes_size());
  AlignedVector<double> displacement(3 * generator.particles()), density(generator.cells());
  const double d1 = synth::growth_factor(0.0, options.cosmology.omega_m);
  const double d2 = lpt == 2 ? synth::second_order_growth(0.0, options.cosmology.omega_m) : 0.0;
  Stopwatch stage;
  generator.linear_modes(0, modes);
  const double noise = world.allreduce_max(stage.seconds());
  stage.restart();
  generator.displacements(modes, d1, d2, displacement);
  const double lagrangian = world.allreduce_max(stage.seconds());
  stage.restart();
  generator.deposit(displacement, density);
  const double deposit = world.allreduce_max(stage.seconds());
  return sformat(
      "{\"n\": %zu, \"particle_sampling\": %zu, \"fields\": %zu, \"lpt\": %d, \"box_size\": %g, "
      "\"seconds\": %.3f, "
      "\"seconds_per_field_per_rank\": %.4f, \"fields_per_second\": %.3f, "
      "\"split_seconds\": {\"noise_and_colouring\": %.4f, \"lpt_displacements\": %.4f, "
      "\"cic_deposit\": %.4f}}",
      n, sampling, fields, lpt, options.box_size, seconds,
      seconds / static_cast<double>(std::max<std::size_t>(range.size(), 1)),
      static_cast<double>(fields) / seconds, noise, lagrangian, deposit);
}

}  // namespace

int main(int argc, char** argv) {
  par::Environment environment(argc, argv);
  {
    const par::Comm world = par::Comm::world();
    par::Log::configure(world.rank(), par::Verbosity::quiet);
    const bench::Args args(argc, argv);
    const auto ns_grids = args.sizes("ns_grids", "64,128");
    const int ns_steps = static_cast<int>(args.number("ns_steps", 20));
    const auto cosmo_grids = args.sizes("cosmo_grids", "64,128");
    const auto fields = static_cast<std::size_t>(args.number("fields", 64));
    const int lpt = static_cast<int>(args.number("lpt", 2));
    const auto samplings = args.sizes("sampling", "1");
    const std::string effort = args.get("effort", "measure");
    fft::configure(effort == "estimate"  ? fft::Effort::estimate
                   : effort == "patient" ? fft::Effort::patient
                                         : fft::Effort::measure,
                   1);

    std::string ns, cosmo;
    for (auto n : ns_grids) ns += (ns.empty() ? "" : ", ") + navier_stokes_run(world, n, ns_steps);
    for (auto sampling : samplings)
      for (auto n : cosmo_grids)
        cosmo += (cosmo.empty() ? "" : ", ") + cosmology_run(world, n, fields, lpt, sampling);
    if (world.is_root())
      std::printf(
          "{\"benchmark\": \"physics\", \"git_hash\": \"%s\", \"ranks\": %d, \"threads\": 1, "
          "\"fft_effort\": \"%s\", \"peak_memory_mb_rank0\": %.0f, \"navier_stokes\": [%s], "
          "\"cosmology\": [%s]}\n",
          KSI_GIT_HASH, world.size(), effort.c_str(), bench::peak_memory_mb(), ns.c_str(),
          cosmo.c_str());
  }
  return 0;
}
