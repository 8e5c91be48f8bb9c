#pragma once
/// @file
/// Moment-guided passes (METHOD section 9). The one-shot fit makes the drift exact in the feature
/// directions along the interpolant's marginals rho_t, but the sampler runs on its own law q_t, and
/// nothing pulls its feature moments m_q(t) = E_q phi(X_t) back to m_rho(t) once they drift. A
/// guided pass integrates an ensemble of N_g fields with the model's own integrator; each time the
/// ensemble reaches a grid time t_k it assembles K^q_k = E_q[J J^T] and m_q(t_k) on the ensemble
/// (the fit's accumulate, on generated states), and replaces
///
///     eta_k <- (1 - w) eta_k + w (K^q_k + ridge)^-1 ( h_k - E_q[J G_k x] + c_k + e_k / tau )
///     e_k = m_rho(t_k) - m_q(t_k)
///
/// and, for the next pass, c_{k-1} <- c_{k-1} + kappa e_k / (g (t_k - t_{k-1})) (g the weight of b
/// in dX, Dynamics::drift_weight: 2 for the D* SDE, whose drift is 2 b - (beta'/beta) X). The
/// learnt term c is an addition to METHOD section 9: the proportional update alone settles where
/// e_k pays for the correction the drift needs (a bias of order tau), and it cannot reach the error
/// at t = 1, which only eta_{T-2} moves; c attributes each error to the interval that made it, so
/// at a fixed point the errors vanish. (G_k x the model's shell-gain drift, if any) before
/// integrating on to t_{k+1}. Passes repeat from the new eta until the RMS z of m_q - m_rho over
/// every time and feature is below a tolerance, z in standard errors of the difference of an
/// ensemble mean and the targets' mean.
///
/// Member i of pass p (counted from GuideOptions::first_stream) draws its initial state from the
/// stream (seed, guide, i, p, 0) and the noise of integration step s from (seed, guide, i, p, s +
/// 1); members are dealt to ranks in whole batches and the ensemble sums are added per batch in
/// double-double, so the guided model is bitwise the same on any number of ranks.

#include <cstdint>
#include <string>

#include "ksi/fit/fit.hpp"
#include "ksi/interpolant/integrator.hpp"
#include "ksi/model/model.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::fit {

/// The update rule of eta_k in a guided pass (GuideOptions::update).
enum class GuideUpdate { full, residual, sweep };
GuideUpdate parse_guide_update(const std::string& name);
std::string to_string(GuideUpdate update);

/// What a pass that diverged with limited updates does last (GuideOptions::fallback).
enum class GuideFallback { none, residual };
GuideFallback parse_guide_fallback(const std::string& name);
std::string to_string(GuideFallback fallback);

/// When a pass assembles the ensemble's Gram matrix K^q_k (and the fixed drift's projection).
/// `every`: at every grid time of every pass (METHOD section 9). `first`: in the first pass on a
/// rung, kept for the later passes (which then cost an integration and the feature means).
enum class GuideGram { every, first };
GuideGram parse_guide_gram(const std::string& name);
std::string to_string(GuideGram gram);

/// The fallback rungs' settings: a dead band and a ridge at least these, K^q on every member; each
/// further rung (kFallbackLevels in all) multiplies the ridge by 10.
inline constexpr double kFallbackDeadBand = 2.0;
inline constexpr double kFallbackRidge = 1e-2;
inline constexpr std::size_t kFallbackLevels = 3;

/// The first step w of sweep updates where none is given (ksi fit / ksi guide --guide-update sweep
/// without --guide-damping): the full step's first update overshot on both turbulence sets (whole
/// RMS z 448 and 188), and starting here kept better models on both (docs/fidelity.md).
inline constexpr double kSweepDamping = 0.125;

