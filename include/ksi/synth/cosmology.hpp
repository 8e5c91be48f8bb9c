#pragma once
/// @file
/// Dark-matter density fields of a flat LCDM universe in a periodic box: a Gaussian linear density
/// with the Eisenstein & Hu (1998) no-wiggle power spectrum normalised to sigma_8, Lagrangian
/// perturbation theory (Zel'dovich or 2LPT) to move one particle per cell, and a cloud-in-cell
/// deposit back onto the grid.
///
/// Units: lengths in Mpc/h, wavenumbers in h/Mpc, power spectra in (Mpc/h)^3.
///
/// Fourier convention (box side L, n cells per side, V = L^3, k = 2 pi m / L with integer m):
///     delta(x) = sum_k delta_k exp(i k.x),   delta_k = n^-3 sum_x delta(x) exp(-i k.x),
///     < |delta_k|^2 > = P(|k|) / V.
/// So delta_k is FFTW's forward transform divided by n^3, and delta(x) FFTW's unnormalised backward
/// transform of delta_k. The k = 0 mode is zero (the mean density is the box's).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ksi/core/aligned.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::synth {

/// Flat LCDM parameters; defaults are the Quijote fiducial cosmology.
struct CosmologyParameters {
  double omega_m =
      0.3175;  ///< matter density today (CDM + baryons), Omega_m; Omega_Lambda = 1 - Omega_m
  double omega_b = 0.049;  ///< baryon density today, Omega_b (enters the transfer function)
  double hubble = 0.6711;  ///< h = H0 / (100 km/s/Mpc)
  double n_s = 0.9624;     ///< primordial spectral index
  double sigma_8 = 0.834;  ///< rms linear density contrast in top-hat spheres of 8 Mpc/h at z = 0
  double t_cmb =
      2.7255;  ///< CMB temperature in K (the transfer function's Theta_2.7 = t_cmb / 2.7)
};

/// UsageError naming the first parameter outside its physical range.
void validate(const CosmologyParameters& parameters);

/// Eisenstein & Hu (1998, ApJ 496, 605) transfer function without baryon acoustic oscillations,
/// their equations 26 and 28-31; k in h/Mpc. T(0) = 1.
double eisenstein_hu_no_wiggle(double k, const CosmologyParameters& parameters);

/// Linear growth factor of flat LCDM, D(z) = H(z) int_z^inf (1 + z') / H(z')^3 dz' normalised to
/// D(0) = 1 (growing mode; D = a for Omega_m = 1).
double growth_factor(double z, double omega_m);
/// Omega_m(z) = Omega_m (1 + z)^3 / (Omega_m (1 + z)^3 + 1 - Omega_m).
double omega_matter_at(double z, double omega_m);
/// Second-order growth factor D2(z) = -(3/7) D(z)^2 Omega_m(z)^(-1/143) (Bouchet et al. 1995).
double second_order_growth(double z, double omega_m);

/// The linear matter power spectrum P(k, z) = A k^n_s T(k)^2 D(z)^2, A fixed by sigma_8.
class LinearPowerSpectrum {
 public:
  explicit LinearPowerSpectrum(const CosmologyParameters& parameters);
  /// P(k, z) in (Mpc/h)^3, k in h/Mpc; P(0) = 0.
  double operator()(double k, double z = 0.0) const;
  /// rms linear density contrast in top-hat spheres of `radius` Mpc/h at redshift z.
  double sigma(double radius, double z = 0.0) const;
  /// A in P = A k^n_s T^2 at z = 0.
  double amplitude() const noexcept { return amplitude_; }
  const CosmologyParameters& parameters() const noexcept { return parameters_; }

 private:
  double unnormalised_sigma_squared(double radius) const;
  CosmologyParameters parameters_;
  double amplitude_ = 1.0;
};

/// What one item is: the 3D density, one cell-thick slice (the plane x0 = 0), or the projection of
/// the density along the first axis (the mean over the box, before any logarithm).
enum class CosmologyGeometry { volume, slice, projection };
/// delta = rho / rho_mean - 1, or log(1 + delta) with 1 + delta floored at `density_floor`.
enum class DensityOutput { delta, log_density };

