// Cosmology generator against known physics: the published transfer function, sigma_8, the growth
// factor, the power of the Gaussian field within cosmic variance, linear growth of the evolved
// density at large scales, mass conservation of the deposit, and LPT displacements of plane waves.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/synth/cosmology.hpp"
#include "support/test_support.hpp"

using namespace ksi;
using namespace ksi::synth;

namespace {

constexpr double kPi = std::numbers::pi;

// Binned power of real 3D fields on an n^3 grid of side L: bin b holds the modes with b <= |m| < b
// + 1 (m the integer wavenumber), counted over the full spectrum. P_hat = V |delta_k|^2 with
// delta_k = FFT(delta) / n^3; `window` optionally returns a per-mode model value averaged the same
// way.
struct BinnedPower {
  std::vector<double> power;  // mean of V |delta_k|^2
  std::vector<double> model;  // mean of the model over the same modes
  std::vector<double> modes;  // number of modes (full spectrum)
};

template <class Model>
BinnedPower binned_power(const std::vector<double>& field, std::size_t n, double box,
                         Model&& model) {
  fft::RealTransform transform({n, n, n});
  std::vector<fft::complex> spectrum(transform.complex_size());
  transform.forward(field.data(), spectrum.data());
  const std::size_t bins = n / 2;
  BinnedPower out{std::vector<double>(bins), std::vector<double>(bins), std::vector<double>(bins)};
  const double volume = box * box * box;
  const double norm = 1.0 / std::pow(static_cast<double>(n), 3);
  const std::size_t nh = n / 2 + 1;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < nh; ++l) {
        const double m0 = double(fft::frequency(i, n)), m1 = double(fft::frequency(j, n)),
                     m2 = double(l);
        const double m = std::sqrt(m0 * m0 + m1 * m1 + m2 * m2);
        const auto b = static_cast<std::size_t>(m);
        if (m == 0.0 || b >= bins) continue;
        const double weight = (l == 0 || l == n / 2) ? 1.0 : 2.0;
        const auto c = spectrum[(i * n + j) * nh + l] * norm;
        out.power[b] += weight * volume * std::norm(c);
        out.model[b] += weight * model(2.0 * kPi / box * m);
        out.modes[b] += weight;
      }
  for (std::size_t b = 0; b < bins; ++b)
    if (out.modes[b] > 0) {
      out.power[b] /= out.modes[b];
      out.model[b] /= out.modes[b];
    }
  return out;
}

CosmologyParameters fiducial() {
  return {};
}

}  // namespace

// Values from eqs. 26 and 28-31 of Eisenstein & Hu (1998), computed separately in the paper's own
// variables (k in 1/Mpc, Gamma_eff in h/Mpc units) with Python for the fiducial cosmology.
TEST(Cosmology, TransferFunctionMatchesPublishedFormula) {
  const double reference[][2] = {{1e-4, 9.999022268512319e-01}, {1e-3, 9.922738014188572e-01},
                                 {1e-2, 7.895230804476893e-01}, {0.05, 2.837552578245263e-01},
                                 {0.1, 1.366838167715566e-01},  {0.2, 5.629003752451844e-02},
                                 {0.5, 1.457094505580863e-02},  {1.0, 4.820293470784169e-03},
                                 {5.0, 3.143096726904763e-04},  {20.0, 2.651756320489285e-05}};
  for (const auto& [k, t] : reference)
    EXPECT_NEAR(eisenstein_hu_no_wiggle(k, fiducial()), t, 1e-12 * t) << "k = " << k;
  EXPECT_DOUBLE_EQ(eisenstein_hu_no_wiggle(0.0, fiducial()), 1.0);
}

// The amplitude from an adaptive quadrature (scipy.integrate.quad on 400 logarithmic panels of
// linear k) of the same sigma_8 integral, and P(k) = A k^n_s T^2 at three wavenumbers.
TEST(Cosmology, Sigma8NormalisationAndSpectrum) {
  const LinearPowerSpectrum power(fiducial());
  EXPECT_NEAR(power.sigma(8.0), 0.834, 1e-7);
  EXPECT_NEAR(power.amplitude(), 2980717.3367161383, 2980717.34 * 1e-6);
  EXPECT_NEAR(power(0.01), 22092.784403811434, 22092.78 * 1e-6);
  EXPECT_NEAR(power(0.1), 6072.324735932066, 6072.32 * 1e-6);
  EXPECT_NEAR(power(1.0), 69.25765033353701, 69.26 * 1e-6);
  // sigma(R, z) scales with D(z); a larger sphere averages more.
  EXPECT_NEAR(power.sigma(8.0, 1.0), 0.834 * growth_factor(1.0, 0.3175), 1e-7);
  EXPECT_LT(power.sigma(16.0), power.sigma(8.0));
}