struct GuideOptions {
  std::size_t passes = 0;  ///< guided passes at most (0: none)
  /// The stream index p of the first of these passes: 0, or, for passes added to a guided model
  /// (ksi guide), the passes it had, so that their ensembles draw fresh streams.
  std::size_t first_stream = 0;
  std::size_t ensemble = 64;  ///< N_g fields integrated per pass
  /// Members whose J J^T enter K^q (every stride-th batch; 0: all). The feature means take every
  /// member; the Gram matrix, an average over whole fields, needs fewer, and its assembly is the
  /// dearer half of a pass.
  std::size_t gram_members = 16;
  /// When K^q is assembled (above). `first`: half the guide's time on 2D turbulence (547 s
  /// against 1 131 s) and on the quick-start data 192 s against 277 s, Q's as good or better.
  GuideGram gram = GuideGram::first;
  /// How K^q is assembled: 0, the exact J J^T of each member; m > 0, the randomized Gram with m
  /// Rademacher probes per member (features::accumulate_randomized, ksi fit --gram randomized),
  /// keyed by (seed, member, pass, rung, time, probe): cheaper where P is large.
  std::size_t gram_probes = 0;
  double tau = 0.1;      ///< relaxation time of the moment correction (units of t)
  double damping = 0.5;  ///< w: weight of the new eta_k in each update, in (0, 1]
  /// kappa: gain of the learnt correction c (see above; 0: the proportional update of METHOD
  /// section 9 alone).
  double integral = 0.0;
  double tolerance = 1.5;  ///< stop after a pass whose RMS z is below this
  /// s: largest change of the drift per update, as a fraction of its size along the ensemble,
  /// sqrt(d^T K^q d / eta^T K^q eta) <= s for d = eta_new - eta (a Levenberg-Marquardt step: the
  /// directions the ensemble's Gram matrix hardly sees shrink first; 0: no limit, until a pass
  /// diverges: that pass is run again with s = 1).
  double max_step = 0.0;
  /// A pass whose RMS z at a grid time exceeds this is abandoned and run again from its start one
  /// rung further down a ladder: updates limited to s = 1 (unless they were from the start), then
  /// the `fallback`; a pass that diverges on the last rung leaves the eta it started from, and the
  /// guide stops. Later passes stay on the rung reached (0: never abandon).
  double divergence = 100.0;
  /// With g > 0 a grid time counts as diverged only if its RMS z also exceeds g times the previous
  /// grid time's: an ensemble that explodes (RMS z 2.4 -> 138 in one interval on 2D turbulence),
  /// not a model error that grows over the interval (30 -> 116 there, the same with any ridge).
  /// 0: the threshold alone.
  double divergence_growth = 10.0;
  /// On the ladder's last rung (where a divergence would end the guide: the last fallback rung,
  /// the limited rung with `fallback` none, any rung without the divergence check), an interval
  /// over which the ensemble diverges (its RMS z at t_{k+1} past the divergence limit above, or a
  /// state not finite) is integrated again from the members' states at t_k with eta_k halved, up
  /// to this many times, before the pass is abandoned. On 2D turbulence most members of a pass run
  /// away together within one interval whatever the update before it (46 of 64 members more than
  /// 10 target standard deviations off at t = 0.60 on every rung): only a smaller eta over that
  /// interval holds them. On earlier rungs the ladder goes on as without retries: retries there
  /// held ensembles that kept growing under the growth limit where limited updates would have run
  /// (projected density: pass RMS z 1.9e3 against 1.1, docs/fidelity.md). Each retry costs an
  /// interval's integration and feature means; a pass that never diverges on the last rung is
  /// unchanged, bit for bit. Where any interval was retried, the start model and the kept one are
  /// measured whole at the end and the lower RMS z is kept (a held pass may be worse than the
  /// model it started from). 4 by default (none with sweep updates, which do not take them; 0:
  /// none): on the last rung the alternative is to end the guide.
  std::size_t interval_retries = 4;
  /// End with the eta of the finished pass of the lowest RMS z (true) or of the last pass (false).
  bool keep_best = true;
  /// How the guided model's eta runs between grid times (Model::eta_interpolation). With `step`
  /// a pass integrates exactly the model it leaves, so its z's measure that model and the best
  /// pass needs no sweep of its own; with `linear` (the one-shot fit's) they measure a blend.
  /// `hybrid` keeps the one-shot eta linear in t as a base and makes only the passes' corrections
  /// constant between grid times: a pass again integrates exactly the model it leaves. `ramp`
  /// moves from eta_{k-1} to eta_k over the first ramp_fraction of (t_k, t_{k+1}]: continuous in
  /// t, and a pass again integrates exactly the model it leaves.
  EtaInterpolation interpolation = EtaInterpolation::linear;
  /// With `ramp`: the share of each interval over which eta moves to its grid time's row
  /// (Model::eta_ramp_fraction). Towards 0 eta approaches `step`, but a Heun step longer than the
  /// ramp takes eta_{k-1} in its predictor and eta_k in its corrector (docs/fidelity.md, "Shorter
  /// ramps").
  double ramp_fraction = kEtaRampFraction;
  /// The ladder's last rungs. `residual`: residual updates with a dead band of at least
  /// kFallbackDeadBand, K^q from every member and a ridge of at least kFallbackRidge (the setting
  /// that runs on forced 2D turbulence with 32 marginal bins, where full updates diverge even
  /// when limited), then the same with the ridge ten and a hundred times larger: the larger the
  /// ridge, the smaller the steps along what the ensemble sees badly. On data where passes do not
  /// diverge the rungs are never reached. `none`: no such rungs.
  GuideFallback fallback = GuideFallback::residual;
  /// How eta_k is updated. `full`: re-solved from the ensemble's system above (METHOD section 9).
  /// `residual`: eta_k <- eta_k + w (K^q_k + ridge)^-1 (c_k + e'_k / tau), no update at t = 0 (the
  /// members follow rho_0 exactly there, so its error is noise): without a moment error eta is
  /// left as it is, and over passes the updates add up (an integral action), so a fixed point has
  /// e' = 0 rather than the order-tau bias of the full update.
  ///
  /// `sweep`: a pass integrates the model it starts from without changing it (its z's are that
  /// whole model's, on members it was not fitted to), then corrects every interval at once for the
  /// error the interval added,
  ///
  ///     eta_k <- eta_k + w' (K^q_k + ridge)^-1 (e'_{k+1} - e'_k) / (g (t_{k+1} - t_k)),
  ///
  /// K^q_k at t_k, w' = damping halved at each backtrack. A pass whose model measures
  /// worse than the best so far is not built on: the update is made again from the best model's
  /// errors with half the step. The last pass only measures; the model kept is the best measured.
  /// Needs eta constant between grid times in its corrections (`step` or `hybrid`): the update of
  /// interval k then acts on that interval alone. The ladder of rungs is not used: a pass whose
  /// model diverges (or stops being finite) counts as worse than every other. tau is not used;
  /// K^q is the first pass's (GuideGram::every is refused).
  GuideUpdate update = GuideUpdate::full;
  /// e' = e shrunk towards 0 by dead_band standard errors per feature (sign(e) max(0, |e| - c SE),
  /// SE that of z): moment errors the ensemble cannot tell from noise do not act (0: none).
  double dead_band = 0.0;
  std::size_t steps = 40;  ///< integration steps on [0, 1], spread over the grid intervals
  Integrator integrator = Integrator::optimal_sde;
  double diffusion = 1.0;        ///< D for Integrator::constant_sde
  double diffusion_scale = 1.0;  ///< lambda of D = lambda D* for Integrator::optimal_sde
  std::uint64_t seed = 1;        ///< key of the ensemble streams
  double ridge = 1e-8;           ///< relative ridge of the ensemble systems
  double bin_ridge = 0.0;        ///< further ridge on the map's bins (FitOptions::bin_ridge)
  std::size_t batch = 0;         ///< members per assembly batch (0: the map's preference)
  CheckpointOptions checkpoint;  ///< checkpoint and restart, as the fit's (file `path`)

  Dynamics dynamics() const { return {integrator, diffusion, diffusion_scale}; }
  /// UsageError naming the first invalid setting.
  void validate() const;
};

/// Where a guided run started: from scratch, or from a checkpoint at a pass and grid time.
struct GuideStart {
  bool resumed = false;
  std::size_t pass = 0;  ///< 0-based
  std::size_t time = 0;  ///< index of the grid time the ensemble had reached
};

/// Runs up to options.passes guided passes on `model` (which must hold its feature targets),
/// replacing eta and recording every pass in model.guide_record(). With options.checkpoint.path
/// set, a stop request writes a checkpoint and throws CollectiveError(ExitCode::interrupted);
/// `resume` continues from it (and the checkpoint is removed at the end). Collective.
GuideStart guide_model(Model& model, const GuideOptions& options, const par::Comm& comm);

/// UsageError unless guided passes can steer a model of this feature map (they steer feature
/// moments; the member rows of a combination of models have none) with these options (a randomized
/// K^q of rank below P is refused). Checked before a fit spends time on a model the passes would
/// refuse.
void check_guidable(const features::FeatureMap& features, const GuideOptions& options);

}  // namespace ksi::fit
