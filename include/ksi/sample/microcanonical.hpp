#pragma once
/// @file
/// Microcanonical synthesis: the generator of the scattering-spectra codes (pywph,
/// scattering_spectra), as the baseline ksi's samplers are judged against. Sample i starts from
/// white noise in model units, drawn from the stream (seed, StreamPurpose::microcanonical, i), and
/// L-BFGS (core/lbfgs.hpp) moves it to minimise
///
///     L(x) = |phi(x) - phi_target|^2        (model units; grad L = J(x)^T eta, eta = 2 (phi -
///     target):
///                                            one evaluate and one vjp per evaluation of L)
///
/// where phi_target is the features of training item i mod N (target `item`) or the training mean
/// (target `mean`). The relative residual of a field is
///
///     r(x) = |phi(x) - phi_target|_2 / s,      s = sqrt( (1/N) sum_i |phi_i - phi_bar|^2 ),
///
/// s the root-mean-square distance of the N training items' features phi_i from their mean phi_bar:
/// the typical feature distance between one field and the ensemble. r = 1e-3 means the field's
/// features are matched to a thousandth of how much training fields differ from one another.
/// Synthesis stops at r <= tolerance, i.e. L <= (tolerance s)^2, or at the iteration limit. The
/// result is taken to data units by the model's standardisation alone, never its output calibration
/// (gains, map, spread): the baseline is judged on its own.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ksi/core/lbfgs.hpp"
#include "ksi/core/matrix.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/model/model.hpp"
#include "ksi/sample/job.hpp"

namespace ksi::sample {

enum class MicrocanonicalTarget {
  item,  ///< sample i matches training item i mod N
  mean,  ///< every sample matches the training mean of phi
};
/// "item" or "mean"; UsageError otherwise.
MicrocanonicalTarget parse_microcanonical_target(const std::string& name);
std::string to_string(MicrocanonicalTarget target);

/// The minimiser's variables (SpectralPreconditioner below).
enum class MicrocanonicalPrecondition {
  automatic,  ///< spectrum for a map with a shell family and a model with a training spectrum
  spectrum,   ///< x = C z, C the square root of the training spectrum (InputError without one)
  none,       ///< the field itself
};
MicrocanonicalPrecondition parse_microcanonical_precondition(const std::string& name);
std::string to_string(MicrocanonicalPrecondition precondition);

struct MicrocanonicalOptions {
  MicrocanonicalTarget target = MicrocanonicalTarget::item;  ///< what each sample is matched to
  std::size_t history = 10;          ///< L-BFGS correction pairs kept (--lbfgs-history)
  std::size_t max_iterations = 500;  ///< L-BFGS iterations per sample at most (--max-iterations)
  double tolerance = 1e-3;           ///< stop at relative residual r <= tolerance (--tolerance)
  std::uint64_t seed = 1;            ///< sample i starts from the stream (seed, microcanonical, i)
  std::size_t batch = 0;             ///< samples per batch dealt to ranks (0: default_batch(model))
  MicrocanonicalPrecondition precondition = MicrocanonicalPrecondition::automatic;
  /// Levenberg-Marquardt refinement (synthesize): once L-BFGS reaches r <= refine_below (or stops
  /// above it), steps on the map's exact Gram J J^T take r down to the tolerance (0: none).
  double refine_below = 0.0;            ///< --refine-below
  std::size_t refine_iterations = 100;  ///< accepted refinement steps at most (--refine-iterations)
  /// The Gram is assembled again where a step reduced r by less than this factor
  /// (--refine-refresh).
  double refine_refresh = 0.85;

  /// UsageError naming the option unless history >= 1, max_iterations >= 1, tolerance > 0,
  /// refine_below >= 0, refine_iterations >= 1 and 0 < refine_refresh <= 1.
  void validate() const;
  /// The minimiser's settings for a loss target (tolerance s)^2; strong-Wolfe constants 1e-4, 0.9.
  LbfgsOptions lbfgs(double loss_target) const;
};

/// The features synthesis is matched to: training features (N x P, model units), their mean and
/// the residual scale s.
struct TrainingFeatures {
  Matrix items;
  std::vector<double> mean;
  double scale = 0.0;

  /// From rows phi_i (N >= 2 of them); InputError if they are not finite or do not vary (s = 0).
  static TrainingFeatures from_rows(Matrix items);
  /// The model's training features (Model::training_features); InputError naming the cause when the
  /// model has none (files of older versions).
  static TrainingFeatures of(const Model& model);

