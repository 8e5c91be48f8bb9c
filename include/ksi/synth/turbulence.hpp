#pragma once
/// @file
/// Statistically steady turbulence in a periodic box of side 2 pi (integer wavenumbers), solved
/// pseudo-spectrally with FFTW: 3D incompressible Navier-Stokes in velocity form and 2D
/// Navier-Stokes in vorticity form. Both use
///   - the non-linear term in divergence form, -P[d_b (u_a u_b)] (3D, P the Leray projection) or
///     advective form, -u . grad omega (2D), products evaluated in physical space with 2/3-rule
///     dealiasing (modes with some |k_a| >= n/3 are kept at zero);
///   - Williamson's three-stage low-storage Runge-Kutta scheme (two registers per field) with an
///     integrating factor for the linear terms (viscosity, hyperviscosity, drag), which are
///     therefore integrated exactly and never limit the time step;
///   - a CFL time step dt = cfl dx / max(|u_x| + |u_y| (+ |u_z|));
///   - constant-power forcing f_k = epsilon / (2 E_f) u_k of the modes of a wavenumber band, E_f
///   their
///     energy, so that energy enters at the rate epsilon at all times (Lundgren-type linear forcing
///     restricted to large scales).
///
/// Fourier convention: u(x) = sum_k u_k exp(i k.x), u_k = FFT(u) / n^d; energies are per unit mass
/// and volume, E = <|u|^2> / 2 = sum_k |u_k|^2 / 2.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ksi/core/aligned.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::synth {

/// 3D forced incompressible Navier-Stokes.
struct NavierStokesOptions {
  std::size_t grid = 64;  ///< n points per side
  /// Kinematic viscosity nu; 0 sets it from the resolution: nu = (kmax_eta / k_max)^(4/3)
  /// epsilon^(1/3), so that the Kolmogorov scale eta = (nu^3 / epsilon)^(1/4) satisfies
  /// k_max eta = kmax_eta in the steady state (k_max = n / 3, the largest kept wavenumber). With
  /// injection_rate = 0 this gives nu = 0: the inviscid, unforced (Euler) equations.
  double viscosity = 0.0;
  double kmax_eta = 1.0;        ///< target k_max eta when viscosity = 0
  double injection_rate = 1.0;  ///< epsilon: energy injected per unit time and mass; 0: unforced
  double forcing_min = 0.5;     ///< forced band: modes with forcing_min < |k| <= forcing_max
  double forcing_max = 2.0;     ///< (default: the 32 modes with 0 < |k| <= 2)
  double cfl = 0.5;             ///< CFL number of the time step
};

/// 2D forced Navier-Stokes in vorticity form, d omega / dt + u . grad omega = f - mu omega
/// - nu (-lap)^p omega, with linear drag mu removing the energy of the inverse cascade.
struct VorticityOptions {
  std::size_t grid = 128;  ///< n points per side
  /// nu_p; 0 sets it from the resolution: nu_p = beta^(1/3) / k_max^(2p) with the enstrophy
  /// injection beta = epsilon k_f^2 (k_f the band centre), i.e. dissipation at k_max acts at the
  /// rate of the enstrophy cascade (for p = 1: k_max eta_Z = 1 with eta_Z = (nu^3 / beta)^(1/6)).
  double viscosity = 0.0;
  int dissipation_order = 1;    ///< p: 1 is ordinary viscosity, p > 1 hyperviscosity
  double injection_rate = 1.0;  ///< epsilon: energy injected per unit time
  double forcing_min = 3.0;     ///< forced band forcing_min < |k| <= forcing_max
  double forcing_max = 5.0;
  double drag = 0.5;  ///< mu: linear (Ekman) drag rate
  double cfl = 0.5;   ///< CFL number of the time step
};

/// Diagnostics of the current state.
struct FlowDiagnostics {
  double time = 0.0;
  double energy = 0.0;  ///< E = <|u|^2> / 2
  /// Energy dissipation rate of the viscous term, nu <|grad u|^2> (2D: of the nu_p term; the drag
  /// removes another 2 mu E).
  double dissipation = 0.0;
  double enstrophy = 0.0;       ///< <|omega|^2> / 2
  double integral_scale = 0.0;  ///< L = pi / (2 u'^2) int E(k) / k dk (the classical 3D definition)
  double rms_velocity = 0.0;    ///< u' per component: sqrt(2 E / 3) in 3D, sqrt(E) in 2D
  double turnover_time = 0.0;   ///< L / u'
  double kmax_eta = 0.0;        ///< k_max (nu^3 / dissipation)^(1/4) (3D)
  /// Re_lambda = u' lambda / nu with lambda = sqrt(15 nu u'^2 / dissipation) (3D).
  double taylor_reynolds = 0.0;
};

