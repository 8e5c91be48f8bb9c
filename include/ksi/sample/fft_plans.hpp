#pragma once
/// @file
/// Measured FFT plans that keep results rank-invariant. FFTW's measured plans are picked by timing,
/// so two ranks that measured on their own could pick different algorithms and round differently.
/// Here rank 0 alone measures the plans of a model's feature maps (it reads the model privately and
/// evaluates one drift), its wisdom is broadcast, and from then on every rank makes plans only from
/// that wisdom (FFTW's estimate where it has none): the same plans, so the same bits, on every
/// rank. A wisdom file keeps the plans from run to run (and so the bits across runs and rank
/// counts).

#include <string>

#include "ksi/fft/fft.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::sample {

struct FftPlanOptions {
  fft::Effort effort = fft::Effort::estimate;  ///< estimate: nothing to prepare (the default)
  /// FFTW wisdom file: read when it exists (no measuring of the plans it holds), written after
  /// measuring when it does not (never overwritten); empty: none.
  std::string wisdom;
};

/// Prepares the FFT plans of the model at `model_path` as above (collective). Nothing happens for
/// the estimate effort without a wisdom file. InputError for a malformed wisdom file; the errors of
/// rank 0's private read end the job on every rank.
void prepare_fft_plans(const std::string& model_path, const FftPlanOptions& options,
                       const par::Comm& comm);

}  // namespace ksi::sample
