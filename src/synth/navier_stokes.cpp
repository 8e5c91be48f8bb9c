// 3D pseudo-spectral Navier-Stokes (see include/ksi/synth/turbulence.hpp for the method).
#include <algorithm>
#include <cmath>
#include <cstring>
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

// exp(-nu m^2 shift) per wavenumber of an axis: the integrating factor is a product over axes.
void decay_table(const std::vector<double>& m, double nu, double shift, std::vector<double>& out) {
  out.resize(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) out[i] = std::exp(-nu * m[i] * m[i] * shift);
}

// N_a = -i m_b (u_a u_b)_k at mode l of a row, from the six product spectra P (00, 11, 22, 01, 02,
// 12; re, im interleaved): -i (x + i y) = y - i x.
inline void divergence_of_products(const double* const P[6], std::size_t l, double m0, double m1,
                                   double m2, double nr[3], double ni[3]) {
  const std::size_t re = 2 * l, im = 2 * l + 1;
  const double s0r = m0 * P[0][re] + m1 * P[3][re] + m2 * P[4][re];
  const double s0i = m0 * P[0][im] + m1 * P[3][im] + m2 * P[4][im];
  const double s1r = m0 * P[3][re] + m1 * P[1][re] + m2 * P[5][re];
  const double s1i = m0 * P[3][im] + m1 * P[1][im] + m2 * P[5][im];
  const double s2r = m0 * P[4][re] + m1 * P[5][re] + m2 * P[2][re];
  const double s2i = m0 * P[4][im] + m1 * P[5][im] + m2 * P[2][im];
  nr[0] = s0i, ni[0] = -s0r;
  nr[1] = s1i, ni[1] = -s1r;
  nr[2] = s2i, ni[2] = -s2r;
}

}  // namespace

// Work arrays and plans. The state v (and the RK register dv) hold three components of the half
// spectrum one after another; modes outside the 2/3-rule set are zero and never written.
struct NavierStokes3D::Work {
  Work(std::size_t n)
      : six({n, n, n}, 6),
        three({n, n, n}, 3),
        single({n, n, n}, 1),
        m_full(detail::full_axis(n)),
        m_half(detail::half_axis(n)) {}
  fft::RealTransform six;     // r2c of the products u_a u_b
  fft::RealTransform three;   // c2r of u
  fft::RealTransform single;  // diagnostics and outputs
  AlignedVector<complex> v, dv, spectral;
  AlignedVector<double> real;
  std::vector<double> m_full, m_half;
  std::vector<char> kept_full;     // |m| < n / 3 along a full axis
  std::size_t kept_half = 0;       // modes l < kept_half kept along the halved axis
  std::vector<double> inverse_k2;  // 1 / m^2 on the integers m^2 (0 for m = 0)
  // Integrating-factor tables of the current stage: exp(-nu m^2 shift) and its inverse, and the
  // factor of the whole step.
  std::vector<double> stage_full, stage_half, inverse_full, inverse_half, step_full, step_half;
};

NavierStokes3D::NavierStokes3D(const NavierStokesOptions& options)
    : options_((validate(options), options)),
      n_(options.grid),
      modes_size_(n_ * n_ * (n_ / 2 + 1)),
      real_size_(n_ * n_ * n_),
      work_(std::make_unique<Work>(n_)) {
  const double k_max = static_cast<double>(n_) / 3.0;
  viscosity_ = effective_viscosity(options_);
  auto& w = *work_;
  w.v.assign(3 * modes_size_, complex{});
  w.dv.assign(3 * modes_size_, complex{});
  w.spectral.assign(6 * modes_size_, complex{});
  w.real.assign(6 * real_size_, 0.0);
  w.kept_full.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) w.kept_full[i] = std::abs(w.m_full[i]) < k_max;
  while (static_cast<double>(w.kept_half) < k_max) ++w.kept_half;
  w.inverse_k2.assign(3 * (n_ / 2) * (n_ / 2) + 1, 0.0);
  for (std::size_t k2 = 1; k2 < w.inverse_k2.size(); ++k2)
    w.inverse_k2[k2] = 1.0 / static_cast<double>(k2);
}

double effective_viscosity(const NavierStokesOptions& o) {
  if (o.viscosity > 0.0) return o.viscosity;
  const double k_max = static_cast<double>(o.grid) / 3.0;
  return std::pow(o.kmax_eta / k_max, 4.0 / 3.0) * std::cbrt(o.injection_rate);
}