/// What a snapshot item holds. 3D: u_x, |omega|, or the pressure p (per unit density). 2D: u_x,
/// the (signed) vorticity omega, or p.
enum class FlowQuantity { velocity_x, vorticity, pressure };

/// The pseudo-spectral 3D solver. One object serves one thread; plans and work arrays are made
/// once.
class NavierStokes3D {
 public:
  explicit NavierStokes3D(const NavierStokesOptions& options);
  ~NavierStokes3D();
  NavierStokes3D(NavierStokes3D&&) noexcept;
  NavierStokes3D& operator=(NavierStokes3D&&) noexcept;

  const NavierStokesOptions& options() const noexcept { return options_; }
  std::size_t grid() const noexcept { return n_; }
  double viscosity() const noexcept { return viscosity_; }
  double time() const noexcept { return time_; }
  std::size_t steps() const noexcept { return steps_; }
  /// Values per component of the half spectrum n x n x (n/2 + 1).
  std::size_t modes_size() const noexcept { return modes_size_; }

  /// A random solenoidal, dealiased field with energy spectrum E(k) ~ k^4 exp(-2 (k / k_peak)^2)
  /// and total energy `energy`, drawn from `stream`-keyed white noise (seed, synth, chain, 1).
  void randomize(std::uint64_t seed, std::uint64_t chain, double k_peak, double energy);
  /// Sets the velocity from three real fields of n^3 values (projected to divergence-free,
  /// dealiased).
  void set_velocity(std::span<const double> u0, std::span<const double> u1,
                    std::span<const double> u2);
  /// The velocity modes u_k, three components one after the other (3 modes_size()).
  std::span<const fft::complex> velocity_modes() const noexcept;

  /// One time step of length dt (use stable_time_step() for the CFL value).
  void step(double dt);
  /// The CFL time step of the current state.
  double stable_time_step();
  /// Steps with the CFL time step until the time has advanced by `duration` (the last step
  /// shortened).
  void advance(double duration);
  /// Advances by `turnovers` large-eddy turnover times, measured along the way (sum of dt /
  /// T_L(t)).
  void advance_turnovers(double turnovers);

  /// du_k/dt of the current state (3 modes_size()): -P[i k_b (u_a u_b)_k] + f_k - nu k^2 u_k,
  /// dealiased.
  void tendency(std::span<fft::complex> out);

  FlowDiagnostics diagnostics() const;
  /// sqrt(sum |k.u_k|^2 / sum |k|^2 |u_k|^2): zero for a divergence-free field (round-off in
  /// practice).
  double relative_divergence() const;
  /// Skewness of the longitudinal derivatives du_a/dx_a, averaged over the three axes:
  /// (sum_a <d_a^3> / 3) / (sum_a <d_a^2> / 3)^(3/2).
  double longitudinal_skewness();
  /// Writes u_x, |omega| or p on the n^3 grid.
  void quantity(FlowQuantity which, std::span<double> out);

 private:
  struct Work;
  struct Stepping;  // the shared stepping driver's view of the solver
                    // (src/synth/low_storage_rk.hpp)
  void nonlinear(double stage_shift, bool measure_speed);
  void update(double a, double b, double dt, double stage_shift, double step_shift, bool last);
  double forcing_coefficient(double stage_shift) const;

  NavierStokesOptions options_;
  std::size_t n_;
  std::size_t modes_size_;
  std::size_t real_size_;
  double viscosity_;
  double time_ = 0.0;
  std::size_t steps_ = 0;
  double max_speed_ = 0.0;  // max |u_x| + |u_y| + |u_z| seen by the last non-linear evaluation
  std::unique_ptr<Work> work_;
};

/// The pseudo-spectral 2D solver (vorticity omega_k on the half spectrum n x (n/2 + 1)).
class Vorticity2D {
 public:
  explicit Vorticity2D(const VorticityOptions& options);
  ~Vorticity2D();
  Vorticity2D(Vorticity2D&&) noexcept;
  Vorticity2D& operator=(Vorticity2D&&) noexcept;

