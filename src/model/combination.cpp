#include "ksi/model/combination.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ksi/core/compensated.hpp"
#include "ksi/core/eigen.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi {
namespace {

// Vectors of more values than this have no dense Gaussian member (d x d covariance, O(d^3) eigen).
constexpr std::size_t kLargestDenseGaussian = 1024;

// The gain of the exact Gaussian drift on a direction of variance `variance` at time t.
double gaussian_gain(const Schedule& s, double t, double variance) {
  const double a = s.alpha(t), b = s.beta(t), ad = s.alpha_dot(t), bd = s.beta_dot(t);
  const double num = a * ad + b * bd * variance, den = a * a + b * b * variance;
  return den > 0.0 ? num / den : 0.0;
}

std::vector<std::size_t> grid_dims(const ItemShape& shape) {
  return {shape.dims().begin(), shape.dims().end()};
}

void check_dense_size(std::size_t d) {
  if (d > kLargestDenseGaussian)
    throw UsageError(cat("the Gaussian member of vectors of ", d, " values needs a dense ", d,
                         " x ", d, " covariance; at most ", kLargestDenseGaussian,
                         " values are supported"));
}

// The spec's keys and arrays that describe the members (DriftCombination::spec); the rest are the
// other map's.
const std::string kMemberPrefix = "models.";
bool member_key(const std::string& key) {
  return key.rfind(kMemberPrefix, 0) == 0;
}

}  // namespace

GaussianDrift::GaussianDrift(const ItemShape& shape, std::vector<double> mean,
                             std::vector<double> covariance)
    : shape_(shape), mean_(std::move(mean)), covariance_(std::move(covariance)) {
  const std::size_t d = shape.size();
  for (double v : mean_)
    if (!std::isfinite(v)) throw InputError("the Gaussian member's mean is not finite");
  for (double v : covariance_)
    if (!std::isfinite(v)) throw InputError("the Gaussian member's covariance is not finite");
  if (shape.is_grid()) {
    const fft::SpectralShells shells(grid_dims(shape));
    if (mean_.size() != 1 || covariance_.size() != shells.count())
      throw InputError(cat("the Gaussian member of fields needs 1 mean and ", shells.count(),
                           " shell variances for items of shape ", shape.describe(), ", not ",
                           mean_.size(), " and ", covariance_.size()));
    eigenvalues_ = covariance_;
  } else {
    check_dense_size(d);
    if (mean_.size() != d || covariance_.size() != d * d)
      throw InputError(cat("the Gaussian member of vectors of ", d, " values needs a mean of ", d,
                           " and a covariance of ", d * d, " values, not ", mean_.size(), " and ",
                           covariance_.size()));
    Matrix C(d, d);
    std::copy(covariance_.begin(), covariance_.end(), C.data());
    SymmetricEigen e = symmetric_eigen(C);
    eigenvalues_ = std::move(e.values);
    eigenvectors_ = std::move(e.vectors);
  }
  for (double& v : eigenvalues_) v = std::max(v, 0.0);  // round-off of a rank-deficient C
}

std::vector<double> GaussianDrift::gains(const Schedule& schedule, double t) const {
  // Directions without variance (the mean of standardised fields, shells beyond a dealiasing
  // cut-off) get no drift, as the shell correction gives them no gain: there x_t = alpha z alone
  // and the exact gain alpha'/alpha diverges at t = 1, which would only feed round-off into the
  // other members' nonlinear drifts.
  double largest = 0.0;
  for (double v : eigenvalues_) largest = std::max(largest, v);
  std::vector<double> gain(eigenvalues_.size(), 0.0);
  for (std::size_t j = 0; j < gain.size(); ++j)
    if (eigenvalues_[j] > fft::SpectralShells::kEmpty * largest)
      gain[j] = gaussian_gain(schedule, t, eigenvalues_[j]);
  return gain;
}

