#pragma once
/// @file
/// Building a feature map at fit time: user parameters plus, for maps that normalise by data
/// statistics (scattering), a collective pass over this rank's items.

#include <memory>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/params.hpp"
#include "ksi/features/data_units.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::features {

/// Builds the map `kind` with `params` for items of `shape`. `local_items` are this rank's data
/// items (rows), used by maps calibrated on data; collective over `comm`. Unknown kinds or
/// parameters (every key of `params` must be known to the map) and invalid values are usage errors
/// agreed across ranks: every rank throws the same par::CollectiveError carrying ExitCode::usage.
/// `units` maps the items (in the model's units) to data units. Scattering maps take their features
/// of the data-unit fields with `units=data` (a DataUnitsMap), else of the items themselves, their
/// marginal family then seeing the items through units.colour (the inverse of a spectral
/// whitening).
std::unique_ptr<FeatureMap> build_feature_map(const std::string& kind, const Params& params,
                                              const ItemShape& shape, const Matrix& local_items,
                                              const par::Comm& comm, const FieldUnits& units = {});

}  // namespace ksi::features
