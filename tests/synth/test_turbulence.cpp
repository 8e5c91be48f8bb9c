// Pseudo-spectral turbulence solvers against exact properties: the non-linear term against a direct
// evaluation in advective form, divergence at round-off, energy (and 2D enstrophy) conservation of
// the inviscid unforced equations, exact viscous decay of shear modes, the energy budget of the
// forcing, and chains that depend on their id only.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/synth/turbulence.hpp"
#include "support/test_support.hpp"

using namespace ksi;
using namespace ksi::synth;
using complex = std::complex<double>;

namespace {

constexpr double kPi = std::numbers::pi;

// A real field sum_j 2 Re(c_j exp(i m_j . x)) of a few integer wavevectors m_j with |m_j,a| <= 2:
// every product of two such fields stays below n/3 on the grids used here, so nothing aliases.
struct FourierField {
  std::vector<std::array<int, 3>> wavevector;
  std::vector<std::array<complex, 3>>
      amplitude;  // one vector per wavevector (3D) or one value (2D)
};

// Distinct wavevectors, no two opposite, none zero; 3D amplitudes perpendicular to m (solenoidal).
FourierField random_field(int dimension, int count, std::uint64_t seed) {
  RandomStream stream(seed, StreamPurpose::test, 0);
  FourierField f;
  while (static_cast<int>(f.wavevector.size()) < count) {
    std::array<int, 3> m{};
    for (int a = 0; a < dimension; ++a) m[a] = static_cast<int>(stream.bits() % 5) - 2;
    if (m[0] == 0 && m[1] == 0 && m[2] == 0) continue;
    bool taken = false;
    for (const auto& o : f.wavevector)
      taken = taken || (o == m) || (o[0] == -m[0] && o[1] == -m[1] && o[2] == -m[2]);
    if (taken) continue;
    std::array<complex, 3> c{};
    for (int a = 0; a < 3; ++a) c[a] = complex(stream.normal(), stream.normal());
    if (dimension == 3) {
      const double k2 = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
      const complex mc = (double(m[0]) * c[0] + double(m[1]) * c[1] + double(m[2]) * c[2]) / k2;
      for (int a = 0; a < 3; ++a) c[a] -= double(m[a]) * mc;
    }
    f.wavevector.push_back(m);
    f.amplitude.push_back(c);
  }
  return f;
}

// sum_j 2 Re(coefficient_j(m_j, c_j) exp(i m_j . x)) at the grid point x.
template <class Coefficient>
double evaluate(const FourierField& f, const double* x, Coefficient&& coefficient) {
  double v = 0.0;
  for (std::size_t j = 0; j < f.wavevector.size(); ++j) {
    const auto& m = f.wavevector[j];
    const double phase = m[0] * x[0] + m[1] * x[1] + m[2] * x[2];
    v += 2.0 * std::real(coefficient(m, f.amplitude[j]) * std::polar(1.0, phase));
  }
  return v;
}

// Direct DFT coefficient n^-d sum_x g(x) exp(-i m . x) of a real field on the grid.
complex direct_coefficient(const std::vector<double>& g, std::size_t n, int dimension,
                           const double* m) {
  complex sum = 0.0;
  const std::size_t points = dimension == 3 ? n * n * n : n * n;
  const double h = 2.0 * kPi / n;
  for (std::size_t p = 0; p < points; ++p) {
    double x[3] = {0, 0, 0};
    if (dimension == 3) {
      x[0] = h * double(p / (n * n)), x[1] = h * double((p / n) % n), x[2] = h * double(p % n);
    } else {
      x[0] = h * double(p / n), x[1] = h * double(p % n);
    }
    sum += g[p] * std::polar(1.0, -(m[0] * x[0] + m[1] * x[1] + m[2] * x[2]));
  }
  return sum / double(points);
}

}  // namespace

