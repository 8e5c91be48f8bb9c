#pragma once
// fit-room internal: the checkpoint of a fit in progress. Partial Gram sums are stored reduced over
// ranks (one copy per time of the chunk in progress, in double-double), with a mask of the global
// batches they contain, so a checkpoint resumes on any number of ranks and the resumed fit is
// bitwise the same as an uninterrupted one.
#include <optional>
#include <string>
#include <vector>

#include "ksi/core/compensated.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/matrix.hpp"
#include "ksi/core/params.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::io {
class Group;
}

namespace ksi::fit::detail {

struct CheckpointContent {
  std::size_t chunk_begin = 0;  ///< first time of the chunk in progress
  std::size_t chunk_end = 0;
  std::vector<std::int64_t> batch_done;         ///< per global batch: already in the sums
  Matrix eta;                                   ///< T x P: rows of the chunks already solved
  std::vector<double> diagnostics;              ///< T x 6
  FeatureTargets targets;                       ///< T x P each: rows of the chunks already solved
  std::vector<std::vector<DoubleDouble>> sums;  ///< per time of the chunk (read on rank 0 only)
};

/// Writes the checkpoint atomically (collective). Every argument is this rank's contribution: the
/// batch masks, eta rows, diagnostics and targets are summed over ranks, the sums reduced to rank
/// 0.
void write_checkpoint(const std::string& path, const Params& config, std::size_t chunk_begin,
                      std::size_t chunk_end, const std::vector<std::int64_t>& batch_done,
                      const Matrix& eta, const std::vector<double>& diagnostics,
                      const FeatureTargets& targets, std::size_t packed,
                      const std::vector<std::vector<DoubleDouble>>& sums, const par::Comm& comm);

/// The message of a damaged checkpoint: "<kind> <path> is damaged: <what> (remove it, or use
/// --force to start over)" (kind: "checkpoint", "guide checkpoint").
std::string damaged_message(const std::string& kind, const std::string& path,
                            const std::string& what);
/// Dataset `name` of a checkpoint's `root` as a rows x cols matrix (rows 0: any number), with
/// finite values unless `finite` is false; InputError (damaged_message) naming it otherwise.
Matrix read_checkpoint_matrix(const io::Group& root, const std::string& kind,
                              const std::string& path, const char* name, std::size_t rows,
                              std::size_t cols, bool finite = true);

/// What a checkpoint of this fit must hold: T times, P features, `batches` batch flags per chunk.
struct CheckpointShape {
  std::size_t times = 0, features = 0, batches = 0;
};

/// Reads a checkpoint (collective); InputError naming every configuration entry that differs from
/// `config`, and one naming the dataset when a dataset has the wrong shape or non-finite values (a
/// damaged file would otherwise be resumed into a wrong model). The sums are returned on rank 0
/// only.
CheckpointContent read_checkpoint(const std::string& path, const Params& config, std::size_t packed,
                                  const CheckpointShape& shape, const par::Comm& comm);

}  // namespace ksi::fit::detail