NavierStokes3D::~NavierStokes3D() = default;
NavierStokes3D::NavierStokes3D(NavierStokes3D&&) noexcept = default;
NavierStokes3D& NavierStokes3D::operator=(NavierStokes3D&&) noexcept = default;

std::span<const complex> NavierStokes3D::velocity_modes() const noexcept {
  return {work_->v.data(), work_->v.size()};
}

// Projects the three components held in `modes` (stride modes_size_) onto divergence-free fields,
// zeroes the mean and every mode outside the 2/3-rule set.
static void project_and_dealias(std::span<complex> modes, std::size_t n, std::size_t stride,
                                const std::vector<double>& m_full,
                                const std::vector<double>& m_half,
                                const std::vector<char>& kept_full, std::size_t kept_half) {
  const std::size_t nh = n / 2 + 1;
  std::size_t q = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < nh; ++l, ++q) {
        complex* u[3] = {&modes[q], &modes[stride + q], &modes[2 * stride + q]};
        const double m[3] = {m_full[i], m_full[j], m_half[l]};
        const double k2 = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
        if (!kept_full[i] || !kept_full[j] || l >= kept_half || k2 == 0.0) {
          *u[0] = *u[1] = *u[2] = 0.0;
          continue;
        }
        const complex km = (m[0] * *u[0] + m[1] * *u[1] + m[2] * *u[2]) / k2;
        for (int a = 0; a < 3; ++a) *u[a] -= m[a] * km;
      }
}

void NavierStokes3D::set_velocity(std::span<const double> u0, std::span<const double> u1,
                                  std::span<const double> u2) {
  if (u0.size() != real_size_ || u1.size() != real_size_ || u2.size() != real_size_)
    throw InternalError("NavierStokes3D::set_velocity: fields of the wrong size");
  auto& w = *work_;
  const std::span<const double> parts[3] = {u0, u1, u2};
  const double norm = 1.0 / static_cast<double>(real_size_);
  for (int a = 0; a < 3; ++a) {
    w.single.forward(parts[a].data(), w.v.data() + a * modes_size_);
    for (std::size_t q = 0; q < modes_size_; ++q) w.v[a * modes_size_ + q] *= norm;
  }
  project_and_dealias(w.v, n_, modes_size_, w.m_full, w.m_half, w.kept_full, w.kept_half);
  std::fill(w.dv.begin(), w.dv.end(), complex{});
}

void NavierStokes3D::randomize(std::uint64_t seed, std::uint64_t chain, double k_peak,
                               double energy) {
  if (!(k_peak > 0.0) || !(energy > 0.0))
    throw UsageError("the initial spectrum needs a positive peak wavenumber and energy");
  auto& w = *work_;
  RandomStream stream(seed, StreamPurpose::synth, chain, 1);
  std::vector<double> noise(real_size_);
  const std::size_t nh = n_ / 2 + 1;
  for (int a = 0; a < 3; ++a) {
    stream.fill_normal(noise);
    complex* u = w.v.data() + a * modes_size_;
    w.single.forward(noise.data(), u);
    // |u_k| ~ k exp(-(k / k_peak)^2): shell energy 4 pi k^2 |u_k|^2 ~ k^4 exp(-2 (k / k_peak)^2).
    std::size_t q = 0;
    for (std::size_t i = 0; i < n_; ++i)
      for (std::size_t j = 0; j < n_; ++j)
        for (std::size_t l = 0; l < nh; ++l, ++q) {
          const double k = std::sqrt(w.m_full[i] * w.m_full[i] + w.m_full[j] * w.m_full[j] +
                                     w.m_half[l] * w.m_half[l]);
          u[q] *= k * std::exp(-(k / k_peak) * (k / k_peak));
        }
  }
  project_and_dealias(w.v, n_, modes_size_, w.m_full, w.m_half, w.kept_full, w.kept_half);
  const double scale = std::sqrt(energy / diagnostics().energy);
  for (auto& c : w.v) c *= scale;
  std::fill(w.dv.begin(), w.dv.end(), complex{});
}