// du/dt = P[-(u . grad) u] - nu k^2 u + f from a direct advective-form evaluation, against the
// solver's rotational form, dealiased by the same 2/3 rule.
TEST(NavierStokes, TendencyMatchesDirectAdvectiveForm) {
  const std::size_t n = 12, nh = n / 2 + 1, cells = n * n * n;
  NavierStokesOptions options;
  options.grid = n;
  options.viscosity = 0.07;
  options.injection_rate = 0.3;
  NavierStokes3D flow(options);
  const auto field = random_field(3, 9, 11);
  std::vector<double> u[3], advection[3];
  for (int a = 0; a < 3; ++a) u[a].resize(cells), advection[a].resize(cells);
  const double h = 2.0 * kPi / n;
  for (std::size_t p = 0; p < cells; ++p) {
    const double x[3] = {h * double(p / (n * n)), h * double((p / n) % n), h * double(p % n)};
    double value[3], gradient[3][3];
    for (int a = 0; a < 3; ++a) {
      value[a] = evaluate(field, x, [a](auto&, auto& c) { return c[a]; });
      for (int b = 0; b < 3; ++b)
        gradient[a][b] =
            evaluate(field, x, [a, b](auto& m, auto& c) { return complex(0, m[b]) * c[a]; });
    }
    for (int a = 0; a < 3; ++a) {
      u[a][p] = value[a];
      advection[a][p] =
          -(value[0] * gradient[a][0] + value[1] * gradient[a][1] + value[2] * gradient[a][2]);
    }
  }
  flow.set_velocity(u[0], u[1], u[2]);
  std::vector<complex> tendency(3 * flow.modes_size());
  flow.tendency(tendency);

  // Forcing: alpha = epsilon / (2 E_f), E_f = sum over forced wavevectors of |c|^2 (each j is the
  // pair +m, -m with coefficients c and conj(c)).
  double forced_energy = 0.0;
  for (std::size_t j = 0; j < field.wavevector.size(); ++j) {
    const auto& m = field.wavevector[j];
    const double k2 = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
    if (k2 > 0.25 && k2 <= 4.0)
      for (const auto& c : field.amplitude[j]) forced_energy += std::norm(c);
  }
  const double alpha = options.injection_rate / (2.0 * forced_energy);
  const auto velocity = flow.velocity_modes();
  double worst = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < nh; ++l) {
        const double m[3] = {double(fft::frequency(i, n)), double(fft::frequency(j, n)), double(l)};
        const double k2 = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
        const bool kept = std::abs(m[0]) < n / 3.0 && std::abs(m[1]) < n / 3.0 && m[2] < n / 3.0;
        complex expected[3] = {0.0, 0.0, 0.0};
        if (kept && k2 > 0) {
          complex a[3];
          for (int c = 0; c < 3; ++c) a[c] = direct_coefficient(advection[c], n, 3, m);
          const complex ma = (m[0] * a[0] + m[1] * a[1] + m[2] * a[2]) / k2;
          const double forcing = (k2 > 0.25 && k2 <= 4.0) ? alpha : 0.0;
          for (int c = 0; c < 3; ++c) {
            const complex uk = velocity[c * flow.modes_size() + (i * n + j) * nh + l];
            expected[c] = a[c] - m[c] * ma + (forcing - options.viscosity * k2) * uk;
          }
        }
        for (int c = 0; c < 3; ++c) {
          const complex got = tendency[c * flow.modes_size() + (i * n + j) * nh + l];
          worst = std::max(worst, std::abs(got - expected[c]));
          scale = std::max(scale, std::abs(expected[c]));
        }
      }
  EXPECT_GT(scale, 1.0);
  EXPECT_LT(worst, 1e-12 * scale);
}

// The projection leaves |k . u_k| at round-off relative to |k| |u_k|, also after forced steps.
TEST(NavierStokes, DivergenceAtRoundOff) {
  NavierStokesOptions options;
  options.grid = 32;
  NavierStokes3D flow(options);
  // A compressible start: set_velocity must project it.
  const std::size_t cells = 32 * 32 * 32;
  std::vector<double> u[3];
  RandomStream stream(5, StreamPurpose::test, 1);
  for (auto& c : u) {
    c.resize(cells);
    stream.fill_normal(c);
  }
  flow.set_velocity(u[0], u[1], u[2]);
  EXPECT_LT(flow.relative_divergence(), 1e-14);
  flow.randomize(1, 0, 3.0, 1.0);
  for (int s = 0; s < 30; ++s) flow.step(flow.stable_time_step());
  EXPECT_GT(flow.diagnostics().energy, 0.1);
  EXPECT_LT(flow.relative_divergence(), 1e-14);
}

