#include "ksi/synth/cosmology.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/random.hpp"
#include "synth/spectral_grid.hpp"

namespace ksi::synth {
namespace {

constexpr double kPi = std::numbers::pi;

// Composite Simpson rule on [a, b] with an even number of intervals.
template <class F>
double simpson(F&& f, double a, double b, std::size_t intervals) {
  if (intervals % 2 != 0) ++intervals;
  const double h = (b - a) / static_cast<double>(intervals);
  double sum = f(a) + f(b);
  for (std::size_t i = 1; i < intervals; ++i)
    sum += (i % 2 == 1 ? 4.0 : 2.0) * f(a + h * static_cast<double>(i));
  return sum * h / 3.0;
}

// Fourier transform of the unit top-hat sphere, 3 (sin x - x cos x) / x^3.
double top_hat_window(double x) {
  if (x < 1e-3) return 1.0 - x * x / 10.0;
  return 3.0 * (std::sin(x) - x * std::cos(x)) / (x * x * x);
}

// Unnormalised growing mode H(a) int_0^a da' / (a' H(a'))^3 in units H0 = 1, with a' = u^2 so the
// integrand 2 u^4 / (Omega_m + Omega_L u^6)^(3/2) is smooth at the origin.
double growth_integral(double a, double omega_m) {
  const double omega_l = 1.0 - omega_m;
  const double hubble = std::sqrt(omega_m / (a * a * a) + omega_l);
  const double integral = simpson(
      [&](double u) {
        const double u2 = u * u;
        return 2.0 * u2 * u2 / std::pow(omega_m + omega_l * u2 * u2 * u2, 1.5);
      },
      0.0, std::sqrt(a), 4096);
  return 2.5 * omega_m * hubble * integral;
}

// Applies `f(linear index, m0, m1, m2)` to every mode of an n x n x (n/2 + 1) half spectrum.
template <class F>
void for_each_mode(std::size_t n, F&& f) {
  const std::size_t nh = n / 2 + 1;
  const auto full = detail::full_axis(n);
  std::size_t q = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < nh; ++l, ++q) f(q, full[i], full[j], static_cast<double>(l));
}

// Adds a unit mass at x (cell units, any real values) to the 8 nodes around it, periodically.
inline void add_cic_particle(const double x[3], std::size_t n, double* density) {
  const long nl = static_cast<long>(n);
  std::size_t lo[3], hi[3];
  double w_hi[3];
  for (int a = 0; a < 3; ++a) {
    const double f = std::floor(x[a]);
    w_hi[a] = x[a] - f;
    long i = static_cast<long>(f);
    if (i < 0 || i >= nl) i = ((i % nl) + nl) % nl;  // rare: most particles stay inside the box
    lo[a] = static_cast<std::size_t>(i);
    hi[a] = i + 1 == nl ? 0 : static_cast<std::size_t>(i + 1);
  }
  const double w0[2] = {1.0 - w_hi[0], w_hi[0]}, w1[2] = {1.0 - w_hi[1], w_hi[1]};
  const std::size_t rows[2] = {lo[0] * n, hi[0] * n}, cols[2] = {lo[1], hi[1]};
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      double* line = density + (rows[a] + cols[b]) * n;
      const double w = w0[a] * w1[b];
      line[lo[2]] += w * (1.0 - w_hi[2]);
      line[hi[2]] += w * w_hi[2];
    }
}

// Mass per cell over the mean mass per cell.
void normalise_density(std::size_t particles, std::size_t n, std::span<double> density) {
  const double scale = static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) /
                       static_cast<double>(particles);
  for (auto& v : density) v *= scale;
}

}  // namespace

