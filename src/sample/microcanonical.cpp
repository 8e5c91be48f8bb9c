#include "ksi/sample/microcanonical.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ksi/core/aligned.hpp"
#include "ksi/core/choice.hpp"
#include "ksi/core/cholesky.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/par/log.hpp"

namespace ksi::sample {
namespace {

constexpr const char* kGroup = "microcanonical";

MicrocanonicalOptions validated(const MicrocanonicalOptions& options) {
  options.validate();
  return options;
}

// Levenberg-Marquardt steps from x (the field) until L <= threshold^2 (synthesize). Returns L at
// the final x; updates result's iterations, evaluations, refine_steps, grams and status.
double refine_levenberg_marquardt(const features::FeatureMap& map, std::span<const double> target,
                                  double threshold, const MicrocanonicalOptions& options,
                                  std::span<double> x, const LbfgsObserver& observe,
                                  SynthesisResult& result) {
  ScopedPhase phase("sample.microcanonical.refine");
  constexpr double kFirstRidge = 1e-6, kSmallestRidge = 1e-10, kLargestRidge = 1e-1;
  const std::size_t P = map.size(), d = x.size();
  Matrix gram(P, P), factor;
  std::vector<double> h(P), phi(P), trial_phi(P), eta(P);
  AlignedVector<double> step(d), trial(d);
  Matrix X(1, d), V(1, d, 0.0);
  double trace = 0.0;
  bool stale = true;   // the Gram is not J J^T at x
  bool fresh = false;  // it is, assembled there (a step that fails on it raises mu)
  const auto assemble = [&] {
    ScopedPhase gram_phase("sample.microcanonical.gram");
    std::copy(x.begin(), x.end(), X.row(0).begin());
    gram.fill(0.0);
    std::fill(h.begin(), h.end(), 0.0);
    map.accumulate(X, V, gram, h);
    map.finalize_gram(gram);
    trace = 0.0;
    for (std::size_t p = 0; p < P; ++p) trace += gram(p, p);
    ++result.grams;
    stale = false;
    fresh = true;
  };
  const auto loss_at = [&](std::span<const double> y, std::vector<double>& values) {
    map.evaluate(y, values);
    ++result.evaluations;
    double value = 0.0;
    for (std::size_t p = 0; p < P; ++p) value += (values[p] - target[p]) * (values[p] - target[p]);
    return value;
  };
  double value = loss_at(x, phi);
  const double goal = threshold * threshold;
  double mu = kFirstRidge;
  result.status = LbfgsStatus::max_iterations;
  while (value > goal) {
    if (result.refine_steps >= options.refine_iterations) break;
    if (stale) assemble();
    factor = gram;
    for (std::size_t p = 0; p < P; ++p) factor(p, p) += mu * trace / static_cast<double>(P);
    bool kept = false;
    double trial_value = std::numeric_limits<double>::infinity();
    if (trace > 0.0 && cholesky_factor(factor)) {
      for (std::size_t p = 0; p < P; ++p) eta[p] = phi[p] - target[p];
      cholesky_solve(factor, eta);
      map.vjp(x, eta, step);
      for (std::size_t i = 0; i < d; ++i) trial[i] = x[i] - step[i];
      trial_value = loss_at(trial, trial_phi);
      kept = std::isfinite(trial_value) && trial_value < value;
    }
    if (!kept && !fresh) {  // a Gram of an earlier x: assembled at x before mu is raised
      stale = true;
      continue;
    }
    if (!kept) {
      if (mu >= kLargestRidge) {  // no step of the Gram lowers L any more
        result.status = LbfgsStatus::line_search_failed;
        break;
      }
      mu *= 10.0;
      continue;
    }
    const double reduction = std::sqrt(trial_value / value);
    std::copy(trial.begin(), trial.end(), x.begin());
    phi.swap(trial_phi);
    value = trial_value;
    mu = std::max(mu / 3.0, kSmallestRidge);
    ++result.refine_steps;
    ++result.iterations;
    fresh = false;
    stale = reduction > options.refine_refresh;
    if (observe) observe(LbfgsIteration{result.iterations, value, 0.0, 1.0, result.evaluations});
  }
  if (value <= goal) result.status = LbfgsStatus::value_reached;
  return value;
}

// Microcanonical synthesis as a sampling-job method: remembers the results of the batch it
// generated last until run_sampling asks for the records.
class MicrocanonicalMethod final : public SampleMethod {
 public:
  MicrocanonicalMethod(const Model& model, const MicrocanonicalOptions& options)
      : model_(model), options_(validated(options)), features_(TrainingFeatures::of(model)) {
    if (options_.batch == 0) options_.batch = default_batch(model);
    // Before any output: a preconditioner the model cannot give is an input error now.
    preconditioned_ = microcanonical_preconditioner(model_, options_.precondition) != nullptr;
  }

