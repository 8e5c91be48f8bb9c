#pragma once
// fit-room internal: the state of guided passes in progress (ksi fit --guide, ksi guide) and its
// checkpoint. A checkpoint holds the position (pass, grid time), every eta and error the passes
// keep, and the members' paths, written by every rank for its own batches, so a stopped guide
// resumes on any number of ranks to the bits of an uninterrupted one.
#include <cstdint>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/params.hpp"
#include "ksi/fit/guide.hpp"
#include "ksi/interpolant/integrator.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::fit::detail {

/// A batch of ensemble members [first, first + count) and their paths.
struct Batch {
  std::size_t first = 0;
  std::size_t count = 0;
  PathState state;
};

/// Where guided passes are and what they keep.
struct Position {
  std::size_t pass = 0;
  std::size_t time = 0;  // the ensemble is at times[time] and has not been assembled there
  Matrix eta;
  Matrix pass_start_eta;    // eta when the pass in progress started (kept if it diverges)
  Matrix eta_base;          // hybrid eta: the base the corrections are measured from (else empty)
  double step_limit = 0.0;  // s of the updates (GuideOptions::max_step; raised after a divergence)
  std::size_t fallback_pass = 0;   // the pass (1-based) that went on to the fallback rungs; 0: none
  std::size_t fallback_level = 0;  // the fallback rung: 1, 2, ... (ridge times 10^(level - 1))
  Matrix correction;             // T x P: the integral of the moment errors over the passes so far
  Matrix pass_start_correction;  // the correction when the pass in progress started
  Matrix best_eta;               // eta after the finished pass of the lowest RMS z so far
  double best_rms = 0.0;         // that pass's RMS z over all times
  std::size_t best_pass = 0;     // that pass (1-based); 0: none finished yet
  std::vector<std::vector<double>> rms, largest;  // finished passes, then the pass in progress
  // GuideGram::first: per grid time, K^q (packed upper triangle) and the fixed drift's
  // projection from the first pass on this rung, and whether they are there yet.
  Matrix gram;    // T x P(P+1)/2
  Matrix gram_h;  // T x P
  std::vector<std::int64_t> gram_ready;
  std::size_t diverged = 0;          // the pass that diverged on the last rung (1-based; 0: none)
  std::size_t interval_retries = 0;  // intervals integrated again with eta_k halved, so far
  bool verifying = false;  // the passes are done and their models are being measured whole
  // GuideUpdate::sweep: the moment errors e' measured by the pass in progress (T x P), those of
  // the best model so far, and the factor of the damping (halved at each backtrack).
  Matrix sweep_error;
  Matrix best_error;
  double sweep_scale = 1.0;
};

/// What a guide checkpoint must match: the one-shot model it started from and every setting that
/// changes the ensemble or the updates.
Params checkpoint_config(const Model& model, const GuideOptions& o, std::size_t per_batch);

/// Writes `at` and the paths of this rank's batches (collective; `members` in all) atomically.
void write_guide_checkpoint(const std::string& path, const Params& config, const Position& at,
                            const std::vector<Batch>& batches, std::size_t members, std::size_t d,
                            const par::Comm& comm);

/// What a guide checkpoint must hold: T times, P features, `members` paths of d values.
struct GuideShape {
  std::size_t times = 0, features = 0, members = 0, dimension = 0;
};

/// Reads a checkpoint into `at` and the paths of this rank's batches (collective); InputError
/// naming what differs from `config`, or the dataset of the wrong shape or with non-finite values
/// (a damaged file: resumed, it hung ranks or gave a wrong model).
void read_guide_checkpoint(const std::string& path, const Params& config, const GuideShape& shape,
                           Position& at, std::vector<Batch>& batches, const par::Comm& comm);

/// Per-pass rows (all of length cols) as a matrix, and back.
Matrix rows_to_matrix(const std::vector<std::vector<double>>& rows, std::size_t cols);
std::vector<std::vector<double>> matrix_rows(const Matrix& m);

}  // namespace ksi::fit::detail
