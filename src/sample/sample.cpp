#include "ksi/sample/sample.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"

namespace ksi::sample {
namespace {

// Per-sample noise: each sample's stream is consumed in the same order in every integrator step.
class NoiseSource {
 public:
  NoiseSource(std::uint64_t seed, StreamPurpose purpose, std::size_t first, std::size_t count) {
    streams_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) streams_.emplace_back(seed, purpose, first + i);
  }
  void fill(Matrix& xi) {
    ScopedPhase phase("sample.noise");
    for (std::size_t i = 0; i < xi.rows(); ++i) streams_[i].fill_normal(xi.row(i));
  }

 private:
  std::vector<RandomStream> streams_;
};

void check_finite(const Matrix& X, double t) {
  for (double v : X.values())
    if (!std::isfinite(v))
      throw NumericalError(sformat("a sample became non-finite at t = %.4f (try more --steps)", t));
}

void drift(const Model& model, double t, const Matrix& X, Matrix& B) {
  ScopedPhase phase("sample.drift");
  model.drift(t, X, B);
}

// D* SDE in Y = beta X form with the Heun corrector (METHOD section 3).
void integrate_optimal(const Model& model, const std::vector<double>& grid, NoiseSource& noise,
                       Matrix& X) {
  const Schedule& s = model.schedule();
  const std::size_t n = X.rows(), d = X.cols();
  Matrix Y(n, d, 0.0), B0, B1, Xs(n, d), xi(n, d);
  for (std::size_t step = 0; step + 1 < grid.size(); ++step) {
    const double t0 = grid[step], t1 = grid[step + 1];
    const StepIntegrals w = s.step_integrals(t0, t1);
    const double sv = std::sqrt(std::max(w.v, 0.0));
    const double b1 = s.beta(t1);
    noise.fill(xi);
    drift(model, t0, X, B0);
    for (std::size_t q = 0; q < X.size(); ++q)
      Xs.data()[q] = (Y.data()[q] + 2.0 * B0.data()[q] * (w.w0 + w.w1) + sv * xi.data()[q]) / b1;
    drift(model, t1, Xs, B1);
    for (std::size_t q = 0; q < X.size(); ++q) {
      Y.data()[q] += 2.0 * (B0.data()[q] * w.w0 + B1.data()[q] * w.w1) + sv * xi.data()[q];
      X.data()[q] = Y.data()[q] / b1;
    }
    check_finite(X, t1);
  }
}

// Probability-flow ODE dX = b dt, Heun.
void integrate_ode(const Model& model, const std::vector<double>& grid, Matrix& X) {
  Matrix B0, B1, Xs(X.rows(), X.cols());
  for (std::size_t step = 0; step + 1 < grid.size(); ++step) {
    const double t0 = grid[step], t1 = grid[step + 1], h = t1 - t0;
    drift(model, t0, X, B0);
    for (std::size_t q = 0; q < X.size(); ++q) Xs.data()[q] = X.data()[q] + h * B0.data()[q];
    drift(model, t1, Xs, B1);
    for (std::size_t q = 0; q < X.size(); ++q)
      X.data()[q] += 0.5 * h * (B0.data()[q] + B1.data()[q]);
    check_finite(X, t1);
  }
}

// dX = [b + D s] dt + sqrt(2 D) dW with s = (beta b - beta' x) / (alpha gamma), Euler-Maruyama.
// The drift is evaluated at the left end of each step, so alpha_t > 0 wherever s is used.
void integrate_constant(const Model& model, const std::vector<double>& grid, double D,
                        NoiseSource& noise, Matrix& X) {
  const Schedule& s = model.schedule();
  Matrix B, xi(X.rows(), X.cols());
  for (std::size_t step = 0; step + 1 < grid.size(); ++step) {
    const double t0 = grid[step], t1 = grid[step + 1], h = t1 - t0;
    const double a = s.alpha(t0), b = s.beta(t0), bd = s.beta_dot(t0), g = s.gamma(t0);
    noise.fill(xi);
    drift(model, t0, X, B);
    const double sd = std::sqrt(2.0 * D * h);
    for (std::size_t q = 0; q < X.size(); ++q) {
      const double x = X.data()[q], bq = B.data()[q];
      const double score = (b * bq - bd * x) / (a * g);
      X.data()[q] = x + h * (bq + D * score) + sd * xi.data()[q];
    }
    check_finite(X, t1);
  }
}

}  // namespace

Integrator parse_integrator(const std::string& name) {
  if (name == "optimal" || name == "dstar" || name == "sde") return Integrator::optimal_sde;
  if (name == "ode") return Integrator::ode;
  if (name == "constant") return Integrator::constant_sde;
  throw UsageError(cat("unknown integrator '", name, "' (known: optimal, ode, constant)"));
}

std::string to_string(Integrator integrator) {
  switch (integrator) {
    case Integrator::optimal_sde: return "optimal";
    case Integrator::ode: return "ode";
    case Integrator::constant_sde: return "constant";
  }
  return "?";
}

std::size_t default_batch(const Model& model) {
  const std::size_t d = std::max<std::size_t>(1, model.shape().size());
  return std::clamp<std::size_t>((std::size_t{2} << 20) / (sizeof(double) * d), 1, 64);
}

Matrix generate(const Model& model, const SampleOptions& options, std::size_t first,
                std::size_t count) {
  Matrix out = generate_states(model, options, first, count);
  const Matrix normals = spread_normals(model.output_spread().rows(), options.seed, options.streams, first, count);
  model.to_data(out, &normals);
  return out;
}

Matrix spread_normals(std::size_t components, std::uint64_t seed, StreamPurpose streams,
                      std::size_t first, std::size_t count) {
  Matrix xi(count, components);
  for (std::size_t i = 0; i < count; ++i) RandomStream(seed, streams, first + i, 1).fill_normal(xi.row(i));
  return xi;
}

Matrix generate_states(const Model& model, const SampleOptions& options, std::size_t first,
                       std::size_t count) {
  if (options.steps < 1) throw UsageError("--steps must be at least 1");
  if (options.integrator == Integrator::constant_sde && !(options.diffusion >= 0.0))
    throw UsageError("--diffusion must be non-negative");
  const std::size_t d = model.shape().size();
  std::vector<double> grid(options.steps + 1);
  for (std::size_t i = 0; i <= options.steps; ++i)
    grid[i] = static_cast<double>(i) / static_cast<double>(options.steps);
  Matrix out(count, d);
  const std::size_t batch = options.batch ? options.batch : default_batch(model);
  for (std::size_t b0 = 0; b0 < count; b0 += batch) {
    const std::size_t n = std::min(batch, count - b0);
    NoiseSource noise(options.seed, options.streams, first + b0, n);
    // X_0 ~ N(0, I): the first d numbers of each sample's stream (forgotten at once under D*).
    Matrix X(n, d);
    noise.fill(X);
    switch (options.integrator) {
      case Integrator::optimal_sde: integrate_optimal(model, grid, noise, X); break;
      case Integrator::ode: integrate_ode(model, grid, X); break;
      case Integrator::constant_sde: integrate_constant(model, grid, options.diffusion, noise, X); break;
    }
    for (std::size_t i = 0; i < n; ++i) {
      const auto x = X.row(i);
      std::copy(x.begin(), x.end(), out.row(b0 + i).begin());
    }
  }
  return out;
}

}  // namespace ksi::sample
