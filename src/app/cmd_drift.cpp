// ksi drift: data set -> particles.h5 with the drifting generator (METHOD section 7).
#include <cmath>
#include <memory>

#include "app/commands.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/drifting/drifting.hpp"
#include "ksi/drifting/particles_file.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"

namespace ksi::app {
namespace {

// Items of a file laid out in the tiles of the drifting room (every rank a run of whole tiles).
io::LocalItems read_tiled(const std::string& path, std::size_t tile, const par::Comm& world) {
  io::ItemsInfo info;
  {
    io::File file = io::File::open(path, world);
    par::collective(world, [&] { info = io::inspect_items(file); });
  }
  return io::read_items(path, world,
                        drifting::tile_range(info.count, tile, world.rank(), world.size()));
}

}  // namespace

int run_drift(const Invocation& call) {
  const drifting::DriftOptions defaults;
  po::options_description desc("ksi drift options");
  add_common_options(desc);
  add_output_options(desc, "output particles file (HDF5)");
  // clang-format off
  desc.add_options()
      ("data", po::value<std::string>(), "data set (HDF5 with /fields): the target distribution")
      ("test", po::value<std::string>(), "held-out data set: energy distance of the particles to it per iteration")
      ("particles,n", po::value<std::size_t>()->default_value(defaults.particles), "number of particles N (0: as many as data items)")
      ("init", po::value<std::string>()->default_value(drifting::to_string(defaults.init)), "initial particles: gaussian (data mean and covariance) or standard (N(0, I))")
      ("seed", po::value<std::uint64_t>()->default_value(defaults.seed), "seed of the initial particles (particle i uses stream (seed, i))")
      ("kernel", po::value<std::string>()->default_value(drifting::to_string(defaults.kernel)), "gauss (conservative, a KDE-score field) or laplace (displacement)")
      ("bandwidth", po::value<double>()->default_value(defaults.bandwidth), "fixed bandwidth h (0: h = c sigma N^(-1/(d+4)), sigma^2 = tr(cov)/d of the data)")
      ("bandwidth-constant", po::value<double>()->default_value(defaults.bandwidth_constant), "c of the bandwidth rule")
      ("self-interaction", po::value<bool>()->default_value(defaults.self_interaction), "whether a particle counts in its own m_model (true/false)")
      ("step", po::value<double>()->default_value(defaults.step), "step size eta of x <- x + eta v")
      ("iterations", po::value<std::size_t>()->default_value(defaults.iterations), "largest number of updates")
      ("tolerance", po::value<double>()->default_value(defaults.tolerance), "stop when the residual velocity sqrt(mean |v|^2) is at most this (0: run all iterations)")
      ("energy-every", po::value<std::size_t>()->default_value(defaults.energy_every), "energy distance to --test every k updates (0: first and last only)")
      ("tile", po::value<std::size_t>()->default_value(defaults.tile), "rows per tile of the pair sums, a multiple of 8 (fixes the summation order: results depend on it at round-off level, never on the ranks)")
      ("dtype", po::value<std::string>()->default_value("float64"), "float32 or float64 for /fields")
      ("report", po::value<std::string>(), "write per-phase timings and the pair rate as JSON to FILE");
  // clang-format on
  po::variables_map vm;
  if (!parse_options(call, desc, {}, vm, "ksi drift --data FILE --out FILE [options]")) return 0;
  configure_logging(vm, call.world);
  const par::Comm& world = call.world;
  if (!vm.count("data")) throw UsageError("ksi drift: --data FILE is required");
  if (!vm.count("out")) throw UsageError("ksi drift: --out FILE is required");
  const std::string data_path = vm["data"].as<std::string>();
  const std::string out_path = vm["out"].as<std::string>();
  const bool force = vm.count("force") > 0;

  drifting::DriftOptions options;
  options.kernel = drifting::parse_kernel(vm["kernel"].as<std::string>());
  options.init = drifting::parse_initialization(vm["init"].as<std::string>());
  options.particles = vm["particles"].as<std::size_t>();
  options.seed = vm["seed"].as<std::uint64_t>();
  options.bandwidth = vm["bandwidth"].as<double>();
  options.bandwidth_constant = vm["bandwidth-constant"].as<double>();
  options.self_interaction = vm["self-interaction"].as<bool>();
  options.step = vm["step"].as<double>();
  options.iterations = vm["iterations"].as<std::size_t>();
  options.tolerance = vm["tolerance"].as<double>();
  options.energy_every = vm["energy-every"].as<std::size_t>();
  options.tile = vm["tile"].as<std::size_t>();
  const io::DType dtype = io::parse_float_dtype(vm["dtype"].as<std::string>());
  // Cheap settings are checked before any file is touched.
  options.validate();

  std::vector<std::string> inputs{data_path};
  if (vm.count("test")) inputs.push_back(vm["test"].as<std::string>());
  io::check_output_path(out_path, force, inputs, world);
  {
    auto others = inputs;
    others.push_back(out_path);
    check_report_path(vm, force, others, world);
  }

  io::LocalItems data, held_out;
  {
    ScopedPhase phase("drift.io");
    data = read_tiled(data_path, options.tile, world);
    if (vm.count("test")) {
      held_out = read_tiled(inputs[1], options.tile, world);
      if (!(held_out.info.shape == data.info.shape))
        throw par::CollectiveError(ExitCode::input,
                                   cat("the held-out set ", inputs[1], " holds items of shape ",
                                       held_out.info.shape.describe(), " but the data ", data_path,
                                       " holds ", data.info.shape.describe()),
                                   0);
    }
  }
  const std::size_t total = data.info.count;
  const std::size_t d = data.info.shape.size();
  options.validate_dimension(d);
  par::Log::info(
      cat("drift: read ", total, " items (", data.info.shape.describe(), ") from ", data_path,
          held_out.info.count ? cat(", ", held_out.info.count, " held out from ", inputs[1]) : ""));

  std::unique_ptr<drifting::EnergyDistance> energy;
  double data_energy = NAN;
  if (held_out.info.count > 0) {
    energy = std::make_unique<drifting::EnergyDistance>(held_out.values, held_out.info.count,
                                                        options.tile, world);
    data_energy = (*energy)(data.values, total);
  }
  const Stopwatch clock;
  const drifting::DriftResult result =
      drifting::drift(data.values, total, options, energy.get(), world);
  const double drift_seconds = clock.seconds();
  const auto& diagnostics = result.diagnostics;

  drifting::ParticlesFile file;
  file.path = out_path;
  file.force = force;
  file.inputs = inputs;
  file.shape = data.info.shape;
  file.dtype = dtype;
  file.box_size = data.info.box_size;
  file.data_path = data_path;
  if (energy) file.test_path = inputs[1];
  file.data_items = total;
  file.data_energy = data_energy;
  drifting::write_particles(file, options, result, world);

  std::string summary = sformat(
      "drift: wrote %zu particles to %s: %s kernel, h = %.4g, %zu updates%s, "
      "residual velocity %.3e -> %.3e",
      result.total, out_path.c_str(), drifting::to_string(options.kernel), result.bandwidth,
      result.updates, result.converged ? " (converged)" : "", diagnostics.residual_velocity.front(),
      diagnostics.residual_velocity.back());
  if (energy)
    summary += sformat(", energy distance to %s %.3e (data itself: %.3e)", inputs[1].c_str(),
                       diagnostics.energy_distance.back(), data_energy);
  par::Log::info(summary + sformat(", %.1f s", drift_seconds));
  // Each evaluation of the field sums N x M data pairs and N x N particle pairs.
  const double evaluations = static_cast<double>(diagnostics.residual_velocity.size());
  const double n = static_cast<double>(result.total);
  const double pairs = evaluations * n * (n + static_cast<double>(total));
  write_report(
      vm, world, "drift",
      sformat("\"particles\": %zu, \"data_items\": %zu, \"dimension\": %zu, \"kernel\": \"%s\", "
              "\"bandwidth\": %.6g, \"updates\": %zu, \"drift_seconds\": %.6g, "
              "\"kernel_pairs_per_second\": %.6g",
              result.total, total, d, drifting::to_string(options.kernel), result.bandwidth,
              result.updates, drift_seconds, pairs / drift_seconds));
  return 0;
}

}  // namespace ksi::app