GaussianDrift GaussianDrift::estimate(const Matrix& local, const ItemShape& shape,
                                      const par::Comm& comm) {
  ScopedPhase phase("fit.gaussian_member");
  const std::size_t d = shape.size();
  const auto count =
      static_cast<double>(comm.allreduce_sum(static_cast<std::int64_t>(local.rows())));
  if (count < 1) throw InputError("the Gaussian member needs at least one training item");
  std::vector<DoubleDouble> sums;
  if (shape.is_grid()) {
    // The mean of all values, then the power of x - mu per shell, item by item.
    sums.assign(1, DoubleDouble{});
    par::collective(comm, [&] {
      for (std::size_t i = 0; i < local.rows(); ++i) {
        double s = 0.0;
        for (double v : local.row(i)) s += v;
        sums[0].add(s);
      }
    });
    comm.allreduce_sum(std::span<DoubleDouble>(sums));
    const double mu = sums[0].value() / (count * static_cast<double>(d));
    // |FFT(x - mu)|^2 / N per shell = the variance of each Fourier mode of a stationary field.
    std::vector<double> variance = Standardization::shell_powers(local, grid_dims(shape), mu, comm);
    return GaussianDrift(shape, {mu}, std::move(variance));
  }
  check_dense_size(d);
  // Sums of x and of x x^T (upper triangle), item by item.
  sums.assign(d + d * (d + 1) / 2, DoubleDouble{});
  par::collective(comm, [&] {
    for (std::size_t i = 0; i < local.rows(); ++i) {
      const auto x = local.row(i);
      std::size_t q = 0;
      for (std::size_t j = 0; j < d; ++j) sums[q++].add(x[j]);
      for (std::size_t j = 0; j < d; ++j)
        for (std::size_t k = j; k < d; ++k) sums[q++].add(x[j] * x[k]);
    }
  });
  comm.allreduce_sum(std::span<DoubleDouble>(sums));
  std::vector<double> mean(d), covariance(d * d);
  for (std::size_t j = 0; j < d; ++j) mean[j] = sums[j].value() / count;
  std::size_t q = d;
  for (std::size_t j = 0; j < d; ++j)
    for (std::size_t k = j; k < d; ++k) {
      const double c = sums[q++].value() / count - mean[j] * mean[k];
      covariance[j * d + k] = c;
      covariance[k * d + j] = c;
    }
  return GaussianDrift(shape, std::move(mean), std::move(covariance));
}

void GaussianDrift::drift(const Schedule& schedule, double t, const Matrix& X, Matrix& B) const {
  const std::size_t d = shape_.size(), n = X.rows();
  ensure(X.cols() == d, "Gaussian drift: the items have the wrong size");
  B.resize(n, d);
  const double b = schedule.beta(t), bd = schedule.beta_dot(t);
  const std::vector<double> gain = gains(schedule, t);
  if (shape_.is_grid()) {
    const fft::SpectralShells shells(grid_dims(shape_));
    const fft::RealTransform transform(grid_dims(shape_));
    std::vector<fft::complex> xs(transform.complex_size());
    std::vector<double> field(d);
    const double mu = mean_[0], inv_n = 1.0 / static_cast<double>(d);
    for (std::size_t r = 0; r < n; ++r) {
      const auto x = X.row(r);
      for (std::size_t j = 0; j < d; ++j) field[j] = x[j] - b * mu;
      transform.forward(field.data(), xs.data());
      for (std::size_t m = 0; m < xs.size(); ++m) xs[m] *= gain[shells.of_mode()[m]] * inv_n;
      auto out = B.row(r);
      transform.backward(xs.data(), out.data());
      for (double& v : out) v += bd * mu;
    }
    return;
  }
  // B = ((X - b mu) U) diag(gain) U^T + b' mu.
  Matrix Y(n, d);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < d; ++j) Y(r, j) = X(r, j) - b * mean_[j];
  Matrix Z(n, d);
  const int N = static_cast<int>(n), D = static_cast<int>(d);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, D, 1.0, Y.data(), D,
              eigenvectors_.data(), D, 0.0, Z.data(), D);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < d; ++j) Z(r, j) *= gain[j];
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < d; ++j) B(r, j) = bd * mean_[j];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, D, D, 1.0, Z.data(), D,
              eigenvectors_.data(), D, 1.0, B.data(), D);
}

MemberList parse_member_list(const std::string& text) {
  MemberList list;
  for (const std::string& name : split_list(text, '+')) {
    if (name.empty())
      throw UsageError(
          "--feature-params paths= needs model files joined with '+' (e.g. "
          "paths=a.h5+b.h5+gaussian), not '" +
          text + "'");
    if (name == "gaussian") {
      if (list.gaussian) throw UsageError("paths= names the gaussian member twice");
      list.gaussian = true;
    } else {
      if (std::find(list.paths.begin(), list.paths.end(), name) != list.paths.end())
        throw UsageError("paths= names the model " + name + " twice");
      list.paths.push_back(name);
    }
  }
  return list;
}

