#include "ksi/sample/sample.hpp"

#include <algorithm>
#include <cmath>

#include "ksi/core/choice.hpp"
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

}  // namespace

std::size_t default_batch(const Model& model) {
  const std::size_t d = std::max<std::size_t>(1, model.shape().size());
  return std::clamp<std::size_t>((std::size_t{2} << 20) / (sizeof(double) * d), 1, 64);
}

Matrix generate(const Model& model, const SampleOptions& options, std::size_t first,
                std::size_t count, std::vector<double>* beyond) {
  Matrix out = generate_states(model, options, first, count);
  const Matrix normals = spread_normals(model.output().spread_components(), options.seed,
                                        options.streams, first, count);
  model.to_data(out, &normals, beyond);
  return out;
}

Matrix spread_normals(std::size_t components, std::uint64_t seed, StreamPurpose streams,
                      std::size_t first, std::size_t count) {
  Matrix xi(count, components);
  for (std::size_t i = 0; i < count; ++i)
    RandomStream(seed, streams, first + i, 1).fill_normal(xi.row(i));
  return xi;
}

StepGrid parse_step_grid(const std::string& name, const std::string& what) {
  return parse_choice<StepGrid>(what, name,
                                {{"model", StepGrid::model}, {"uniform", StepGrid::uniform}});
}

std::string to_string(StepGrid grid) {
  return grid == StepGrid::model ? "model" : "uniform";
}

bool on_model_grid(const Model& model, const SampleOptions& options) {
  // Linear eta only kinks at the grid times (continuous): equal steps, as ever.
  return options.step_grid == StepGrid::model &&
         model.eta_interpolation() != EtaInterpolation::linear;
}

std::vector<double> sample_grid(const Model& model, const SampleOptions& options) {
  // Off the model's grid no node but 0 and 1: `steps` equal steps.
  if (!on_model_grid(model, options)) return integration_grid({}, options.steps);
  return integration_grid(model.times(), options.steps,
                          bend_fraction(model.eta_interpolation(), model.eta_ramp_fraction()));
}

void SampleOptions::validate(const std::string& prefix) const {
  if (steps < 1) throw UsageError(cat("--", prefix, "steps must be at least 1"));
  dynamics().validate(prefix);
}

Matrix generate_states(const Model& model, const SampleOptions& options, std::size_t first,
                       std::size_t count) {
  options.validate();
  const Dynamics dynamics = options.dynamics();
  const std::size_t d = model.shape().size();
  const std::vector<double> grid = sample_grid(model, options);
  Matrix out(count, d);
  const std::size_t batch = options.batch ? options.batch : default_batch(model);
  for (std::size_t b0 = 0; b0 < count; b0 += batch) {
    const std::size_t n = std::min(batch, count - b0);
    NoiseSource noise(options.seed, options.streams, first + b0, n);
    // X_0 ~ N(0, I): the first d numbers of each sample's stream (forgotten at once under D*).
    Matrix X0(n, d);
    noise.fill(X0);
    PathState state = PathState::start(std::move(X0));
    const DriftFunction drift = [&model](double t, Side side, const Matrix& X, Matrix& B) {
      ScopedPhase phase("sample.drift");
      model.drift(t, X, B, side);
    };
    const NoiseFunction fill = [&noise](Matrix& xi) { noise.fill(xi); };
    for (std::size_t step = 0; step + 1 < grid.size(); ++step)
      integrator_step(dynamics, model.schedule(), grid[step], grid[step + 1], drift, fill, state);
    for (std::size_t i = 0; i < n; ++i) {
      const auto x = state.X.row(i);
      std::copy(x.begin(), x.end(), out.row(b0 + i).begin());
    }
  }
  return out;
}

}  // namespace ksi::sample