// D(z) against an independent integration of the growth ODE D'' + (3/a + E'/E) D' = 3 Om D /
// (2 a^5 E^2) (scipy solve_ivp, rtol 1e-12, growing mode D = a at a = 1e-5); and D = a for Omega_m
// = 1.
TEST(Cosmology, GrowthFactor) {
  const double reference[][2] = {{0.5, 7.682303198616052e-01},
                                 {1.0, 6.059382458024801e-01},
                                 {2.0, 4.164488797606894e-01},
                                 {10.0, 1.151509235161714e-01},
                                 {99.0, 1.267031434782540e-02}};
  for (const auto& [z, d] : reference)
    EXPECT_NEAR(growth_factor(z, 0.3175), d, 2e-6 * d) << "z = " << z;
  EXPECT_DOUBLE_EQ(growth_factor(0.0, 0.3175), 1.0);
  for (double z : {0.0, 1.0, 9.0, 99.0}) EXPECT_NEAR(growth_factor(z, 1.0), 1.0 / (1.0 + z), 1e-9);
  // Omega_m(z) -> 1 at high z, where the Bouchet et al. D2 reduces to -3/7 D^2.
  EXPECT_NEAR(second_order_growth(99.0, 0.3175) / std::pow(growth_factor(99.0, 0.3175), 2),
              -3.0 / 7.0, 1e-5);
}

// The initial Gaussian field's binned power matches P(k) within cosmic variance: each of 4
// realisations gives, per bin, an estimate whose relative standard deviation is sqrt(2 / modes)
// (the full-spectrum mode count counts each independent complex mode twice).
TEST(Cosmology, GaussianFieldPowerWithinCosmicVariance) {
  for (std::size_t sampling : {1, 2}) {
    CosmologyOptions options;
    options.grid = 32 / sampling;  // the linear field lives on the 32^3 particle lattice
    options.particle_sampling = sampling;
    options.box_size = 200.0;
    CosmologyGenerator generator(options);
    const std::size_t n = generator.lattice(), realisations = 4;
    ASSERT_EQ(n, 32u);
    fft::RealTransform transform({n, n, n});
    std::vector<fft::complex> modes(generator.modes_size());
    std::vector<double> field(n * n * n);
    std::vector<double> mean_power(n / 2, 0.0);
    BinnedPower last;
    for (std::size_t r = 0; r < realisations; ++r) {
      generator.linear_modes(r, modes);
      auto copy = modes;
      transform.backward(copy.data(), field.data());  // delta(x) = sum_k delta_k exp(ikx)
      last = binned_power(field, n, options.box_size, generator.power_spectrum());
      for (std::size_t b = 0; b < mean_power.size(); ++b)
        mean_power[b] += last.power[b] / realisations;
    }
    double chi2 = 0.0;
    std::size_t bins = 0;
    for (std::size_t b = 1; b < mean_power.size(); ++b) {
      const double sigma = last.model[b] * std::sqrt(2.0 / (last.modes[b] * realisations));
      const double pull = (mean_power[b] - last.model[b]) / sigma;
      EXPECT_LT(std::abs(pull), 4.0) << "sampling " << sampling << ", bin " << b << ": measured "
                                     << mean_power[b] << ", input " << last.model[b];
      chi2 += pull * pull;
      ++bins;
    }
    // A wrong normalisation or k unit would give chi^2 per bin in the hundreds.
    EXPECT_LT(chi2 / bins, 2.5) << "sampling " << sampling;
    EXPECT_GT(chi2 / bins, 0.2) << "sampling " << sampling;
  }
}

