// 2D pseudo-spectral Navier-Stokes in vorticity form (see include/ksi/synth/turbulence.hpp).
// Axis 0 is x, axis 1 (the fastest, halved in the spectrum) is y; u = (d psi / dy, -d psi / dx)
// with lap psi = -omega.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/random.hpp"
#include "ksi/synth/turbulence.hpp"
#include "synth/low_storage_rk.hpp"
#include "synth/spectral_grid.hpp"

namespace ksi::synth {

using fft::complex;

namespace {
constexpr double kPi = std::numbers::pi;
constexpr complex kI{0.0, 1.0};
}  // namespace

struct Vorticity2D::Work {
  explicit Work(std::size_t n)
      : four({n, n}, 4),
        single({n, n}, 1),
        m_full(detail::full_axis(n)),
        m_half(detail::half_axis(n)) {}
  fft::RealTransform four;    // c2r of u_x, u_y, d omega / dx, d omega / dy
  fft::RealTransform single;  // r2c of the advection term; outputs
  AlignedVector<complex> v, dv, spectral;
  AlignedVector<double> real;
  std::vector<double> m_full, m_half;
  std::vector<char> kept_full;
  std::size_t kept_half = 0;
  // exp(-(mu + nu k^2p) shift) tabulated on the integer values of k^2, for the stage, its inverse
  // and the whole step.
  std::vector<double> stage, inverse, whole;
};

Vorticity2D::Vorticity2D(const VorticityOptions& options)
    : options_((validate(options), options)),
      n_(options.grid),
      modes_size_(n_ * (n_ / 2 + 1)),
      real_size_(n_ * n_),
      work_(std::make_unique<Work>(n_)) {
  const double k_max = static_cast<double>(n_) / 3.0;
  viscosity_ = effective_viscosity(options_);
  auto& w = *work_;
  w.v.assign(modes_size_, complex{});
  w.dv.assign(modes_size_, complex{});
  w.spectral.assign(4 * modes_size_, complex{});
  w.real.assign(4 * real_size_, 0.0);
  w.kept_full.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) w.kept_full[i] = std::abs(w.m_full[i]) < k_max;
  while (static_cast<double>(w.kept_half) < k_max) ++w.kept_half;
}

double effective_viscosity(const VorticityOptions& o) {
  if (o.viscosity > 0.0) return o.viscosity;
  const double k_max = static_cast<double>(o.grid) / 3.0;
  const double k_forcing = 0.5 * (o.forcing_min + o.forcing_max);
  const double enstrophy_injection = o.injection_rate * k_forcing * k_forcing;
  return std::cbrt(enstrophy_injection) / std::pow(k_max, 2.0 * o.dissipation_order);
}

Vorticity2D::~Vorticity2D() = default;
Vorticity2D::Vorticity2D(Vorticity2D&&) noexcept = default;
Vorticity2D& Vorticity2D::operator=(Vorticity2D&&) noexcept = default;

std::span<const complex> Vorticity2D::vorticity_modes() const noexcept {
  return {work_->v.data(), work_->v.size()};
}

namespace {

void dealias_2d(std::span<complex> modes, std::size_t n, const std::vector<char>& kept_full,
                std::size_t kept_half) {
  const std::size_t nh = n / 2 + 1;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t l = 0; l < nh; ++l)
      if (!kept_full[i] || l >= kept_half || (i == 0 && l == 0)) modes[i * nh + l] = 0.0;
}

// exp(-(mu + nu (k^2)^p) shift) for k^2 = 0 .. max_k2.
void damping_table(std::size_t max_k2, double mu, double nu, int order, double shift,
                   std::vector<double>& out) {
  out.resize(max_k2 + 1);
  for (std::size_t k2 = 0; k2 <= max_k2; ++k2)
    out[k2] = std::exp(-(mu + nu * std::pow(static_cast<double>(k2), order)) * shift);
}

}  // namespace