void validate(const CosmologyParameters& p) {
  if (!(p.omega_m > 0.0 && p.omega_m <= 1.0))
    throw UsageError(cat("Omega_m must be in (0, 1] for a flat LCDM universe, not ", p.omega_m));
  if (!(p.omega_b > 0.0 && p.omega_b < p.omega_m))
    throw UsageError(cat("Omega_b must be in (0, Omega_m), not ", p.omega_b));
  if (!(p.hubble > 0.0 && p.hubble < 2.0))
    throw UsageError(cat("h must be in (0, 2), not ", p.hubble));
  if (!(p.n_s > 0.0 && p.n_s < 2.0)) throw UsageError(cat("n_s must be in (0, 2), not ", p.n_s));
  if (!(p.sigma_8 > 0.0 && std::isfinite(p.sigma_8)))
    throw UsageError(cat("sigma_8 must be positive, not ", p.sigma_8));
  if (!(p.t_cmb > 0.0 && std::isfinite(p.t_cmb)))
    throw UsageError(cat("the CMB temperature must be positive, not ", p.t_cmb));
}

double eisenstein_hu_no_wiggle(double k, const CosmologyParameters& p) {
  if (k <= 0.0) return 1.0;
  const double h = p.hubble;
  const double omh2 = p.omega_m * h * h;
  const double obh2 = p.omega_b * h * h;
  const double baryon_fraction = p.omega_b / p.omega_m;
  const double theta = p.t_cmb / 2.7;
  // Eq. 26: approximate sound horizon in Mpc; eq. 31: suppression of Gamma by baryons.
  const double sound_horizon =
      44.5 * std::log(9.83 / omh2) / std::sqrt(1.0 + 10.0 * std::pow(obh2, 0.75));
  const double alpha = 1.0 - 0.328 * std::log(431.0 * omh2) * baryon_fraction +
                       0.38 * std::log(22.3 * omh2) * baryon_fraction * baryon_fraction;
  // Eq. 30 takes k in 1/Mpc.
  const double ks = 0.43 * k * h * sound_horizon;
  const double gamma_eff = p.omega_m * h * (alpha + (1.0 - alpha) / (1.0 + ks * ks * ks * ks));
  // Eq. 28 with k in h/Mpc; eq. 29.
  const double q = k * theta * theta / gamma_eff;
  const double l0 = std::log(2.0 * std::numbers::e + 1.8 * q);
  const double c0 = 14.2 + 731.0 / (1.0 + 62.5 * q);
  return l0 / (l0 + c0 * q * q);
}

double growth_factor(double z, double omega_m) {
  if (!(z > -1.0)) throw UsageError(cat("redshift must be > -1, not ", z));
  return growth_integral(1.0 / (1.0 + z), omega_m) / growth_integral(1.0, omega_m);
}

double omega_matter_at(double z, double omega_m) {
  const double m = omega_m * (1.0 + z) * (1.0 + z) * (1.0 + z);
  return m / (m + 1.0 - omega_m);
}

double second_order_growth(double z, double omega_m) {
  const double d = growth_factor(z, omega_m);
  return -3.0 / 7.0 * d * d * std::pow(omega_matter_at(z, omega_m), -1.0 / 143.0);
}

LinearPowerSpectrum::LinearPowerSpectrum(const CosmologyParameters& parameters)
    : parameters_(parameters) {
  validate(parameters_);
  const double s = unnormalised_sigma_squared(8.0);
  amplitude_ = parameters_.sigma_8 * parameters_.sigma_8 / s;
}

double LinearPowerSpectrum::operator()(double k, double z) const {
  if (k <= 0.0) return 0.0;
  const double t = eisenstein_hu_no_wiggle(k, parameters_);
  const double d = z == 0.0 ? 1.0 : growth_factor(z, parameters_.omega_m);
  return amplitude_ * std::pow(k, parameters_.n_s) * t * t * d * d;
}

double LinearPowerSpectrum::unnormalised_sigma_squared(double radius) const {
  // sigma^2 = int dln k k^3 P(k) W(kR)^2 / (2 pi^2). Beyond kR = 400 the integrand is below 1e-10
  // of its peak; 2^17 intervals resolve the window's oscillations there (d ln k ~ 5e-4 per
  // period/10).
  const double lo = std::log(1e-7 / radius), hi = std::log(400.0 / radius);
  const double integral = simpson(
      [&](double lnk) {
        const double k = std::exp(lnk);
        const double t = eisenstein_hu_no_wiggle(k, parameters_);
        const double w = top_hat_window(k * radius);
        return k * k * k * std::pow(k, parameters_.n_s) * t * t * w * w;
      },
      lo, hi, 1u << 17);
  return integral / (2.0 * kPi * kPi);
}

