#include "ksi/fit/guide.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "fit/guide_checkpoint.hpp"
#include "ksi/core/choice.hpp"
#include "ksi/core/compensated.hpp"
#include "ksi/core/error.hpp"
#include "ksi/core/format.hpp"
#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/fit/solver.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"
#include "ksi/par/log.hpp"
#include "ksi/par/signals.hpp"

namespace ksi::fit {
namespace {

using detail::Batch;
using detail::checkpoint_config;
using detail::matrix_rows;
using detail::Position;
using detail::read_guide_checkpoint;
using detail::rows_to_matrix;
using detail::write_guide_checkpoint;

// One grid time's ensemble sums, packed: the upper triangle of sum J J^T, sum J (G x) (the fixed
// drift's projection), sum phi, sum phi^2.
std::size_t packed_size(std::size_t P) {
  return P * (P + 1) / 2 + 3 * P;
}

// Member noise: initial state from (seed, guide, member, pass, 0), step s from (..., s + 1).
void fill_member_noise(std::uint64_t seed, std::size_t first, std::size_t pass, std::size_t code,
                       Matrix& xi) {
  ScopedPhase phase("guide.noise");
  for (std::size_t i = 0; i < xi.rows(); ++i)
    RandomStream(seed, StreamPurpose::guide, first + i, pass, code).fill_normal(xi.row(i));
}

// The z's of an ensemble's feature means m_q (and mean squares m2_q) at grid time k against the
// targets, in standard errors of the difference of two means of the targets' law (`inv`: 1 / the
// ensemble's size; `pairs`: the targets' effective count). Where the targets have no spread at all
// (t = 1 with a single training item: every pair is that item), the ensemble's own spread stands
// in; features without spread are not judged.
struct MomentZ {
  std::vector<double>
      standard_error;  // of m_q - m_rho, per feature: that of z and of the dead band
  double rms = 0.0;
  double largest = 0.0;
  std::size_t worst = 0;
};

MomentZ moment_z(const FeatureTargets& targets, std::size_t k, const std::vector<double>& m_q,
                 const std::vector<double>& m2_q, double inv, double pairs) {
  const std::size_t P = m_q.size();
  double var_max = 0.0, square_max = 0.0;
  for (std::size_t p = 0; p < P; ++p) {
    var_max = std::max(var_max, targets.variance(k, p));
    square_max = std::max(square_max, targets.mean(k, p) * targets.mean(k, p));
  }
  const bool degenerate = !(var_max > 1e-10 * square_max);
  std::vector<double> variance(P);
  double var_scale = 0.0;
  for (std::size_t p = 0; p < P; ++p) {
    variance[p] = degenerate ? std::max(0.0, m2_q[p] - m_q[p] * m_q[p]) : targets.variance(k, p);
    var_scale = std::max(var_scale, variance[p]);
  }
  MomentZ out;
  out.standard_error.resize(P);
  double z2 = 0.0;
  std::size_t used = 0;
  for (std::size_t p = 0; p < P; ++p) {
    out.standard_error[p] = std::sqrt(std::max(0.0, variance[p]) * (inv + 1.0 / pairs));
    if (!(variance[p] > 1e-12 * var_scale)) continue;
    const double z = (m_q[p] - targets.mean(k, p)) / out.standard_error[p];
    z2 += z * z;
    ++used;
    if (std::abs(z) > out.largest) {
      out.largest = std::abs(z);
      out.worst = p;
    }
  }
  out.rms = used ? std::sqrt(z2 / static_cast<double>(used)) : 0.0;
  return out;
}

// The pass index of the verification sweeps' member streams (no pass has it).
constexpr std::size_t kVerificationPass = std::size_t{1} << 40;

// s of the updates after a pass with unlimited updates diverged.
constexpr double kFallbackStep = 1.0;

// The ridge of fallback rung `level` (1, 2, ...): at least kFallbackRidge, times 10 per rung.
double fallback_ridge(double ridge, std::size_t level) {
  return std::max(ridge, kFallbackRidge) * std::pow(10.0, static_cast<double>(level) - 1.0);
}

// Energy of d along the ensemble, d^T K d, from the upper triangle of K.
double energy(const Matrix& K, std::span<const double> d) {
  const std::size_t P = d.size();
  double e = 0.0;
  for (std::size_t i = 0; i < P; ++i) {
    double row = K(i, i) * d[i];
    for (std::size_t j = i + 1; j < P; ++j) row += 2.0 * K(i, j) * d[j];
    e += d[i] * row;
  }
  return e;
}

// Limits the update eta -> eta_new to sqrt(d^T K d) <= s sqrt(eta^T K eta), d = eta_new - eta:
// a Levenberg-Marquardt step, (K + mu diag K) d = r with the smallest mu of a geometric sequence
// that keeps it, so that the directions the ensemble hardly sees (small eigenvalues of K, where the
// correction asks for a large eta) shrink first. r is the increment's right-hand side: rhs - K eta
// for a full update (K eta_new = rhs), rhs itself for a residual one (`increment`). A last resort
// scales d. On the root rank only (its result is broadcast).
void limit_step(const Matrix& K, std::span<const double> rhs, bool increment, double limit,
                double ridge, std::span<const double> penalty, std::span<const double> eta,
                std::vector<double>& eta_new) {
  if (!(limit > 0.0)) return;
  const std::size_t P = eta.size();
  const double bound = limit * limit * energy(K, eta);
  std::vector<double> d(P);
  const auto fits = [&](const std::vector<double>& candidate) {
    for (std::size_t p = 0; p < P; ++p) d[p] = candidate[p] - eta[p];
    return energy(K, d) <= bound;
  };
  if (fits(eta_new)) return;
  double mean_diagonal = 0.0;
  for (std::size_t p = 0; p < P; ++p) mean_diagonal += K(p, p) / static_cast<double>(P);
  Matrix damped = K;
  std::vector<double> shifted(P), candidate(P);
  for (double mu = 1e-4; mu <= 1e4; mu *= 4.0) {
    for (std::size_t p = 0; p < P; ++p) {
      const double dp = mu * std::max(K(p, p), 1e-12 * mean_diagonal);
      damped(p, p) = K(p, p) + dp;
      shifted[p] = increment ? rhs[p] : rhs[p] + dp * eta[p];
    }
    solve_normal_equations(damped, shifted, ridge, candidate, penalty);
    if (increment)
      for (std::size_t p = 0; p < P; ++p) candidate[p] += eta[p];
    if (fits(candidate)) {
      par::Log::detail(sformat("  guide: step limited (mu %.3g)", mu));
      eta_new = candidate;
      return;
    }
  }
  for (std::size_t p = 0; p < P; ++p) d[p] = eta_new[p] - eta[p];
  const double scale = std::sqrt(bound / energy(K, d));
  for (std::size_t p = 0; p < P; ++p) eta_new[p] = eta[p] + scale * d[p];
  par::Log::detail(sformat("  guide: step scaled by %.3g", scale));
}

}  // namespace

GuideUpdate parse_guide_update(const std::string& name) {
  return parse_choice<GuideUpdate>("--guide-update", name,
                                   {{"full", GuideUpdate::full},
                                    {"residual", GuideUpdate::residual},
                                    {"sweep", GuideUpdate::sweep}});
}

std::string to_string(GuideUpdate update) {
  switch (update) {
    case GuideUpdate::residual:
      return "residual";
    case GuideUpdate::sweep:
      return "sweep";
    case GuideUpdate::full:
      break;
  }
  return "full";
}

GuideGram parse_guide_gram(const std::string& name) {
  return parse_choice<GuideGram>("--guide-gram", name,
                                 {{"every", GuideGram::every}, {"first", GuideGram::first}});
}

std::string to_string(GuideGram gram) {
  return gram == GuideGram::first ? "first" : "every";
}

GuideFallback parse_guide_fallback(const std::string& name) {
  return parse_choice<GuideFallback>(
      "--guide-fallback", name,
      {{"residual", GuideFallback::residual}, {"none", GuideFallback::none}});
}

std::string to_string(GuideFallback fallback) {
  return fallback == GuideFallback::residual ? "residual" : "none";
}

void GuideOptions::validate() const {
  if (ensemble < 2) throw UsageError("--guide-ensemble must be at least 2");
  if (!(tau > 0.0) || !std::isfinite(tau)) throw UsageError("--guide-tau must be positive");
  if (!(damping > 0.0 && damping <= 1.0)) throw UsageError("--guide-damping must lie in (0, 1]");
  if (!(integral >= 0.0) || !std::isfinite(integral))
    throw UsageError("--guide-integral must be non-negative");
  if (!(tolerance >= 0.0)) throw UsageError("--guide-tolerance must be non-negative");
  if (steps == 0) throw UsageError("--guide-steps must be at least 1");
  if (gram_probes > (std::size_t{1} << 31))
    throw UsageError("--guide-gram-probes must be at most 2^31");
  dynamics().validate("guide-");
  if (!(ridge >= 0.0) || !std::isfinite(ridge))
    throw UsageError("--guide-ridge must be non-negative and finite");
  if (!(bin_ridge >= 0.0) || !std::isfinite(bin_ridge))
    throw UsageError("--bin-ridge must be non-negative and finite");
  if (!(max_step >= 0.0) || !std::isfinite(max_step))
    throw UsageError("--guide-max-step must be non-negative (0: no limit)");
  if (!(divergence >= 0.0) || !std::isfinite(divergence))
    throw UsageError("--guide-divergence must be non-negative (0: never)");
  if (!(divergence_growth >= 0.0) || !std::isfinite(divergence_growth))
    throw UsageError("--guide-divergence-growth must be non-negative (0: the threshold alone)");
  if (!(dead_band >= 0.0) || !std::isfinite(dead_band))
    throw UsageError("--guide-dead-band must be non-negative (0: none)");
  if (update != GuideUpdate::full && integral > 0.0)
    throw UsageError(
        "--guide-integral needs --guide-update full (the residual and sweep updates add up over "
        "passes already)");
  if (update == GuideUpdate::sweep && gram == GuideGram::every)
    throw UsageError(
        "--guide-update sweep takes K^q from the first pass (--guide-gram first): its updates "
        "start from the best model, whose Gram matrix a later pass would overwrite");
  check_eta_ramp_fraction(ramp_fraction, "--guide-ramp-fraction");
  if (interval_retries > 30)
    throw UsageError("--guide-interval-retries must be at most 30 (eta_k halved each time)");
  if (update == GuideUpdate::sweep && interpolation != EtaInterpolation::hybrid &&
      interpolation != EtaInterpolation::step)
    throw UsageError(
        "--guide-update sweep needs --guide-interpolation hybrid or step (the correction of each "
        "interval must act on that interval alone)");
}

namespace {

// The ensemble members whose J J^T enter K^q: every stride-th batch (by global batch, so on any
// number of ranks the same members; a Gram matrix averages J J^T over whole fields and needs fewer
// of them than the means). Returns (members per batch, stride, members in K^q).
struct GramMembers {
  std::size_t per_batch, stride, count;
};
GramMembers gram_members_of(const features::FeatureMap& features, const GuideOptions& options) {
  GramMembers g{};
  g.per_batch =
      std::max<std::size_t>(1, options.batch ? options.batch : features.preferred_batch());
  const std::size_t Ng = options.ensemble;
  const std::size_t total_batches = (Ng + g.per_batch - 1) / g.per_batch;
  const std::size_t wanted = options.gram_members ? std::min(options.gram_members, Ng) : Ng;
  g.stride = std::max<std::size_t>(1, total_batches * g.per_batch / wanted);
  for (std::size_t b = 0; b < total_batches; b += g.stride)
    g.count += std::min(g.per_batch, Ng - b * g.per_batch);
  return g;
}

}  // namespace

void check_guidable(const features::FeatureMap& features, const GuideOptions& options) {
  if (features.time_dependent())
    throw UsageError(
        "guided passes steer feature moments, and the drifts of a combination's member models "
        "have none: fit the combination without --guide (guide its members instead)");
  const std::size_t P = features.size();
  const std::size_t members = gram_members_of(features, options).count;
  if (options.gram_probes > 0 && members * options.gram_probes < P)
    throw UsageError(sformat(
        "--guide-gram-probes %zu on %zu members gives the ensemble's Gram matrix rank at most %zu, "
        "below its P = %zu features: raise --guide-gram-probes or --guide-gram-members, or drop "
        "--guide-gram-probes (the exact Gram)",
        options.gram_probes, members, members * options.gram_probes, P));
}

GuideStart guide_model(Model& model, const GuideOptions& given, const par::Comm& comm) {
  given.validate();
  // Sweep passes do not change eta while they integrate: no interval is integrated again.
  GuideOptions options = given;
  if (options.update == GuideUpdate::sweep) options.interval_retries = 0;
  if (options.passes == 0) return {};
  const FeatureTargets& targets = model.targets();
  if (targets.empty())
    throw InputError(
        "guided passes need the feature targets of the one-shot fit, and this model has "
        "none (fit it again with this version of ksi)");
  const features::FeatureMap& features = model.features();
  check_guidable(features, options);
  const std::vector<double> penalty = bin_penalty(features, options.bin_ridge);
  const std::size_t P = features.size(), d = model.shape().size();
  // The worst feature's name in the per-time and divergence messages (the index when unnamed).
  const std::vector<std::string> names = features.feature_names();
  const auto name_of = [&](std::size_t p) {
    return p < names.size() && !names[p].empty() ? sformat("%zu, %s", p, names[p].c_str())
                                                 : sformat("%zu", p);
  };
  const std::vector<double>& times = model.times();
  const std::size_t T = times.size();
  const std::vector<double> grid = integration_grid(
      times, options.steps, bend_fraction(options.interpolation, options.ramp_fraction));
  std::vector<std::size_t> grid_index(T);  // position of each grid time in the integration grid
  for (std::size_t k = 0, g = 0; k < T; ++k) {
    while (grid[g] != times[k]) ++g;
    grid_index[k] = g;
  }
  const GramMembers gm = gram_members_of(features, options);
  const std::size_t per_batch = gm.per_batch;
  const std::size_t Ng = options.ensemble;
  const par::Range mine = assembly_item_range(Ng, per_batch, comm.rank(), comm.size());
  std::vector<Batch> batches;
  for (std::size_t first = mine.begin; first < mine.end; first += per_batch)
    batches.push_back({first, std::min(per_batch, mine.end - first), {}});
  // K^q from every stride-th batch of members (gram_members_of).
  const std::size_t stride = gm.stride, gram_members = gm.count;
  const double pairs = targets.pairs > 0 ? targets.pairs : std::numeric_limits<double>::infinity();

  const std::string rule = options.update == GuideUpdate::sweep
                               ? sformat("sweep updates, damping %.3g", options.damping)
                               : sformat("tau %.3g, damping %.3g", options.tau, options.damping);
  par::Log::info(sformat(
      "guide: up to %zu passes of %zu fields (Gram on %zu; %zu steps, %s), %s, tolerance RMS z "
      "<= %.3g, %d ranks",
      options.passes, Ng, gram_members, grid.size() - 1, to_string(options.integrator).c_str(),
      rule.c_str(), options.tolerance, comm.size()));

  // How the model entered: a guide that keeps no pass leaves it so (below).
  const Matrix entered_eta = model.eta();
  const EtaInterpolation entered_interpolation = model.eta_interpolation();
  const double entered_ramp_fraction = model.eta_ramp_fraction();
  const Matrix entered_base = model.eta_base();
  // How the model reads eta between grid times: interpolation, ramp fraction, hybrid base.
  const auto read_eta_as = [&model](EtaInterpolation interpolation, double ramp_fraction,
                                    const Matrix& base) {
    model.set_eta_interpolation(interpolation);
    model.set_eta_ramp_fraction(ramp_fraction);
    model.set_eta_base(base);
  };
  // Hybrid eta: the model's eta as it enters (the one-shot fit's; a resumed run enters with the
  // same) is the base the corrections are measured from, unless the model is hybrid already (a
  // guided model guided further keeps its base).
  Matrix guided_base;  // none but with hybrid eta
  if (options.interpolation == EtaInterpolation::hybrid)
    guided_base = entered_interpolation != EtaInterpolation::hybrid || entered_base.rows() == 0
                      ? entered_eta
                      : entered_base;
  read_eta_as(options.interpolation, options.ramp_fraction, guided_base);
  const Params config = checkpoint_config(model, options, per_batch);
  const bool checkpointing = !options.checkpoint.path.empty();
  Position at;
  at.eta = model.eta();
  at.eta_base = model.eta_base();
  at.correction = Matrix(T, P, 0.0);
  at.pass_start_correction = at.correction;
  const bool sweep = options.update == GuideUpdate::sweep;
  if (options.gram == GuideGram::first) {  // always with sweep updates (validate)
    at.gram = Matrix(T, P * (P + 1) / 2, 0.0);
    at.gram_h = Matrix(T, P, 0.0);
    at.gram_ready.assign(T, 0);
  }
  if (sweep) {
    at.sweep_error = Matrix(T, P, 0.0);
    at.best_error = Matrix(T, P, 0.0);
    // Passes added to a model guided by sweeps go on with the last step its passes took (at most
    // this damping): starting again at the full step re-measures the overshoots they rejected.
    const GuideRecord& before = model.guide_record();
    if (before.passes() > 0 && before.settings.text("update", "full") == "sweep") {
      const double last = before.settings.real("sweep_damping", options.damping);
      if (last > 0.0 && last < options.damping) {
        at.sweep_scale = last / options.damping;
        par::Log::info(
            sformat("guide: the model's sweeps ended with w = %.3g; these go on from it", last));
      }
    }
  }
  bool resumed = false;
  GuideStart start;
  if (checkpointing && options.checkpoint.resume) {
    std::int64_t exists = 0;
    if (comm.is_root()) exists = std::filesystem::exists(options.checkpoint.path) ? 1 : 0;
    comm.bcast(exists, 0);
    if (exists) {
      read_guide_checkpoint(options.checkpoint.path, config, {T, P, Ng, d}, at, batches, comm);
      resumed = true;
      start = {true, at.pass, at.time};
      model.set_eta(at.eta);  // the ensemble's drift from here on is the checkpoint's
      // ... and so is the base of hybrid eta (a one-shot fit run again, on other ranks or with
      // other solver settings, need not give its bits).
      if (options.interpolation == EtaInterpolation::hybrid) {
        if (at.eta_base.rows() != T)
          throw InputError("guide checkpoint " + options.checkpoint.path +
                           " of hybrid eta holds no eta_base");
        model.set_eta_base(at.eta_base);
      }
      if (at.verifying)
        par::Log::info(sformat("guide: resuming from %s: the passes are done, comparing them",
                               options.checkpoint.path.c_str()));
      else
        par::Log::info(sformat("guide: resuming from %s at pass %zu, t = %.4f",
                               options.checkpoint.path.c_str(), at.pass + 1, times[at.time]));
    }
  }
  if (checkpointing) par::install_stop_handlers();
  Stopwatch since_checkpoint;

  std::vector<DoubleDouble> sums(packed_size(P));
  std::vector<double> batch_h(P), moments(2 * P), eta_new(P), rhs(P);
  Matrix batch_K(P, P), K(P, P), fixed, phi_rows;
  const DriftFunction drift = [&model](double t, Side side, const Matrix& X, Matrix& B) {
    ScopedPhase phase("guide.drift");
    model.drift(t, X, B, side);
  };
  // The ensemble's feature means at the grid time its members are at, when an interval's check
  // (advance_pass) has taken them already: the next assembly uses them instead of evaluating phi
  // again (the same bits; not kept in a checkpoint, so a resumed run evaluates them again).
  std::vector<DoubleDouble> next_moments(2 * P);
  bool next_moments_ready = false;
  // The members' paths, on the streams of `stream` (a pass, or kVerificationPass): started, and
  // advanced from grid time k to k + 1 (collective).
  const auto start_members = [&](std::size_t stream) {
    for (auto& b : batches) {
      Matrix X0(b.count, d);
      fill_member_noise(options.seed, b.first, stream, 0, X0);
      b.state = PathState::start(std::move(X0));
    }
    next_moments_ready = false;
  };
  const auto advance_members = [&](std::size_t k, std::size_t stream) {
    par::collective(comm, [&] {
      ScopedPhase phase("guide.integrate");
      for (auto& b : batches)
        for (std::size_t g = grid_index[k]; g < grid_index[k + 1]; ++g) {
          const NoiseFunction noise = [&](Matrix& xi) {
            fill_member_noise(options.seed, b.first, stream, g + 1, xi);
          };
          integrator_step(options.dynamics(), model.schedule(), grid[g], grid[g + 1], drift, noise,
                          b.state);
        }
    });
  };
  // The members' sums of phi and phi^2 at their states, in double-double (collective).
  const auto moment_sums_of_members = [&](std::vector<DoubleDouble>& out) {
    std::fill(out.begin(), out.end(), DoubleDouble{});
    par::collective(comm, [&] {
      ScopedPhase phase("guide.means");
      for (auto& b : batches) {
        feature_moment_sums(features, b.state.X, moments);
        for (std::size_t i = 0; i < 2 * P; ++i) out[i].add(moments[i]);
      }
    });
    comm.allreduce_sum(std::span<DoubleDouble>(out));
  };
  // The ensemble's means of phi and phi^2 from its sums (`inv`: 1 / the members summed).
  const auto means_of = [P](std::span<const DoubleDouble> sums, double inv,
                            std::vector<double>& m_q, std::vector<double>& m2_q) {
    for (std::size_t p = 0; p < P; ++p) {
      m_q[p] = sums[p].value() * inv;
      m2_q[p] = sums[P + p].value() * inv;
    }
  };
  // The divergence rule (GuideOptions::divergence, divergence_growth): the largest RMS z grid time
  // k of pass `pass` may have, and whether `rms` there passes it (never, without the check).
  const auto divergence_limit = [&](std::size_t pass, std::size_t k) {
    return k > 0 ? std::max(options.divergence, options.divergence_growth * at.rms[pass][k - 1])
                 : options.divergence;
  };
  const auto diverged_at = [&](std::size_t pass, std::size_t k, double rms) {
    return options.divergence > 0.0 && !(rms <= divergence_limit(pass, k));
  };
  // Whether the pass runs on the ladder's last rung (GuideOptions::divergence): a divergence there
  // ends the guide. Without the check (divergence 0) there is no ladder.
  const auto on_last_rung = [&] {
    if (!(options.divergence > 0.0)) return true;
    if (options.fallback == GuideFallback::residual) return at.fallback_level >= kFallbackLevels;
    return at.step_limit > 0.0;
  };
  // Advances the members from t_k to t_k+1 in pass `pass` and, with interval retries on the last
  // rung, checks the ensemble there: where it diverged over the interval (the divergence rule of
  // the grid times, or a state that is not finite), the interval again from the states at t_k with
  // eta_k halved, up to options.interval_retries times. After the last retry the pass's own check
  // at t_k+1 decides. Collective.
  const auto advance_pass = [&](std::size_t k, std::size_t pass) {
    const std::size_t stream = options.first_stream + pass;
    next_moments_ready = false;
    if (options.interval_retries == 0 || !on_last_rung()) {
      advance_members(k, stream);
      return;
    }
    std::vector<PathState> saved;
    saved.reserve(batches.size());
    for (const auto& b : batches) saved.push_back(b.state);
    const double inv = 1.0 / static_cast<double>(Ng);
    std::vector<double> m_q(P), m2_q(P);
    for (std::size_t attempt = 0;; ++attempt) {
      std::string failed;
      try {
        advance_members(k, stream);
      } catch (const Error& e) {
        if (e.code() != ExitCode::numerical || attempt == options.interval_retries) throw;
        failed = e.what();
      }
      if (failed.empty()) {
        moment_sums_of_members(next_moments);
        means_of(next_moments, inv, m_q, m2_q);
        const MomentZ mz = moment_z(targets, k + 1, m_q, m2_q, inv, pairs);
        if (!diverged_at(pass, k + 1, mz.rms) || attempt == options.interval_retries) {
          next_moments_ready = true;
          return;
        }
        failed = sformat("RMS z %.3g > %.3g, largest %.3g at feature %s", mz.rms,
                         divergence_limit(pass, k + 1), mz.largest, name_of(mz.worst).c_str());
      }
      par::Log::warn(
          sformat("guide: pass %zu diverged over (%.4f, %.4f] (%s); the interval again with eta at "
                  "t = %.4f halved (retry %zu of %zu)",
                  pass + 1, times[k], times[k + 1], failed.c_str(), times[k], attempt + 1,
                  options.interval_retries));
      ++at.interval_retries;
      for (std::size_t i = 0; i < batches.size(); ++i) batches[i].state = saved[i];
      for (std::size_t p = 0; p < P; ++p) at.eta(k, p) *= 0.5;
      model.set_eta(at.eta);
    }
  };
  const auto stopped = [&] {
    return par::CollectiveError(ExitCode::interrupted,
                                "stopped by a signal; checkpoint written to " +
                                    options.checkpoint.path + " (rerun with --resume)",
                                0);
  };

  // Sweep updates, after pass `pass` measured its (unchanged) model at `measured` RMS z (infinite:
  // it diverged): keeps it as the best if it is, and corrects every interval of the best model
  // from the best model's errors (with half the step when this pass's model was worse). Returns
  // false when the passes end here (the tolerance met, the last pass, or nothing to build on); the
  // model is then the best measured.
  const auto sweep_update_after_pass = [&](std::size_t pass, double measured) {
    const bool better = std::isfinite(measured) && (at.best_pass == 0 || measured < at.best_rms);
    if (better) {
      at.best_pass = pass + 1;
      at.best_rms = measured;
      at.best_eta = at.eta;
      at.best_error = at.sweep_error;
    } else if (at.best_pass == 0) {
      par::Log::warn("guide: the model the passes started from diverges; it is kept as it is");
      return false;
    } else if (pass + 1 < options.passes) {
      at.sweep_scale *= 0.5;  // only where an update follows: sweep_damping is a w that was used
      par::Log::info(sformat(
          "guide: pass %zu's model (RMS z %.3g) is worse than pass %zu's (%.3g): the update again "
          "from pass %zu's model with half the step (w = %.3g)",
          pass + 1, measured, at.best_pass, at.best_rms, at.best_pass,
          options.damping * at.sweep_scale));
    } else {
      par::Log::info(sformat("guide: pass %zu's model (RMS z %.3g) is worse than pass %zu's (%.3g)",
                             pass + 1, measured, at.best_pass, at.best_rms));
    }
    if ((better && measured <= options.tolerance) || pass + 1 >= options.passes) {
      at.eta = at.best_eta;
      model.set_eta(at.eta);
      return false;
    }
    const Dynamics dynamics = options.dynamics();
    const double w = options.damping * at.sweep_scale;
    std::vector<double> next(at.best_eta.values().begin(), at.best_eta.values().end());
    std::exception_ptr failure;
    if (comm.is_root()) {
      try {
        ScopedPhase phase("guide.solve");
        std::vector<double> step(P), updated(P);
        for (std::size_t k = 0; k + 1 < T; ++k) {
          std::size_t q = 0;
          for (std::size_t i = 0; i < P; ++i)
            for (std::size_t j = i; j < P; ++j) K(i, j) = at.gram(k, q++);
          // b's weight in dX (2 for the D* SDE) over the interval, at its midpoint.
          const double g = dynamics.drift_weight(model.schedule(), 0.5 * (times[k] + times[k + 1]));
          const double span = g * (times[k + 1] - times[k]);
          for (std::size_t p = 0; p < P; ++p)
            rhs[p] = (at.best_error(k + 1, p) - at.best_error(k, p)) / span;
          if (std::all_of(rhs.begin(), rhs.end(), [](double r) { return r == 0.0; })) continue;
          solve_normal_equations(K, rhs, options.ridge, step, penalty);
          const auto base = at.best_eta.row(k);
          for (std::size_t p = 0; p < P; ++p) updated[p] = base[p] + step[p];
          limit_step(K, rhs, /*increment=*/true, at.step_limit, options.ridge, penalty, base,
                     updated);
          for (std::size_t p = 0; p < P; ++p)
            next[k * P + p] = base[p] + w * (updated[p] - base[p]);
        }
      } catch (const Error& e) {
        failure = std::make_exception_ptr(NumericalError(
            sformat("guided pass %zu: the ensemble system of a sweep update failed: %s", pass + 1,
                    e.what())));
      }
    }
    comm.raise_if_any(failure);
    comm.bcast(next, 0);
    std::copy(next.begin(), next.end(), at.eta.data());
    model.set_eta(at.eta);
    return true;
  };

  if (!resumed) at.step_limit = options.max_step;
  // A run stopped while verifying (below) has finished its passes.
  for (; !at.verifying && at.pass < options.passes; ++at.pass) {
    const std::size_t pass = at.pass;
    bool retry = false;
    if (!resumed) {
      at.time = 0;
      at.pass_start_eta = at.eta;
      at.pass_start_correction = at.correction;
      at.rms.emplace_back(T, 0.0);
      at.largest.emplace_back(T, 0.0);
      start_members(options.first_stream + pass);
    }
    resumed = false;
    // This pass's rung of the ladder (GuideOptions::divergence): the fallback rungs take residual
    // updates, a dead band of at least kFallbackDeadBand, K^q from every member, no integral
    // action, and a ridge of at least kFallbackRidge, ten times larger on each further rung.
    const bool fallen = at.fallback_level > 0;
    const GuideUpdate update_rule = fallen ? GuideUpdate::residual : options.update;
    const double dead_band =
        fallen ? std::max(options.dead_band, kFallbackDeadBand) : options.dead_band;
    const double ridge = fallen ? fallback_ridge(options.ridge, at.fallback_level) : options.ridge;
    const double integral = fallen ? 0.0 : options.integral;
    const std::size_t gram_count = fallen ? Ng : gram_members;
    const auto in_gram = [&](const Batch& b) {
      return fallen || (b.first / per_batch) % stride == 0;
    };
    par::Progress progress(sformat("guide: pass %zu", pass + 1), T - at.time);
    bool sweep_diverged = false;  // sweep updates: this pass's model diverged (or went non-finite)
    for (; at.time < T; ++at.time) {
      const std::size_t k = at.time;
      const double t = times[k];
      if (checkpointing) {
        const bool due = options.checkpoint.every_seconds > 0 &&
                         since_checkpoint.seconds() >= options.checkpoint.every_seconds;
        const par::Pause pause = par::agree_to_pause_or_raise(comm, nullptr, due);
        if (pause != par::Pause::none) {
          write_guide_checkpoint(options.checkpoint.path, config, at, batches, Ng, d, comm);
          since_checkpoint.restart();
          if (pause == par::Pause::stop) throw stopped();
          par::Log::info("guide: checkpoint written to " + options.checkpoint.path);
        }
      }
      // K^q_k kept from the first pass on this rung (GuideGram::first): not assembled again.
      const bool reuse = options.gram == GuideGram::first && at.gram_ready[k] != 0;
      // The ensemble's sums at t_k, per batch in double-double (rank-count independent).
      std::fill(sums.begin(), sums.end(), DoubleDouble{});
      par::collective(comm, [&] {
        ScopedPhase phase("guide.assembly");
        for (auto& b : batches) {
          const Matrix& X = b.state.X;
          batch_K.fill(0.0);
          std::fill(batch_h.begin(), batch_h.end(), 0.0);
          bool evaluated = false;  // phi of every member in phi_rows
          if (in_gram(b) && !reuse) {
            // The fixed drift where eta_k acts: with step eta, (t_k, t_k+1] (its row k); with
            // hybrid eta the gains stay linear in t, and eta(t_k+) is eta_k.
            model.linear_drift(options.interpolation == EtaInterpolation::step && k + 1 < T
                                   ? std::nextafter(t, 2.0)
                                   : t,
                               X, fixed);
            if (options.gram_probes > 0) {
              // Probe streams of this member, pass (stream index), rung and time: the fit's
              // purpose with the top bit of id1 set, so they never meet the fit's.
              const std::uint64_t pass_id = (std::uint64_t{1} << 63) |
                                            (std::uint64_t{at.fallback_level} << 40) |
                                            (options.first_stream + pass);
              features::accumulate_randomized(
                  features, X, fixed, options.gram_probes,
                  [&](std::size_t r, std::size_t j) {
                    return RandomStream(options.seed, StreamPurpose::gram_probe, b.first + r,
                                        pass_id, (std::uint64_t{k} << 32) | j);
                  },
                  batch_K, batch_h, &phi_rows);
              evaluated = true;
            } else {
              features.accumulate(X, fixed, batch_K, batch_h);
            }
          }
          // The randomized Gram evaluated phi at every member already; an interval's check took
          // the means (next_moments) already.
          if (next_moments_ready)
            std::fill(moments.begin(), moments.end(), 0.0);
          else if (evaluated)
            feature_moment_sums(phi_rows, moments);
          else
            feature_moment_sums(features, X, moments);
          std::size_t q = 0;
          for (std::size_t i = 0; i < P; ++i)
            for (std::size_t j = i; j < P; ++j) sums[q++].add(batch_K(i, j));
          for (std::size_t i = 0; i < P; ++i) sums[q++].add(batch_h[i]);
          for (std::size_t i = 0; i < 2 * P; ++i) sums[q++].add(moments[i]);
        }
      });
      comm.allreduce_sum(std::span<DoubleDouble>(sums));
      const double inv = 1.0 / static_cast<double>(Ng),
                   inv_gram = 1.0 / static_cast<double>(gram_count);
      std::size_t q = 0;
      for (std::size_t i = 0; i < P; ++i)
        for (std::size_t j = i; j < P; ++j) K(i, j) = sums[q++].value() * inv_gram;
      std::vector<double> h_fixed(P), m_q(P), m2_q(P);
      for (std::size_t i = 0; i < P; ++i) h_fixed[i] = sums[q++].value() * inv_gram;
      // The exact sums are raw (the fit's finalize_gram, linear, e.g. the Hadamard factor of
      // Fourier features); the randomized estimate is final already.
      if (!reuse && options.gram_probes == 0) features.finalize_gram(K);
      if (reuse) {
        std::size_t g = 0;
        for (std::size_t i = 0; i < P; ++i)
          for (std::size_t j = i; j < P; ++j) K(i, j) = at.gram(k, g++);
        for (std::size_t i = 0; i < P; ++i) h_fixed[i] = at.gram_h(k, i);
      } else if (options.gram == GuideGram::first) {
        std::size_t g = 0;
        for (std::size_t i = 0; i < P; ++i)
          for (std::size_t j = i; j < P; ++j) at.gram(k, g++) = K(i, j);
        for (std::size_t i = 0; i < P; ++i) at.gram_h(k, i) = h_fixed[i];
        at.gram_ready[k] = 1;
      }
      means_of(next_moments_ready ? std::span<const DoubleDouble>(next_moments)
                                  : std::span<const DoubleDouble>(sums).subspan(q, 2 * P),
               inv, m_q, m2_q);
      next_moments_ready = false;

      const MomentZ mz = moment_z(targets, k, m_q, m2_q, inv, pairs);
      const auto standard_error = [&](std::size_t p) { return mz.standard_error[p]; };
      const double zmax = mz.largest;
      const std::size_t worst = mz.worst;
      at.rms[pass][k] = mz.rms;
      at.largest[pass][k] = zmax;
      par::Log::detail(sformat("  guide pass %zu, t = %.4f: RMS z %.3g, largest %.3g (feature %s)",
                               pass + 1, t, at.rms[pass][k], zmax, name_of(worst).c_str()));
      // Diverged: above the threshold and (with a growth factor) more than that factor above the
      // previous grid time's RMS z: an ensemble that explodes, not a model whose error grows.
      if (diverged_at(pass, k, at.rms[pass][k])) {
        const std::string what = sformat(
            "guide: pass %zu diverged at t = %.4f (RMS z %.3g > %.3g, largest %.3g at feature %s)",
            pass + 1, t, at.rms[pass][k], divergence_limit(pass, k), zmax, name_of(worst).c_str());
        if (sweep) {  // its model, unchanged by the pass, counts as worse than every other
          par::Log::warn(what);
          sweep_diverged = true;
          break;
        }
        at.eta = at.pass_start_eta;
        at.correction = at.pass_start_correction;
        model.set_eta(at.eta);
        if (!fallen && !(at.step_limit > 0.0)) {
          // Unlimited updates overshot: the pass again, each update a Levenberg-Marquardt step.
          par::Log::warn(sformat("%s; the pass again from its start with updates limited to s = %g",
                                 what.c_str(), kFallbackStep));
          at.step_limit = kFallbackStep;
          retry = true;
        } else if (options.fallback == GuideFallback::residual &&
                   at.fallback_level < kFallbackLevels) {
          // Limited full updates (or the fallback rung's) diverge too: the pass again with the
          // next fallback rung's updates.
          par::Log::warn(sformat(
              "%s with %s updates (s = %g, ridge %g); the pass again from its start with residual "
              "updates (dead band %g, K^q on all %zu members, ridge %g)",
              what.c_str(), to_string(update_rule).c_str(), at.step_limit, ridge,
              std::max(options.dead_band, kFallbackDeadBand), Ng,
              fallback_ridge(options.ridge, at.fallback_level + 1)));
          if (!fallen) at.fallback_pass = pass + 1;
          ++at.fallback_level;
          at.step_limit = options.max_step;
          at.correction = Matrix(T, P, 0.0);  // the residual update has no integral action
          retry = true;
        } else {
          par::Log::warn(
              sformat("%s on the last rung (%s updates, s = %g, ridge %g); the model keeps the "
                      "eta it had before the pass",
                      what.c_str(), to_string(update_rule).c_str(), at.step_limit, ridge));
          at.diverged = pass + 1;
        }
        if (retry) {
          at.rms.pop_back();
          at.largest.pop_back();
          // A new rung assembles K^q again (its members and ensemble differ).
          std::fill(at.gram_ready.begin(), at.gram_ready.end(), 0);
        }
        break;
      }

      // The update of eta_k: solved on rank 0, the same bits everywhere.
      // Proportional action on the error at t_k; the integral action learnt in earlier passes, c_k;
      // and the learning itself: the error at t_k is what eta_{k-1} did over [t_{k-1}, t_k], so the
      // next pass moves c_{k-1} by kappa e_k / (g (t_k - t_{k-1})), g the drift's weight in dX (2
      // for the D* SDE, whose drift is 2 b - (beta'/beta) X). At a fixed point the errors vanish
      // and c holds the correction the drift needs.
      const double g =
          k > 0 ? options.dynamics().drift_weight(model.schedule(), 0.5 * (times[k - 1] + t)) : 1.0;
      const bool residual = update_rule == GuideUpdate::residual;
      const auto moment_error = [&](std::size_t p) {
        const double error = targets.mean(k, p) - m_q[p];
        if (!(dead_band > 0.0)) return error;
        const double excess = std::max(0.0, std::abs(error) - dead_band * standard_error(p));
        return std::copysign(excess, error);
      };
      if (sweep) {
        // The model is not changed within the pass: the errors wait for its end.
        for (std::size_t p = 0; p < P; ++p) at.sweep_error(k, p) = moment_error(p);
        if (k + 1 < T) {
          try {
            advance_members(k, options.first_stream + pass);
          } catch (const Error& e) {
            if (e.code() != ExitCode::numerical) throw;
            par::Log::warn(sformat("guide: pass %zu's model: %s", pass + 1, e.what()));
            sweep_diverged = true;
            break;
          }
        }
        progress.advance();
        continue;
      }
      for (std::size_t p = 0; p < P; ++p) {
        const double error = moment_error(p);
        // residual: the increment eta_new - eta solves K^q d = c + e'/tau.
        rhs[p] = (residual ? 0.0 : targets.rhs(k, p) - h_fixed[p]) + at.correction(k, p) +
                 error / options.tau;
        if (k > 0) at.correction(k - 1, p) += integral * error / (g * (t - times[k - 1]));
      }
      // residual: no update at t = 0, where the members follow rho_0 exactly (errors are noise).
      // Nor where every error is inside the dead band: eta stays as it is, bit for bit.
      const bool update = !(residual && (k == 0 || std::all_of(rhs.begin(), rhs.end(),
                                                               [](double r) { return r == 0.0; })));
      std::exception_ptr failure;
      if (update && comm.is_root()) {
        try {
          ScopedPhase phase("guide.solve");
          solve_normal_equations(K, rhs, ridge, eta_new, penalty);
          if (residual)
            for (std::size_t p = 0; p < P; ++p) eta_new[p] += at.eta(k, p);
          limit_step(K, rhs, residual, at.step_limit, ridge, penalty, at.eta.row(k), eta_new);
        } catch (const Error& e) {
          failure = std::make_exception_ptr(
              NumericalError(sformat("guided pass %zu: the ensemble system at t = %.4f failed: %s",
                                     pass + 1, t, e.what())));
        }
      }
      comm.raise_if_any(failure);
      if (update) {
        comm.bcast(eta_new, 0);
        for (std::size_t p = 0; p < P; ++p)
          at.eta(k, p) = (1.0 - options.damping) * at.eta(k, p) + options.damping * eta_new[p];
        model.set_eta(at.eta);
      }

      if (k + 1 < T) advance_pass(k, pass);  // on to t_{k+1}
      progress.advance();
    }
    if (retry) {
      --at.pass;  // the loop's increment brings it back to this pass (unsigned wrap at 0)
      continue;
    }
    if (at.diverged) break;
    progress.finish();
    double total = 0.0, largest = 0.0;
    std::size_t at_time = 0;
    for (std::size_t k = 0; k < T; ++k) {
      total += at.rms[pass][k] * at.rms[pass][k];
      if (at.largest[pass][k] > largest) {
        largest = at.largest[pass][k];
        at_time = k;
      }
    }
    const double rms = std::sqrt(total / static_cast<double>(T));
    if (sweep) {
      if (sweep_diverged) {
        // Not measured beyond the divergence.
        for (std::size_t k = at.time + 1; k < T; ++k)
          at.rms[pass][k] = at.largest[pass][k] = std::numeric_limits<double>::quiet_NaN();
      } else {
        par::Log::info(
            sformat("guide: pass %zu: the model measured whole has RMS z %.3g over all times "
                    "(largest %.3g at t = %.4f)",
                    pass + 1, rms, largest, times[at_time]));
      }
      if (!sweep_update_after_pass(
              pass, sweep_diverged ? std::numeric_limits<double>::infinity() : rms)) {
        ++at.pass;
        break;
      }
      continue;
    }
    par::Log::info(sformat("guide: pass %zu: RMS z %.3g over all times (largest %.3g at t = %.4f)",
                           pass + 1, rms, largest, times[at_time]));
    // A pass's z's measure the eta its own updates made (each time's ensemble ran with the updates
    // of the times before): the eta after the pass of the lowest RMS z is the best one measured.
    if (std::isfinite(rms) && (at.best_pass == 0 || rms < at.best_rms)) {
      at.best_pass = pass + 1;
      at.best_rms = rms;
      at.best_eta = at.eta;
    }
    if (rms <= options.tolerance) {
      ++at.pass;
      break;
    }
  }

  // A model measured whole: the members of kVerificationPass integrated with `eta` and no update,
  // and the RMS z over every grid time.
  const auto sweep_whole = [&](const Matrix& eta, const char* which) {
    model.set_eta(eta);
    par::Progress progress(sformat("guide: measuring the %s model whole", which), T);
    std::vector<DoubleDouble> moment_sums(2 * P);
    std::vector<double> m_q(P), m2_q(P);
    double total = 0.0;
    start_members(kVerificationPass);
    for (std::size_t k = 0; k < T; ++k) {
      if (checkpointing && par::agree_to_pause(comm) == par::Pause::stop) {
        at.verifying = true;
        write_guide_checkpoint(options.checkpoint.path, config, at, batches, Ng, d, comm);
        throw stopped();
      }
      moment_sums_of_members(moment_sums);
      const double inv = 1.0 / static_cast<double>(Ng);
      means_of(moment_sums, inv, m_q, m2_q);
      const double rms = moment_z(targets, k, m_q, m2_q, inv, pairs).rms;
      par::Log::detail(sformat("  guide: the %s model measured whole at t = %.4f: RMS z %.3g",
                               which, times[k], rms));
      total += rms * rms;
      if (k + 1 < T) advance_members(k, kVerificationPass);
      progress.advance();
    }
    progress.finish();
    return std::sqrt(total / static_cast<double>(T));
  };
  // An ensemble that stops being finite ends its sweep (on every rank: the integration is
  // collective) and counts as infinitely far off.
  const auto measured = [&](const Matrix& eta, const char* which) {
    try {
      return sweep_whole(eta, which);
    } catch (const Error& e) {
      if (e.code() != ExitCode::numerical) throw;
      par::Log::warn(sformat("guide: the %s model measured whole: %s", which, e.what()));
      return std::numeric_limits<double>::infinity();
    }
  };
  // A pass's z's measure a blend: over [t_{k-1}, t_k] the drift interpolates the eta_{k-1} of
  // this pass and the eta_k of the one before (eta_k changes only once the ensemble is at t_k), so
  // the model a pass leaves is never integrated whole within it. Where the passes' z's would keep
  // an earlier pass than the last, both models are measured by a sweep without updates (the same
  // members and noise for both), and the one of the lower RMS z is kept: on a small model the
  // earlier pass's blend measured RMS z 1.34 against 2.99 while its own fields filled 14 % of
  // their pixels with the data's extreme values.
  const std::size_t finished = at.rms.size() - (at.diverged ? 1 : 0);
  std::size_t kept = finished;
  double verified_kept = 0.0, verified_other = 0.0;
  if (sweep) {
    // Every pass measured its model whole; the passes' end left the best of them.
    kept = at.best_pass;
    if (at.best_pass > 0)
      par::Log::info(sformat("guide: keeps the model pass %zu measured (RMS z %.3g)", at.best_pass,
                             at.best_rms));
  } else if (options.keep_best && at.best_pass > 0 && at.best_pass < finished &&
             options.interpolation != EtaInterpolation::linear) {
    // Each pass integrated exactly the model it left: its z's decide.
    par::Log::info(
        sformat("guide: keeps the model of pass %zu (RMS z %.3g), the lowest of the %zu "
                "passes",
                at.best_pass, at.best_rms, finished));
    at.eta = at.best_eta;
    model.set_eta(at.eta);
    kept = at.best_pass;
  } else if (options.keep_best && at.best_pass > 0 && at.best_pass < finished) {
    const Matrix last_eta = at.eta;
    const double last = measured(last_eta, "last pass's");
    const double best = measured(at.best_eta, "best pass's");
    // Not finite (an ensemble that exploded): never the kept one.
    const bool keep_earlier = std::isfinite(best) && !(last <= best);
    if (keep_earlier) {
      at.eta = at.best_eta;
      kept = at.best_pass;
      verified_kept = best;
      verified_other = last;
    } else {
      at.eta = last_eta;
      verified_kept = last;
      verified_other = best;
    }
    model.set_eta(at.eta);
    par::Log::info(sformat(
        "guide: measured whole, pass %zu's model (the lowest RMS z of a pass, %.3g) has RMS z "
        "%.3g, the last pass's (%zu) %.3g: keeps pass %zu",
        at.best_pass, at.best_rms, best, finished, last, kept));
  }

  // A pass that interval retries held (the last rung) may be worse than the model the passes
  // started from, which no pass measures: where an interval was integrated again, the start model
  // (its eta, read between grid times as it entered) and the kept one are measured whole on the
  // same members and noise, and the lower RMS z is kept. (Projected density, ramp 1/4: the retried
  // guide kept pass 3, features 3.6, where the one-shot model has 2.4.)
  double start_whole = 0.0, kept_whole = 0.0;
  if (!sweep && at.interval_retries > 0 && kept > 0) {
    // The same members and noise for both (a pass's own z's ran on its own members).
    kept_whole = verified_kept > 0.0 ? verified_kept : measured(at.eta, "kept");
    read_eta_as(entered_interpolation, entered_ramp_fraction, entered_base);
    start_whole = measured(entered_eta, "start");
    read_eta_as(options.interpolation, options.ramp_fraction, at.eta_base);
    const bool keep_start = std::isfinite(start_whole) && !(kept_whole <= start_whole);
    par::Log::info(
        sformat("guide: measured whole, the start model has RMS z %.3g, pass %zu's "
                "(held by %zu interval retries in all) %.3g: keeps %s",
                start_whole, kept, at.interval_retries, kept_whole,
                keep_start ? "the start model" : sformat("pass %zu", kept).c_str()));
    if (keep_start) {
      kept = 0;
      at.eta = entered_eta;
    }
    model.set_eta(at.eta);
  }

  // No pass kept (pass 1 abandoned on the last rung, or a sweep whose start model was the best):
  // the eta is the one the model entered with, and so is its reading between grid times. The
  // guide's interpolation would make it another model, never measured (the one-shot eta of 2D
  // turbulence read as a quarter ramp: features 10.5 against 7.6 read linearly).
  if (kept == 0) {
    read_eta_as(entered_interpolation, entered_ramp_fraction, entered_base);
    par::Log::info(
        sformat("guide: no pass kept; the model is the one the passes started from (%s "
                "eta between grid times)",
                to_string(entered_interpolation).c_str()));
  }

  GuideRecord record;
  record.rms_z = rows_to_matrix(at.rms, T);
  record.max_z = rows_to_matrix(at.largest, T);
  auto& s = record.settings;
  s.set("passes", record.rms_z.rows());
  s.set("max_passes", options.passes);
  s.set("ensemble", Ng);
  s.set("gram_members", gram_members);
  s.set("tau", options.tau);
  s.set("damping", options.damping);
  s.set("integral", options.integral);
  s.set("tolerance", options.tolerance);
  s.set("max_step", options.max_step);
  s.set("divergence", options.divergence);
  s.set("divergence_growth", options.divergence_growth);
  if (options.interval_retries > 0) {
    s.set("interval_retries", options.interval_retries);
    s.set("intervals_retried", at.interval_retries);
  }
  s.set("update", to_string(options.update));
  s.set("dead_band", options.dead_band);
  s.set("diverged_pass", at.diverged);
  s.set("step_limit", at.step_limit);
  s.set("fallback", to_string(options.fallback));
  s.set("fallback_pass", at.fallback_pass);
  s.set("kept_pass", kept);
  s.set("interpolation", to_string(options.interpolation));
  if (options.interpolation == EtaInterpolation::ramp)
    s.set("ramp_fraction", options.ramp_fraction);
  s.set("gram", to_string(options.gram));
  if (options.gram_probes > 0) s.set("gram_probes", options.gram_probes);
  if (sweep) s.set("sweep_damping", options.damping * at.sweep_scale);  // the last w used
  s.set("verified_kept_rms", verified_kept);
  s.set("verified_other_rms", verified_other);
  if (options.interval_retries > 0) {  // measured where an interval was retried (0: not)
    s.set("start_whole_rms", start_whole);
    s.set("kept_whole_rms", kept_whole);
  }
  s.set("fallback_ridge",
        at.fallback_level ? fallback_ridge(options.ridge, at.fallback_level) : 0.0);
  s.set("steps", options.steps);
  s.set("integrator", to_string(options.integrator));
  s.set("diffusion_scale", options.diffusion_scale);
  s.set("seed", static_cast<std::int64_t>(options.seed));
  s.set("ridge", options.ridge);
  s.set("bin_ridge", options.bin_ridge);  // always: ksi guide goes on with it, 0 included
  s.set("gram_units", "final");
  model.set_guide_record(std::move(record));
  if (checkpointing && comm.is_root()) std::filesystem::remove(options.checkpoint.path);
  comm.barrier();
  return start;
}

}  // namespace ksi::fit