void Vorticity2D::set_vorticity(std::span<const double> omega) {
  if (omega.size() != real_size_) throw InternalError("Vorticity2D::set_vorticity: wrong size");
  auto& w = *work_;
  w.single.forward(omega.data(), w.v.data());
  for (auto& c : w.v) c /= static_cast<double>(real_size_);
  dealias_2d(w.v, n_, w.kept_full, w.kept_half);
  std::fill(w.dv.begin(), w.dv.end(), complex{});
}

void Vorticity2D::randomize(std::uint64_t seed, std::uint64_t chain, double k_peak, double energy) {
  if (!(k_peak > 0.0) || !(energy > 0.0))
    throw UsageError("the initial spectrum needs a positive peak wavenumber and energy");
  auto& w = *work_;
  RandomStream stream(seed, StreamPurpose::synth, chain, 1);
  std::vector<double> noise(real_size_);
  stream.fill_normal(noise);
  w.single.forward(noise.data(), w.v.data());
  const std::size_t nh = n_ / 2 + 1;
  // Shell energy 2 pi k |u_k|^2 ~ k^4 exp(-2 (k / k_peak)^2) with |omega_k| = k |u_k|.
  for (std::size_t i = 0; i < n_; ++i)
    for (std::size_t l = 0; l < nh; ++l) {
      const double k = std::hypot(w.m_full[i], w.m_half[l]);
      w.v[i * nh + l] *= std::pow(k, 2.5) * std::exp(-(k / k_peak) * (k / k_peak));
    }
  dealias_2d(w.v, n_, w.kept_full, w.kept_half);
  const double scale = std::sqrt(energy / diagnostics().energy);
  for (auto& c : w.v) c *= scale;
  std::fill(w.dv.begin(), w.dv.end(), complex{});
}

void Vorticity2D::nonlinear(double shift, bool measure_speed) {
  auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  damping_table(n * n / 2, options_.drag, viscosity_, options_.dissipation_order, shift, w.stage);
  complex* out[4];
  for (int a = 0; a < 4; ++a) out[a] = w.spectral.data() + a * nc;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t row = i * nh;
    if (!w.kept_full[i]) {
      for (auto* o : out) std::fill(o + row, o + row + nh, complex{});
      continue;
    }
    const double m0 = w.m_full[i];
    for (std::size_t l = 0; l < w.kept_half; ++l) {
      const std::size_t q = row + l;
      const double m1 = w.m_half[l];
      const double k2 = m0 * m0 + m1 * m1;
      if (k2 == 0.0) {
        for (auto* o : out) o[q] = 0.0;
        continue;
      }
      const complex omega = w.stage[static_cast<std::size_t>(k2)] * w.v[q];
      const complex psi = omega / k2;
      out[0][q] = kI * m1 * psi;   // u_x = d psi / dy
      out[1][q] = -kI * m0 * psi;  // u_y = -d psi / dx
      out[2][q] = kI * m0 * omega;
      out[3][q] = kI * m1 * omega;
    }
    for (auto* o : out) std::fill(o + row + w.kept_half, o + row + nh, complex{});
  }
  w.four.backward_destroying(w.spectral.data(), w.real.data());
  const std::size_t nr = real_size_;
  double* r = w.real.data();
  double speed = 0.0;
  for (std::size_t p = 0; p < nr; ++p) {
    const double ux = r[p], uy = r[nr + p];
    r[p] = -(ux * r[2 * nr + p] + uy * r[3 * nr + p]);
    if (measure_speed) speed = std::max(speed, std::abs(ux) + std::abs(uy));
  }
  if (measure_speed) {
    if (!std::isfinite(speed))
      throw NumericalError(
          sformat("the 2D flow became non-finite at t = %.4g (step %zu); lower the "
                  "CFL number or raise the viscosity",
                  time_, steps_));
    max_speed_ = speed;
  }
  w.single.forward(w.real.data(), w.spectral.data());
}

