#pragma once
/// @file
/// A sampling run over MPI: batches of sample ids dealt to ranks in contiguous blocks, written into one
/// samples.h5 as they complete. The output grows in `<out>.partial`; a stop request (SIGUSR1/SIGTERM)
/// keeps it and ends with ExitCode::interrupted, and `resume` skips the batches already there. The
/// same model, seed and count give the same bytes for any number of ranks, resumed or not.

#include <memory>
#include <string>

#include "ksi/core/params.hpp"
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

/// One way of generating samples, plugged into run_sampling's batch loop: the SDE sampler (the
/// overload taking SampleOptions) or microcanonical synthesis (microcanonical.hpp). A method generates whole batches of
/// sample ids on one rank; run_sampling deals the batches, writes the samples and the method's
/// per-sample records, and handles partial output, resume and stop requests.
class SampleMethod {
 public:
  virtual ~SampleMethod() = default;
  /// "sde" or "microcanonical": the output's `method` attribute.
  virtual std::string name() const = 0;
  /// Samples per batch (> 0): the unit dealt to ranks and of restarts; set by the settings and the
  /// model, never by the rank count, so that every sample is generated the same way on any ranks.
  virtual std::size_t batch() const = 0;
  /// The settings that make the samples (seed, batch, ...): a partial output is resumed only under
  /// the same ones.
  virtual Params settings() const = 0;
  /// Samples with global ids [first, first + count) in data units, count x d (rank-local; may throw).
  virtual Matrix generate(std::size_t first, std::size_t count) = 0;
  /// Creates the method's per-sample datasets in a new output of `count` samples (collective).
  virtual void create_records(const io::Group& root, std::size_t count) const {}
  /// Writes the records of the batch generated last, ids [first, first + count) (collective; count
  /// is 0 on ranks without a batch in this round).
  virtual void write_records(const io::Group& root, std::size_t first, std::size_t count,
                             const par::Comm& comm) {}
  /// Attributes of the finished output, and a summary for the log (collective).
  virtual void finish(const io::Group& root, const par::Comm& comm) const {}
};

/// Runs the job with `method` (collective); returns the wall time of the generation (max over ranks).
double run_sampling(const Model& model, SampleMethod& method, const SampleJob& job,
                    const par::Comm& comm);
/// Runs the job with the SDE sampler (collective); returns the wall time of the integration (max
/// over ranks).
double run_sampling(const Model& model, const SampleOptions& options, const SampleJob& job,
                    const par::Comm& comm);

}  // namespace ksi::sample
