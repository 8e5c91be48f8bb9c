#include "ksi/model/output_transform.hpp"

#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"

namespace ksi {

void OutputTransform::validate(const ItemShape& shape) const {
  if (empty()) return;
  if (!shape.is_grid())
    throw InputError(
        "an output calibration (gains, spread, map) needs fields on a periodic grid, "
        "but the items are " +
        shape.describe());
  const std::size_t S = Standardization::shell_count({shape.dims().begin(), shape.dims().end()});
  if (!gain.empty()) {
    if (gain.size() != S)
      throw InputError(
          cat("there are ", gain.size(), " output gains but the model has ", S, " shells"));
    for (double v : gain)
      if (!std::isfinite(v) || v < 0.0)
        throw InputError("output gains must be finite and non-negative");
  }
  if (spread.rows() > 0) {
    if (spread.cols() != S)
      throw InputError(
          cat("the output spread has ", spread.cols(), " shells but the model has ", S));
    for (double v : spread.values())
      if (!std::isfinite(v)) throw InputError("the output spread contains NaN or infinite values");
  }
  if (!map.x.empty() || !map.z.empty()) {  // a table with values or targets only is refused
    try {
      map.validate();
    } catch (const Error& e) {
      throw InputError(cat("output map: ", e.what()));
    }
  }
}

void OutputTransform::apply(Matrix& X, const ItemShape& shape,
                            const Standardization& standardization, const Matrix* spread_normals,
                            std::vector<double>* beyond) const {
  const std::vector<std::size_t> dims(shape.dims().begin(), shape.dims().end());
  if (spread.rows() > 0) {
    if (spread_normals == nullptr || spread_normals->rows() != X.rows() ||
        spread_normals->cols() != spread.rows())
      throw UsageError(cat("a model with an output spread of ", spread.rows(),
                           " components needs that many normals per field"));
    filter_shells(X, dims, spread_gains(gain, spread, *spread_normals));
  } else if (!gain.empty()) {
    filter_shells(X, dims, gain);
  }
  standardization.to_data(X, shape, beyond);
  if (!map.x.empty())
    for (double& v : X.values()) v = map.forward(v);
}

}  // namespace ksi