// At z = 9 the evolved, deposited density keeps the linear shape at large scales: its power divided
// by D^2 times the same realisation's initial power is 1 within 10% for |m| <= n/16 (k <=
// k_Nyquist/8; measured 0.96 to 0.99), for Zel'dovich and 2LPT, one and eight particles per cell;
// and it agrees with D^2 P_lin within cosmic variance. Further out the mass assignment suppresses
// power (about 0.9 at k_Nyquist/4, the CIC window sinc^4(k dx / 2) per axis for sampled particles):
// a property of the deposit, not of the dynamics.
TEST(Cosmology, HighRedshiftPowerIsLinearlyGrown) {
  const struct {
    int order;
    std::size_t sampling;
  } cases[] = {{1, 1}, {2, 1}, {2, 2}};
  for (const auto& c : cases) {
    CosmologyOptions options;
    options.grid = 64;
    options.particle_sampling = c.sampling;
    options.box_size = 256.0;
    options.redshift = 9.0;
    options.lpt_order = c.order;
    CosmologyGenerator generator(options);
    const std::size_t n = options.grid, N = generator.lattice();
    std::vector<double> delta(n * n * n), initial(N * N * N);
    generator.generate(5, delta);
    std::vector<fft::complex> modes(generator.modes_size());
    generator.linear_modes(5, modes);
    fft::RealTransform transform({N, N, N});
    transform.backward(modes.data(), initial.data());
    const double d = growth_factor(9.0, options.cosmology.omega_m);
    const auto evolved = binned_power(delta, n, options.box_size, generator.power_spectrum());
    const auto linear = binned_power(initial, N, options.box_size, generator.power_spectrum());
    for (std::size_t b = 1; b <= n / 16; ++b) {
      const double ratio = evolved.power[b] / (d * d * linear.power[b]);
      EXPECT_NEAR(ratio, 1.0, 0.10)
          << "order " << c.order << ", sampling " << c.sampling << ", bin " << b;
      const double sigma = std::sqrt(2.0 / evolved.modes[b]);
      EXPECT_LT(std::abs(evolved.power[b] / (d * d * evolved.model[b]) - 1.0), 4.0 * sigma)
          << "order " << c.order << ", sampling " << c.sampling << ", bin " << b;
    }
  }
}

// Mass is conserved by the deposit: mean of delta is 0 to round-off, 1 + delta >= 0, for one and
// eight particles per cell; and the CIC weights equal the tent-function overlaps computed node by
// node with periodic distances.
TEST(Cosmology, DepositConservesMassAndMatchesTentWeights) {
  std::size_t empty_cells[2] = {0, 0};
  for (std::size_t sampling : {1, 2}) {
    CosmologyOptions options;
    options.grid = 32;
    options.particle_sampling = sampling;
    options.box_size = 64.0;  // small box: strongly non-linear, many shell crossings
    CosmologyGenerator generator(options);
    std::vector<double> delta(generator.cells());
    generator.generate(0, delta);
    double sum = 0.0, minimum = 1e300, variance = 0.0;
    for (double v : delta) {
      sum += v;
      minimum = std::min(minimum, v);
      variance += v * v;
      empty_cells[sampling - 1] += v == -1.0;
    }
    EXPECT_LT(std::abs(sum / delta.size()), 1e-12) << "sampling " << sampling;
    EXPECT_GE(minimum, -1.0 - 1e-12);
    EXPECT_GT(variance / delta.size(), 1.0);  // really non-linear: the test could fail
    // An undisplaced lattice (particles at the nodes, or also half-way between them) is uniform.
    std::vector<double> still(3 * generator.particles(), 0.0), density(generator.cells());
    generator.deposit(still, density);
    for (double v : density) ASSERT_NEAR(v, 1.0, 1e-13) << "sampling " << sampling;
  }
  // Eight particles per cell leave far fewer cells of deep voids empty.
  EXPECT_GT(empty_cells[0], 100u);
  EXPECT_LT(empty_cells[1] * 10, empty_cells[0]);

  const std::size_t n = 8;
  std::vector<double> x0, x1, x2;
  RandomStream stream(3, StreamPurpose::test, 0);
  for (int p = 0; p < 20; ++p) {
    x0.push_back(30.0 * stream.uniform() - 12.0);  // also outside [0, n): wrapped
    x1.push_back(30.0 * stream.uniform() - 12.0);
    x2.push_back(30.0 * stream.uniform() - 12.0);
  }
  std::vector<double> density(n * n * n);
  cic_deposit(x0, x1, x2, n, density);
  const auto tent = [n](double x, std::size_t node) {
    double d = std::fmod(x - static_cast<double>(node), static_cast<double>(n));
    if (d < 0) d += n;
    d = std::min(d, n - d);
    return std::max(0.0, 1.0 - d);
  };
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < n; ++l) {
        double expected = 0.0;
        for (std::size_t p = 0; p < x0.size(); ++p)
          expected += tent(x0[p], i) * tent(x1[p], j) * tent(x2[p], l);
        expected *= double(n * n * n) / double(x0.size());
        EXPECT_NEAR(density[(i * n + j) * n + l], expected, 1e-12);
        total += density[(i * n + j) * n + l];
      }
  EXPECT_NEAR(total, double(n * n * n), 1e-9);
}

