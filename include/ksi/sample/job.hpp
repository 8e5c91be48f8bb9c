#pragma once
/// @file
/// A sampling run over MPI: batches of sample ids dealt to ranks in contiguous blocks, written into one
/// samples.h5 as they complete. The output grows in `<out>.partial`; a stop request (SIGUSR1/SIGTERM)
/// keeps it and ends with ExitCode::interrupted, and `resume` skips the batches already there. The
/// same model, seed and count give the same bytes for any number of ranks, resumed or not.

#include <string>

#include "ksi/io/hdf5.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"
#include "ksi/sample/sample.hpp"

namespace ksi::sample {

struct SampleJob {
  std::string out;                     ///< samples file to write
  std::string model_path;              ///< recorded in the output
  std::size_t count = 16;              ///< samples
  io::DType dtype = io::DType::float64;
  bool force = false;                  ///< replace an existing output (or partial output)
  bool resume = false;                 ///< continue `<out>.partial` if it exists
  double flush_every_seconds = 300.0;  ///< flush the partial file at this interval (0: never)
};

/// What a sampling run did. The batch counts are summed over ranks where the work happens, so a
/// resumed run shows the batches it took from the partial output and the ones it integrated.
struct SamplingResult {
  double seconds = 0.0;               ///< wall time of the integration (max over ranks)
  bool resumed = false;               ///< an existing partial output was continued
  std::size_t batches = 0;            ///< batches of the whole run
  std::size_t batches_skipped = 0;    ///< found done in the partial output
  std::size_t batches_integrated = 0; ///< integrated by this run
};

/// Runs the job (collective).
SamplingResult run_sampling(const Model& model, const SampleOptions& options, const SampleJob& job,
                            const par::Comm& comm);

}  // namespace ksi::sample