// The products u_a u_b (00, 11, 22, 01, 02, 12) of the stage state u = exp(-nu k^2 shift) v in
// physical space, their r2c transforms left in spectral[0, 6 modes) (unnormalised). The divergence
// form -d_b (u_a u_b) needs 3 c2r and 6 r2c per stage, like u x omega, but writes and zero-pads
// only three spectral arrays. With measure_speed, max |u_x| + |u_y| + |u_z| is recorded.
void NavierStokes3D::nonlinear(double shift, bool measure_speed) {
  auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  decay_table(w.m_full, viscosity_, shift, w.stage_full);
  decay_table(w.m_half, viscosity_, shift, w.stage_half);
  complex* out[3];
  for (int a = 0; a < 3; ++a) out[a] = w.spectral.data() + a * nc;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t plane = i * n * nh;
    if (!w.kept_full[i]) {
      for (auto* o : out) std::fill(o + plane, o + plane + n * nh, complex{});
      continue;
    }
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t row = plane + j * nh;
      if (!w.kept_full[j]) {
        for (auto* o : out) std::fill(o + row, o + row + nh, complex{});
        continue;
      }
      const double fij = w.stage_full[i] * w.stage_full[j];
      const double* stage_half = w.stage_half.data();
      for (int a = 0; a < 3; ++a) {
        // Plain doubles (re, im interleaved) so the compiler vectorises the row.
        const double* v = reinterpret_cast<const double*>(w.v.data() + a * nc + row);
        double* o = reinterpret_cast<double*>(out[a] + row);
        for (std::size_t l = 0; l < w.kept_half; ++l) {
          const double f = fij * stage_half[l];
          o[2 * l] = f * v[2 * l];
          o[2 * l + 1] = f * v[2 * l + 1];
        }
      }
      for (auto* o : out) std::fill(o + row + w.kept_half, o + row + nh, complex{});
    }
  }
  w.three.backward_destroying(w.spectral.data(), w.real.data());

  const std::size_t nr = real_size_;
  double* r = w.real.data();
  double speed = 0.0;
  for (std::size_t p = 0; p < nr; ++p) {
    const double u0 = r[p], u1 = r[nr + p], u2 = r[2 * nr + p];
    r[p] = u0 * u0;
    r[nr + p] = u1 * u1;
    r[2 * nr + p] = u2 * u2;
    r[3 * nr + p] = u0 * u1;
    r[4 * nr + p] = u0 * u2;
    r[5 * nr + p] = u1 * u2;
    if (measure_speed) speed = std::max(speed, std::abs(u0) + std::abs(u1) + std::abs(u2));
  }
  if (measure_speed) {
    if (!std::isfinite(speed))
      throw NumericalError(
          sformat("the Navier-Stokes solution became non-finite at t = %.4g (step %zu); "
                  "lower the CFL number or raise the viscosity",
                  time_, steps_));
    max_speed_ = speed;
  }
  w.six.forward(w.real.data(), w.spectral.data());
}

// epsilon / (2 E_f) with E_f the energy of the forced band in the stage state exp(-nu k^2 shift) v.
double NavierStokes3D::forcing_coefficient(double shift) const {
  if (options_.injection_rate == 0.0) return 0.0;
  const auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  const double lo2 = options_.forcing_min * options_.forcing_min;
  const double hi2 = options_.forcing_max * options_.forcing_max;
  const long reach = static_cast<long>(std::ceil(options_.forcing_max));
  double energy = 0.0;
  for (long a = -reach; a <= reach; ++a)
    for (long b = -reach; b <= reach; ++b)
      for (long c = 0; c <= reach; ++c) {
        const double k2 = double(a * a + b * b + c * c);
        if (k2 <= lo2 || k2 > hi2) continue;
        const std::size_t i =
            static_cast<std::size_t>((a + static_cast<long>(n)) % static_cast<long>(n));
        const std::size_t j =
            static_cast<std::size_t>((b + static_cast<long>(n)) % static_cast<long>(n));
        const std::size_t q = (i * n + j) * nh + static_cast<std::size_t>(c);
        const double f = std::exp(-2.0 * viscosity_ * k2 * shift);
        const double weight = c == 0 ? 0.5 : 1.0;  // half of |u_k|^2 over the full spectrum
        energy +=
            weight * f * (std::norm(w.v[q]) + std::norm(w.v[nc + q]) + std::norm(w.v[2 * nc + q]));
      }
  return energy > 0.0 ? options_.injection_rate / (2.0 * energy) : 0.0;
}