  std::string name() const override { return "microcanonical"; }
  std::size_t batch() const override { return options_.batch; }

  Params settings() const override {
    Params config;
    config.set("seed", static_cast<std::int64_t>(options_.seed));
    config.set("batch", options_.batch);
    config.set("target", to_string(options_.target));
    config.set("lbfgs_history", options_.history);
    config.set("max_iterations", options_.max_iterations);
    config.set("tolerance", options_.tolerance);
    config.set("precondition", to_string(options_.precondition));
    if (options_.refine_below > 0.0) {
      config.set("refine_below", options_.refine_below);
      config.set("refine_iterations", options_.refine_iterations);
      config.set("refine_refresh", options_.refine_refresh);
    }
    return config;
  }

  Matrix generate(std::size_t first, std::size_t count) override {
    return generate_microcanonical(model_, features_, options_, first, count, results_);
  }

  void create_records(const io::Group& root, std::size_t count) const override {
    const io::Group group = root.create_group(kGroup);
    group.create_rows("residual", io::DType::float64, count, {});
    group.create_rows("iterations", io::DType::int64, count, {});
    group.create_rows("evaluations", io::DType::int64, count, {});
    group.create_rows("refine_steps", io::DType::int64, count, {});
    group.create_rows("target_item", io::DType::int64, count, {});
  }

  void write_records(const io::Group& root, std::size_t first, std::size_t count,
                     const par::Comm& comm) override {
    ensure(count == 0 || count == results_.size(), "microcanonical records of another batch");
    std::vector<double> residual(count);
    std::vector<std::int64_t> iterations(count), evaluations(count), refine(count), target(count);
    for (std::size_t i = 0; i < count; ++i) {
      residual[i] = results_[i].residual;
      iterations[i] = static_cast<std::int64_t>(results_[i].iterations);
      evaluations[i] = static_cast<std::int64_t>(results_[i].evaluations);
      refine[i] = static_cast<std::int64_t>(results_[i].refine_steps);
      target[i] = features_.target_item(options_.target, first + i);
    }
    const io::Group group = root.open_group(kGroup);
    group.open_rows("residual").write_rows(first, count, std::span<const double>(residual));
    group.open_rows("iterations")
        .write_rows(first, count, std::span<const std::int64_t>(iterations));
    group.open_rows("evaluations")
        .write_rows(first, count, std::span<const std::int64_t>(evaluations));
    group.open_rows("refine_steps").write_rows(first, count, std::span<const std::int64_t>(refine));
    group.open_rows("target_item").write_rows(first, count, std::span<const std::int64_t>(target));

    // One log line per sample of this round, from every rank's batch.
    std::vector<double> line;
    for (std::size_t i = 0; i < count; ++i)
      line.insert(line.end(),
                  {static_cast<double>(first + i), residual[i], static_cast<double>(iterations[i]),
                   static_cast<double>(target[i]), static_cast<double>(refine[i])});
    const std::vector<double> all = comm.allgatherv(line);
    for (std::size_t k = 0; k + 4 < all.size(); k += 5) {
      const std::string matched = all[k + 3] < 0 ? std::string("the training mean")
                                                 : sformat("training item %.0f", all[k + 3]);
      const std::string refined =
          all[k + 4] > 0 ? sformat(", %.0f of them Levenberg-Marquardt", all[k + 4]) : "";
      par::Log::info(
          sformat("microcanonical: sample %.0f: residual %.3g after %.0f iterations%s (%s)", all[k],
                  all[k + 1], all[k + 2], refined.c_str(), matched.c_str()));
    }
    results_.clear();
  }

