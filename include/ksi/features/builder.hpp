#pragma once
/// @file
/// Building a feature map at fit time: user parameters plus, for maps that normalise by data
/// statistics (scattering), a collective pass over this rank's items.

#include <memory>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/params.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::features {

/// Builds the map `kind` with `params` for items of `shape`. `local_items` are this rank's data items
/// (rows), used by maps calibrated on data; collective over `comm`. Unknown kinds or parameters
/// (every key of `params` must be known to the map) and invalid values are usage errors agreed across
/// ranks: every rank throws the same par::CollectiveError carrying ExitCode::usage.
/// `colour` (per shell round(|k|)) maps the items to data units for the scattering map's marginal
/// family (the inverse of a spectral whitening; empty: the items are in data units up to scale).
std::unique_ptr<FeatureMap> build_feature_map(const std::string& kind, const Params& params,
                                              const ItemShape& shape, const Matrix& local_items,
                                              const par::Comm& comm,
                                              const std::vector<double>& colour = {});

}  // namespace ksi::features