// Stage update from the r2c of the products in spectral[0, 6 modes): N = -i m_b (u_a u_b)_k,
// G = exp(nu k^2 shift) P[N] + alpha v on forced modes, dv = a dv + dt G, v += b dv; after the last
// stage v is moved to the end of the step.
void NavierStokes3D::update(double a, double b, double dt, double shift, double step, bool last) {
  auto& w = *work_;
  const double alpha = forcing_coefficient(shift);
  decay_table(w.m_full, -viscosity_, shift, w.inverse_full);
  decay_table(w.m_half, -viscosity_, shift, w.inverse_half);
  if (last) {
    decay_table(w.m_full, viscosity_, step, w.step_full);
    decay_table(w.m_half, viscosity_, step, w.step_half);
  } else {
    w.step_full.assign(n_, 1.0);
    w.step_half.assign(n_ / 2 + 1, 1.0);
  }
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  const double norm = 1.0 / static_cast<double>(real_size_);
  const double lo2 = options_.forcing_min * options_.forcing_min;
  const double hi2 = options_.forcing_max * options_.forcing_max;
  const double* inverse_k2 = w.inverse_k2.data();
  for (std::size_t i = 0; i < n; ++i) {
    if (!w.kept_full[i]) continue;
    const double m0 = w.m_full[i];
    for (std::size_t j = 0; j < n; ++j) {
      if (!w.kept_full[j]) continue;
      const double m1 = w.m_full[j];
      const double gij = w.inverse_full[i] * w.inverse_full[j] * norm;
      const double sij = w.step_full[i] * w.step_full[j];
      const std::size_t row = (i * n + j) * nh;
      double* v[3];
      double* dv[3];
      const double* P[6];
      for (int c = 0; c < 3; ++c) {
        v[c] = reinterpret_cast<double*>(w.v.data() + c * nc + row);
        dv[c] = reinterpret_cast<double*>(w.dv.data() + c * nc + row);
      }
      for (int c = 0; c < 6; ++c)
        P[c] = reinterpret_cast<const double*>(w.spectral.data() + c * nc + row);
      const std::size_t m01 = static_cast<std::size_t>(m0 * m0 + m1 * m1);
      for (std::size_t l = 0; l < w.kept_half; ++l) {
        const double m2 = w.m_half[l];
        const std::size_t k2 = m01 + l * l;
        const double g = gij * w.inverse_half[l];
        const double s = sij * w.step_half[l];
        double nr[3], ni[3];
        divergence_of_products(P, l, m0, m1, m2, nr, ni);
        // Leray projection: N - m (m . N) / m^2 (inverse_k2[0] = 0 keeps the mean at zero).
        const double pr = (m0 * nr[0] + m1 * nr[1] + m2 * nr[2]) * inverse_k2[k2];
        const double pi = (m0 * ni[0] + m1 * ni[1] + m2 * ni[2]) * inverse_k2[k2];
        const double m[3] = {m0, m1, m2};
        const double force = (k2 > lo2 && k2 <= hi2) ? alpha : 0.0;
        for (int c = 0; c < 3; ++c) {
          const double gr = g * (nr[c] - m[c] * pr) + force * v[c][2 * l];
          const double gi = g * (ni[c] - m[c] * pi) + force * v[c][2 * l + 1];
          dv[c][2 * l] = a * dv[c][2 * l] + dt * gr;
          dv[c][2 * l + 1] = a * dv[c][2 * l + 1] + dt * gi;
          v[c][2 * l] = s * (v[c][2 * l] + b * dv[c][2 * l]);
          v[c][2 * l + 1] = s * (v[c][2 * l + 1] + b * dv[c][2 * l + 1]);
        }
      }
    }
  }
}