  void finish(const io::Group& root, const par::Comm& comm) const override {
    root.set_attribute("seed", static_cast<std::int64_t>(options_.seed));
    const io::Group group = root.open_group(kGroup);
    std::vector<double> residual = group.read_reals("residual");
    const std::vector<std::int64_t> iterations = group.read_integers("iterations");
    const std::size_t above = static_cast<std::size_t>(std::count_if(
        residual.begin(), residual.end(), [&](double r) { return !(r <= options_.tolerance); }));
    group.set_attribute("target", to_string(options_.target));
    group.set_attribute("lbfgs_history", static_cast<std::int64_t>(options_.history));
    group.set_attribute("max_iterations", static_cast<std::int64_t>(options_.max_iterations));
    group.set_attribute("tolerance", options_.tolerance);
    group.set_attribute("refine_below", options_.refine_below);
    group.set_attribute("refine_iterations", static_cast<std::int64_t>(options_.refine_iterations));
    group.set_attribute("refine_refresh", options_.refine_refresh);
    group.set_attribute("precondition", preconditioned_ ? "spectrum" : "none");
    group.set_attribute("residual_scale", features_.scale);
    group.set_attribute(
        "residual_definition",
        "|phi(x) - phi_target|_2 / residual_scale, residual_scale = root-mean-square "
        "distance of the training items' features from their mean (model units)");
    group.set_attribute("initial_state",
                        preconditioned_
                            ? "C z, z white noise N(0, I) (stream (seed, 10, id)), C the "
                              "square root of the training spectrum, in model units"
                            : "white noise N(0, I) in model units, stream (seed, 10, id)");
    group.set_attribute("line_search", "strong Wolfe (Nocedal-Wright zoom), c1 = 1e-4, c2 = 0.9");
    group.set_attribute("above_tolerance", static_cast<std::int64_t>(above));
    if (residual.empty()) return;
    double iteration_sum = 0.0;
    for (auto v : iterations) iteration_sum += static_cast<double>(v);
    const auto max_iterations = *std::max_element(iterations.begin(), iterations.end());
    std::sort(residual.begin(), residual.end());
    par::Log::info(sformat(
        "microcanonical: %zu samples: residual median %.3g, largest %.3g; iterations mean %.1f, "
        "largest %lld",
        residual.size(), residual[residual.size() / 2], residual.back(),
        iteration_sum / static_cast<double>(iterations.size()),
        static_cast<long long>(max_iterations)));
    if (above > 0)
      par::Log::warn(
          sformat("microcanonical: %zu of %zu samples stopped above the tolerance %g (raise %s)",
                  above, residual.size(), options_.tolerance,
                  options_.refine_below > options_.tolerance
                      ? "--refine-iterations, or --max-iterations"
                      : "--max-iterations, or refine with --refine-below 0.1"));
  }

