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

void reject_unknown(const std::string& kind, const Params& params, const std::set<std::string>& known) {
  for (const auto& [key, value] : params.entries())
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw UsageError(cat("feature map '", kind, "' has no parameter '", key, "' (known: ",
                           list.empty() ? "none" : list, ")"));
    }
}

}  // namespace

std::vector<std::string> feature_map_kinds() { return {"polynomial", "fourier", "scattering"}; }

namespace {

// The parameter checks of build_feature_map (the same on every rank), before any collective.
std::unique_ptr<FeatureMap> build_local(const std::string& kind, Params& params,
                                        const ItemShape& shape, const std::vector<double>& colour,
                                        std::unique_ptr<ScatteringSpectra>& to_calibrate) {
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
    return std::make_unique<RandomFourierFeatures>(shape, static_cast<std::size_t>(count),
                                                   params.real("length_scale", 1.0),
                                                   static_cast<std::uint64_t>(params.integer("seed", 1)));
  }
  if (kind == "scattering") {
    reject_unknown(kind, params,
                   {"J", "L", "slant", "families", "isotropic", "phi4_diagonal", "subsample",
                    "normalize", "workspace_mb", "marginal", "shells"});
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
    if (options.marginal > 0) options.colour = colour;
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
                                              const par::Comm& comm,
                                              const std::vector<double>& colour) {
  Params params = params_in;
  params.set_context(cat("feature map '", kind, "'"));
  std::unique_ptr<FeatureMap> built;
  std::unique_ptr<ScatteringSpectra> to_calibrate;
  // A bad parameter is seen by every rank: one agreed error, printed once, no abort.
  par::collective(comm, [&] { built = build_local(kind, params, shape, colour, to_calibrate); });
  if (built) return built;
  ScatteringNormalization normalization = to_calibrate->calibrate(local_items, comm);
  const ScatteringOptions options = to_calibrate->options();
  to_calibrate.reset();  // its tables and workspace are as large as the new map's (GBs at 128^3)
  return std::make_unique<ScatteringSpectra>(shape, options, std::move(normalization));
}

std::unique_ptr<FeatureMap> make_feature_map(const FeatureSpec& spec, const ItemShape& shape) {
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
