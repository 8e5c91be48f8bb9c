#pragma once
/// @file
/// Fitted models as features (METHOD section 2 with velocity fields as rows): each member m
/// contributes its drift b_m,t(x) as one row of the Jacobian, so the system of time t has
/// K_t(m, m') = E[b_m,t . b_m',t] and h_t(m) = E[b_m,t . dI/dt], and the combined drift is
/// sum_m eta_t(m) b_m,t(x). A member is a model file (its drift in its own model units, which must
/// be the combination's: members share their standardisation and schedule) or the exact drift of
/// the Gaussian with the training data's mean and covariance (`gaussian`: dense for vectors, one
/// variance per spectral shell for fields). Another feature map may stand beside the members
/// (`scattering+models`): its rows come first, and its Gram block with the members' rows is
/// assembled from its dense Jacobian.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/interpolant/schedule.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi {

/// The exact drift of the interpolant x_t = alpha z + beta x1 when x1 ~ N(mu, C):
/// b_t(x) = beta' mu + (alpha alpha' I + beta beta' C)(alpha^2 I + beta^2 C)^-1 (x - beta mu).
/// Vectors: mu and C dense (C through its eigen-decomposition). Fields: C stationary and isotropic,
/// diagonal in Fourier space with one variance per shell round(|k|); mu one value for all points.
/// Directions without variance get no drift (gains()).
class GaussianDrift {
 public:
  /// Moments of the items (rows of `local`, this rank's; collective over `comm`), summed in
  /// double-double per item so that they are the same bits on any number of ranks.
  static GaussianDrift estimate(const Matrix& local, const ItemShape& shape, const par::Comm& comm);
  /// From stored moments: vectors: mean (d) and covariance (d x d, row-major); fields: mean (1)
  /// and one variance per shell. InputError if they do not fit `shape`.
  GaussianDrift(const ItemShape& shape, std::vector<double> mean, std::vector<double> covariance);

  /// b_t for every row of X into the rows of B.
  void drift(const Schedule& schedule, double t, const Matrix& X, Matrix& B) const;

  /// The gain of each eigen-direction (vectors) or shell (fields) at t: the closed form where the
  /// data have variance, 0 where they have none (below SpectralShells::kEmpty of the largest).
  std::vector<double> gains(const Schedule& schedule, double t) const;
  const std::vector<double>& mean() const { return mean_; }
  /// Vectors: the covariance (d x d row-major); fields: the variance of each shell.
  const std::vector<double>& covariance() const { return covariance_; }

 private:
  ItemShape shape_;
  std::vector<double> mean_;
  std::vector<double> covariance_;
  std::vector<double> eigenvalues_;  // vectors: of C; fields: the shell variances
  Matrix eigenvectors_;              // vectors only
};

/// The members of a combination as `--feature-params paths=a.h5+b.h5+gaussian` names them.
struct MemberList {
  std::vector<std::string> paths;  ///< model files, in order
  bool gaussian = false;           ///< the exact Gaussian drift, after the files
  std::size_t count() const { return paths.size() + (gaussian ? 1 : 0); }
};
/// Parses "a.h5+b.h5+gaussian"; UsageError when empty or a name repeats.
MemberList parse_member_list(const std::string& text);

/// The feature map of a combination: the rows of `base` (optional), then one row per member.
/// Its rows depend on t (time_dependent()); evaluate() gives the base features and 0 for each
/// member (a drift has no potential), so moments, training features and `ksi stats` see the base
/// map alone.
class DriftCombination final : public features::FeatureMap {
 public:
  DriftCombination(std::unique_ptr<features::FeatureMap> base, std::vector<Model> members,
                   std::vector<std::string> member_names, std::optional<GaussianDrift> gaussian,
                   std::unique_ptr<Schedule> schedule, const ItemShape& shape);
  ~DriftCombination() override;

  std::string kind() const override;
  std::size_t size() const override { return base_size_ + member_count(); }
  const ItemShape& input_shape() const override { return shape_; }
  bool time_dependent() const override { return true; }

  void evaluate(std::span<const double> x, std::span<double> phi) const override;
  void vjp(std::span<const double> x, std::span<const double> eta,
           std::span<double> grad) const override;
  void vjp_batch_at(double t, const Matrix& X, std::span<const double> eta,
                    Matrix& G) const override;
  void accumulate_at(double t, const Matrix& X, const Matrix& V, Matrix& K_raw,
                     std::span<double> h) const override;
  void accumulate(const Matrix& X, const Matrix& V, Matrix& K_raw,
                  std::span<double> h) const override;
  void jacobian(std::span<const double> x, Matrix& J) const override;
  void finalize_gram(Matrix& K) const override;
  std::size_t preferred_batch() const override;
  features::FeatureSpec spec() const override;
  std::vector<std::string> feature_names() const override;
  /// The base map's bins (its rows come first).
  std::vector<std::size_t> bin_features() const override {
    return base_ ? base_->bin_features() : std::vector<std::size_t>{};
  }

  /// The drift of member m (0 .. member_count() - 1) at t for every row of X.
  void member_drift(std::size_t m, double t, const Matrix& X, Matrix& B) const;
  std::size_t member_count() const { return members_.size() + (gaussian_ ? 1 : 0); }
  const std::vector<Model>& members() const { return members_; }
  const std::vector<std::string>& member_names() const { return member_names_; }
  const std::optional<GaussianDrift>& gaussian() const { return gaussian_; }
  const features::FeatureMap* base() const { return base_.get(); }

 private:
  std::unique_ptr<features::FeatureMap> base_;
  std::size_t base_size_ = 0;
  std::vector<Model> members_;
  std::vector<std::string> member_names_;
  std::optional<GaussianDrift> gaussian_;
  std::unique_ptr<Schedule> schedule_;
  ItemShape shape_;
};

/// Whether a stored feature kind is a combination ("models" or "<base>+models"), and its base kind
/// (empty for "models").
bool is_combination_kind(const std::string& kind, std::string* base_kind = nullptr);

/// Reads the member model files on every rank of `comm` and checks that they can be combined for
/// items of `shape`: the same item shape and the same standardisation in every member, and no
/// member that is itself a combination (InputError naming the file otherwise). Their schedules are
/// checked against the fit's by build_combination.
std::vector<Model> read_members(const std::vector<std::string>& paths, const ItemShape& shape,
                                const par::Comm& comm);

/// The feature map of `ksi fit --features models|<base>+models`: `params` holds the members
/// (paths=...) and the base map's own parameters; `members` are read_members(paths); the base map
/// is built on this rank's items (`local_items`, in model units `units`) and the Gaussian member
/// estimated on them. Collective; UsageError for a missing paths= or a schedule that is not the
/// members'.
std::unique_ptr<features::FeatureMap> build_combination(
    const std::string& kind, const Params& params, std::vector<Model> members,
    const Matrix& local_items, const ItemShape& shape, const Standardization& units,
    const Schedule& schedule, const par::Comm& comm);

/// A stored combination (Model::read): the number of member models its spec names, and the map
/// rebuilt from the spec with those members (read from the file's groups) and their names.
std::size_t member_count_of(const features::FeatureSpec& spec);
std::unique_ptr<features::FeatureMap> combination_from_spec(const features::FeatureSpec& spec,
                                                            const ItemShape& shape,
                                                            const Schedule& schedule,
                                                            std::vector<Model> members,
                                                            std::vector<std::string> names);

/// The schedule as text ("name,key=value,..."), for comparisons and messages.
std::string schedule_text(const Schedule& schedule);

}  // namespace ksi