// The shared stepping driver's view of the solver.
struct NavierStokes3D::Stepping {
  NavierStokes3D& f;
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

void NavierStokes3D::step(double dt) {
  Stepping s{*this};
  detail::fixed_step(s, dt, "NavierStokes3D");
}

double NavierStokes3D::stable_time_step() {
  Stepping s{*this};
  return detail::stable_time_step(s);
}

void NavierStokes3D::advance(double duration) {
  Stepping s{*this};
  detail::advance(s, duration);
}

void NavierStokes3D::advance_turnovers(double turnovers) {
  Stepping s{*this};
  detail::advance_turnovers(s, turnovers);
}

void NavierStokes3D::tendency(std::span<complex> out) {
  if (out.size() != 3 * modes_size_) throw InternalError("NavierStokes3D::tendency: wrong size");
  auto& w = *work_;
  std::fill(out.begin(), out.end(), complex{});
  nonlinear(0.0, false);
  const double alpha = forcing_coefficient(0.0);
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  const double norm = 1.0 / static_cast<double>(real_size_);
  const double lo2 = options_.forcing_min * options_.forcing_min;
  const double hi2 = options_.forcing_max * options_.forcing_max;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < w.kept_half; ++l) {
        if (!w.kept_full[i] || !w.kept_full[j]) continue;
        const std::size_t q = (i * n + j) * nh + l;
        const double m[3] = {w.m_full[i], w.m_full[j], w.m_half[l]};
        const double k2 = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
        if (k2 == 0.0) continue;
        const double* P[6];
        for (int c = 0; c < 6; ++c)
          P[c] = reinterpret_cast<const double*>(w.spectral.data() + c * nc + (i * n + j) * nh);
        double nr[3], ni[3];
        divergence_of_products(P, l, m[0], m[1], m[2], nr, ni);
        const complex N[3] = {complex(nr[0], ni[0]) * norm, complex(nr[1], ni[1]) * norm,
                              complex(nr[2], ni[2]) * norm};
        const complex km = (m[0] * N[0] + m[1] * N[1] + m[2] * N[2]) / k2;
        const bool forced = k2 > lo2 && k2 <= hi2;
        for (int a = 0; a < 3; ++a)
          out[a * nc + q] =
              N[a] - m[a] * km + ((forced ? alpha : 0.0) - viscosity_ * k2) * w.v[a * nc + q];
      }
}

FlowDiagnostics NavierStokes3D::diagnostics() const {
  const auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  double energy = 0.0, inverse_k = 0.0, k2_energy = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!w.kept_full[i]) continue;
    for (std::size_t j = 0; j < n; ++j) {
      if (!w.kept_full[j]) continue;
      for (std::size_t l = 0; l < w.kept_half; ++l) {
        const std::size_t q = (i * n + j) * nh + l;
        const double k2 =
            w.m_full[i] * w.m_full[i] + w.m_full[j] * w.m_full[j] + w.m_half[l] * w.m_half[l];
        if (k2 == 0.0) continue;
        const double e = 0.5 * detail::half_axis_weight(l, n) *
                         (std::norm(w.v[q]) + std::norm(w.v[nc + q]) + std::norm(w.v[2 * nc + q]));
        energy += e;
        inverse_k += e / std::sqrt(k2);
        k2_energy += k2 * e;
      }
    }
  }
  FlowDiagnostics d;
  d.time = time_;
  d.energy = energy;
  d.enstrophy = k2_energy;
  d.dissipation = 2.0 * viscosity_ * k2_energy;
  d.rms_velocity = std::sqrt(2.0 * energy / 3.0);
  d.integral_scale = energy > 0.0 ? 3.0 * kPi / (4.0 * energy) * inverse_k : 0.0;
  d.turnover_time = energy > 0.0 ? d.integral_scale / d.rms_velocity : 0.0;
  if (d.dissipation > 0.0) {
    const double k_max = static_cast<double>(n_) / 3.0;
    d.kmax_eta = k_max * std::pow(viscosity_ * viscosity_ * viscosity_ / d.dissipation, 0.25);
    const double taylor =
        std::sqrt(15.0 * viscosity_ * d.rms_velocity * d.rms_velocity / d.dissipation);
    d.taylor_reynolds = d.rms_velocity * taylor / viscosity_;
  }
  return d;
}

double NavierStokes3D::relative_divergence() const {
  const auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  double divergence = 0.0, gradient = 0.0;
  std::size_t q = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t l = 0; l < nh; ++l, ++q) {
        const double m[3] = {w.m_full[i], w.m_full[j], w.m_half[l]};
        const complex kdotu = m[0] * w.v[q] + m[1] * w.v[nc + q] + m[2] * w.v[2 * nc + q];
        divergence += std::norm(kdotu);
        gradient += (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]) *
                    (std::norm(w.v[q]) + std::norm(w.v[nc + q]) + std::norm(w.v[2 * nc + q]));
      }
  return gradient > 0.0 ? std::sqrt(divergence / gradient) : 0.0;
}