bool is_combination_kind(const std::string& kind, std::string* base_kind) {
  static const std::string suffix = "+models";
  if (kind == "models") {
    if (base_kind) base_kind->clear();
    return true;
  }
  if (kind.size() > suffix.size() &&
      kind.compare(kind.size() - suffix.size(), suffix.size(), suffix) == 0) {
    if (base_kind) *base_kind = kind.substr(0, kind.size() - suffix.size());
    return true;
  }
  return false;
}

namespace {

// What differs between two standardisations (empty: they are the same bits).
std::string units_difference(const Standardization& a, const Standardization& b) {
  if (a.mode != b.mode) return a.mode + " vs " + b.mode;
  if (a.mean != b.mean || a.scale != b.scale)
    return sformat("%s with mean %.6g, scale %.6g vs mean %.6g, scale %.6g", a.mode.c_str(), a.mean,
                   a.scale, b.mean, b.scale);
  if (a.shell_power != b.shell_power) return a.mode + " with different shell powers";
  if (a.marginal.x != b.marginal.x || a.marginal.z != b.marginal.z)
    return a.mode + " with different one-point tables";
  return {};
}

}  // namespace

std::string schedule_text(const Schedule& s) {
  std::string text = s.name();
  const Params params = s.params();  // by value: iterating a temporary's entries would dangle
  for (const auto& [k, v] : params.entries()) text += cat(",", k, "=", v);
  return text;
}

std::vector<Model> read_members(const std::vector<std::string>& paths, const ItemShape& shape,
                                const par::Comm& comm) {
  std::vector<Model> members;
  for (const auto& path : paths) {
    Model m = Model::read(path, comm);
    if (!(m.shape() == shape))
      throw InputError(cat("member ", path, " was fitted on items of shape ", m.shape().describe(),
                           " but the data hold ", shape.describe()));
    if (m.features().time_dependent())
      throw InputError(cat("member ", path,
                           " is itself a combination of models; combine its "
                           "members directly"));
    if (!members.empty()) {
      const Model& first = members.front();
      const std::string difference = units_difference(first.standardization(), m.standardization());
      if (!difference.empty())
        throw InputError(cat("members ", paths.front(), " and ", path,
                             " standardise the data differently (", difference,
                             "); the members of a combination must share their units (fit them "
                             "with --units-from ",
                             paths.front(), ")"));
    }
    members.push_back(std::move(m));
  }
  return members;
}

std::unique_ptr<features::FeatureMap> build_combination(
    const std::string& kind, const Params& params, std::vector<Model> members,
    const Matrix& local_items, const ItemShape& shape, const Standardization& units,
    const Schedule& schedule, const par::Comm& comm) {
  std::string base_kind;
  if (!is_combination_kind(kind, &base_kind))
    throw InternalError("build_combination: '" + kind + "' is not a combination");
  if (!params.has("paths"))
    throw UsageError("--features " + kind +
                     " needs its members: --feature-params paths=a.h5+b.h5 (model files; "
                     "'gaussian' for the exact Gaussian drift)");
  const MemberList list = parse_member_list(params.text("paths"));
  if (members.size() != list.paths.size())
    throw InternalError("build_combination: one model per member path expected");
  for (std::size_t m = 0; m < members.size(); ++m)
    if (schedule_text(members[m].schedule()) != schedule_text(schedule))
      throw UsageError(cat("member ", list.paths[m], " integrates the ",
                           schedule_text(members[m].schedule()), " schedule, the fit the ",
                           schedule_text(schedule), " one: use --schedule ",
                           members[m].schedule().name()));
  Params base_params;
  for (const auto& [k, v] : params.entries())
    if (k != "paths") base_params.set(k, v);
  std::unique_ptr<features::FeatureMap> base;
  if (!base_kind.empty())
    base =
        features::build_feature_map(base_kind, base_params, shape, local_items, comm,
                                    shape.is_grid() ? units.data_units() : features::FieldUnits{});
  else if (!base_params.entries().empty())
    throw UsageError("--features models takes only paths= (found '" +
                     base_params.entries().begin()->first + "')");
  std::optional<GaussianDrift> gaussian;
  if (list.gaussian) gaussian = GaussianDrift::estimate(local_items, shape, comm);
  std::vector<std::string> names;
  for (const auto& path : list.paths)
    names.push_back(std::filesystem::path(path).filename().string());
  return std::make_unique<DriftCombination>(
      std::move(base), std::move(members), std::move(names), std::move(gaussian),
      make_schedule(schedule.name(), schedule.params()), shape);
}