// delta = A cos(k x0) + B cos(k x1): phi1 = -delta / k^2, the 2LPT source is phi_00 phi_11 =
// A B cos(k x0) cos(k x1), phi2 = -S / (2 k^2), so Psi_0 = -d1 A sin(k x0) / k + d2 A B sin(k x0)
// cos(k x1) / (2 k), Psi_1 likewise, Psi_2 = 0.
TEST(Cosmology, LptDisplacementsOfCrossedPlaneWaves) {
  CosmologyOptions options;
  options.grid = 16;
  options.box_size = 100.0;
  CosmologyGenerator generator(options);
  const std::size_t n = options.grid, nh = n / 2 + 1, cells = n * n * n;
  const std::size_t m = 3;
  const double A = 0.3, B = -0.2, d1 = 0.8, d2 = -0.25;
  const double k = 2.0 * kPi * m / options.box_size;
  std::vector<fft::complex> modes(generator.modes_size(), 0.0);
  modes[(m * n + 0) * nh + 0] = A / 2;  // (m, 0, 0) and (-m, 0, 0)
  modes[((n - m) * n + 0) * nh + 0] = A / 2;
  modes[(0 * n + m) * nh + 0] = B / 2;  // (0, m, 0) and (0, -m, 0)
  modes[(0 * n + (n - m)) * nh + 0] = B / 2;
  std::vector<double> psi(3 * cells);
  for (double second : {0.0, d2}) {
    generator.displacements(modes, d1, second, psi);
    double worst = 0.0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t l = 0; l < n; ++l) {
          const double q0 = options.box_size * i / n, q1 = options.box_size * j / n;
          const double e0 = -d1 * A * std::sin(k * q0) / k +
                            second * A * B * std::sin(k * q0) * std::cos(k * q1) / (2 * k);
          const double e1 = -d1 * B * std::sin(k * q1) / k +
                            second * A * B * std::cos(k * q0) * std::sin(k * q1) / (2 * k);
          const std::size_t c = (i * n + j) * n + l;
          worst = std::max({worst, std::abs(psi[c] - e0), std::abs(psi[cells + c] - e1),
                            std::abs(psi[2 * cells + c])});
        }
    EXPECT_LT(worst, 1e-12 * options.box_size) << "d2 = " << second;
  }
}

// Slices are the plane x0 = 0 of the same realisation, projections its mean along x0, and the log
// output is log(max(1 + delta, floor)); items depend on their index only.
TEST(Cosmology, GeometriesOutputsAndDeterminism) {
  CosmologyOptions options;
  options.grid = 16;
  options.box_size = 40.0;
  CosmologyGenerator volume(options);
  std::vector<double> cube(volume.cells()), again(volume.cells());
  volume.generate(7, cube);
  CosmologyGenerator other(options);
  other.generate(6, again);
  other.generate(7, again);
  EXPECT_EQ(cube, again);

  const std::size_t n = options.grid, plane = n * n;
  options.geometry = CosmologyGeometry::slice;
  std::vector<double> slice(plane), projection(plane), logs(plane);
  CosmologyGenerator(options).generate(7, slice);
  options.geometry = CosmologyGeometry::projection;
  CosmologyGenerator(options).generate(7, projection);
  options.output = DensityOutput::log_density;
  options.density_floor = 0.05;
  CosmologyGenerator(options).generate(7, logs);
  for (std::size_t c = 0; c < plane; ++c) {
    EXPECT_EQ(slice[c], cube[c]);
    double mean = 0.0;
    for (std::size_t i = 0; i < n; ++i) mean += cube[i * plane + c];
    mean /= n;
    EXPECT_NEAR(projection[c], mean, 1e-12);
    EXPECT_NEAR(logs[c], std::log(std::max(1.0 + mean, 0.05)), 1e-12);
  }
}

TEST(Cosmology, RejectsUnphysicalOptions) {
  const auto bad = [](auto change) {
    CosmologyOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(validate(bad([](auto& o) { o.grid = 7; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.grid = 4; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.box_size = -1; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.redshift = -1; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.lpt_order = 3; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.particle_sampling = 0; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.cosmology.omega_b = 0.5; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.cosmology.sigma_8 = 0; })), UsageError);
  EXPECT_NO_THROW(validate(CosmologyOptions{}));
}
