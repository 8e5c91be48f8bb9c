#pragma once
/// @file
/// Feature maps of fields taken in data units. A model runs in its own units x (whitened, Gaussian
/// copula, ...); the statistics fields are judged by (P(k), structure functions) live in data units
/// u = q(offset + C x), C a linear isotropic filter with one gain per spectral shell and q a smooth
/// monotone map of values (the inverse of a Gaussian copula's one-point map). DataUnitsMap composes
/// a field map psi with that change of units, phi(x) = psi(u(x)), so that its shell powers are the
/// power spectrum in the units it is judged in. The Jacobian gains one diagonal factor and one
/// filter, J = J_psi(u) diag(q') C; its rows are no longer band-limited, so the Gram sums are taken
/// from the dense rows (P r2c transforms and one SYRK over the half spectrum per item).

#include <memory>
#include <string>
#include <vector>

#include "ksi/core/monotone_curve.hpp"
#include "ksi/features/feature_map.hpp"

namespace ksi::features {

/// u = q(offset + C x): C multiplies every Fourier coefficient of shell round(|k|) by colour[shell]
/// (empty colour: by `gain`), q is `curve` (empty: the identity).
struct FieldUnits {
  double offset = 0.0;
  double gain = 1.0;
  std::vector<double> colour;
  MonotoneCurve curve;

  /// InputError unless the colour has one finite, non-negative gain per shell of `shape`'s grid.
  void validate(const ItemShape& shape) const;
  /// Adds the units to a feature spec (params units_*, arrays units_*), and reads them back.
  void write(FeatureSpec& spec) const;
  static FieldUnits read(const FeatureSpec& spec);
};

class UnitsTransform;  // the filter and the curve, applied to fields (src/features)

class DataUnitsMap final : public FeatureMap {
 public:
  /// `inner` is a map of fields in data units; UsageError for items that are not fields.
  DataUnitsMap(std::unique_ptr<FeatureMap> inner, FieldUnits units);
  ~DataUnitsMap() override;

  std::string kind() const override { return inner_->kind(); }
  std::size_t size() const override { return inner_->size(); }
  const ItemShape& input_shape() const override { return inner_->input_shape(); }
  void evaluate(std::span<const double> x, std::span<double> phi) const override;
  void vjp(std::span<const double> x, std::span<const double> eta,
           std::span<double> grad) const override;
  void evaluate_and_vjp(std::span<const double> x, std::span<double> phi, const EtaOfPhi& eta_of,
                        std::span<double> grad) const override;
  void jacobian(std::span<const double> x, Matrix& J) const override;
  void accumulate(const Matrix& X, const Matrix& V, Matrix& K_raw,
                  std::span<double> h) const override;
  std::size_t preferred_batch() const override { return inner_->preferred_batch(); }
  /// The inner map's spec with the units added (params units = data).
  FeatureSpec spec() const override;
  std::vector<std::string> feature_names() const override { return inner_->feature_names(); }
  std::vector<std::size_t> bin_features() const override { return inner_->bin_features(); }

  const FeatureMap& inner() const { return *inner_; }
  const FieldUnits& units() const { return units_; }
  /// u and q'(y) of a field x in model units.
  void to_data_units(std::span<const double> x, std::span<double> u, std::span<double> slope) const;

 private:
  /// out = C in (C is real and even: it is its own adjoint).
  void filter(std::span<const double> in, std::span<double> out) const;

  std::unique_ptr<FeatureMap> inner_;
  FieldUnits units_;
  std::unique_ptr<UnitsTransform> transform_;
};

/// Rows of `items` (fields of `shape` in model units) in data units.
Matrix to_data_units(const FieldUnits& units, const ItemShape& shape, const Matrix& items);

/// Whether a stored spec is of a map in data units (params units = data).
bool in_data_units(const FeatureSpec& spec);
/// The spec without its units entries (the inner map's spec).
FeatureSpec without_units(const FeatureSpec& spec);

}  // namespace ksi::features