DriftCombination::DriftCombination(std::unique_ptr<features::FeatureMap> base,
                                   std::vector<Model> members,
                                   std::vector<std::string> member_names,
                                   std::optional<GaussianDrift> gaussian,
                                   std::unique_ptr<Schedule> schedule, const ItemShape& shape)
    : base_(std::move(base)),
      base_size_(base_ ? base_->size() : 0),
      members_(std::move(members)),
      member_names_(std::move(member_names)),
      gaussian_(std::move(gaussian)),
      schedule_(std::move(schedule)),
      shape_(shape) {
  if (member_count() == 0) throw UsageError("a combination of models needs at least one member");
  if (member_names_.size() != members_.size())
    throw InternalError("combination: one name per member model expected");
  if (base_ && base_->time_dependent())
    throw UsageError("a combination's other feature map cannot itself hold models");
  if (base_ && !(base_->input_shape() == shape_))
    throw InternalError("combination: the base map is for items of another shape");
  for (const auto& m : members_)
    if (!(m.shape() == shape_))
      throw InputError(cat("a member model is for items of shape ", m.shape().describe(),
                           ", the combination for ", shape_.describe()));
}

DriftCombination::~DriftCombination() = default;

std::string DriftCombination::kind() const {
  return base_ ? base_->kind() + "+models" : std::string("models");
}

void DriftCombination::member_drift(std::size_t m, double t, const Matrix& X, Matrix& B) const {
  B.resize(X.rows(), shape_.size());
  if (m < members_.size())
    members_[m].drift(t, X, B);
  else
    gaussian_->drift(*schedule_, t, X, B);
}

void DriftCombination::evaluate(std::span<const double> x, std::span<double> phi) const {
  if (base_) base_->evaluate(x, phi.subspan(0, base_size_));
  std::fill(phi.begin() + static_cast<std::ptrdiff_t>(base_size_), phi.end(), 0.0);
}

void DriftCombination::vjp(std::span<const double>, std::span<const double>,
                           std::span<double>) const {
  throw InternalError("the drift of a combination of models needs the time (vjp_batch_at)");
}

void DriftCombination::accumulate(const Matrix&, const Matrix&, Matrix&, std::span<double>) const {
  throw InternalError("the Gram rows of a combination of models need the time (accumulate_at)");
}

void DriftCombination::jacobian(std::span<const double>, Matrix&) const {
  throw InternalError("the Jacobian of a combination of models needs the time");
}

void DriftCombination::vjp_batch_at(double t, const Matrix& X, std::span<const double> eta,
                                    Matrix& G) const {
  const std::size_t d = shape_.size();
  ensure(X.cols() == d && eta.size() == size(), "combination drift: shapes do not match");
  G.resize(X.rows(), d);
  if (base_)
    base_->vjp_batch(X, eta.subspan(0, base_size_), G);
  else
    G.fill(0.0);
  Matrix B;
  for (std::size_t m = 0; m < member_count(); ++m) {
    const double w = eta[base_size_ + m];
    if (w == 0.0) continue;
    member_drift(m, t, X, B);
    cblas_daxpy(static_cast<int>(B.size()), w, B.data(), 1, G.data(), 1);
  }
}

