#pragma once
/// @file
/// What `ksi fit` fits on: the training items read and put in model units, the feature map built
/// (or taken from a model, or a combination of models), and the items redistributed to the ranges
/// the assembly deals to ranks. One stage, so that the command line only parses options.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ksi/core/params.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/io/items.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::fit {

/// Where a fit's items, units and feature map come from (the options of `ksi fit` that name them).
struct TrainingInputs {
  std::string data;                      ///< training data set (HDF5 with /fields)
  std::optional<std::size_t> max_items;  ///< use only the first N items
  std::string feature_kind = "fourier";  ///< --features: a map, "models" or "<map>+models"
  bool feature_kind_given = false;       ///< --features was set (not its default)
  Params feature_params;                 ///< --feature-params
  std::string features_from;             ///< take map and units from this model (empty: none)
  std::string units_from;                ///< take the units from this model (empty: none)
  std::string standardize = "scalar";    ///< units estimated on the data when none is taken
  bool standardize_given = false;        ///< --standardize was set (not its default)
  bool schedule_given = false;           ///< --schedule was set (else a combination takes its
                                         ///< members')
  std::string shell_correction = "off";  ///< on, off, auto (on in spectral units)

  /// UsageError naming the first contradiction that needs no file (--features-from with
  /// --units-from or --feature-params, --max-items 0, a combination with --units-from, an unknown
  /// --shell-correction). prepare_training refuses a --features or --standardize that differs
  /// from the --features-from model's.
  void validate() const;
  /// Every file the fit reads (the data, the reference models, a combination's members): the
  /// output may not overwrite any of them.
  std::vector<std::string> input_paths() const;
};

/// This rank's part of the training set, ready for fit_model.
struct TrainingSet {
  io::LocalItems data;    ///< the assembly's item range for this rank, in model units
  std::size_t total = 0;  ///< items in the fit
  Standardization units;
  std::unique_ptr<features::FeatureMap> features;
};

/// Reads the items, takes or estimates their units, builds the feature map and reads the items the
/// assembly deals to this rank (whole batches; with time groups, the group's share). Sets
/// `options.shell_correction` (from `inputs.shell_correction` and the units) and, for a
/// combination without --schedule, `options.schedule` to the members'. `raw_items`, when given,
/// sees this rank's first read of the items in data units, before they are standardised (the output
/// calibration's target is taken there). Collective; InputError for a reference model of another
/// item shape, UsageError for settings the data contradict.
TrainingSet prepare_training(const TrainingInputs& inputs, FitOptions& options,
                             const TimeGroup& group, const par::Comm& comm,
                             const std::function<void(const io::LocalItems&)>& raw_items = {});

/// Refuses to start over an interrupted run: CollectiveError (exit code io) naming the first of
/// `paths` that exists, unless `resume` or `force`; with `force` and no `resume` the files in
/// `stale` (states of later stages that cannot apply to a new fit) are removed on rank 0.
void check_checkpoints(const std::vector<std::string>& paths, bool resume, bool force,
                       const std::vector<std::string>& stale, const par::Comm& comm);

}  // namespace ksi::fit