// Without forcing and viscosity the 2/3-truncated (Galerkin) system conserves energy exactly in
// continuous time: the non-linear tendency carries no energy. 100 RK3 steps of a smooth field whose
// spectrum reaches the truncation keep E to 1e-8 while the field changes by 20%, and the remaining
// drift is the scheme's: it shrinks as dt^4 (|R(i z)|^2 = 1 - z^4 / 12 for RK3).
TEST(NavierStokes, InviscidUnforcedEnergyConservation) {
  NavierStokesOptions options;
  options.grid = 24;
  options.injection_rate = 0.0;  // and viscosity 0 (from the resolution): Euler
  {
    NavierStokes3D flow(options);
    ASSERT_EQ(flow.viscosity(), 0.0);
    flow.randomize(2, 0, 4.0, 1.0);
    std::vector<complex> tendency(3 * flow.modes_size());
    flow.tendency(tendency);
    const auto u = flow.velocity_modes();
    const std::size_t nh = 24 / 2 + 1;
    double power = 0.0, size = 0.0;
    for (std::size_t q = 0; q < tendency.size(); ++q) {
      const double weight = (q % nh == 0) ? 1.0 : 2.0;
      power += weight * std::real(std::conj(u[q]) * tendency[q]);
      size += weight * std::abs(u[q]) * std::abs(tendency[q]);
    }
    EXPECT_LT(std::abs(power), 1e-13 * size);
  }
  // Relative energy change and relative change of the field after 100 steps of cfl_fraction times
  // the CFL step of the initial state.
  const auto run = [&](double cfl_fraction) {
    NavierStokes3D flow(options);
    flow.randomize(2, 0, 4.0, 1.0);
    const double initial = flow.diagnostics().energy;
    const std::vector<complex> start(flow.velocity_modes().begin(), flow.velocity_modes().end());
    const double dt = cfl_fraction * flow.stable_time_step();
    for (int s = 0; s < 100; ++s) flow.step(dt);
    double moved = 0.0, size = 0.0;
    for (std::size_t q = 0; q < start.size(); ++q) {
      moved += std::norm(flow.velocity_modes()[q] - start[q]);
      size += std::norm(start[q]);
    }
    return std::pair{flow.diagnostics().energy / initial - 1.0, std::sqrt(moved / size)};
  };
  const auto [drift, change] = run(0.05);
  EXPECT_LT(std::abs(drift), 1e-8);
  EXPECT_GT(change, 0.15);
  const auto [coarse_drift, coarse_change] = run(0.1);
  EXPECT_NEAR(coarse_drift / drift, 16.0, 4.0);
}

// u = (A sin(k z), 0, 0) is an exact solution: the non-linear term is a pure gradient, so the mode
// decays as exp(-nu k^2 t) and its energy as exp(-2 nu k^2 t), for any time step.
TEST(NavierStokes, ShearModeDecaysExactly) {
  const std::size_t n = 16, cells = n * n * n;
  NavierStokesOptions options;
  options.grid = n;
  options.viscosity = 0.02;
  options.injection_rate = 0.0;
  NavierStokes3D flow(options);
  const double k = 3.0, amplitude = 1.3;
  std::vector<double> u0(cells), zero(cells, 0.0);
  for (std::size_t p = 0; p < cells; ++p)
    u0[p] = amplitude * std::sin(k * 2.0 * kPi / n * double(p % n));
  flow.set_velocity(u0, zero, zero);
  const double e0 = flow.diagnostics().energy;
  EXPECT_NEAR(e0, amplitude * amplitude / 4.0, 1e-14);
  flow.advance(2.5);
  const double decay = std::exp(-options.viscosity * k * k * flow.time());
  EXPECT_NEAR(flow.diagnostics().energy / e0, decay * decay, 1e-12);
  std::vector<double> ux(cells);
  flow.quantity(FlowQuantity::velocity_x, ux);
  double worst = 0.0;
  for (std::size_t p = 0; p < cells; ++p) worst = std::max(worst, std::abs(ux[p] - decay * u0[p]));
  EXPECT_LT(worst, 1e-12);
  EXPECT_GT(flow.steps(), 10u);
}

// With forcing, dE/dt = epsilon - 2 nu sum k^2 E_k: the injected power equals the option exactly.
TEST(NavierStokes, ForcingInjectsTheRequestedPower) {
  NavierStokesOptions options;
  options.grid = 16;
  options.injection_rate = 0.37;
  options.viscosity = 0.05;
  NavierStokes3D flow(options);
  flow.randomize(3, 0, 2.0, 1.0);
  std::vector<complex> tendency(3 * flow.modes_size());
  flow.tendency(tendency);
  const auto u = flow.velocity_modes();
  const std::size_t nh = 16 / 2 + 1;
  double power = 0.0;
  for (std::size_t q = 0; q < tendency.size(); ++q)
    power += ((q % nh == 0) ? 1.0 : 2.0) * std::real(std::conj(u[q]) * tendency[q]);
  EXPECT_NEAR(power, options.injection_rate - flow.diagnostics().dissipation, 1e-12);
}

