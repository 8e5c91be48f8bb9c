#include "ksi/model/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ksi/core/choice.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/model/combination.hpp"

namespace ksi {

Model::Model(std::unique_ptr<features::FeatureMap> features, std::unique_ptr<Schedule> schedule,
             ItemShape shape, Standardization standardization, std::vector<double> times,
             Matrix eta)
    : features_(std::move(features)),
      schedule_(std::move(schedule)),
      shape_(std::move(shape)),
      standardization_(std::move(standardization)),
      times_(std::move(times)),
      eta_(std::move(eta)),
      diagnostics_(times_.size()) {
  if (times_.size() < 2 || times_.front() != 0.0 || times_.back() != 1.0)
    throw InputError("a model's time grid must start at 0, end at 1 and have at least 2 times");
  for (std::size_t k = 1; k < times_.size(); ++k)
    if (!(times_[k] > times_[k - 1])) throw InputError("a model's time grid must increase");
  if (eta_.rows() != times_.size() || eta_.cols() != features_->size())
    throw InputError(cat("eta is ", eta_.rows(), " x ", eta_.cols(), " but the model has ",
                         times_.size(), " times and ", features_->size(), " features"));
}

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

namespace {

// The interval k of t: t in (t_k, t_{k+1}] from the left, [t_k, t_{k+1}) from the right (the two
// differ at grid times only); t clamped to [0, 1], k to [0, T - 2].
std::size_t step_index(const std::vector<double>& times, double t, Side side) {
  t = std::clamp(t, 0.0, 1.0);
  const auto bound = side == Side::left ? std::lower_bound(times.begin(), times.end(), t)
                                        : std::upper_bound(times.begin(), times.end(), t);
  const std::size_t k1 = static_cast<std::size_t>(bound - times.begin());
  return k1 == 0 ? 0 : std::min(k1, times.size() - 1) - 1;
}

// Row t of `rows` (one row per time of `times`) between grid times as `mode` says (linear; row k
// on the interval k of step_index; or ramp: from row k - 1 at t_k to row k at t_k +
// ramp_fraction (t_k+1 - t_k), row 0 on the first interval), clamped to [0, 1].
void interpolate_in_time(const std::vector<double>& times, const Matrix& rows, double t,
                         std::span<double> out, EtaInterpolation mode, Side side,
                         double ramp_fraction = kEtaRampFraction) {
  if (mode == EtaInterpolation::step || mode == EtaInterpolation::ramp) {
    const std::size_t k = step_index(times, t, side);
    const auto r = rows.row(k);
    std::copy(r.begin(), r.end(), out.begin());
    if (mode == EtaInterpolation::step || k == 0) return;
    // Continuous in t, so either side gives the same value at grid times.
    const double span = ramp_fraction * (times[k + 1] - times[k]);
    const double w =
        span > 0 ? std::clamp((std::clamp(t, 0.0, 1.0) - times[k]) / span, 0.0, 1.0) : 1.0;
    if (w >= 1.0) return;
    const auto previous = rows.row(k - 1);
    for (std::size_t p = 0; p < out.size(); ++p) out[p] = previous[p] + w * (out[p] - previous[p]);
    return;
  }
  t = std::clamp(t, 0.0, 1.0);
  const auto upper = std::upper_bound(times.begin(), times.end(), t);
  std::size_t k1 = static_cast<std::size_t>(upper - times.begin());
  if (k1 >= times.size()) k1 = times.size() - 1;
  const std::size_t k0 = k1 == 0 ? 0 : k1 - 1;
  const double span = times[k1] - times[k0];
  const double w = span > 0 ? (t - times[k0]) / span : 0.0;
  const auto r0 = rows.row(k0), r1 = rows.row(k1);
  for (std::size_t p = 0; p < out.size(); ++p) out[p] = (1.0 - w) * r0[p] + w * r1[p];
}

}  // namespace

EtaInterpolation parse_eta_interpolation(const std::string& name, std::string_view what) {
  return parse_choice<EtaInterpolation>(what, name,
                                        {{"linear", EtaInterpolation::linear},
                                         {"step", EtaInterpolation::step},
                                         {"hybrid", EtaInterpolation::hybrid},
                                         {"ramp", EtaInterpolation::ramp}});
}

void check_eta_ramp_fraction(double f, std::string_view what) {
  if (!(f > 0.0 && f <= 1.0))
    throw UsageError(cat(what,
                         " must be in (0, 1] (the share of each interval over which ramp eta ",
                         "moves to its grid time's row), not ", f));
}

void Model::set_eta_ramp_fraction(double fraction) {
  check_eta_ramp_fraction(fraction, "the ramp fraction of eta");
  eta_ramp_fraction_ = fraction;
}

std::string to_string(EtaInterpolation interpolation) {
  switch (interpolation) {
    case EtaInterpolation::step:
      return "step";
    case EtaInterpolation::hybrid:
      return "hybrid";
    case EtaInterpolation::ramp:
      return "ramp";
    case EtaInterpolation::linear:
      break;
  }
  return "linear";
}

void Model::eta_at(double t, std::span<double> out, Side side) const {
  if (eta_interpolation_ != EtaInterpolation::hybrid) {
    interpolate_in_time(times_, eta_, t, out, eta_interpolation_, side, eta_ramp_fraction_);
    return;
  }
  if (eta_base_.rows() != eta_.rows())
    throw InputError("the model's eta is hybrid in time but it has no eta_base");
  // base(t), linear, plus the correction eta_k - base_k of t's interval k (step_index).
  interpolate_in_time(times_, eta_base_, t, out, EtaInterpolation::linear, side);
  const std::size_t k = step_index(times_, t, side);
  const auto e = eta_.row(k), b = eta_base_.row(k);
  for (std::size_t p = 0; p < out.size(); ++p) out[p] += e[p] - b[p];
}

void Model::drift(double t, const Matrix& X, Matrix& B, Side side) const {
  std::vector<double> eta(features_->size());
  eta_at(t, eta, side);
  features_->vjp_batch_at(t, X, eta, B);
  if (shell_gain_.rows() == 0) return;
  Matrix linear;
  linear_drift(t, X, linear, side);
  auto b = B.values();
  const auto l = linear.values();
  for (std::size_t i = 0; i < b.size(); ++i) b[i] += l[i];
}

void Model::linear_drift(double t, const Matrix& X, Matrix& B, Side side) const {
  B = X;
  if (shell_gain_.rows() == 0) {
    B.fill(0.0);
    return;
  }
  std::vector<double> gain(shell_gain_.cols());
  // As eta; with hybrid or ramp eta linear, as the one-shot fit's (the guided passes do not change
  // the gains).
  interpolate_in_time(times_, shell_gain_, t, gain,
                      eta_interpolation_ == EtaInterpolation::step ? EtaInterpolation::step
                                                                   : EtaInterpolation::linear,
                      side);
  filter_shells(B, {shape_.dims().begin(), shape_.dims().end()}, gain);
}

std::size_t Model::shell_count() const {
  return Standardization::shell_count({shape_.dims().begin(), shape_.dims().end()});
}

void Model::set_shell_gain(Matrix gain) {
  if (gain.rows() == 0) {
    shell_gain_ = Matrix();
    return;
  }
  if (!shape_.is_grid())
    throw InputError("shell gains need fields on a periodic grid, but the items are " +
                     shape_.describe());
  const std::size_t S = shell_count();
  if (gain.rows() != times_.size() || gain.cols() != S)
    throw InputError(cat("shell gains are ", gain.rows(), " x ", gain.cols(), " but the model has ",
                         times_.size(), " times and ", S, " shells"));
  for (double v : gain.values())
    if (!std::isfinite(v)) throw InputError("shell gains contain NaN or infinite values");
  shell_gain_ = std::move(gain);
}

namespace {

void check_finite_matrix(const Matrix& m, std::size_t rows, std::size_t cols, const char* what) {
  if (m.rows() != rows || m.cols() != cols)
    throw InputError(
        cat(what, " is ", m.rows(), " x ", m.cols(), "; expected ", rows, " x ", cols));
  for (double v : m.values())
    if (!std::isfinite(v)) throw InputError(cat(what, " contains NaN or infinite values"));
}

}  // namespace

void Model::set_targets(FeatureTargets targets) {
  if (!targets.empty()) {
    const std::size_t T = times_.size(), P = features_->size();
    check_finite_matrix(targets.mean, T, P, "the feature targets' means");
    check_finite_matrix(targets.variance, T, P, "the feature targets' variances");
    check_finite_matrix(targets.rhs, T, P, "the feature targets' right-hand sides");
  }
  targets_ = std::move(targets);
}

void Model::set_training_features(Matrix values) {
  if (values.rows() > 0)
    check_finite_matrix(values, values.rows(), features_->size(), "the training features");
  training_features_ = std::move(values);
}

void Model::set_training_spectrum(std::vector<double> powers) {
  if (!powers.empty()) {
    if (!shape_.is_grid())
      throw InputError("a training spectrum belongs to a model of fields, not of " +
                       shape_.describe());
    const std::size_t shells =
        fft::SpectralShells({shape_.dims().begin(), shape_.dims().end()}).count();
    if (powers.size() != shells)
      throw InputError(
          cat("the training spectrum has ", powers.size(), " shells, the grid ", shells));
    for (const double p : powers)
      if (!(p >= 0.0) || !std::isfinite(p))
        throw InputError("the training spectrum has a negative or non-finite power");
  }
  training_spectrum_ = std::move(powers);
}

void Model::set_eta(Matrix eta) {
  check_finite_matrix(eta, times_.size(), features_->size(), "eta");
  eta_ = std::move(eta);
}

void Model::set_eta_base(Matrix base) {
  if (base.rows() == 0) {
    eta_base_ = Matrix();
    return;
  }
  check_finite_matrix(base, times_.size(), features_->size(), "eta_base");
  eta_base_ = std::move(base);
}

void Model::set_output(OutputTransform output) {
  output.validate(shape_);
  output_ = std::move(output);
}

void Model::to_data(Matrix& X, const Matrix* spread_normals, std::vector<double>* beyond) const {
  output_.apply(X, shape_, standardization_, spread_normals, beyond);
}

std::string fingerprint(std::span<const std::byte> bytes, std::uint64_t seed) {
  std::uint64_t h = seed;
  for (std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 1099511628211ull;
  }
  return sformat("%016llx", static_cast<unsigned long long>(h));
}

std::string Model::identity() const {
  std::string text = features_->kind() + "|" + schedule_->name() + "|" + shape_.describe();
  const auto spec = features_->spec();
  for (const auto& [k, v] : spec.params.entries()) text += "|" + k + "=" + v;
  // Linear models keep the identities they always had.
  if (eta_interpolation_ != EtaInterpolation::linear)
    text += "|eta=" + to_string(eta_interpolation_);
  // Ramp models of the default fraction keep the identities they had before it could be set.
  if (eta_interpolation_ == EtaInterpolation::ramp && eta_ramp_fraction_ != kEtaRampFraction)
    text += cat("|ramp=", eta_ramp_fraction_);
  std::vector<std::byte> bytes(text.size() * sizeof(char));
  std::memcpy(bytes.data(), text.data(), text.size());
  const auto add = [&](std::span<const double> values) {
    const auto raw = std::as_bytes(values);
    bytes.insert(bytes.end(), raw.begin(), raw.end());
  };
  add(eta_.values());
  if (eta_interpolation_ == EtaInterpolation::hybrid) add(eta_base_.values());
  add(times_);
  add(shell_gain_.values());
  add(output_.gain);
  add(output_.spread.values());
  add(output_.map.x);
  add(output_.map.z);
  return fingerprint(bytes);
}

void Model::write(io::OutputFile& out, const std::string& created_by) const {
  const io::Group root = out.root();
  io::write_provenance(root, created_by);
  root.set_attribute("ksi_file_kind", "model");
  write_into(root);
}

void Model::write_into(const io::Group& root) const {
  root.set_attribute("model_id", identity());
  root.write("eta", {eta_.rows(), eta_.cols()}, eta_.values());
  if (eta_interpolation_ != EtaInterpolation::linear)
    root.set_attribute("eta_interpolation", to_string(eta_interpolation_));
  if (eta_interpolation_ == EtaInterpolation::ramp)
    root.set_attribute("eta_ramp_fraction", eta_ramp_fraction_);
  if (eta_interpolation_ == EtaInterpolation::hybrid) {
    if (eta_base_.rows() != eta_.rows())
      throw InternalError("a model of hybrid eta without its eta_base cannot be written");
    root.write("eta_base", {eta_base_.rows(), eta_base_.cols()}, eta_base_.values());
  }
  root.write("times", {times_.size()}, times_);
  if (shell_gain_.rows() > 0)
    root.write("shell_gain", {shell_gain_.rows(), shell_gain_.cols()}, shell_gain_.values());
  if (!output_.gain.empty()) root.write("output_gain", {output_.gain.size()}, output_.gain);
  if (output_.spread.rows() > 0)
    root.write("output_spread", {output_.spread.rows(), output_.spread.cols()},
               output_.spread.values());
  if (!output_.map.x.empty()) {
    root.write("output_map_values", {output_.map.x.size()}, output_.map.x);
    root.write("output_map_targets", {output_.map.z.size()}, output_.map.z);
  }
  {
    const io::Group g = root.create_group("features");
    const auto spec = features_->spec();
    g.set_attribute("kind", spec.kind);
    g.set_attribute("size", static_cast<std::int64_t>(features_->size()));
    io::write_params(g.create_group("params"), spec.params);
    const io::Group arrays = g.create_group("arrays");
    for (const auto& [k, v] : spec.arrays) arrays.write(k, {v.size()}, v);
    g.write_strings("names", features_->feature_names());
    if (const auto* c = dynamic_cast<const DriftCombination*>(features_.get())) {
      // The members whole, in order: the combination is a model file like any other.
      const io::Group members = root.create_group("members");
      for (std::size_t m = 0; m < c->members().size(); ++m) {
        const io::Group member = members.create_group(cat("m", m));
        member.set_attribute("source", c->member_names()[m]);
        c->members()[m].write_into(member);
      }
    }
  }
  {
    const io::Group g = root.create_group("interpolant");
    g.set_attribute("schedule", schedule_->name());
    io::write_params(g, schedule_->params());
  }
  {
    const io::Group g = root.create_group("data");
    g.set_attribute("item_kind", shape_.is_grid() ? "grid" : "vector");
    std::vector<std::int64_t> dims(shape_.dims().begin(), shape_.dims().end());
    g.set_attribute("dims", std::span<const std::int64_t>(dims));
    g.set_attribute("standardization", standardization_.mode);
    g.set_attribute("mean", standardization_.mean);
    g.set_attribute("scale", standardization_.scale);
    if (!standardization_.shell_power.empty())
      g.write("shell_power", {standardization_.shell_power.size()}, standardization_.shell_power);
    if (standardization_.mode == "copula") {
      g.write("copula_values", {standardization_.marginal.x.size()}, standardization_.marginal.x);
      g.write("copula_levels", {standardization_.marginal.z.size()}, standardization_.marginal.z);
    }
    g.set_attribute("box_size", box_size_);
  }
  { io::write_params(root.create_group("fit"), fit_settings_); }
  if (calibration_) {
    const io::Group g = root.create_group("calibration");
    const CalibrationRecord& c = *calibration_;
    g.set_attribute("samples", static_cast<std::int64_t>(c.samples));
    g.set_attribute("steps", static_cast<std::int64_t>(c.steps));
    g.set_attribute("integrator", c.integrator);
    if (!c.step_grid.empty()) g.set_attribute("step_grid", c.step_grid);
    if (c.diffusion) g.set_attribute("diffusion", *c.diffusion);
    if (c.diffusion_scale) g.set_attribute("diffusion_scale", *c.diffusion_scale);
    g.set_attribute("seed", static_cast<std::int64_t>(c.seed));
    g.set_attribute("pdf", static_cast<std::int64_t>(c.pdf));
    g.set_attribute("spread", static_cast<std::int64_t>(c.spread));
    g.set_attribute("error_before", c.error_before);
    g.set_attribute("error_after", c.error_after);
  }
  const auto write_matrix = [](const io::Group& g, const char* name, const Matrix& m) {
    g.write(name, {m.rows(), m.cols()}, m.values());
  };
  if (!targets_.empty()) {
    const io::Group g = root.create_group("targets");
    write_matrix(g, "feature_mean", targets_.mean);
    write_matrix(g, "feature_variance", targets_.variance);
    write_matrix(g, "rhs", targets_.rhs);
    g.set_attribute("pairs", targets_.pairs);
  }
  if (training_features_.rows() > 0) write_matrix(root, "training_features", training_features_);
  if (!training_spectrum_.empty())
    root.write("training_spectrum", {training_spectrum_.size()}, training_spectrum_);
  if (guide_record_.passes() > 0) {
    const io::Group g = root.create_group("guide");
    write_matrix(g, "rms_z", guide_record_.rms_z);
    write_matrix(g, "max_z", guide_record_.max_z);
    io::write_params(g, guide_record_.settings);
  }
  {
    const io::Group g = root.create_group("diagnostics");
    const std::size_t T = diagnostics_.size();
    const auto column = [&](const char* name, double TimeDiagnostics::*member) {
      std::vector<double> v(T);
      for (std::size_t k = 0; k < T; ++k) v[k] = diagnostics_[k].*member;
      g.write(name, {T}, v);
    };
    column("residual", &TimeDiagnostics::residual);
    column("lambda_min", &TimeDiagnostics::lambda_min);
    column("lambda_max", &TimeDiagnostics::lambda_max);
    column("captured", &TimeDiagnostics::captured);
    column("ridge", &TimeDiagnostics::ridge);
    column("velocity_sq", &TimeDiagnostics::velocity_sq);
  }
}

std::unique_ptr<Model> Model::read_from(const io::Group& root, const par::Comm& comm) {
  std::unique_ptr<Model> model;
  std::vector<std::size_t> dims;
  const auto eta_values = root.read_reals("eta", &dims);
  if (dims.size() != 2) throw InputError("eta must be two-dimensional");
  Matrix eta(dims[0], dims[1]);
  std::copy(eta_values.begin(), eta_values.end(), eta.data());
  auto times = root.read_reals("times");

  const io::Group data = root.open_group("data");
  const auto item_dims = data.integers_attribute("dims");
  std::vector<std::size_t> shape_dims(item_dims.begin(), item_dims.end());
  const ItemShape shape = data.text_attribute("item_kind") == "grid"
                              ? ItemShape::grid(shape_dims)
                              : ItemShape::vector(shape_dims.at(0));
  Standardization st;
  st.mode = data.text_attribute("standardization");
  st.mean = data.real_attribute("mean");
  st.scale = data.real_attribute("scale");
  const auto known = Standardization::modes();
  if (std::find(known.begin(), known.end(), st.mode) == known.end())
    throw InputError(
        cat("the model uses standardization '", st.mode, "', which this ksi does not know"));
  if (st.mode == "copula") {
    st.marginal.x = data.read_reals("copula_values");
    st.marginal.z = data.read_reals("copula_levels");
    st.marginal.validate();
  }
  if (Standardization::spectral(st.mode)) {
    st.shell_power = data.read_reals("shell_power");
    const auto shells = Standardization::shell_of_modes(shape_dims);
    if (!shape.is_grid() ||
        st.shell_power.size() != *std::max_element(shells.begin(), shells.end()) + 1)
      throw InputError(cat("the model's spectral standardisation has ", st.shell_power.size(),
                           " shells, which does not fit items of shape ", shape.describe()));
  }

  features::FeatureSpec spec;
  const io::Group g = root.open_group("features");
  spec.kind = g.text_attribute("kind");
  const io::Group params = g.open_group("params");
  for (const auto& name : params.attribute_names())
    spec.params.set(name, params.text_attribute(name));
  const io::Group arrays = g.open_group("arrays");
  for (const auto& name : arrays.children()) spec.arrays[name] = arrays.read_reals(name);
  const io::Group interp = root.open_group("interpolant");
  Params schedule_params;
  for (const auto& name : interp.attribute_names())
    if (name != "schedule") schedule_params.set(name, interp.text_attribute(name));
  auto schedule = make_schedule(interp.text_attribute("schedule"), schedule_params);

  std::unique_ptr<features::FeatureMap> features;
  if (is_combination_kind(spec.kind)) {
    // The members are models in the file's groups; the rest of the spec rebuilds the combination.
    std::vector<Model> members;
    std::vector<std::string> names;
    const std::size_t count = member_count_of(spec);
    if (count > 0) {
      const io::Group group = root.open_group("members");
      for (std::size_t m = 0; m < count; ++m) {
        const io::Group member = group.open_group(cat("m", m));
        names.push_back(member.text_attribute("source"));
        members.push_back(std::move(*read_from(member, comm)));
      }
    }
    features = combination_from_spec(spec, shape, *schedule, std::move(members), std::move(names));
  } else {
    features = features::make_feature_map(spec, shape);
  }

  model = std::make_unique<Model>(std::move(features), std::move(schedule), shape, st,
                                  std::move(times), std::move(eta));
  if (data.has_attribute("box_size")) model->set_box_size(data.real_attribute("box_size"));
  const auto read_matrix_in = [&](const io::Group& group, const std::string& name) {
    std::vector<std::size_t> dims;
    const auto values = group.read_reals(name, &dims);
    if (dims.size() != 2) throw InputError(name + " must be two-dimensional");
    Matrix matrix(dims[0], dims[1]);
    std::copy(values.begin(), values.end(), matrix.data());
    return matrix;
  };
  const auto read_matrix = [&](const std::string& name) { return read_matrix_in(root, name); };
  if (root.has("targets")) {
    const io::Group g = root.open_group("targets");
    model->set_targets({read_matrix_in(g, "feature_mean"), read_matrix_in(g, "feature_variance"),
                        read_matrix_in(g, "rhs"), g.real_attribute("pairs")});
  }
  if (root.has("training_features")) model->set_training_features(read_matrix("training_features"));
  if (root.has("training_spectrum"))
    model->set_training_spectrum(root.read_reals("training_spectrum"));
  if (root.has("guide")) {
    const io::Group g = root.open_group("guide");
    GuideRecord record{read_matrix_in(g, "rms_z"), read_matrix_in(g, "max_z"), {}};
    for (const auto& name : g.attribute_names())
      record.settings.set(name, g.attribute_as_text(name));
    model->set_guide_record(std::move(record));
  }
  if (root.has_attribute("eta_interpolation")) {
    try {
      model->set_eta_interpolation(parse_eta_interpolation(root.text_attribute("eta_interpolation"),
                                                           "eta_interpolation of the model"));
      // Ramp models written before the fraction could be set have none: theirs was the default.
      if (root.has_attribute("eta_ramp_fraction"))
        model->set_eta_ramp_fraction(root.real_attribute("eta_ramp_fraction"));
    } catch (const UsageError& e) {
      throw InputError(e.what());  // a damaged or foreign file, not a usage error
    }
  }
  if (root.has("eta_base")) model->set_eta_base(read_matrix("eta_base"));
  if (model->eta_interpolation() == EtaInterpolation::hybrid && model->eta_base().rows() == 0)
    throw InputError(
        "the model's eta is hybrid in time (eta_interpolation) but it has no eta_base");
  if (root.has("shell_gain")) model->set_shell_gain(read_matrix("shell_gain"));
  {
    OutputTransform output;
    if (root.has("output_gain")) output.gain = root.read_reals("output_gain");
    if (root.has("output_spread")) output.spread = read_matrix("output_spread");
    if (root.has("output_map_values")) output.map.x = root.read_reals("output_map_values");
    if (root.has("output_map_targets")) output.map.z = root.read_reals("output_map_targets");
    model->set_output(std::move(output));
  }
  const io::Group diag = root.open_group("diagnostics");
  const auto residual = diag.read_reals("residual");
  const auto lmin = diag.read_reals("lambda_min");
  const auto lmax = diag.read_reals("lambda_max");
  const auto captured = diag.read_reals("captured");
  const auto ridge = diag.read_reals("ridge");
  const auto vsq = diag.read_reals("velocity_sq");
  auto& d = model->diagnostics();
  for (std::size_t k = 0; k < d.size() && k < residual.size(); ++k)
    d[k] = {residual[k], lmin[k], lmax[k], captured[k], ridge[k], vsq[k]};
  if (root.has("fit")) {
    const io::Group fit = root.open_group("fit");
    for (const auto& name : fit.attribute_names())
      model->fit_settings().set(name, fit.attribute_as_text(name));
  }
  if (root.has("calibration")) {
    const io::Group g = root.open_group("calibration");
    CalibrationRecord c;
    const auto count = [&](const char* name) {
      const std::int64_t v = g.integer_attribute(name);
      if (v < 0) throw InputError(cat("calibration ", name, " is negative"));
      return static_cast<std::size_t>(v);
    };
    c.samples = count("samples");
    c.steps = count("steps");
    c.integrator = g.text_attribute("integrator");
    if (g.has_attribute("step_grid")) c.step_grid = g.text_attribute("step_grid");
    if (g.has_attribute("diffusion")) c.diffusion = g.real_attribute("diffusion");
    if (g.has_attribute("diffusion_scale")) c.diffusion_scale = g.real_attribute("diffusion_scale");
    c.seed = static_cast<std::uint64_t>(g.integer_attribute("seed"));
    c.pdf = g.integer_attribute("pdf") != 0;
    c.spread = g.integer_attribute("spread") != 0;
    c.error_before = g.real_attribute("error_before");
    c.error_after = g.real_attribute("error_after");
    model->set_calibration(c);
  } else if (model->fit_settings().has("calibration_samples")) {
    // Files of earlier versions kept the calibration's settings among the fit's, as text: they
    // move to the record (a damaged value is the file's fault, not a usage error).
    Params kept;
    CalibrationRecord c;
    try {
      const Params& f = model->fit_settings();
      c.samples =
          static_cast<std::size_t>(std::max<std::int64_t>(0, f.integer("calibration_samples")));
      c.steps =
          static_cast<std::size_t>(std::max<std::int64_t>(0, f.integer("calibration_steps", 0)));
      c.integrator = f.text("calibration_integrator", "");
      c.seed = static_cast<std::uint64_t>(f.integer("calibration_seed", 0));
      c.pdf = f.flag("calibration_pdf", false);
      c.spread = f.flag("calibration_spread", false);
      c.error_before = f.real("calibration_error_before", 0.0);
      c.error_after = f.real("calibration_error_after", 0.0);
    } catch (const UsageError& e) {
      throw InputError(cat("the calibration settings among the fit's: ", e.what()));
    }
    for (const auto& [key, value] : model->fit_settings().entries())
      if (key.rfind("calibration_", 0) != 0) kept.set(key, value);
    model->fit_settings() = kept;
    model->set_calibration(c);
  }
  for (double v : model->eta().values())
    if (!std::isfinite(v)) throw InputError("eta contains NaN or infinite values");
  return model;
}

void Model::check_items(const ItemShape& items, const std::string& model_path,
                        const std::string& items_path) const {
  if (!(items == shape_))
    throw par::CollectiveError(
        ExitCode::input,
        cat("model ", model_path, " was fitted on items of shape ", shape_.describe(), " but ",
            items_path, " holds ", items.describe()),
        0);
}

Model Model::read(const std::string& path, const par::Comm& comm) {
  io::File file = io::File::open(path, comm);
  std::unique_ptr<Model> model;
  par::collective(comm, [&] {
    const io::Group root = file.root();
    if (!root.has_attribute("ksi_file_kind") || root.text_attribute("ksi_file_kind") != "model")
      throw InputError(cat(path, " is not a ksi model file (no ksi_file_kind = model)"));
    try {
      model = read_from(root, comm);
    } catch (const Error& e) {
      throw InputError(cat("model ", path, " is damaged: ", e.what()));
    }
  });
  return std::move(*model);
}

}  // namespace ksi