  /// The training item sample `id` is matched to (id mod N), or -1 for the mean.
  std::int64_t target_item(MicrocanonicalTarget target, std::size_t id) const;
  /// Its features (P values).
  std::span<const double> target(MicrocanonicalTarget target, std::size_t id) const;
};

/// How one synthesis ended.
struct SynthesisResult {
  double residual = 0.0;         ///< final relative residual r
  std::size_t iterations = 0;    ///< L-BFGS iterations
  std::size_t evaluations = 0;   ///< evaluations of L (one evaluate and one vjp each)
  std::size_t refine_steps = 0;  ///< of the iterations, accepted Levenberg-Marquardt steps
  std::size_t grams = 0;         ///< Gram matrices J J^T assembled by the refinement
  LbfgsStatus status = LbfgsStatus::max_iterations;
};

/// A spectral change of variables x = C z for the minimiser: C multiplies each Fourier mode of a
/// field by a gain of its shell (real and even, so C^T = C). With gains sqrt(P(s)) of the target
/// spectrum the loss's curvature no longer spans the spectrum's range (a red spectrum makes the
/// small scales' directions far stiffer than the large scales'), which L-BFGS with a short history
/// cannot learn.
class SpectralPreconditioner {
 public:
  /// Gains per shell of fft::SpectralShells(dims) (every gain positive and finite).
  SpectralPreconditioner(std::vector<std::size_t> dims, std::vector<double> shell_gains);
  /// From shell powers P(s): gains sqrt(P(s) / mean_s P(s)) (shell 0 takes shell 1's gain);
  /// shells without power (below fft::SpectralShells::kEmpty of the largest) take the smallest
  /// positive gain.
  static SpectralPreconditioner from_powers(std::vector<std::size_t> dims,
                                            const std::vector<double>& powers);
  /// out = C in (in and out may be the same array).
  void apply(std::span<const double> in, std::span<double> out) const;
  /// z = C^-1 x.
  void invert(std::span<const double> x, std::span<double> z) const;
  const std::vector<double>& shell_gains() const noexcept { return gains_; }

 private:
  void filter(std::span<const double> in, std::span<double> out, bool inverse) const;
  fft::SpectralShells shells_;
  fft::RealTransform transform_;
  std::vector<double> gains_;
  mutable std::vector<fft::complex> work_;
};

/// Moves x (model units, in place) by L-BFGS until |phi(x) - target| <= tolerance * scale or the
/// iteration limit. With options.refine_below > tolerance, L-BFGS stops at r <= refine_below and
/// Levenberg-Marquardt steps go on: x -= J^T (K + mu tr(K)/P I)^-1 (phi(x) - target), K = J J^T
/// (the map's structured Gram, FeatureMap::accumulate) assembled at x, a step kept only where it
/// lowers L (else K is assembled again at x if it was not, and then mu grows tenfold; after a kept
/// step mu shrinks threefold), K assembled again where a kept step reduced r by less than
/// refine_refresh (1: only where a step fails). L-BFGS on this loss slows to a crawl
/// near the target (r ~ 1e-2 after 1 500 iterations at 256^2); the Gram's steps are Gauss-Newton's.
/// `observe` (optional) sees L at the start and after every iteration. With a preconditioner C the
/// minimiser works on z, x = C z, starting from z = x (so the white noise a sample starts from is
/// coloured by C).
SynthesisResult synthesize(const features::FeatureMap& map, std::span<const double> target,
                           double scale, const MicrocanonicalOptions& options, std::span<double> x,
                           const LbfgsObserver& observe = {},
                           const SpectralPreconditioner* precondition = nullptr);

/// The preconditioner `precondition` asks for on this model (null: none); InputError for
/// `spectrum` on a model without a training spectrum.
std::unique_ptr<SpectralPreconditioner> microcanonical_preconditioner(
    const Model& model, MicrocanonicalPrecondition precondition);

/// Samples with global ids [first, first + count) in data units (the standardisation undone), one
/// result per sample in `results`. Rank-local; the same samples for any batching and rank count.
Matrix generate_microcanonical(const Model& model, const TrainingFeatures& features,
                               const MicrocanonicalOptions& options, std::size_t first,
                               std::size_t count, std::vector<SynthesisResult>& results);

/// Microcanonical synthesis as a method of run_sampling: per-sample records in the output's
/// /microcanonical group (residual, iterations, evaluations, target_item; the settings and the
/// residual scale as attributes), one log line per sample and a summary. Validates the options and
/// reads the model's training features (UsageError, InputError).
std::unique_ptr<SampleMethod> microcanonical_method(const Model& model,
                                                    const MicrocanonicalOptions& options);

}  // namespace ksi::sample
