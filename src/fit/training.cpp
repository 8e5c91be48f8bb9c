// The training set of a fit: items, units, feature map, and the ranges the assembly deals to ranks.
#include "ksi/fit/training.hpp"

#include <algorithm>
#include <filesystem>

#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/interpolant/schedule.hpp"
#include "ksi/io/output.hpp"
#include "ksi/model/combination.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/log.hpp"

namespace ksi::fit {
namespace {

bool is_combination(const TrainingInputs& inputs) {
  return inputs.features_from.empty() && is_combination_kind(inputs.feature_kind);
}

MemberList member_list(const TrainingInputs& inputs) {
  if (!is_combination(inputs) || !inputs.feature_params.has("paths")) return {};
  return parse_member_list(inputs.feature_params.text("paths"));
}

io::LocalItems read_training_items(const TrainingInputs& inputs, const par::Comm& comm) {
  ScopedPhase phase("fit.io");
  if (!inputs.max_items) return io::read_items(inputs.data, comm);
  io::File file = io::File::open(inputs.data, comm);
  io::ItemsInfo info;
  par::collective(comm, [&] { info = io::inspect_items(file); });
  const std::size_t n = std::min(*inputs.max_items, info.count);
  io::LocalItems items =
      io::read_items(inputs.data, comm, par::block_range(n, comm.rank(), comm.size()));
  items.info.count = n;
  return items;
}

}  // namespace

void TrainingInputs::validate() const {
  if (max_items && *max_items == 0) throw UsageError("--max-items must be positive");
  if (!features_from.empty() && !units_from.empty())
    throw UsageError("--features-from already brings the units: drop --units-from");
  if (!features_from.empty() && !feature_params.entries().empty())
    throw UsageError(cat("--features-from ", features_from,
                         " takes the feature map and its parameters from that model: drop "
                         "--feature-params (given on the command line or in the config)"));
  if (!member_list(*this).paths.empty() && !units_from.empty())
    throw UsageError("a combination of models works in its members' units: drop --units-from");
  if (shell_correction != "on" && shell_correction != "off" && shell_correction != "auto")
    throw UsageError("--shell-correction must be on, off or auto, not '" + shell_correction + "'");
}

std::vector<std::string> TrainingInputs::input_paths() const {
  std::vector<std::string> paths{data};
  if (!features_from.empty()) paths.push_back(features_from);
  if (!units_from.empty()) paths.push_back(units_from);
  const MemberList members = member_list(*this);
  paths.insert(paths.end(), members.paths.begin(), members.paths.end());
  return paths;
}

TrainingSet prepare_training(const TrainingInputs& inputs, FitOptions& options,
                             const TimeGroup& group, const par::Comm& comm,
                             const std::function<void(const io::LocalItems&)>& raw_items) {
  inputs.validate();
  TrainingSet set;
  io::LocalItems& data = set.data;
  data = read_training_items(inputs, comm);
  set.total = data.info.count;
  par::Log::info(cat("fit: read ", set.total, " items (", data.info.shape.describe(), ", ",
                     io::to_string(data.info.dtype), ") from ", inputs.data));
  if (raw_items) raw_items(data);

  // A model whose map or units the fit takes, for items of the data's shape.
  const auto read_reference = [&](const std::string& source) {
    Model reference = Model::read(source, comm);
    reference.check_items(data.info.shape, source, inputs.data);
    return reference;
  };
  // Units taken from a model: a --standardize that names another mode is a contradiction.
  const auto check_standardize = [&](const Standardization& units, const std::string& source) {
    if (inputs.standardize_given && inputs.standardize != units.mode)
      throw UsageError(cat("--standardize ", inputs.standardize, ", but ", source, " works in ",
                           units.mode, " units: drop --standardize"));
  };
  // The units of a fit that brings its own feature map: --units-from's, or estimated on the data.
  const auto own_units = [&] {
    if (inputs.units_from.empty())
      return Standardization::fit(data.values, data.info.shape, inputs.standardize, comm);
    const Model reference = read_reference(inputs.units_from);
    Standardization units = reference.standardization();
    check_standardize(units, inputs.units_from);
    units.to_model(data.values, data.info.shape);
    return units;
  };

  Standardization& st = set.units;
  if (!inputs.features_from.empty()) {
    const Model reference = read_reference(inputs.features_from);
    if (reference.features().time_dependent())
      throw UsageError("--features-from " + inputs.features_from +
                       ": a combination of models is not a feature map to reuse (fit a new "
                       "combination with --features models --feature-params paths=...)");
    // The map and the units are the reference's: another --features or --standardize would be
    // ignored.
    const auto& spec = reference.features().spec();
    if (inputs.feature_kind_given && inputs.feature_kind != spec.kind)
      throw UsageError(cat("--features ", inputs.feature_kind, ", but --features-from ",
                           inputs.features_from, " holds a ", spec.kind, " map: drop --features"));
    st = reference.standardization();
    check_standardize(st, inputs.features_from);
    st.to_model(data.values, data.info.shape);
    set.features = features::make_feature_map(spec, data.info.shape);
  } else if (is_combination(inputs)) {
    // The members' drifts live in their model units: the combination takes them (and their
    // schedule unless --schedule says otherwise, which build_combination then refuses).
    const MemberList members_named = member_list(inputs);
    std::vector<Model> members = read_members(members_named.paths, data.info.shape, comm);
    if (!members.empty()) {
      st = members.front().standardization();
      check_standardize(st, members_named.paths.front());
      st.to_model(data.values, data.info.shape);
      if (!inputs.schedule_given) options.schedule = members.front().schedule().name();
    } else {
      st = own_units();
    }
    ScopedPhase phase("fit.features.build");
    set.features =
        build_combination(inputs.feature_kind, inputs.feature_params, std::move(members),
                          data.values, data.info.shape, st, *make_schedule(options.schedule), comm);
  } else {
    st = own_units();
    ScopedPhase phase("fit.features.build");
    set.features = features::build_feature_map(
        inputs.feature_kind, inputs.feature_params, data.info.shape, data.values, comm,
        data.info.shape.is_grid() ? st.data_units() : features::FieldUnits{});
  }

  // The assembly deals whole batches to ranks: read that range (the model is then bitwise the same
  // for any number of ranks) unless this rank already holds it. With time groups each group holds
  // all items, dealt over its ranks. Reading is collective: every rank reads again if any rank's
  // range moved.
  const auto range =
      time_group_item_range(set.total, items_per_batch(options, *set.features), group);
  const bool moved = range.begin != data.range.begin || range.end != data.range.end;
  if (comm.allreduce_max(std::int64_t{moved ? 1 : 0}) != 0) {
    ScopedPhase phase("fit.io");
    data.values = Matrix();
    data = io::read_items(inputs.data, comm, range);
    data.info.count = set.total;
    st.to_model(data.values, data.info.shape);
  }

  options.shell_correction =
      inputs.shell_correction == "on" ||
      (inputs.shell_correction == "auto" && Standardization::spectral(st.mode));
  if (options.shell_correction && !data.info.shape.is_grid())
    throw UsageError("--shell-correction on needs fields on a periodic grid, but the items are " +
                     data.info.shape.describe());
  return set;
}

void check_checkpoints(const std::vector<std::string>& paths, bool resume, bool force,
                       const std::vector<std::string>& stale, const par::Comm& comm) {
  // A checkpoint holds hours of work: never drop it silently.
  for (const auto& path : paths) io::check_interrupted(path, "checkpoint", resume, force, comm);
  if (force && !resume && comm.is_root())
    for (const auto& path : stale) std::filesystem::remove(path);
}

}  // namespace ksi::fit