struct CosmologyOptions {
  CosmologyParameters cosmology;
  std::size_t grid = 64;  ///< n: cells per side of the output grid
  /// Particles per cell along each axis: the linear field and LPT live on a lattice of
  /// N = particle_sampling * n points per side, whose particles start at q = (i, j, l) L / N. Two
  /// removes most empty cells of deep voids and the lattice's graininess at the cell scale, at 8
  /// times the cost; different samplings give different realisations.
  std::size_t particle_sampling = 1;
  double box_size = 256.0;  ///< L: side of the periodic box in Mpc/h
  double redshift = 0.0;    ///< z of the output density
  int lpt_order = 2;        ///< 1: Zel'dovich displacements, 2: second-order LPT
  DensityOutput output = DensityOutput::delta;
  /// Lower bound of 1 + delta before the logarithm (CIC leaves cells empty in deep voids).
  double density_floor = 1e-3;
  CosmologyGeometry geometry = CosmologyGeometry::volume;
  std::uint64_t seed = 1;  ///< item i draws its white noise from the stream (seed, synth, i)
};

/// UsageError naming the first option outside its range (grid of 8 to 2048 even sizes, sampling 1
/// to 4, positive box, z > -1, lpt order 1 or 2, floor in (0, 1)) or invalid cosmology.
void validate(const CosmologyOptions& options);

/// Makes the fields of one data set. FFT plans and work arrays are made once; one generator serves
/// one thread. Item i depends only on the options and i, not on which rank makes it.
class CosmologyGenerator {
 public:
  explicit CosmologyGenerator(const CosmologyOptions& options);

  const CosmologyOptions& options() const noexcept { return options_; }
  const LinearPowerSpectrum& power_spectrum() const noexcept { return power_; }
  /// n^3, n^2 (slice, projection).
  ItemShape item_shape() const;
  /// Particles per side N = particle_sampling * n: the grid of the linear field and of LPT.
  std::size_t lattice() const noexcept { return lattice_; }
  /// Values of the half-spectrum layout N x N x (N/2 + 1) used by the *_modes functions.
  std::size_t modes_size() const noexcept { return modes_size_; }
  /// N^3 particles; n^3 cells of the output grid.
  std::size_t particles() const noexcept { return particles_; }
  std::size_t cells() const noexcept { return cells_; }

  /// Writes item `index` (item_shape().size() values).
  void generate(std::size_t index, std::span<double> item);

  /// delta_k of item `index` at z = 0: white noise from the item's stream, coloured by sqrt(P / (V
  /// N^3)) after a forward FFT on the particle lattice (see the file comment for the convention).
  void linear_modes(std::size_t index, std::span<fft::complex> modes);
  /// Particle displacements in Mpc/h (three arrays of N^3, x0 then x1 then x2) from linear modes at
  /// z = 0: Psi = -d1 grad phi1 + d2 grad phi2 with lap phi1 = delta, lap phi2 = sum_{i<j} (phi1_ii
  /// phi1_jj - phi1_ij^2). d2 = 0 gives the Zel'dovich approximation.
  void displacements(std::span<const fft::complex> modes, double d1, double d2,
                     std::span<double> displacement);
  /// Cloud-in-cell density 1 + delta on the n^3 grid of the N^3 particles that start at the lattice
  /// points q = (i, j, l) L / N and move by `displacement` (Mpc/h, periodic).
  void deposit(std::span<const double> displacement, std::span<double> density) const;

 private:
  void inverse(std::span<fft::complex> modes, std::span<double> field);
  CosmologyOptions options_;
  LinearPowerSpectrum power_;
  std::size_t n_;
  std::size_t lattice_;
  std::size_t cells_;
  std::size_t particles_;
  std::size_t modes_size_;
  fft::RealTransform transform_;
  AlignedVector<fft::complex> modes_;         // delta_k of the current item
  AlignedVector<fft::complex> scratch_;       // one spectral work array (c2r destroys its input)
  AlignedVector<fft::complex> potential_;     // chi_k of displacements()
  AlignedVector<double> displacement_;        // 3 N^3
  AlignedVector<double> lattice_field_;       // N^3: white noise, then the 2LPT source
  AlignedVector<double> density_;             // n^3
  std::vector<double> second_derivative_[3];  // phi1_ii (2LPT only)
};

/// Cloud-in-cell deposit of unit masses at positions given in cell units (any real values, wrapped
/// periodically) onto an n^3 grid whose nodes are the integer points; `density` receives mass per
/// cell divided by the mean, i.e. 1 + delta. The total mass is conserved to round-off.
void cic_deposit(std::span<const double> x0, std::span<const double> x1, std::span<const double> x2,
                 std::size_t n, std::span<double> density);

}  // namespace ksi::synth
