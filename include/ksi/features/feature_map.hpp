#pragma once
/// @file
/// The FeatureMap interface (METHOD section 4): phi: R^d -> R^P with Jacobian J(x) in R^{P x d}.
/// The drift is a vector-Jacobian product J(x)^T eta; fitting needs sums of J J^T and J v over
/// batches.

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/params.hpp"
#include "ksi/core/random.hpp"
#include "ksi/core/shape.hpp"

namespace ksi::features {

/// Everything needed to rebuild a feature map: its kind, scalar parameters, and arrays (random
/// frequencies, normalisation constants, ...). Stored in model files.
struct FeatureSpec {
  std::string kind;
  Params params;
  std::map<std::string, std::vector<double>> arrays;
};

class FeatureMap {
 public:
  virtual ~FeatureMap() = default;

  virtual std::string kind() const = 0;
  /// Number of features P.
  virtual std::size_t size() const = 0;
  /// Shape of one input item (d = input_shape().size()).
  virtual const ItemShape& input_shape() const = 0;

  /// phi(x); phi.size() == size().
  virtual void evaluate(std::span<const double> x, std::span<double> phi) const = 0;
  /// grad_x (eta . phi)(x) = J(x)^T eta; grad.size() == d.
  virtual void vjp(std::span<const double> x, std::span<const double> eta,
                   std::span<double> grad) const = 0;
  /// eta as a function of phi (e.g. the derivative of a loss in phi): eta_of(phi, eta).
  using EtaOfPhi = std::function<void(std::span<const double> phi, std::span<double> eta)>;
  /// phi(x) into `phi`, then grad = J(x)^T eta with eta = eta_of(phi): one step of an optimiser of
  /// a function of phi. The same values as evaluate, eta_of and vjp in turn (the default); maps
  /// override it to share their forward pass between the two (scattering).
  virtual void evaluate_and_vjp(std::span<const double> x, std::span<double> phi,
                                const EtaOfPhi& eta_of, std::span<double> grad) const;
  /// vjp for every row of X into the rows of G (same shape as X). Default: one vjp per row.
  virtual void vjp_batch(const Matrix& X, std::span<const double> eta, Matrix& G) const;
  /// J(x) as a P x d matrix. Default: P vjp's with unit vectors (maps override where cheaper).
  virtual void jacobian(std::span<const double> x, Matrix& J) const;
  /// J(x) v (P values), the forward-mode product, with phi_x = phi(x) already evaluated (the
  /// randomized Gram shares it between the probes of a row and keeps it for the feature moments).
  /// Default: the forward difference (phi(x + s v) - phi_x) / s, s = kForwardStep |x| / |v| (one
  /// evaluation); against the vjp its error is about 1e-8 of |J^T eta| |v| (7.5e-6 at worst, on the
  /// marginal bins), far below the Monte Carlo error of the Gram it enters. Maps override it with
  /// the exact product where that is cheap (and may ignore phi_x).
  virtual void jvp(std::span<const double> x, std::span<const double> phi_x,
                   std::span<const double> v, std::span<double> jv) const;
  static constexpr double kForwardStep = 1e-8;

  /// Adds a batch to the raw normal-equation sums: K_raw (P x P, upper triangle, row-major; the
  /// lower triangle is not referenced) and h += sum_b J(x_b) v_b. Raw sums add over batches and
  /// ranks; finalize_gram turns the reduced K_raw into sum_b J J^T. Default: dense J, one syrk.
  virtual void accumulate(const Matrix& X, const Matrix& V, Matrix& K_raw,
                          std::span<double> h) const;
  /// In-place map from reduced raw sums to sum J J^T (upper triangle). Default: identity.
  virtual void finalize_gram(Matrix& K) const {}
  /// Items per accumulate call that amortise the map's per-call work.
  virtual std::size_t preferred_batch() const { return 64; }

  /// Maps whose rows depend on the interpolant's time t (the drifts of fitted models combined in
  /// one system, model/combination.hpp) say so and implement the forms with t below; their forms
  /// without t throw. For every other map the forms with t are the ones without (the defaults), so
  /// the fit and the sampler call these.
  virtual bool time_dependent() const { return false; }
  virtual void vjp_batch_at(double /*t*/, const Matrix& X, std::span<const double> eta,
                            Matrix& G) const {
    vjp_batch(X, eta, G);
  }
  virtual void accumulate_at(double /*t*/, const Matrix& X, const Matrix& V, Matrix& K_raw,
                             std::span<double> h) const {
    accumulate(X, V, K_raw, h);
  }

  /// The parameters that rebuild this map through make_feature_map.
  virtual FeatureSpec spec() const = 0;
  /// One readable name per feature, e.g. "x0*x1" or "Phi2(j=1,l=0)". Default "phi[p]".
  virtual std::vector<std::string> feature_names() const;
  /// Indices of the features that are bins of a one-point law (the scattering map's marginal,
  /// conditional and contrast families), in increasing order; `ksi fit --bin-ridge` penalises their
  /// weights.
  virtual std::vector<std::size_t> bin_features() const { return {}; }
};

/// The stream of probe j of batch row r of a randomized Gram (the caller keys it by the pair's
/// identity, never by rank).
using ProbeStream = std::function<RandomStream(std::size_t row, std::size_t probe)>;

/// The randomized Gram (issue 14): K += sum_r (1/m) sum_j (J(x_r) s_rj)(J(x_r) s_rj)^T over m
/// Rademacher probes s_rj (entries +-1 from probe(r, j); E[s s^T] = I, so the sum's mean is
/// sum_r J(x_r) J(x_r)^T: unbiased), and h += J(x_r) v_r. K (upper triangle, row-major) is in final
/// units: finalize_gram is not applied to it. One phi(x_r) and m + 1 jvp's per row instead of the
/// P rows of J (by forward differences: m + 2 evaluations per row). `phi_rows`, if given, receives
/// phi(x_r) of every row (B x P): the fit's feature moments then cost no further evaluation.
void accumulate_randomized(const FeatureMap& map, const Matrix& X, const Matrix& V,
                           std::size_t probes, const ProbeStream& probe, Matrix& K,
                           std::span<double> h, Matrix* phi_rows = nullptr);

/// Rebuilds a stored feature map for items of `shape`; InputError if the spec is unusable for it.
std::unique_ptr<FeatureMap> make_feature_map(const FeatureSpec& spec, const ItemShape& shape);

/// Feature-map kinds `ksi fit --features` accepts.
std::vector<std::string> feature_map_kinds();

}  // namespace ksi::features