double NavierStokes3D::longitudinal_skewness() {
  auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_;
  double second = 0.0, third = 0.0;
  std::span<complex> spectrum(w.spectral.data(), nc);
  std::span<double> derivative(w.real.data(), real_size_);
  for (int a = 0; a < 3; ++a) {
    std::size_t q = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t l = 0; l < nh; ++l, ++q) {
          const double m = a == 0 ? w.m_full[i] : a == 1 ? w.m_full[j] : w.m_half[l];
          spectrum[q] = kI * m * w.v[a * nc + q];  // Nyquist modes are zero (dealiased)
        }
    w.single.backward_destroying(spectrum.data(), derivative.data());
    for (double d : derivative) {
      second += d * d;
      third += d * d * d;
    }
  }
  const double count = 3.0 * static_cast<double>(real_size_);
  second /= count;
  third /= count;
  return second > 0.0 ? third / std::pow(second, 1.5) : 0.0;
}

void NavierStokes3D::quantity(FlowQuantity which, std::span<double> out) {
  if (out.size() != real_size_) throw InternalError("NavierStokes3D::quantity: wrong size");
  auto& w = *work_;
  const std::size_t n = n_, nh = n / 2 + 1, nc = modes_size_, nr = real_size_;
  std::span<complex> spectrum(w.spectral.data(), nc);
  const auto each_mode = [&](auto&& f) {
    std::size_t q = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t l = 0; l < nh; ++l, ++q) f(q, w.m_full[i], w.m_full[j], w.m_half[l]);
  };
  switch (which) {
    case FlowQuantity::velocity_x:
      std::copy(w.v.begin(), w.v.begin() + nc, spectrum.begin());
      w.single.backward_destroying(spectrum.data(), out.data());
      return;
    case FlowQuantity::vorticity: {
      std::fill(out.begin(), out.end(), 0.0);
      std::span<double> component(w.real.data(), nr);
      for (int a = 0; a < 3; ++a) {
        // omega_a = i (m_b u_c - m_c u_b), (a, b, c) cyclic.
        const int b = (a + 1) % 3, c = (a + 2) % 3;
        each_mode([&](std::size_t q, double m0, double m1, double m2) {
          const double m[3] = {m0, m1, m2};
          spectrum[q] = kI * (m[b] * w.v[c * nc + q] - m[c] * w.v[b * nc + q]);
        });
        w.single.backward_destroying(spectrum.data(), component.data());
        for (std::size_t p = 0; p < nr; ++p) out[p] += component[p] * component[p];
      }
      for (auto& x : out) x = std::sqrt(x);
      return;
    }
    case FlowQuantity::pressure: {
      // lap p = -d_a d_b (u_a u_b): p_k = -m_a m_b (u_a u_b)_k / k^2, dealiased.
      double* u = w.real.data();
      for (int a = 0; a < 3; ++a) {
        std::copy(w.v.begin() + a * nc, w.v.begin() + (a + 1) * nc, spectrum.begin());
        w.single.backward_destroying(spectrum.data(), u + a * nr);
      }
      AlignedVector<complex> pressure(nc, complex{});
      std::span<double> product(u + 3 * nr, nr);
      const int pairs[6][2] = {{0, 0}, {1, 1}, {2, 2}, {0, 1}, {0, 2}, {1, 2}};
      for (const auto& pair : pairs) {
        const int a = pair[0], b = pair[1];
        for (std::size_t p = 0; p < nr; ++p) product[p] = u[a * nr + p] * u[b * nr + p];
        w.single.forward(product.data(), spectrum.data());
        const double twice = a == b ? 1.0 : 2.0;
        each_mode([&](std::size_t q, double m0, double m1, double m2) {
          const double m[3] = {m0, m1, m2};
          const double k2 = m0 * m0 + m1 * m1 + m2 * m2;
          if (k2 == 0.0) return;
          pressure[q] -= twice * m[a] * m[b] / k2 * spectrum[q];
        });
      }
      const double norm = 1.0 / static_cast<double>(nr);
      std::size_t q = 0;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
          for (std::size_t l = 0; l < nh; ++l, ++q)
            spectrum[q] = (w.kept_full[i] && w.kept_full[j] && l < w.kept_half) ? pressure[q] * norm
                                                                                : complex{};
      w.single.backward_destroying(spectrum.data(), out.data());
      return;
    }
  }
}

}  // namespace ksi::synth
