#pragma once
/// @file
/// The output of `ksi drift`: the particles as an item file (`/fields`, XDMF sidecar for 2D and 3D
/// grids) with the run's settings and diagnostics (`ksi_file_kind` = particles).

#include <cstddef>
#include <string>
#include <vector>

#include "ksi/core/shape.hpp"
#include "ksi/drifting/drifting.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::drifting {

/// Where the particles go and what they were drifted against.
struct ParticlesFile {
  std::string path;
  bool force = false;               ///< replace an existing file
  std::vector<std::string> inputs;  ///< files the output must not be (the data, the test set)
  ItemShape shape;
  io::DType dtype = io::DType::float64;
  double box_size = 1.0;
  std::string data_path;       ///< attribute `data`
  std::string test_path;       ///< attribute `test` (empty: no held-out set)
  std::size_t data_items = 0;  ///< attribute `data_items`
  double data_energy = 0.0;    ///< energy distance of the data to the test set (with a test set)
};

/// Writes the result of drift() with `options` (collective; atomic: nothing is left on an error).
void write_particles(const ParticlesFile& file, const DriftOptions& options,
                     const DriftResult& result, const par::Comm& comm);

}  // namespace ksi::drifting
