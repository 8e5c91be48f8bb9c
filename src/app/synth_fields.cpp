// ksi synth cosmology | turbulence | mrw: physics fields written item by item, each rank producing
// a contiguous block of items (whole chains for turbulence) from streams keyed by the item, so the
// data set does not depend on the number of ranks.
#include "app/synth_fields.hpp"

#include <cmath>
#include <memory>
#include <numbers>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/io/items.hpp"
#include "ksi/par/log.hpp"
#include "ksi/synth/cosmology.hpp"
#include "ksi/synth/mrw.hpp"
#include "ksi/synth/turbulence.hpp"

namespace ksi::app {
namespace {

// Copies an option into a field when it was given (on the command line or in the config file).
template <class T>
void take(const po::variables_map& vm, const char* key, T& field) {
  if (vm.count(key)) field = vm[key].as<T>();
}

// A real option whose default prints as %g (0.049, not 0.049000000000000002).
po::typed_value<double>* real_option(double fallback) {
  return po::value<double>()->default_value(fallback, sformat("%g", fallback));
}

void add_fft_option(po::options_description& desc) {
  // clang-format off
  desc.add_options()("fft-effort", po::value<std::string>()->default_value("estimate"),
                     "FFTW planning: estimate, measure (slower start, faster steps) or patient");
  // clang-format on
}

// The data set of `vm`'s --out, --force, --dtype and --seed (io::write_generated_items).
void write_fields(const po::variables_map& vm, const par::Comm& world, const std::string& generator,
                  const ItemShape& shape, std::size_t total, par::Range local, double box_size,
                  const std::function<void(std::size_t, std::span<double>)>& produce,
                  const std::function<void(const io::Group&)>& describe) {
  io::GeneratedItems set;
  set.path = vm["out"].as<std::string>();
  set.force = vm.count("force") > 0;
  set.dtype = io::parse_float_dtype(vm["dtype"].as<std::string>());
  set.generator = generator;
  set.seed = vm["seed"].as<std::uint64_t>();
  set.shape = shape;
  set.total = total;
  set.local = local;
  set.box_size = box_size;
  io::write_generated_items(set, produce, describe, world);
}

// ---------------------------------------------------------------------------------------------
// cosmology

synth::CosmologyGeometry parse_geometry(const std::string& text) {
  using G = synth::CosmologyGeometry;
  return parse_choice<G>(
      "--geometry", text,
      {{"volume", G::volume}, {"slice", G::slice}, {"projection", G::projection}});
}

synth::DensityOutput parse_density_output(const std::string& text) {
  using O = synth::DensityOutput;
  return parse_choice<O>("--output", text, {{"delta", O::delta}, {"log-density", O::log_density}});
}

void cosmology_options(po::options_description& desc) {
  const synth::CosmologyOptions d;
  // clang-format off
  desc.add_options()
      ("grid", po::value<std::size_t>()->default_value(d.grid), "cells per side n of the output grid, even")
      ("particle-sampling", po::value<std::size_t>()->default_value(d.particle_sampling), "particles per cell and axis s (1 to 4): LPT on (s n)^3 particles; 2 fills the voids' empty cells, 8x the cost")
      ("box-size", real_option(d.box_size), "side L of the periodic box in Mpc/h")
      ("redshift", real_option(d.redshift), "redshift z of the density")
      ("lpt", po::value<int>()->default_value(d.lpt_order), "Lagrangian perturbation theory order: 1 (Zel'dovich) or 2 (2LPT)")
      ("output", po::value<std::string>()->default_value("delta"), "delta (rho / mean - 1) or log-density (log(1 + delta))")
      ("density-floor", real_option(d.density_floor), "lower bound of 1 + delta before the logarithm (empty cells)")
      ("geometry", po::value<std::string>()->default_value("volume"), "volume (n^3), slice (the n^2 plane x0 = 0, one cell thick) or projection (mean density along x0, n^2)")
      ("omega-m", real_option(d.cosmology.omega_m), "matter density Omega_m (flat: Omega_Lambda = 1 - Omega_m)")
      ("omega-b", real_option(d.cosmology.omega_b), "baryon density Omega_b")
      ("hubble", real_option(d.cosmology.hubble), "h = H0 / (100 km/s/Mpc)")
      ("n-s", real_option(d.cosmology.n_s), "primordial spectral index n_s")
      ("sigma-8", real_option(d.cosmology.sigma_8), "linear rms density in 8 Mpc/h spheres at z = 0")
      ("t-cmb", real_option(d.cosmology.t_cmb), "CMB temperature in K");
  // clang-format on
  add_fft_option(desc);
}

void run_cosmology(const po::variables_map& vm, const par::Comm& world) {
  synth::CosmologyOptions o;
  take(vm, "grid", o.grid);
  take(vm, "particle-sampling", o.particle_sampling);
  take(vm, "box-size", o.box_size);
  take(vm, "redshift", o.redshift);
  take(vm, "lpt", o.lpt_order);
  take(vm, "density-floor", o.density_floor);
  take(vm, "omega-m", o.cosmology.omega_m);
  take(vm, "omega-b", o.cosmology.omega_b);
  take(vm, "hubble", o.cosmology.hubble);
  take(vm, "n-s", o.cosmology.n_s);
  take(vm, "sigma-8", o.cosmology.sigma_8);
  take(vm, "t-cmb", o.cosmology.t_cmb);
  o.seed = vm["seed"].as<std::uint64_t>();
  const std::size_t count = item_count(vm);
  par::collective(world, [&] {
    o.output = parse_density_output(vm["output"].as<std::string>());
    o.geometry = parse_geometry(vm["geometry"].as<std::string>());
    synth::validate(o);
    io::parse_float_dtype(vm["dtype"].as<std::string>());
    fft::configure(fft::parse_effort(vm["fft-effort"].as<std::string>()), 1);
  });
  const auto range = par::block_range(count, world.rank(), world.size());
  std::unique_ptr<synth::CosmologyGenerator> generator;
  par::collective(world, [&] {
    if (range.size() > 0) generator = std::make_unique<synth::CosmologyGenerator>(o);
  });
  const synth::LinearPowerSpectrum power(o.cosmology);
  const ItemShape shape = o.geometry == synth::CosmologyGeometry::volume
                              ? ItemShape::grid({o.grid, o.grid, o.grid})
                              : ItemShape::grid({o.grid, o.grid});
  par::Log::detail(sformat(
      "cosmology: D(z = %g) = %.6f, sigma_8(z) = %.4f, P_lin(0.1 h/Mpc, z) = %.4g (Mpc/h)^3",
      o.redshift, synth::growth_factor(o.redshift, o.cosmology.omega_m),
      power.sigma(8.0, o.redshift), power(0.1, o.redshift)));
  write_fields(
      vm, world, "cosmology", shape, count, range, o.box_size,
      [&](std::size_t i, std::span<double> item) { generator->generate(i, item); },
      [&](const io::Group& root) {
        root.set_attribute("omega_m", o.cosmology.omega_m);
        root.set_attribute("omega_b", o.cosmology.omega_b);
        root.set_attribute("hubble_h", o.cosmology.hubble);
        root.set_attribute("n_s", o.cosmology.n_s);
        root.set_attribute("sigma_8", o.cosmology.sigma_8);
        root.set_attribute("t_cmb", o.cosmology.t_cmb);
        root.set_attribute("redshift", o.redshift);
        root.set_attribute("growth_factor", synth::growth_factor(o.redshift, o.cosmology.omega_m));
        root.set_attribute("lpt_order", static_cast<std::int64_t>(o.lpt_order));
        root.set_attribute("grid", static_cast<std::int64_t>(o.grid));
        root.set_attribute("particle_sampling", static_cast<std::int64_t>(o.particle_sampling));
        root.set_attribute("output", vm["output"].as<std::string>());
        root.set_attribute("density_floor", o.density_floor);
        root.set_attribute("geometry", vm["geometry"].as<std::string>());
        root.set_attribute("length_unit", "Mpc/h");
        root.set_attribute("transfer_function", "Eisenstein & Hu 1998, no wiggles");
        // The input linear spectrum at z on the box's wavenumbers k = 2 pi m / L, m = 1 .. sqrt(3)
        // n / 2.
        std::vector<double> k, pk;
        const double unit = 2.0 * std::numbers::pi / o.box_size;
        for (std::size_t m = 1; m <= static_cast<std::size_t>(std::sqrt(3.0) * o.grid / 2) + 1;
             ++m) {
          k.push_back(unit * static_cast<double>(m));
          pk.push_back(power(k.back(), o.redshift));
        }
        root.set_attribute("linear_power_k", std::span<const double>(k));
        root.set_attribute("linear_power", std::span<const double>(pk));
        root.set_attribute("linear_power_units",
                           "k in h/Mpc, P in (Mpc/h)^3, at the output redshift");
      });
}

// ---------------------------------------------------------------------------------------------
// turbulence

synth::FlowQuantity parse_quantity(const std::string& text) {
  using Q = synth::FlowQuantity;
  return parse_choice<Q>(
      "--quantity", text,
      {{"velocity-x", Q::velocity_x}, {"vorticity", Q::vorticity}, {"pressure", Q::pressure}});
}

void turbulence_options(po::options_description& desc) {
  const synth::TurbulenceOptions d;
  // clang-format off
  desc.add_options()
      ("dimension", po::value<int>()->default_value(d.dimension), "3 (forced Navier-Stokes) or 2 (vorticity equation)")
      ("grid", po::value<std::size_t>(), "points per side n, even (default 64 in 3D, 128 in 2D)")
      ("quantity", po::value<std::string>(), "velocity-x, vorticity (3D: |omega|, 2D: omega) or pressure (default: velocity-x in 3D, vorticity in 2D)")
      ("viscosity", po::value<double>(), "kinematic viscosity (2D with --dissipation-order p: nu_p); default 0 = set from the resolution")
      ("kmax-eta", po::value<double>(), "3D: target k_max eta when the viscosity is set from the resolution (default 1)")
      ("dissipation-order", po::value<int>(), "2D: p of the dissipation nu_p (-lap)^p (default 1; > 1 is hyperviscosity)")
      ("drag", po::value<double>(), "2D: linear drag rate mu (default 0.5)")
      ("injection-rate", po::value<double>(), "energy injection rate epsilon of the forcing (default 1)")
      ("forcing-min", po::value<double>(), "forced modes have forcing-min < |k| <= forcing-max, k in units of 2 pi / box (default 3D: 0.5, 2D: 3)")
      ("forcing-max", po::value<double>(), "(default 3D: 2, 2D: 5)")
      ("cfl", po::value<double>(), "CFL number of the time step (default 0.5)")
      ("spinup-turnovers", real_option(d.spinup_turnovers), "large-eddy turnover times from the random start to the first snapshot")
      ("snapshot-turnovers", real_option(d.snapshot_turnovers), "turnover times between snapshots (>= 1)")
      ("snapshots-per-chain", po::value<std::size_t>()->default_value(d.snapshots_per_chain), "snapshots of one run; item i is snapshot i % S of run i / S (runs are dealt to ranks)")
      ("initial-energy", real_option(d.initial_energy), "energy of the random initial state")
      ("initial-peak", real_option(d.initial_peak), "peak wavenumber of the initial spectrum");
  // clang-format on
  add_fft_option(desc);
}

void run_turbulence(const po::variables_map& vm, const par::Comm& world) {
  synth::TurbulenceOptions o;
  o.dimension = vm["dimension"].as<int>();
  o.seed = vm["seed"].as<std::uint64_t>();
  take(vm, "spinup-turnovers", o.spinup_turnovers);
  take(vm, "snapshot-turnovers", o.snapshot_turnovers);
  take(vm, "snapshots-per-chain", o.snapshots_per_chain);
  take(vm, "initial-energy", o.initial_energy);
  take(vm, "initial-peak", o.initial_peak);
  const std::size_t count = item_count(vm);
  par::collective(world, [&] {
    if (o.dimension == 3) {
      for (const char* key : {"drag", "dissipation-order"})
        if (vm.count(key)) throw UsageError(cat("--", key, " applies to --dimension 2 only"));
      auto& f = o.flow3d;
      take(vm, "grid", f.grid);
      take(vm, "viscosity", f.viscosity);
      take(vm, "kmax-eta", f.kmax_eta);
      take(vm, "injection-rate", f.injection_rate);
      take(vm, "forcing-min", f.forcing_min);
      take(vm, "forcing-max", f.forcing_max);
      take(vm, "cfl", f.cfl);
      o.quantity = synth::FlowQuantity::velocity_x;
    } else {
      if (vm.count("kmax-eta")) throw UsageError("--kmax-eta applies to --dimension 3 only");
      auto& f = o.flow2d;
      take(vm, "grid", f.grid);
      take(vm, "viscosity", f.viscosity);
      take(vm, "dissipation-order", f.dissipation_order);
      take(vm, "drag", f.drag);
      take(vm, "injection-rate", f.injection_rate);
      take(vm, "forcing-min", f.forcing_min);
      take(vm, "forcing-max", f.forcing_max);
      take(vm, "cfl", f.cfl);
      o.quantity = synth::FlowQuantity::vorticity;
    }
    if (vm.count("quantity")) o.quantity = parse_quantity(vm["quantity"].as<std::string>());
    synth::validate(o);
    io::parse_float_dtype(vm["dtype"].as<std::string>());
    fft::configure(fft::parse_effort(vm["fft-effort"].as<std::string>()), 1);
  });
  const std::size_t per_chain = o.snapshots_per_chain;
  const std::size_t chains = (count + per_chain - 1) / per_chain;
  const auto chain_range = par::block_range(chains, world.rank(), world.size());
  const par::Range range{std::min(chain_range.begin * per_chain, count),
                         std::min(chain_range.end * per_chain, count)};
  const std::size_t n = o.dimension == 3 ? o.flow3d.grid : o.flow2d.grid;
  const ItemShape shape = o.dimension == 3 ? ItemShape::grid({n, n, n}) : ItemShape::grid({n, n});
  par::Log::info(
      sformat("synth turbulence: %zu snapshots from %zu runs of %zu (%zu runs on rank 0)", count,
              chains, per_chain, chain_range.size()));

  // Sums over this rank's snapshots of the state's diagnostics, reported as means over the data
  // set.
  enum { kCount, kEnergy, kDissipation, kTurnover, kKmaxEta, kReynolds, kSkewness, kSteps, kSums };
  std::vector<double> sums(kSums, 0.0);
  std::unique_ptr<synth::TurbulenceChain> chain;
  std::size_t chain_id = 0;
  write_fields(
      vm, world, "turbulence", shape, count, range, 2.0 * std::numbers::pi,
      [&](std::size_t i, std::span<double> item) {
        if (!chain || chain_id != i / per_chain) {
          chain_id = i / per_chain;
          chain = std::make_unique<synth::TurbulenceChain>(o, chain_id);
        }
        ensure(chain->produced() == i % per_chain, "turbulence snapshots out of order");
        chain->next(item);
        const auto d = chain->diagnostics();
        sums[kCount] += 1.0;
        sums[kEnergy] += d.energy;
        sums[kDissipation] += d.dissipation;
        sums[kTurnover] += d.turnover_time;
        sums[kKmaxEta] += d.kmax_eta;
        sums[kReynolds] += d.taylor_reynolds;
        if (o.dimension == 3) sums[kSkewness] += chain->longitudinal_skewness();
        par::Log::detail(sformat(
            "run %zu snapshot %zu: t = %.3f, E = %.4f, dissipation = %.4f, T_L = %.3f%s", chain_id,
            i % per_chain, d.time, d.energy, d.dissipation, d.turnover_time,
            o.dimension == 3
                ? sformat(", k_max eta = %.3f, Re_lambda = %.1f", d.kmax_eta, d.taylor_reynolds)
                      .c_str()
                : ""));
      },
      [&](const io::Group& root) {
        world.allreduce_sum(std::span<double>(sums));
        const double items = std::max(sums[kCount], 1.0);
        const double viscosity = o.dimension == 3 ? synth::effective_viscosity(o.flow3d)
                                                  : synth::effective_viscosity(o.flow2d);
        root.set_attribute("dimension", static_cast<std::int64_t>(o.dimension));
        root.set_attribute("grid", static_cast<std::int64_t>(n));
        root.set_attribute("quantity", vm.count("quantity")
                                           ? vm["quantity"].as<std::string>()
                                           : (o.dimension == 3 ? "velocity-x" : "vorticity"));
        root.set_attribute("viscosity", viscosity);
        root.set_attribute("length_unit", "box side / (2 pi): wavenumbers are integers");
        if (o.dimension == 3) {
          root.set_attribute("kmax_eta_target", o.flow3d.kmax_eta);
          root.set_attribute("injection_rate", o.flow3d.injection_rate);
          root.set_attribute("forcing_band",
                             std::vector<double>{o.flow3d.forcing_min, o.flow3d.forcing_max});
          root.set_attribute("cfl", o.flow3d.cfl);
        } else {
          root.set_attribute("dissipation_order",
                             static_cast<std::int64_t>(o.flow2d.dissipation_order));
          root.set_attribute("drag", o.flow2d.drag);
          root.set_attribute("injection_rate", o.flow2d.injection_rate);
          root.set_attribute("forcing_band",
                             std::vector<double>{o.flow2d.forcing_min, o.flow2d.forcing_max});
          root.set_attribute("cfl", o.flow2d.cfl);
        }
        root.set_attribute("spinup_turnovers", o.spinup_turnovers);
        root.set_attribute("snapshot_turnovers", o.snapshot_turnovers);
        root.set_attribute("snapshots_per_chain", static_cast<std::int64_t>(per_chain));
        root.set_attribute("initial_energy", o.initial_energy);
        root.set_attribute("initial_peak", o.initial_peak);
        root.set_attribute(
            "scheme",
            "pseudo-spectral, 2/3 dealiasing, Williamson RK3 with integrating factor, "
            "constant-power forcing");
        root.set_attribute("mean_energy", sums[kEnergy] / items);
        root.set_attribute("mean_dissipation", sums[kDissipation] / items);
        root.set_attribute("mean_turnover_time", sums[kTurnover] / items);
        if (o.dimension == 3) {
          root.set_attribute("mean_kmax_eta", sums[kKmaxEta] / items);
          root.set_attribute("mean_taylor_reynolds", sums[kReynolds] / items);
          root.set_attribute("mean_longitudinal_skewness", sums[kSkewness] / items);
        }
        par::Log::info(sformat(
            "synth turbulence: mean E = %.4f, dissipation = %.4f, T_L = %.3f%s",
            sums[kEnergy] / items, sums[kDissipation] / items, sums[kTurnover] / items,
            o.dimension == 3
                ? sformat(", k_max eta = %.3f, Re_lambda = %.1f, derivative skewness = %.3f",
                          sums[kKmaxEta] / items, sums[kReynolds] / items, sums[kSkewness] / items)
                      .c_str()
                : ""));
      });
}

// ---------------------------------------------------------------------------------------------
// mrw

void mrw_options(po::options_description& desc) {
  const synth::MrwOptions d;
  // clang-format off
  desc.add_options()
      ("length", po::value<std::size_t>()->default_value(d.length), "returns per series")
      ("intermittency", real_option(d.intermittency), "lambda^2: log-volatility covariance lambda^2 ln(T / (|tau| + 1))")
      ("integral-scale", real_option(d.integral_scale), "T in steps: the volatility memory")
      ("volatility", real_option(d.volatility), "sigma: standard deviation of the returns")
      ("leverage", real_option(d.leverage), "K0 >= 0 of the leverage kernel K(s) = K0 s^-alpha (0: none)")
      ("leverage-exponent", real_option(d.leverage_exponent), "alpha of the leverage kernel")
      ("leverage-range", real_option(d.leverage_range), "R in steps: K acts for 1 <= s < R (0: R = T)");
  // clang-format on
}

void run_mrw(const po::variables_map& vm, const par::Comm& world) {
  synth::MrwOptions o;
  take(vm, "length", o.length);
  take(vm, "intermittency", o.intermittency);
  take(vm, "integral-scale", o.integral_scale);
  take(vm, "volatility", o.volatility);
  take(vm, "leverage", o.leverage);
  take(vm, "leverage-exponent", o.leverage_exponent);
  take(vm, "leverage-range", o.leverage_range);
  o.seed = vm["seed"].as<std::uint64_t>();
  const std::size_t count = item_count(vm);
  par::collective(world, [&] {
    synth::validate(o);
    io::parse_float_dtype(vm["dtype"].as<std::string>());
  });
  const auto range = par::block_range(count, world.rank(), world.size());
  std::unique_ptr<synth::MrwGenerator> generator;
  par::collective(world, [&] {
    if (range.size() > 0) generator = std::make_unique<synth::MrwGenerator>(o);
  });
  const synth::MrwGenerator reference(o);
  write_fields(
      vm, world, "mrw", ItemShape::grid({o.length}), count, range, static_cast<double>(o.length),
      [&](std::size_t i, std::span<double> item) { generator->generate(i, item); },
      [&](const io::Group& root) {
        root.set_attribute("length", static_cast<std::int64_t>(o.length));
        root.set_attribute("intermittency", o.intermittency);
        root.set_attribute("integral_scale", o.integral_scale);
        root.set_attribute("volatility", o.volatility);
        root.set_attribute("leverage", o.leverage);
        root.set_attribute("leverage_exponent", o.leverage_exponent);
        root.set_attribute("leverage_range",
                           o.leverage_range > 0 ? o.leverage_range : o.integral_scale);
        root.set_attribute("log_volatility_variance", reference.log_volatility_covariance(0));
        root.set_attribute("kurtosis", reference.kurtosis());
        root.set_attribute("length_unit", "time steps");
      });
}

}  // namespace

std::size_t item_count(const po::variables_map& vm) {
  const auto n = vm["count"].as<std::size_t>();
  if (n == 0) throw UsageError("--count must be positive");
  return n;
}

std::vector<FieldGenerator> field_generators() {
  return {
      {"cosmology",
       "dark-matter density of LCDM (Gaussian field, Zel'dovich or 2LPT, CIC): 3D, slices or "
       "projections",
       cosmology_options, run_cosmology},
      {"turbulence",
       "snapshots of forced turbulence: 3D Navier-Stokes or the 2D vorticity equation",
       turbulence_options, run_turbulence},
      {"mrw", "multifractal random walk log-returns (1D series, optional leverage)", mrw_options,
       run_mrw},
  };
}

}  // namespace ksi::app
