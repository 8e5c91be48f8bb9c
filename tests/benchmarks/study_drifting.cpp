// The N-study of the drifting generator (METHOD section 7): for d in --dims, kernel in --kernels
// and N in --sizes, N data items and N particles (bandwidth rule h = sigma N^(-1/(d+4))) are
// drifted for
// --iterations updates; each run appends one CSV row with the residual velocity against the
// training data (what the run drives to zero), the residual velocity against a large held-out set
// at the final particles (the statistical error of the particle set), the energy distance of the
// particles to the held-out set and, as the yardstick, that of the N training items themselves. The
// data are a two-component Gaussian mixture. jobs/plot_drifting_study.py fits the log-log slopes
// and plots.
//   mpirun -n 2 build/tests/benchmarks/study_drifting --out build/study/drifting_study.csv
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/version.hpp"
#include "ksi/drifting/drifting.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/par/log.hpp"
#include "ksi/synth/vectors.hpp"

namespace {

using ksi::Matrix;
namespace drifting = ksi::drifting;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  ksi::par::Environment environment(argc, argv);
  std::string dims = "1,2,4", kernels = "gauss,laplace", sizes = "100,316,1000,3162,10000";
  std::string out_path = "drifting_study.csv";
  std::size_t test_size = 20000, iterations = 150, tile = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string value = argv[i + 1];
    if (key == "--dims")
      dims = value;
    else if (key == "--kernels")
      kernels = value;
    else if (key == "--sizes")
      sizes = value;
    else if (key == "--test-size")
      test_size = std::stoul(value);
    else if (key == "--iterations")
      iterations = std::stoul(value);
    else if (key == "--out")
      out_path = value;
    else {
      std::fprintf(stderr, "study_drifting: unknown option %s\n", key.c_str());
      return 2;
    }
  }
  const ksi::par::Comm world = ksi::par::Comm::world();
  ksi::par::Log::configure(world.rank(), ksi::par::Verbosity::quiet);
  std::ofstream csv;
  if (world.is_root()) {
    csv.open(out_path);
    csv << "dimension,kernel,n,bandwidth,updates,train_residual_velocity,"
           "heldout_residual_velocity,energy_distance,data_energy_distance,seconds,ranks,git_"
           "hash\n";
  }
  for (const auto& dim_text : split(dims)) {
    const std::size_t d = std::stoul(dim_text);
    const auto mixture = ksi::synth::make_mixture(d, 2, 2.0, 0.6, 7);
    const auto test_range = drifting::tile_range(test_size, tile, world.rank(), world.size());
    const Matrix held_out =
        ksi::synth::draw_mixture(mixture, 2, test_range.begin, test_range.size());
    const drifting::EnergyDistance energy(held_out, test_size, tile, world);
    for (const auto& kernel_name : split(kernels))
      for (const auto& size_text : split(sizes)) {
        const std::size_t n = std::stoul(size_text);
        const auto range = drifting::tile_range(n, tile, world.rank(), world.size());
        const Matrix data = ksi::synth::draw_mixture(mixture, 1, range.begin, range.size());
        drifting::DriftOptions options;
        options.kernel = drifting::parse_kernel(kernel_name);
        options.iterations = iterations;
        options.energy_every = 0;
        options.tile = tile;
        const ksi::Stopwatch clock;
        const auto result = drifting::drift(data, n, options, nullptr, world);
        const double seconds = world.allreduce_max(clock.seconds());
        // The field toward the held-out set at the final particles, same kernel and bandwidth.
        const drifting::DriftField heldout_field(held_out, test_size, options.kernel,
                                                 result.bandwidth, true, tile, world);
        Matrix velocity;
        heldout_field.velocity(result.particles, n, velocity);
        std::vector<double> speed(velocity.rows(), 0.0);
        for (std::size_t i = 0; i < velocity.rows(); ++i)
          for (std::size_t k = 0; k < d; ++k) speed[i] += velocity(i, k) * velocity(i, k);
        const double heldout_residual =
            std::sqrt(drifting::ordered_sum(speed, n, tile, world) / static_cast<double>(n));
        const double particle_energy = energy(result.particles, n);
        const double data_energy = energy(data, n);
        const std::string row = ksi::sformat(
            "%zu,%s,%zu,%.8g,%zu,%.8g,%.8g,%.8g,%.8g,%.4g,%d,%s", d, kernel_name.c_str(), n,
            result.bandwidth, result.updates, result.diagnostics.residual_velocity.back(),
            heldout_residual, particle_energy, data_energy, seconds, world.size(), KSI_GIT_HASH);
        if (world.is_root()) {
          csv << row << "\n" << std::flush;
          std::fprintf(stderr, "%s\n", row.c_str());
        }
      }
  }
  return 0;
}