 private:
  const Model& model_;
  MicrocanonicalOptions options_;
  TrainingFeatures features_;
  bool preconditioned_ = false;  // the preconditioner the options give on this model
  std::vector<SynthesisResult> results_;
};

}  // namespace

MicrocanonicalTarget parse_microcanonical_target(const std::string& name) {
  return parse_choice<MicrocanonicalTarget>(
      "--target", name,
      {{"item", MicrocanonicalTarget::item}, {"mean", MicrocanonicalTarget::mean}});
}

std::string to_string(MicrocanonicalTarget target) {
  return target == MicrocanonicalTarget::item ? "item" : "mean";
}

MicrocanonicalPrecondition parse_microcanonical_precondition(const std::string& name) {
  return parse_choice<MicrocanonicalPrecondition>(
      "--precondition", name,
      {{"auto", MicrocanonicalPrecondition::automatic},
       {"spectrum", MicrocanonicalPrecondition::spectrum},
       {"none", MicrocanonicalPrecondition::none}});
}

std::string to_string(MicrocanonicalPrecondition precondition) {
  switch (precondition) {
    case MicrocanonicalPrecondition::automatic:
      return "auto";
    case MicrocanonicalPrecondition::spectrum:
      return "spectrum";
    case MicrocanonicalPrecondition::none:
      return "none";
  }
  return "auto";
}

std::unique_ptr<SpectralPreconditioner> microcanonical_preconditioner(
    const Model& model, MicrocanonicalPrecondition precondition) {
  if (precondition == MicrocanonicalPrecondition::none) return nullptr;
  if (precondition == MicrocanonicalPrecondition::automatic) {
    // Where the map has a shell family: with wavelet powers alone it was slower (method.md).
    const features::FeatureSpec spec = model.features().spec();
    if (!spec.params.has("shells") || !spec.params.flag("shells", false)) return nullptr;
  }
  const auto& powers = model.training_spectrum();
  const bool usable = std::any_of(powers.begin() + (powers.empty() ? 0 : 1), powers.end(),
                                  [](double p) { return p > 0.0; });
  if (!usable) {
    if (precondition == MicrocanonicalPrecondition::automatic) return nullptr;
    throw InputError(
        "--precondition spectrum needs the model's training spectrum, with power beyond the mean "
        "(/training_spectrum, written "
        "by ksi fit for fields since this version): refit the model, or use --precondition none");
  }
  return std::make_unique<SpectralPreconditioner>(SpectralPreconditioner::from_powers(
      {model.shape().dims().begin(), model.shape().dims().end()}, model.training_spectrum()));
}

void MicrocanonicalOptions::validate() const {
  if (history < 1) throw UsageError("--lbfgs-history must be at least 1");
  if (max_iterations < 1) throw UsageError("--max-iterations must be at least 1");
  if (!(tolerance > 0.0) || !std::isfinite(tolerance))
    throw UsageError("--tolerance must be a positive number");
  if (!(refine_below >= 0.0) || !std::isfinite(refine_below))
    throw UsageError("--refine-below must be a number >= 0 (0: no refinement)");
  if (refine_iterations < 1) throw UsageError("--refine-iterations must be at least 1");
  if (!(refine_refresh > 0.0 && refine_refresh <= 1.0))
    throw UsageError("--refine-refresh must be in (0, 1]");
}

LbfgsOptions MicrocanonicalOptions::lbfgs(double loss_target) const {
  LbfgsOptions o;
  o.history = history;
  o.max_iterations = max_iterations;
  o.value_target = loss_target;
  return o;
}

TrainingFeatures TrainingFeatures::from_rows(Matrix items) {
  const std::size_t n = items.rows(), P = items.cols();
  if (n < 2 || P == 0)
    throw InputError(
        cat("microcanonical synthesis needs the features of at least 2 training items (", n,
            " given)"));
  for (double v : items.values())
    if (!std::isfinite(v)) throw InputError("the training features are not finite");
  TrainingFeatures t;
  t.mean.assign(P, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t p = 0; p < P; ++p) t.mean[p] += items(i, p);
  for (auto& m : t.mean) m /= static_cast<double>(n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t p = 0; p < P; ++p)
      sum += (items(i, p) - t.mean[p]) * (items(i, p) - t.mean[p]);
  t.scale = std::sqrt(sum / static_cast<double>(n));
  if (!(t.scale > 0.0))
    throw InputError("the training items' features are all the same: no scale for the residual");
  t.items = std::move(items);
  return t;
}

TrainingFeatures TrainingFeatures::of(const Model& model) {
  if (model.features().time_dependent())
    throw UsageError(
        "microcanonical synthesis matches features, and a combination of models is a set of "
        "drifts with no features to match: sample it with --method sde or ode");
  if (model.training_features().rows() == 0)
    throw InputError(
        "the model has no training features (/training_features; files of older ksi versions): "
        "refit it with this version of ksi fit for --method microcanonical");
  if (model.training_features().cols() != model.features().size())
    throw InputError(cat("the model's training features have ", model.training_features().cols(),
                         " columns, its feature map ", model.features().size(), " features"));
  return from_rows(model.training_features());
}

std::int64_t TrainingFeatures::target_item(MicrocanonicalTarget target, std::size_t id) const {
  if (target == MicrocanonicalTarget::mean) return -1;
  return static_cast<std::int64_t>(id % items.rows());
}

std::span<const double> TrainingFeatures::target(MicrocanonicalTarget target,
                                                 std::size_t id) const {
  if (target == MicrocanonicalTarget::mean) return mean;
  return items.row(id % items.rows());
}

SpectralPreconditioner::SpectralPreconditioner(std::vector<std::size_t> dims,
                                               std::vector<double> shell_gains)
    : shells_(dims), transform_(dims), gains_(std::move(shell_gains)) {
  if (gains_.size() != shells_.count())
    throw InternalError(
        cat("spectral preconditioner: ", gains_.size(), " gains for ", shells_.count(), " shells"));
  for (const double g : gains_)
    if (!(g > 0.0) || !std::isfinite(g))
      throw InternalError("spectral preconditioner: a gain is not positive and finite");
  work_.resize(transform_.complex_size());
}

SpectralPreconditioner SpectralPreconditioner::from_powers(std::vector<std::size_t> dims,
                                                           const std::vector<double>& powers) {
  // Shell 0 is the mean: the gains come from the shells of |k| >= 1.
  const double largest =
      powers.size() > 1 ? *std::max_element(powers.begin() + 1, powers.end()) : 0.0;
  if (!(largest > 0.0) || !std::isfinite(largest))
    throw InputError("the spectrum for the preconditioner has no power beyond the mean");
  double mean = 0.0, smallest = largest;
  std::size_t used = 0;
  for (std::size_t s = 1; s < powers.size(); ++s)
    if (powers[s] > fft::SpectralShells::kEmpty * largest) {
      mean += powers[s];
      smallest = std::min(smallest, powers[s]);
      ++used;
    }
  mean /= static_cast<double>(std::max<std::size_t>(used, 1));
  std::vector<double> gains(powers.size());
  for (std::size_t s = 1; s < powers.size(); ++s)
    gains[s] = std::sqrt(std::max(powers[s], smallest) / mean);
  gains[0] = powers.size() > 1 ? gains[1] : 1.0;
  return SpectralPreconditioner(std::move(dims), std::move(gains));
}

void SpectralPreconditioner::filter(std::span<const double> in, std::span<double> out,
                                    bool inverse) const {
  ensure(in.size() == transform_.real_size() && out.size() == in.size(),
         "spectral preconditioner: field of the wrong size");
  transform_.forward(in.data(), work_.data());
  const double n = static_cast<double>(transform_.real_size());
  const auto& shell = shells_.of_mode();
  for (std::size_t q = 0; q < work_.size(); ++q)
    work_[q] *= (inverse ? 1.0 / gains_[shell[q]] : gains_[shell[q]]) / n;
  transform_.backward_destroying(work_.data(), out.data());
}

void SpectralPreconditioner::apply(std::span<const double> in, std::span<double> out) const {
  filter(in, out, false);
}

void SpectralPreconditioner::invert(std::span<const double> x, std::span<double> z) const {
  filter(x, z, true);
}

SynthesisResult synthesize(const features::FeatureMap& map, std::span<const double> target,
                           double scale, const MicrocanonicalOptions& options, std::span<double> x,
                           const LbfgsObserver& observe,
                           const SpectralPreconditioner* precondition) {
  options.validate();
  const std::size_t P = map.size();
  ensure(target.size() == P && x.size() == map.input_shape().size(),
         "microcanonical synthesis: target or field of the wrong size");
  std::vector<double> phi(P);
  double value = 0.0;
  // L(x) = |phi(x) - target|^2, grad L = J^T eta with eta = 2 (phi - target): one pass of the map.
  const features::FeatureMap::EtaOfPhi eta_of = [&](std::span<const double> values,
                                                    std::span<double> eta) {
    value = 0.0;
    for (std::size_t p = 0; p < P; ++p) {
      const double r = values[p] - target[p];
      value += r * r;
      eta[p] = 2.0 * r;
    }
  };
  AlignedVector<double> field(precondition ? x.size() : 0);
  const ValueAndGradient loss = [&](std::span<const double> y, std::span<double> gradient) {
    if (!precondition) {
      map.evaluate_and_vjp(y, phi, eta_of, gradient);
      return value;
    }
    // L(C z): the field C z, and grad_z = C^T grad_x = C grad_x.
    precondition->apply(y, field);
    map.evaluate_and_vjp(field, phi, eta_of, gradient);
    precondition->apply(gradient, gradient);
    return value;
  };
  const double threshold = options.tolerance * scale;
  const bool refine = options.refine_below > options.tolerance;
  const double first_threshold = refine ? options.refine_below * scale : threshold;
  const LbfgsResult r =
      minimize_lbfgs(loss, x, options.lbfgs(first_threshold * first_threshold), observe);
  if (precondition) precondition->apply(x, x);
  SynthesisResult result{0.0, r.iterations, r.evaluations, 0, 0, r.status};
  double final_value = r.value;  // L at x
  if (refine && final_value > threshold * threshold)
    final_value = refine_levenberg_marquardt(map, target, threshold, options, x, observe, result);
  for (double v : x)
    if (!std::isfinite(v))
      throw NumericalError("microcanonical synthesis produced a non-finite field");
  result.residual = std::sqrt(final_value) / scale;
  return result;
}

Matrix generate_microcanonical(const Model& model, const TrainingFeatures& features,
                               const MicrocanonicalOptions& options, std::size_t first,
                               std::size_t count, std::vector<SynthesisResult>& results) {
  ScopedPhase phase("sample.microcanonical");
  const std::size_t d = model.shape().size();
  Matrix out(count, d);
  results.assign(count, SynthesisResult{});
  AlignedVector<double> x(d);
  const auto precondition = microcanonical_preconditioner(model, options.precondition);
  for (std::size_t i = 0; i < count; ++i) {
    // White noise in model units (coloured by the preconditioner, if any): the first d numbers of
    // the sample's own stream.
    RandomStream(options.seed, StreamPurpose::microcanonical, first + i).fill_normal(x);
    results[i] = synthesize(model.features(), features.target(options.target, first + i),
                            features.scale, options, x, {}, precondition.get());
    std::copy(x.begin(), x.end(), out.row(i).begin());
  }
  model.standardization().to_data(out, model.shape());
  return out;
}

std::unique_ptr<SampleMethod> microcanonical_method(const Model& model,
                                                    const MicrocanonicalOptions& options) {
  return std::make_unique<MicrocanonicalMethod>(model, options);
}

}  // namespace ksi::sample