double LinearPowerSpectrum::sigma(double radius, double z) const {
  if (!(radius > 0.0)) throw UsageError(cat("the smoothing radius must be positive, not ", radius));
  const double d = z == 0.0 ? 1.0 : growth_factor(z, parameters_.omega_m);
  return std::sqrt(amplitude_ * unnormalised_sigma_squared(radius)) * d;
}

void validate(const CosmologyOptions& o) {
  validate(o.cosmology);
  if (o.grid < 8 || o.grid > 2048 || o.grid % 2 != 0)
    throw UsageError(cat("the cosmology grid must be an even size from 8 to 2048, not ", o.grid));
  if (!(o.box_size > 0.0 && std::isfinite(o.box_size)))
    throw UsageError(cat("the box size must be positive (Mpc/h), not ", o.box_size));
  if (!(o.redshift > -1.0 && std::isfinite(o.redshift)))
    throw UsageError(cat("the redshift must be a finite number > -1, not ", o.redshift));
  if (o.particle_sampling < 1 || o.particle_sampling > 4 || o.grid * o.particle_sampling > 2048)
    throw UsageError(
        cat("the particle sampling must be 1 to 4 particles per cell and axis (at most 2048 "
            "per side), not ",
            o.particle_sampling));
  if (o.lpt_order != 1 && o.lpt_order != 2)
    throw UsageError(cat("the LPT order must be 1 (Zel'dovich) or 2 (2LPT), not ", o.lpt_order));
  if (!(o.density_floor > 0.0 && o.density_floor < 1.0))
    throw UsageError(cat("the density floor must be in (0, 1), not ", o.density_floor));
}

CosmologyGenerator::CosmologyGenerator(const CosmologyOptions& options)
    : options_((validate(options), options)),
      power_(options.cosmology),
      n_(options.grid),
      lattice_(options.grid * options.particle_sampling),
      cells_(n_ * n_ * n_),
      particles_(lattice_ * lattice_ * lattice_),
      modes_size_(lattice_ * lattice_ * (lattice_ / 2 + 1)),
      transform_({lattice_, lattice_, lattice_}),
      modes_(modes_size_),
      scratch_(modes_size_),
      potential_(modes_size_),
      displacement_(3 * particles_),
      lattice_field_(particles_),
      density_(cells_) {}

ItemShape CosmologyGenerator::item_shape() const {
  if (options_.geometry == CosmologyGeometry::volume) return ItemShape::grid({n_, n_, n_});
  return ItemShape::grid({n_, n_});
}

void CosmologyGenerator::linear_modes(std::size_t index, std::span<fft::complex> modes) {
  ensure(modes.size() == modes_size_, "linear_modes: wrong spectrum size");
  RandomStream stream(options_.seed, StreamPurpose::synth, index);
  stream.fill_normal({lattice_field_.data(), particles_});
  transform_.forward(lattice_field_.data(), modes.data());
  // |k|^2 takes integer values m^2 (2 pi / L)^2, so the colouring filter is tabulated on m^2.
  const std::size_t max_m2 = 3 * (lattice_ / 2) * (lattice_ / 2);
  const double k_unit = 2.0 * kPi / options_.box_size;
  const double volume = options_.box_size * options_.box_size * options_.box_size;
  std::vector<double> filter(max_m2 + 1, 0.0);
  for (std::size_t m2 = 1; m2 <= max_m2; ++m2)
    filter[m2] = std::sqrt(power_(k_unit * std::sqrt(static_cast<double>(m2))) /
                           (volume * static_cast<double>(particles_)));
  for_each_mode(lattice_, [&](std::size_t q, double m0, double m1, double m2) {
    modes[q] *= filter[static_cast<std::size_t>(m0 * m0 + m1 * m1 + m2 * m2)];
  });
}

