// The one place that knows every feature-map kind: building at fit time and rebuilding from models.
#include <set>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/features/polynomial.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/features/scattering.hpp"

namespace ksi::features {
namespace {

void reject_unknown(const std::string& kind, const Params& params,
                    const std::set<std::string>& known) {
  for (const auto& [key, value] : params.entries())
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw UsageError(cat("feature map '", kind, "' has no parameter '", key,
                           "' (known: ", list.empty() ? "none" : list, ")"));
    }
}

}  // namespace

std::vector<std::string> feature_map_kinds() {
  return {"polynomial", "fourier", "scattering"};
}

namespace {

// The parameter checks of build_feature_map (the same on every rank), before any collective.
std::unique_ptr<FeatureMap> build_local(const std::string& kind, Params& params,
                                        const ItemShape& shape, const FieldUnits& units,
                                        std::unique_ptr<ScatteringSpectra>& to_calibrate,
                                        bool& data_units) {
  if (kind == "polynomial") {
    reject_unknown(kind, params, {"degree"});
    if (params.integer("degree", 2) != 2)
      throw UsageError("polynomial features: only degree 2 (linear + quadratic) is offered");
    return std::make_unique<PolynomialFeatures>(shape);
  }
  if (kind == "fourier") {
    reject_unknown(kind, params, {"count", "length_scale", "seed"});
    const auto count = params.integer("count", 256);
    if (count <= 0) throw UsageError("fourier features: count must be positive");
    return std::make_unique<RandomFourierFeatures>(
        shape, static_cast<std::size_t>(count), params.real("length_scale", 1.0),
        static_cast<std::uint64_t>(params.integer("seed", 1)));
  }
  if (kind == "scattering") {
    reject_unknown(kind, params,
                   {"J", "L", "slant", "families", "isotropic", "phi4_diagonal", "subsample",
                    "normalize", "workspace_mb", "marginal", "shells", "units", "conditional",
                    "conditional_moment", "contrast", "bin_tail"});
    ScatteringOptions options;
    options.scales = static_cast<int>(params.integer("J", 0));
    options.orientations = static_cast<int>(params.integer("L", 0));
    options.slant = params.real("slant", 0.0);
    options.families = ScatteringFamilies::parse(params.text("families", "all"));
    options.isotropic = params.flag("isotropic", false);
    options.phi4_diagonal = params.flag("phi4_diagonal", false);
    options.subsample = params.flag("subsample", true);
    options.workspace_mb = params.real("workspace_mb", options.workspace_mb);
    options.marginal = static_cast<int>(params.integer("marginal", 0));  // checked by the map
    options.shells = params.flag("shells", true);
    options.conditional = static_cast<int>(params.integer("conditional", 0));  // checked by the map
    options.conditional_moment =
        parse_conditional_moment(params.text("conditional_moment", "energy"));
    options.contrast = static_cast<int>(params.integer("contrast", 0));  // checked by the map
    options.bin_tail = params.real("bin_tail", 0.0);                     // checked by the map
    const std::string in_units = params.text("units", "model");
    if (in_units != "model" && in_units != "data")
      throw UsageError(
          cat("scattering features: units must be model or data, not '", in_units, "'"));
    data_units = in_units == "data";
    if (data_units && !params.flag("normalize", true))
      throw UsageError("scattering features: units=data needs normalize=true");
    // In data units the marginal family sees the fields as they are; in model units, through C.
    if (options.marginal > 0 && !data_units) options.colour = units.colour;
    if (options.scales < 0)
      throw UsageError("scattering features: J must be positive (0: automatic)");
    if (options.orientations < 0)
      throw UsageError("scattering features: L must be positive (0: automatic)");
    // Validates shape, J and L; the calibration pass over the data (collective) follows.
    auto unnormalised = std::make_unique<ScatteringSpectra>(shape, options);
    if (!params.flag("normalize", true)) return unnormalised;
    to_calibrate = std::move(unnormalised);
    return nullptr;
  }
  std::string list;
  for (const auto& k : feature_map_kinds()) list += (list.empty() ? "" : ", ") + k;
  throw UsageError(cat("unknown feature map '", kind, "' (known: ", list, ")"));
}

}  // namespace

std::unique_ptr<FeatureMap> build_feature_map(const std::string& kind, const Params& params_in,
                                              const ItemShape& shape, const Matrix& local_items,
                                              const par::Comm& comm, const FieldUnits& units) {
  Params params = params_in;
  params.set_context(cat("feature map '", kind, "'"));
  std::unique_ptr<FeatureMap> built;
  std::unique_ptr<ScatteringSpectra> to_calibrate;
  bool data_units = false;
  // A bad parameter is seen by every rank: one agreed error, printed once, no abort.
  par::collective(comm, [&] {
    built = build_local(kind, params, shape, units, to_calibrate, data_units);
    if (data_units) units.validate(shape);
  });
  if (built) return built;
  ScatteringNormalization normalization;
  if (data_units) {
    // Normalised on the fields in the units they are judged in.
    Matrix in_data_units;
    par::collective(comm, [&] { in_data_units = to_data_units(units, shape, local_items); });
    normalization = to_calibrate->calibrate(in_data_units, comm);
    // Shells the standardisation found no data power in (colour 0: the data's spectrum ends
    // there, e.g. at a solver's dealiasing cut) hold in data units only what the pointwise curve
    // makes of the other shells: no shell feature there. Steering them steers nothing the data
    // have (on forced 2D turbulence they made every guided pass diverge).
    if (!units.colour.empty() && !normalization.shells.empty())
      for (std::size_t s = 0; s < normalization.shells.size(); ++s)
        if (!(units.colour[s] > 0.0)) normalization.shells[s] = 0.0;
  } else {
    normalization = to_calibrate->calibrate(local_items, comm);
  }
  const ScatteringOptions options = to_calibrate->options();
  to_calibrate.reset();  // its tables and workspace are as large as the new map's (GBs at 128^3)
  auto map = std::make_unique<ScatteringSpectra>(shape, options, std::move(normalization));
  if (!data_units) return map;
  return std::make_unique<DataUnitsMap>(std::move(map), units);
}

std::unique_ptr<FeatureMap> make_feature_map(const FeatureSpec& spec, const ItemShape& shape) {
  if (in_data_units(spec)) {
    auto inner = make_feature_map(without_units(spec), shape);
    try {
      return std::make_unique<DataUnitsMap>(std::move(inner), FieldUnits::read(spec));
    } catch (const UsageError& e) {
      throw InputError(cat("the stored feature map in data units does not fit items of shape ",
                           shape.describe(), ": ", e.what()));
    }
  }
  Params params = spec.params;
  params.set_context(cat("stored feature map '", spec.kind, "'"));
  if (spec.kind == "polynomial") return std::make_unique<PolynomialFeatures>(shape);
  if (spec.kind == "fourier") {
    auto frequencies = spec.arrays.find("frequencies");
    auto phases = spec.arrays.find("phases");
    if (frequencies == spec.arrays.end() || phases == spec.arrays.end())
      throw InputError("stored fourier feature map lacks its frequencies or phases");
    return std::make_unique<RandomFourierFeatures>(
        shape, params.real("length_scale"), static_cast<std::uint64_t>(params.integer("seed")),
        frequencies->second, phases->second);
  }
  if (spec.kind == "scattering") return ScatteringSpectra::from_spec(spec, shape);
  throw InputError(cat("model uses feature map '", spec.kind, "', which this ksi does not know"));
}

}  // namespace ksi::features
