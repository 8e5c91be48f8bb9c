#pragma once
/// @file
/// Item files (dataset.h5, samples.h5): `/fields` shaped (N, d) for vectors or (N, n[, n[, n]]) for
/// periodic fields, float32 or float64, with the attribute `item_kind` ("vector" or "grid").
/// Reading deals items to ranks in contiguous blocks and rejects non-finite values.

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::io {

inline constexpr const char* kFieldsDataset = "fields";

struct ItemsInfo {
  std::string path;
  std::size_t count = 0;
  ItemShape shape;
  DType dtype = DType::float64;
  double box_size = 1.0;  ///< physical side of the periodic box (attribute `box_size`, default 1)
};

/// Shape and type of the items of an open file; InputError naming the file if `/fields` is missing
/// or not an array of items.
ItemsInfo inspect_items(const File& file);

struct LocalItems {
  ItemsInfo info;
  par::Range range;  ///< global indices of the rows held here
  Matrix values;     ///< range.size() x d, in double
};

/// Reads the items [range) (default: this rank's contiguous block); collective. Non-finite values
/// are an InputError naming the first offending item. `at_least` items are required in the file.
LocalItems read_items(const std::string& path, const par::Comm& comm, std::size_t at_least = 1);
LocalItems read_items(const std::string& path, const par::Comm& comm, par::Range range);

/// The .xmf sidecar of a (total, grid...) /fields dataset, committed with the file, for 2D and 3D
/// grids (nothing otherwise).
void add_xdmf_sidecar(OutputFile& out, const ItemShape& shape, std::size_t total, DType dtype,
                      double box_size);

/// Writes `/fields` (total rows; this rank's rows start at `first`) with its attributes, and, for
/// 2D and 3D grids, an .xmf sidecar committed with the file. Collective.
void write_items(OutputFile& out, const ItemShape& shape, std::size_t total, std::size_t first,
                 const Matrix& local, DType dtype, double box_size = 1.0);

/// A data set of generated fields (`ksi synth cosmology | turbulence | mrw`): where it goes and
/// what made it.
struct GeneratedItems {
  std::string path;
  bool force = false;  ///< replace an existing file
  DType dtype = DType::float64;
  std::string generator;   ///< attribute `generator`; provenance "ksi synth <generator>"
  std::uint64_t seed = 0;  ///< attribute `seed`
  ItemShape shape;
  std::size_t total = 0;  ///< items in the set
  par::Range local;       ///< the items this rank produces
  double box_size = 1.0;
};
/// Writes the set item by item: this rank produces items [local.begin, local.end) with
/// produce(global index, values); in each round every rank writes at most one item collectively,
/// so one item at a time is held in memory. describe(root) adds the generator's attributes
/// (collective). A non-finite item is a NumericalError naming it; nothing is written then (the
/// output is atomic). Collective.
void write_generated_items(const GeneratedItems& set,
                           const std::function<void(std::size_t, std::span<double>)>& produce,
                           const std::function<void(const Group&)>& describe,
                           const par::Comm& comm);

}  // namespace ksi::io