// Velocity, vorticity magnitude and pressure of a Taylor-Green-like field against closed forms:
// u = (sin x cos y, -cos x sin y, 0): omega = (0, 0, -2 sin x sin y) (so |omega| = 2 |sin x sin y|)
// and p = (cos 2x + cos 2y) / 4 (the steady Euler pressure).
TEST(NavierStokes, OutputQuantitiesOfTaylorGreenField) {
  const std::size_t n = 16, cells = n * n * n;
  NavierStokesOptions options;
  options.grid = n;
  NavierStokes3D flow(options);
  std::vector<double> u0(cells), u1(cells), u2(cells, 0.0);
  const double h = 2.0 * kPi / n;
  for (std::size_t p = 0; p < cells; ++p) {
    const double x = h * double(p / (n * n)), y = h * double((p / n) % n);
    u0[p] = std::sin(x) * std::cos(y);
    u1[p] = -std::cos(x) * std::sin(y);
  }
  flow.set_velocity(u0, u1, u2);
  std::vector<double> out(cells);
  flow.quantity(FlowQuantity::velocity_x, out);
  for (std::size_t p = 0; p < cells; ++p) ASSERT_NEAR(out[p], u0[p], 1e-14);
  flow.quantity(FlowQuantity::vorticity, out);
  for (std::size_t p = 0; p < cells; ++p) {
    const double x = h * double(p / (n * n)), y = h * double((p / n) % n);
    ASSERT_NEAR(out[p], 2.0 * std::abs(std::sin(x) * std::sin(y)), 1e-13);
  }
  flow.quantity(FlowQuantity::pressure, out);
  for (std::size_t p = 0; p < cells; ++p) {
    const double x = h * double(p / (n * n)), y = h * double((p / n) % n);
    ASSERT_NEAR(out[p], (std::cos(2 * x) + std::cos(2 * y)) / 4.0, 1e-13);
  }
}

// 2D: the tendency against -(u . grad omega) evaluated directly, with drag, hyperviscosity and
// forcing.
TEST(Vorticity2D, TendencyMatchesDirectEvaluation) {
  const std::size_t n = 16, nh = n / 2 + 1, cells = n * n;
  VorticityOptions options;
  options.grid = n;
  options.viscosity = 1e-3;
  options.dissipation_order = 2;
  options.drag = 0.2;
  options.injection_rate = 0.5;
  options.forcing_min = 1.0;
  options.forcing_max = 2.0;
  Vorticity2D flow(options);
  const auto field = random_field(2, 7, 13);
  std::vector<double> omega(cells), advection(cells);
  const double h = 2.0 * kPi / n;
  for (std::size_t p = 0; p < cells; ++p) {
    const double x[3] = {h * double(p / n), h * double(p % n), 0.0};
    const auto k2 = [](auto& m) { return double(m[0] * m[0] + m[1] * m[1]); };
    omega[p] = evaluate(field, x, [](auto&, auto& c) { return c[0]; });
    // psi = omega / k^2; u_x = d psi / dy, u_y = -d psi / dx.
    const double ux =
        evaluate(field, x, [&](auto& m, auto& c) { return complex(0, m[1]) * c[0] / k2(m); });
    const double uy =
        evaluate(field, x, [&](auto& m, auto& c) { return complex(0, -m[0]) * c[0] / k2(m); });
    const double wx = evaluate(field, x, [](auto& m, auto& c) { return complex(0, m[0]) * c[0]; });
    const double wy = evaluate(field, x, [](auto& m, auto& c) { return complex(0, m[1]) * c[0]; });
    advection[p] = -(ux * wx + uy * wy);
  }
  flow.set_vorticity(omega);
  std::vector<complex> tendency(flow.modes_size());
  flow.tendency(tendency);
  double forced_energy = 0.0;  // sum over forced pairs of |c|^2 / k^2
  for (std::size_t j = 0; j < field.wavevector.size(); ++j) {
    const auto& m = field.wavevector[j];
    const double k2 = m[0] * m[0] + m[1] * m[1];
    if (k2 > 1.0 && k2 <= 4.0) forced_energy += std::norm(field.amplitude[j][0]) / k2;
  }
  const double alpha = options.injection_rate / (2.0 * forced_energy);
  double worst = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t l = 0; l < nh; ++l) {
      const double m[3] = {double(fft::frequency(i, n)), double(l), 0.0};
      const double k2 = m[0] * m[0] + m[1] * m[1];
      complex expected = 0.0;
      if (std::abs(m[0]) < n / 3.0 && m[1] < n / 3.0 && k2 > 0) {
        const double linear =
            ((k2 > 1.0 && k2 <= 4.0) ? alpha : 0.0) - options.drag - options.viscosity * k2 * k2;
        expected =
            direct_coefficient(advection, n, 2, m) + linear * flow.vorticity_modes()[i * nh + l];
      }
      worst = std::max(worst, std::abs(tendency[i * nh + l] - expected));
      scale = std::max(scale, std::abs(expected));
    }
  EXPECT_GT(scale, 1.0);
  EXPECT_LT(worst, 1e-12 * scale);
}