double Vorticity2D::forcing_coefficient(double shift) const {
  if (options_.injection_rate == 0.0) return 0.0;
  const auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1;
  const double lo2 = options_.forcing_min * options_.forcing_min;
  const double hi2 = options_.forcing_max * options_.forcing_max;
  const long reach = static_cast<long>(std::ceil(options_.forcing_max));
  double energy = 0.0;
  for (long a = -reach; a <= reach; ++a)
    for (long c = 0; c <= reach; ++c) {
      const double k2 = double(a * a + c * c);
      if (k2 <= lo2 || k2 > hi2) continue;
      const std::size_t i =
          static_cast<std::size_t>((a + static_cast<long>(n)) % static_cast<long>(n));
      const double f = std::exp(
          -(options_.drag + viscosity_ * std::pow(k2, options_.dissipation_order)) * shift);
      const double weight = c == 0 ? 0.5 : 1.0;
      energy += weight * f * f * std::norm(w.v[i * nh + static_cast<std::size_t>(c)]) / k2;
    }
  return energy > 0.0 ? options_.injection_rate / (2.0 * energy) : 0.0;
}

void Vorticity2D::update(double a, double b, double dt, double shift, double step, bool last) {
  auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1;
  const double alpha = forcing_coefficient(shift);
  damping_table(n * n / 2, options_.drag, viscosity_, options_.dissipation_order, -shift,
                w.inverse);
  if (last)
    damping_table(n * n / 2, options_.drag, viscosity_, options_.dissipation_order, step, w.whole);
  const double norm = 1.0 / static_cast<double>(real_size_);
  const double lo2 = options_.forcing_min * options_.forcing_min;
  const double hi2 = options_.forcing_max * options_.forcing_max;
  for (std::size_t i = 0; i < n; ++i) {
    if (!w.kept_full[i]) continue;
    const double m0 = w.m_full[i];
    for (std::size_t l = 0; l < w.kept_half; ++l) {
      const std::size_t q = i * nh + l;
      const double m1 = w.m_half[l];
      const double k2 = m0 * m0 + m1 * m1;
      if (k2 == 0.0) continue;
      const auto k2i = static_cast<std::size_t>(k2);
      complex g = w.inverse[k2i] * norm * w.spectral[q];
      if (k2 > lo2 && k2 <= hi2) g += alpha * w.v[q];
      w.dv[q] = a * w.dv[q] + dt * g;
      w.v[q] += b * w.dv[q];
      if (last) w.v[q] *= w.whole[k2i];
    }
  }
}

// The shared stepping driver's view of the solver.
struct Vorticity2D::Stepping {
  Vorticity2D& f;
  void nonlinear(double shift, bool measure_speed) { f.nonlinear(shift, measure_speed); }
  void update(double a, double b, double dt, double shift, double step, bool last) {
    f.update(a, b, dt, shift, step, last);
  }
  double max_speed() const { return f.max_speed_; }
  double cfl() const { return f.options_.cfl; }
  std::size_t grid() const { return f.n_; }
  double turnover_time() const { return f.diagnostics().turnover_time; }
  void count_step(double dt) {
    f.time_ += dt;
    ++f.steps_;
  }
};

void Vorticity2D::step(double dt) {
  Stepping s{*this};
  detail::fixed_step(s, dt, "Vorticity2D");
}

double Vorticity2D::stable_time_step() {
  Stepping s{*this};
  return detail::stable_time_step(s);
}

void Vorticity2D::advance(double duration) {
  Stepping s{*this};
  detail::advance(s, duration);
}

void Vorticity2D::advance_turnovers(double turnovers) {
  Stepping s{*this};
  detail::advance_turnovers(s, turnovers);
}

void Vorticity2D::tendency(std::span<complex> out) {
  if (out.size() != modes_size_) throw InternalError("Vorticity2D::tendency: wrong size");
  auto& w = *work_;
  std::fill(out.begin(), out.end(), complex{});
  nonlinear(0.0, false);
  const double alpha = forcing_coefficient(0.0);
  const std::size_t n = n_, nh = n / 2 + 1;
  const double norm = 1.0 / static_cast<double>(real_size_);
  const double lo2 = options_.forcing_min * options_.forcing_min;
  const double hi2 = options_.forcing_max * options_.forcing_max;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t l = 0; l < w.kept_half; ++l) {
      if (!w.kept_full[i]) continue;
      const std::size_t q = i * nh + l;
      const double k2 = w.m_full[i] * w.m_full[i] + w.m_half[l] * w.m_half[l];
      if (k2 == 0.0) continue;
      const double linear = (k2 > lo2 && k2 <= hi2 ? alpha : 0.0) - options_.drag -
                            viscosity_ * std::pow(k2, options_.dissipation_order);
      out[q] = w.spectral[q] * norm + linear * w.v[q];
    }
}