  const VorticityOptions& options() const noexcept { return options_; }
  std::size_t grid() const noexcept { return n_; }
  double viscosity() const noexcept { return viscosity_; }
  double time() const noexcept { return time_; }
  std::size_t steps() const noexcept { return steps_; }
  std::size_t modes_size() const noexcept { return modes_size_; }

  /// Random dealiased vorticity with energy spectrum E(k) ~ k^4 exp(-2 (k / k_peak)^2), energy
  /// `energy`.
  void randomize(std::uint64_t seed, std::uint64_t chain, double k_peak, double energy);
  /// Sets omega from a real field of n^2 values (mean removed, dealiased).
  void set_vorticity(std::span<const double> omega);
  std::span<const fft::complex> vorticity_modes() const noexcept;

  void step(double dt);
  double stable_time_step();
  void advance(double duration);
  void advance_turnovers(double turnovers);
  /// d omega_k / dt of the current state: -(u . grad omega)_k + f_k - (mu + nu_p k^2p) omega_k.
  void tendency(std::span<fft::complex> out);

  FlowDiagnostics diagnostics() const;
  /// Writes u_x, omega or p on the n^2 grid.
  void quantity(FlowQuantity which, std::span<double> out);

 private:
  struct Work;
  struct Stepping;
  void nonlinear(double stage_shift, bool measure_speed);
  void update(double a, double b, double dt, double stage_shift, double step_shift, bool last);
  double forcing_coefficient(double stage_shift) const;

  VorticityOptions options_;
  std::size_t n_;
  std::size_t modes_size_;
  std::size_t real_size_;
  double viscosity_;
  double time_ = 0.0;
  std::size_t steps_ = 0;
  double max_speed_ = 0.0;
  std::unique_ptr<Work> work_;
};

/// A data set of snapshots: independent "chains" (runs from their own random initial state), each
/// spun up to the steady state and then giving `snapshots_per_chain` snapshots separated by
/// `snapshot_turnovers` large-eddy turnover times. Item i is snapshot i % snapshots_per_chain of
/// chain i / snapshots_per_chain, so it does not depend on how chains are dealt to ranks.
struct TurbulenceOptions {
  int dimension = 3;           ///< 3: Navier-Stokes, 2: vorticity equation
  NavierStokesOptions flow3d;  ///< used when dimension = 3
  VorticityOptions flow2d;     ///< used when dimension = 2
  FlowQuantity quantity = FlowQuantity::velocity_x;
  double spinup_turnovers = 8.0;    ///< turnover times from the random start to the first snapshot
  double snapshot_turnovers = 1.0;  ///< turnover times between snapshots (at least 1)
  std::size_t snapshots_per_chain = 8;
  double initial_energy = 0.5;  ///< energy of the random initial state
  double initial_peak = 3.0;    ///< peak wavenumber of the initial spectrum
  std::uint64_t seed = 1;       ///< chain c draws its initial state from (seed, synth, c, 1)
};

/// The viscosity a solver uses: the option if positive, else the value set from the resolution.
double effective_viscosity(const NavierStokesOptions& options);
double effective_viscosity(const VorticityOptions& options);

/// UsageError naming the first option out of range.
void validate(const TurbulenceOptions& options);
void validate(const NavierStokesOptions& options);
void validate(const VorticityOptions& options);

/// One chain of snapshots.
class TurbulenceChain {
 public:
  TurbulenceChain(const TurbulenceOptions& options, std::size_t chain);
  ~TurbulenceChain();
  TurbulenceChain(TurbulenceChain&&) noexcept;
  TurbulenceChain& operator=(TurbulenceChain&&) noexcept;

  /// n^3 or n^2.
  ItemShape item_shape() const;
  /// Writes the next snapshot (spinning up first on the first call).
  void next(std::span<double> item);
  /// Snapshots written so far.
  std::size_t produced() const noexcept { return produced_; }
  FlowDiagnostics diagnostics() const;
  /// The longitudinal derivative skewness of the current 3D state (NaN in 2D).
  double longitudinal_skewness();

 private:
  TurbulenceOptions options_;
  std::size_t chain_;
  std::size_t produced_ = 0;
  std::unique_ptr<NavierStokes3D> flow3d_;
  std::unique_ptr<Vorticity2D> flow2d_;
};

}  // namespace ksi::synth