// Inviscid, unforced, drag-free 2D: energy and enstrophy are both conserved by the truncated system
// (to the RK3 drift over 100 steps of 1/20 of the CFL step).
TEST(Vorticity2D, InviscidInvariants) {
  VorticityOptions options;
  options.grid = 32;
  options.injection_rate = 0.0;
  options.drag = 0.0;
  Vorticity2D flow(options);
  ASSERT_EQ(flow.viscosity(), 0.0);
  flow.randomize(4, 0, 5.0, 1.0);
  const auto start = flow.diagnostics();
  const double dt = 0.05 * flow.stable_time_step();
  for (int s = 0; s < 100; ++s) flow.step(dt);
  const auto end = flow.diagnostics();
  EXPECT_LT(std::abs(end.energy / start.energy - 1.0), 1e-8);
  EXPECT_LT(std::abs(end.enstrophy / start.enstrophy - 1.0), 1e-8);
}

// omega = A cos(k x) is a steady Euler solution: with drag and hyperviscosity it decays as
// exp(-(mu + nu k^(2p)) t) exactly.
TEST(Vorticity2D, ShearModeDecaysExactly) {
  const std::size_t n = 32, cells = n * n;
  VorticityOptions options;
  options.grid = n;
  options.viscosity = 2e-4;
  options.dissipation_order = 2;
  options.drag = 0.1;
  options.injection_rate = 0.0;
  Vorticity2D flow(options);
  const double k = 5.0, amplitude = 2.0;
  std::vector<double> omega(cells), out(cells);
  for (std::size_t p = 0; p < cells; ++p)
    omega[p] = amplitude * std::cos(k * 2.0 * kPi / n * double(p / n));
  flow.set_vorticity(omega);
  flow.advance(1.7);
  const double decay = std::exp(-(options.drag + options.viscosity * std::pow(k, 4)) * flow.time());
  flow.quantity(FlowQuantity::vorticity, out);
  double worst = 0.0;
  for (std::size_t p = 0; p < cells; ++p)
    worst = std::max(worst, std::abs(out[p] - decay * omega[p]));
  EXPECT_LT(worst, 1e-12);
}

// A chain depends on (seed, chain id) only; different chains differ; snapshots evolve.
TEST(TurbulenceChain, DeterministicPerChain) {
  for (int dimension : {2, 3}) {
    TurbulenceOptions options;
    options.dimension = dimension;
    options.flow3d.grid = 16;
    options.flow2d.grid = 32;
    options.spinup_turnovers = 0.5;
    options.quantity = FlowQuantity::vorticity;
    TurbulenceChain a(options, 4), b(options, 4), c(options, 5);
    const std::size_t size = a.item_shape().size();
    std::vector<double> x(size), y(size), z(size), x2(size);
    a.next(x);
    b.next(y);
    c.next(z);
    a.next(x2);
    EXPECT_EQ(x, y) << dimension << "D";
    EXPECT_NE(x, z) << dimension << "D";
    EXPECT_NE(x, x2) << dimension << "D";
    EXPECT_GE(a.diagnostics().time - b.diagnostics().time, b.diagnostics().turnover_time * 0.5);
  }
}

TEST(TurbulenceOptions, RejectsBadValues) {
  const auto bad = [](auto change) {
    TurbulenceOptions o;
    change(o);
    return o;
  };
  EXPECT_NO_THROW(validate(TurbulenceOptions{}));
  EXPECT_THROW(validate(bad([](auto& o) { o.dimension = 4; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.flow3d.grid = 6; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.flow3d.forcing_max = 30; })), UsageError);
  EXPECT_THROW(
      validate(bad([](auto& o) { o.flow3d.forcing_min = 1.1, o.flow3d.forcing_max = 1.2; })),
      UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.flow3d.injection_rate = 0; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.snapshot_turnovers = 0.5; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.flow3d.cfl = 3; })), UsageError);
  EXPECT_THROW(validate(bad([](auto& o) { o.dimension = 2, o.flow2d.dissipation_order = 0; })),
               UsageError);
}