FlowDiagnostics Vorticity2D::diagnostics() const {
  const auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1;
  double energy = 0.0, inverse_k = 0.0, enstrophy = 0.0, dissipation = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!w.kept_full[i]) continue;
    for (std::size_t l = 0; l < w.kept_half; ++l) {
      const double k2 = w.m_full[i] * w.m_full[i] + w.m_half[l] * w.m_half[l];
      if (k2 == 0.0) continue;
      const double z = 0.5 * detail::half_axis_weight(l, n) * std::norm(w.v[i * nh + l]);
      energy += z / k2;
      inverse_k += z / (k2 * std::sqrt(k2));
      enstrophy += z;
      dissipation += 2.0 * viscosity_ * std::pow(k2, options_.dissipation_order) * z / k2;
    }
  }
  FlowDiagnostics d;
  d.time = time_;
  d.energy = energy;
  d.enstrophy = enstrophy;
  d.dissipation = dissipation;
  d.rms_velocity = std::sqrt(energy);
  d.integral_scale = energy > 0.0 ? kPi / (2.0 * energy) * inverse_k : 0.0;
  d.turnover_time = energy > 0.0 ? d.integral_scale / d.rms_velocity : 0.0;
  return d;
}

void Vorticity2D::quantity(FlowQuantity which, std::span<double> out) {
  if (out.size() != real_size_) throw InternalError("Vorticity2D::quantity: wrong size");
  auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_, nr = real_size_;
  std::span<complex> spectrum(w.spectral.data(), nc);
  // Velocity component a (0: x, 1: y) of the current state into `field`.
  const auto velocity = [&](int a, double* field) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t l = 0; l < nh; ++l) {
        const std::size_t q = i * nh + l;
        const double m0 = w.m_full[i], m1 = w.m_half[l], k2 = m0 * m0 + m1 * m1;
        spectrum[q] = k2 == 0.0 ? complex{} : (a == 0 ? kI * m1 : -kI * m0) * w.v[q] / k2;
      }
    w.single.backward_destroying(spectrum.data(), field);
  };
  switch (which) {
    case FlowQuantity::velocity_x:
      velocity(0, out.data());
      return;
    case FlowQuantity::vorticity:
      std::copy(w.v.begin(), w.v.end(), spectrum.begin());
      w.single.backward_destroying(spectrum.data(), out.data());
      return;
    case FlowQuantity::pressure: {
      double* u = w.real.data();
      velocity(0, u);
      velocity(1, u + nr);
      AlignedVector<complex> pressure(nc, complex{});
      std::span<double> product(u + 2 * nr, nr);
      const int pairs[3][2] = {{0, 0}, {1, 1}, {0, 1}};
      for (const auto& pair : pairs) {
        const int a = pair[0], b = pair[1];
        for (std::size_t p = 0; p < nr; ++p) product[p] = u[a * nr + p] * u[b * nr + p];
        w.single.forward(product.data(), spectrum.data());
        const double twice = a == b ? 1.0 : 2.0;
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t l = 0; l < nh; ++l) {
            const std::size_t q = i * nh + l;
            const double m[2] = {w.m_full[i], w.m_half[l]};
            const double k2 = m[0] * m[0] + m[1] * m[1];
            if (k2 == 0.0 || !w.kept_full[i] || l >= w.kept_half) continue;
            pressure[q] -= twice * m[a] * m[b] / k2 * spectrum[q] / static_cast<double>(nr);
          }
      }
      std::copy(pressure.begin(), pressure.end(), spectrum.begin());
      w.single.backward_destroying(spectrum.data(), out.data());
      return;
    }
  }
}

}  // namespace ksi::synth
