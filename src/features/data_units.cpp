#include "ksi/features/data_units.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/fft/fft.hpp"

namespace ksi::features {

void FieldUnits::validate(const ItemShape& shape) const {
  if (!std::isfinite(offset) || !std::isfinite(gain))
    throw InputError("data units: the offset and gain must be finite");
  if (colour.empty()) return;
  const std::size_t shells =
      fft::SpectralShells({shape.dims().begin(), shape.dims().end()}).count();
  if (colour.size() != shells)
    throw InputError(
        cat("data units: ", colour.size(), " colour gains for a grid of ", shells, " shells"));
  for (const double g : colour)
    if (!(g >= 0.0) || !std::isfinite(g))
      throw InputError(cat("data units: colour gain ", g, " is not finite and non-negative"));
}

void FieldUnits::write(FeatureSpec& spec) const {
  spec.params.set("units", "data");
  spec.params.set("units_offset", offset);
  spec.params.set("units_gain", gain);
  if (!colour.empty()) spec.arrays["units_colour"] = colour;
  if (!curve.empty()) {
    spec.arrays["units_curve_z"] = curve.knots_z();
    spec.arrays["units_curve_x"] = curve.knots_x();
  }
}

FieldUnits FieldUnits::read(const FeatureSpec& spec) {
  FieldUnits u;
  Params params = spec.params;
  params.set_context("stored data units");
  try {
    u.offset = params.real("units_offset");
    u.gain = params.real("units_gain");
  } catch (const UsageError& e) {
    throw InputError(e.what());
  }
  if (auto it = spec.arrays.find("units_colour"); it != spec.arrays.end()) u.colour = it->second;
  const auto z = spec.arrays.find("units_curve_z"), x = spec.arrays.find("units_curve_x");
  if ((z == spec.arrays.end()) != (x == spec.arrays.end()))
    throw InputError("data units: the stored curve lacks its abscissae or its values");
  if (z != spec.arrays.end()) u.curve = MonotoneCurve(z->second, x->second);
  return u;
}

bool in_data_units(const FeatureSpec& spec) {
  return spec.params.has("units") && spec.params.text("units") == "data";
}

FeatureSpec without_units(const FeatureSpec& spec) {
  FeatureSpec inner;
  inner.kind = spec.kind;
  for (const auto& [k, v] : spec.params.entries())
    if (k.rfind("units", 0) != 0) inner.params.set(k, v);
  for (const auto& [k, v] : spec.arrays)
    if (k.rfind("units_", 0) != 0) inner.arrays[k] = v;
  return inner;
}

// The change of units itself: the filter C through one r2c/c2r pair, then the curve, point by
// point.
class UnitsTransform {
 public:
  UnitsTransform(const FieldUnits& units, const ItemShape& shape)
      : units_(units), real_({shape.dims().begin(), shape.dims().end()}), shells_(real_.dims()) {
    const std::size_t half = real_.complex_size();
    const double N = static_cast<double>(real_.real_size());
    colour_of_mode_.resize(half);
    scale_of_mode_.resize(half);
    for (std::size_t k = 0; k < half; ++k) {
      colour_of_mode_[k] =
          units_.colour.empty() ? units_.gain : units_.colour[shells_.of_mode()[k]];
      scale_of_mode_[k] = std::sqrt(shells_.weights()[k] / N);
    }
  }
  const fft::RealTransform& real() const { return real_; }
  double colour(std::size_t k) const { return colour_of_mode_[k]; }
  double scale(std::size_t k) const { return scale_of_mode_[k]; }

  // out = C in (C is real and even: its own adjoint).
  void filter(std::span<const double> in, std::span<double> out) const {
    if (units_.colour.empty()) {
      for (std::size_t i = 0; i < in.size(); ++i) out[i] = units_.gain * in[i];
      return;
    }
    std::vector<fft::complex> spectrum(real_.complex_size());
    real_.forward(in.data(), spectrum.data());
    const double inv_n = 1.0 / static_cast<double>(real_.real_size());
    for (std::size_t k = 0; k < spectrum.size(); ++k) spectrum[k] *= colour_of_mode_[k] * inv_n;
    real_.backward_destroying(spectrum.data(), out.data());
  }
  // u = q(offset + C x) and q' there.
  void apply(std::span<const double> x, std::span<double> u, std::span<double> slope) const {
    filter(x, u);
    for (std::size_t i = 0; i < u.size(); ++i) {
      const double y = units_.offset + u[i];
      if (units_.curve.empty()) {
        u[i] = y;
        slope[i] = 1.0;
      } else {
        units_.curve.evaluate(y, u[i], slope[i]);
      }
    }
  }