void DriftCombination::accumulate_at(double t, const Matrix& X, const Matrix& V, Matrix& K,
                                     std::span<double> h) const {
  const std::size_t P = size(), Pb = base_size_, M = member_count(), d = shape_.size();
  const std::size_t n = X.rows();
  ensure(X.cols() == d && V.rows() == n && V.cols() == d && K.rows() == P && K.cols() == P &&
             h.size() == P,
         "combination accumulate: shapes do not match");
  if (base_) {
    Matrix Kb(Pb, Pb, 0.0);
    std::vector<double> hb(Pb, 0.0);
    base_->accumulate(X, V, Kb, hb);
    for (std::size_t i = 0; i < Pb; ++i) {
      for (std::size_t j = i; j < Pb; ++j) K(i, j) += Kb(i, j);
      h[i] += hb[i];
    }
  }
  std::vector<Matrix> B(M);
  {
    ScopedPhase phase("fit.member_drifts");
    for (std::size_t m = 0; m < M; ++m) member_drift(m, t, X, B[m]);
  }
  const int size = static_cast<int>(n * d);
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t q = m; q < M; ++q)
      K(Pb + m, Pb + q) += cblas_ddot(size, B[m].data(), 1, B[q].data(), 1);
    h[Pb + m] += cblas_ddot(size, B[m].data(), 1, V.data(), 1);
  }
  if (!base_) return;
  // The base rows against the members': sum_r J(x_r) b_m(x_r), from the dense Jacobian.
  ScopedPhase phase("fit.member_cross");
  Matrix J;
  std::vector<double> column(Pb);
  for (std::size_t r = 0; r < n; ++r) {
    base_->jacobian(X.row(r), J);
    for (std::size_t m = 0; m < M; ++m) {
      cblas_dgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(Pb), static_cast<int>(d), 1.0,
                  J.data(), static_cast<int>(d), B[m].row(r).data(), 1, 0.0, column.data(), 1);
      for (std::size_t p = 0; p < Pb; ++p) K(p, Pb + m) += column[p];
    }
  }
}

void DriftCombination::finalize_gram(Matrix& K) const {
  if (!base_) return;
  const std::size_t Pb = base_size_;
  Matrix Kb(Pb, Pb, 0.0);
  for (std::size_t i = 0; i < Pb; ++i)
    for (std::size_t j = i; j < Pb; ++j) Kb(i, j) = K(i, j);
  base_->finalize_gram(Kb);
  for (std::size_t i = 0; i < Pb; ++i)
    for (std::size_t j = i; j < Pb; ++j) K(i, j) = Kb(i, j);
}

std::size_t DriftCombination::preferred_batch() const {
  return base_ ? base_->preferred_batch() : 64;
}

features::FeatureSpec DriftCombination::spec() const {
  features::FeatureSpec s;
  if (base_) s = base_->spec();
  s.kind = kind();
  // What makes the members: their count and identities (so the combination's identity changes
  // with theirs); the models themselves are stored beside the spec (Model::write).
  std::string ids;
  for (const auto& m : members_) ids += (ids.empty() ? "" : "+") + m.identity();
  s.params.set(kMemberPrefix + "count", members_.size());
  s.params.set(kMemberPrefix + "identities", ids);
  s.params.set(kMemberPrefix + "gaussian", gaussian_.has_value());
  if (gaussian_) {
    s.arrays[kMemberPrefix + "gaussian_mean"] = gaussian_->mean();
    s.arrays[kMemberPrefix + "gaussian_covariance"] = gaussian_->covariance();
  }
  return s;
}

std::vector<std::string> DriftCombination::feature_names() const {
  std::vector<std::string> names;
  if (base_) names = base_->feature_names();
  for (const auto& n : member_names_) names.push_back("drift(" + n + ")");
  if (gaussian_) names.push_back("drift(gaussian)");
  return names;
}

std::size_t member_count_of(const features::FeatureSpec& spec) {
  return static_cast<std::size_t>(spec.params.integer(kMemberPrefix + "count"));
}

std::unique_ptr<features::FeatureMap> combination_from_spec(const features::FeatureSpec& spec,
                                                            const ItemShape& shape,
                                                            const Schedule& schedule,
                                                            std::vector<Model> members,
                                                            std::vector<std::string> names) {
  features::FeatureSpec base_spec;
  if (!is_combination_kind(spec.kind, &base_spec.kind))
    throw InternalError("combination_from_spec: '" + spec.kind + "' is not a combination");
  for (const auto& [k, v] : spec.params.entries())
    if (!member_key(k)) base_spec.params.set(k, v);
  for (const auto& [k, v] : spec.arrays)
    if (!member_key(k)) base_spec.arrays[k] = v;
  std::unique_ptr<features::FeatureMap> base;
  if (!base_spec.kind.empty()) base = features::make_feature_map(base_spec, shape);
  std::optional<GaussianDrift> gaussian;
  if (spec.params.flag(kMemberPrefix + "gaussian", false))
    gaussian.emplace(shape, spec.arrays.at(kMemberPrefix + "gaussian_mean"),
                     spec.arrays.at(kMemberPrefix + "gaussian_covariance"));
  return std::make_unique<DriftCombination>(
      std::move(base), std::move(members), std::move(names), std::move(gaussian),
      make_schedule(schedule.name(), schedule.params()), shape);
}

}  // namespace ksi