void CosmologyGenerator::inverse(std::span<fft::complex> modes, std::span<double> field) {
  transform_.backward_destroying(modes.data(), field.data());
}

void CosmologyGenerator::displacements(std::span<const fft::complex> modes, double d1, double d2,
                                       std::span<double> displacement) {
  ensure(modes.size() == modes_size_ && displacement.size() == 3 * particles_,
         "displacements: wrong array sizes");
  const std::size_t n = lattice_, nh = n / 2 + 1;
  const auto full = detail::full_axis(n);
  const auto half = detail::half_axis(n);
  const auto full_odd = detail::odd_derivative(full, n);
  const auto half_odd = detail::odd_derivative(half, n);
  // 1 / m^2 on the integers m^2 (0 for the mean).
  std::vector<double> inverse_m2(3 * (n / 2) * (n / 2) + 1, 0.0);
  for (std::size_t m2 = 1; m2 < inverse_m2.size(); ++m2) inverse_m2[m2] = 1.0 / double(m2);
  // scratch = modes * multiplier(m0, m1, m2) / m^2, with the integer wavenumbers of each axis.
  const auto filter = [&](std::span<const fft::complex> in, const std::vector<double>& a0,
                          const std::vector<double>& a1, const std::vector<double>& a2, int power0,
                          int power1, int power2) {
    std::size_t q = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        const std::size_t m01 = static_cast<std::size_t>(full[i] * full[i] + full[j] * full[j]);
        const double f01 = (power0 ? a0[i] : 1.0) * (power1 ? a1[j] : 1.0);
        for (std::size_t l = 0; l < nh; ++l, ++q)
          scratch_[q] = in[q] * (f01 * (power2 ? a2[l] : 1.0) * inverse_m2[m01 + l * l]);
      }
  };

  // chi_k = (d1 delta_k - d2 S_k) / k^2 (before the 1 / k^2), so that Psi = i k chi: both
  // potentials' gradients at once.
  std::span<fft::complex> chi(potential_.data(), modes_size_);
  for (std::size_t q = 0; q < modes_size_; ++q) chi[q] = d1 * modes[q];

  if (d2 != 0.0) {
    // 2LPT source S = sum_{i<j} phi_ii phi_jj - phi_ij^2 with phi_ij <-> k_i k_j delta_k / k^2 (the
    // k-units cancel). Diagonal terms keep the Nyquist modes (even derivatives), mixed ones do not.
    std::vector<double> square_full(n), square_half(nh);
    for (std::size_t i = 0; i < n; ++i) square_full[i] = full[i] * full[i];
    for (std::size_t l = 0; l < nh; ++l) square_half[l] = half[l] * half[l];
    for (int a = 0; a < 3; ++a) {
      second_derivative_[a].resize(particles_);
      filter(modes, square_full, square_full, square_half, a == 0, a == 1, a == 2);
      inverse(scratch_, second_derivative_[a]);
    }
    std::span<double> source(lattice_field_.data(), particles_);
    for (std::size_t c = 0; c < particles_; ++c) {
      const double p0 = second_derivative_[0][c], p1 = second_derivative_[1][c],
                   p2 = second_derivative_[2][c];
      source[c] = p0 * p1 + p0 * p2 + p1 * p2;
    }
    std::span<double> mixed(displacement.data(), particles_);
    const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (const auto& pair : pairs) {
      const auto uses = [&](int axis) { return pair[0] == axis || pair[1] == axis; };
      filter(modes, full_odd, full_odd, half_odd, uses(0), uses(1), uses(2));
      inverse(scratch_, mixed);
      for (std::size_t c = 0; c < particles_; ++c) source[c] -= mixed[c] * mixed[c];
    }
    transform_.forward(source.data(), scratch_.data());
    const double norm = 1.0 / static_cast<double>(particles_);
    for (std::size_t q = 0; q < modes_size_; ++q) chi[q] -= d2 * norm * scratch_[q];
  }

  // Psi_a = inverse FFT of i k_a chi_k / k^2 in Mpc/h: k_a / k^2 = (m_a / m^2) / k_unit.
  const double k_unit = 2.0 * kPi / options_.box_size;
  std::vector<double> gradient_full(n), gradient_half(nh);
  for (std::size_t i = 0; i < n; ++i) gradient_full[i] = full_odd[i] / k_unit;
  for (std::size_t l = 0; l < nh; ++l) gradient_half[l] = half_odd[l] / k_unit;
  for (int a = 0; a < 3; ++a) {
    filter(chi, gradient_full, gradient_full, gradient_half, a == 0, a == 1, a == 2);
    for (auto& c : scratch_) c = fft::complex(-c.imag(), c.real());  // times i
    inverse(scratch_, displacement.subspan(static_cast<std::size_t>(a) * particles_, particles_));
  }
}