 private:
  const FieldUnits& units_;
  fft::RealTransform real_;
  fft::SpectralShells shells_;
  std::vector<double> colour_of_mode_;  // C per r2c coefficient
  std::vector<double> scale_of_mode_;   // sqrt(w_k / N) per r2c coefficient
};

Matrix to_data_units(const FieldUnits& units, const ItemShape& shape, const Matrix& items) {
  units.validate(shape);
  const UnitsTransform transform(units, shape);
  Matrix out(items.rows(), items.cols());
  std::vector<double> slope(items.cols());
  for (std::size_t i = 0; i < items.rows(); ++i) transform.apply(items.row(i), out.row(i), slope);
  return out;
}

DataUnitsMap::DataUnitsMap(std::unique_ptr<FeatureMap> inner, FieldUnits units)
    : inner_(std::move(inner)), units_(std::move(units)) {
  const ItemShape& shape = inner_->input_shape();
  if (!shape.is_grid())
    throw UsageError("features in data units need fields on a periodic grid, but the items are " +
                     shape.describe());
  units_.validate(shape);
  transform_ = std::make_unique<UnitsTransform>(units_, shape);
}

DataUnitsMap::~DataUnitsMap() = default;

void DataUnitsMap::filter(std::span<const double> in, std::span<double> out) const {
  transform_->filter(in, out);
}

void DataUnitsMap::to_data_units(std::span<const double> x, std::span<double> u,
                                 std::span<double> slope) const {
  transform_->apply(x, u, slope);
}

void DataUnitsMap::evaluate(std::span<const double> x, std::span<double> phi) const {
  std::vector<double> u(x.size()), slope(x.size());
  to_data_units(x, u, slope);
  inner_->evaluate(u, phi);
}

void DataUnitsMap::vjp(std::span<const double> x, std::span<const double> eta,
                       std::span<double> grad) const {
  std::vector<double> u(x.size()), slope(x.size()), g(x.size());
  to_data_units(x, u, slope);
  inner_->vjp(u, eta, g);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] *= slope[i];
  filter(g, grad);
}

void DataUnitsMap::evaluate_and_vjp(std::span<const double> x, std::span<double> phi,
                                    const EtaOfPhi& eta_of, std::span<double> grad) const {
  std::vector<double> u(x.size()), slope(x.size()), g(x.size());
  to_data_units(x, u, slope);
  inner_->evaluate_and_vjp(u, phi, eta_of, g);
  for (std::size_t i = 0; i < g.size(); ++i) g[i] *= slope[i];
  filter(g, grad);
}

void DataUnitsMap::jacobian(std::span<const double> x, Matrix& J) const {
  const std::size_t d = x.size();
  std::vector<double> u(d), slope(d), row(d);
  to_data_units(x, u, slope);
  inner_->jacobian(u, J);
  for (std::size_t p = 0; p < J.rows(); ++p) {
    auto r = J.row(p);
    for (std::size_t i = 0; i < d; ++i) row[i] = r[i] * slope[i];
    filter(row, r);
  }
}

void DataUnitsMap::accumulate(const Matrix& X, const Matrix& V, Matrix& K,
                              std::span<double> h) const {
  // Rows r_p = C (q' o j_p) with j_p the inner map's rows at u: with Z_p = r2c(q' o j_p),
  // <r_p, r_q> = sum_k (w_k / N) C(k)^2 Re(Z_p conj Z_q) and <r_p, v> = sum_k (w_k / N) C(k)
  // Re(Z_p conj vhat): one SYRK and one GEMV over the interleaved half spectrum.
  const std::size_t P = size(), d = X.cols();
  ensure(V.rows() == X.rows() && V.cols() == d && K.rows() == P && K.cols() == P && h.size() == P,
         "data-units accumulate: shapes do not match");
  const UnitsTransform& t = *transform_;
  const std::size_t half = t.real().complex_size(), width = 2 * half;
  Matrix J, Q(P, width);
  std::vector<double> u(d), slope(d), row(d), qv(width);
  std::vector<fft::complex> spectrum(half);
  for (std::size_t b = 0; b < X.rows(); ++b) {
    {
      ScopedPhase phase("fit.features");
      to_data_units(X.row(b), u, slope);
      inner_->jacobian(u, J);
      for (std::size_t p = 0; p < P; ++p) {
        const auto r = J.row(p);
        for (std::size_t i = 0; i < d; ++i) row[i] = r[i] * slope[i];
        t.real().forward(row.data(), spectrum.data());
        double* q = Q.row(p).data();
        for (std::size_t k = 0; k < half; ++k) {
          const fft::complex z = spectrum[k] * (t.colour(k) * t.scale(k));
          q[2 * k] = z.real();
          q[2 * k + 1] = z.imag();
        }
      }
      t.real().forward(V.row(b).data(), spectrum.data());
      for (std::size_t k = 0; k < half; ++k) {
        const fft::complex z = spectrum[k] * t.scale(k);
        qv[2 * k] = z.real();
        qv[2 * k + 1] = z.imag();
      }
    }
    ScopedPhase phase("fit.syrk");
    const int n = static_cast<int>(P), k = static_cast<int>(width);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1.0, Q.data(), k, 1.0, K.data(), n);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0, Q.data(), k, qv.data(), 1, 1.0, h.data(),
                1);
  }
}

FeatureSpec DataUnitsMap::spec() const {
  FeatureSpec s = inner_->spec();
  units_.write(s);
  return s;
}

}  // namespace ksi::features