void CosmologyGenerator::deposit(std::span<const double> displacement,
                                 std::span<double> density) const {
  ensure(displacement.size() == 3 * particles_ && density.size() == cells_, "deposit: wrong sizes");
  const double to_cells = static_cast<double>(n_) / options_.box_size;
  const double spacing = 1.0 / static_cast<double>(options_.particle_sampling);  // in cells
  std::fill(density.begin(), density.end(), 0.0);
  const double* psi[3] = {displacement.data(), displacement.data() + particles_,
                          displacement.data() + 2 * particles_};
  std::size_t p = 0;
  for (std::size_t i = 0; i < lattice_; ++i)
    for (std::size_t j = 0; j < lattice_; ++j)
      for (std::size_t l = 0; l < lattice_; ++l, ++p) {
        const double x[3] = {spacing * static_cast<double>(i) + psi[0][p] * to_cells,
                             spacing * static_cast<double>(j) + psi[1][p] * to_cells,
                             spacing * static_cast<double>(l) + psi[2][p] * to_cells};
        add_cic_particle(x, n_, density.data());
      }
  normalise_density(particles_, n_, density);
}

void CosmologyGenerator::generate(std::size_t index, std::span<double> item) {
  ensure(item.size() == item_shape().size(), "generate: wrong item size");
  linear_modes(index, modes_);
  const double d1 = growth_factor(options_.redshift, options_.cosmology.omega_m);
  const double d2 = options_.lpt_order == 2
                        ? second_order_growth(options_.redshift, options_.cosmology.omega_m)
                        : 0.0;
  displacements(modes_, d1, d2, displacement_);
  deposit(displacement_, density_);

  const std::size_t plane = n_ * n_;
  std::span<const double> values;
  std::vector<double> projected;
  switch (options_.geometry) {
    case CosmologyGeometry::volume:
      values = {density_.data(), cells_};
      break;
    case CosmologyGeometry::slice:
      values = {density_.data(), plane};
      break;
    case CosmologyGeometry::projection:
      projected.assign(plane, 0.0);
      for (std::size_t i = 0; i < n_; ++i)
        for (std::size_t c = 0; c < plane; ++c) projected[c] += density_[i * plane + c];
      for (auto& v : projected) v /= static_cast<double>(n_);
      values = projected;
      break;
  }
  const double floor = options_.density_floor;
  if (options_.output == DensityOutput::delta)
    std::transform(values.begin(), values.end(), item.begin(),
                   [](double rho) { return rho - 1.0; });
  else
    std::transform(values.begin(), values.end(), item.begin(),
                   [floor](double rho) { return std::log(std::max(rho, floor)); });
}

void cic_deposit(std::span<const double> x0, std::span<const double> x1, std::span<const double> x2,
                 std::size_t n, std::span<double> density) {
  if (x0.size() != x1.size() || x0.size() != x2.size() || x0.empty())
    throw InternalError("cic_deposit: position arrays of different or zero length");
  if (density.size() != n * n * n) throw InternalError("cic_deposit: density is not n^3");
  std::fill(density.begin(), density.end(), 0.0);
  for (std::size_t p = 0; p < x0.size(); ++p) {
    const double x[3] = {x0[p], x1[p], x2[p]};
    add_cic_particle(x, n, density.data());
  }
  normalise_density(x0.size(), n, density);
}

}  // namespace ksi::synth
