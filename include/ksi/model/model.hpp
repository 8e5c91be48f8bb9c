#pragma once
/// @file
/// What a fitted model is: the feature map, the interpolant schedule, the data's item shape and
/// standardisation, the time grid with eta(t_k), and per-time diagnostics; its HDF5 form
/// (model.h5). A Model is everything `ksi sample` needs.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/params.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/interpolant/integrator.hpp"
#include "ksi/interpolant/schedule.hpp"
#include "ksi/io/hdf5.hpp"
#include "ksi/io/output.hpp"
#include "ksi/model/output_transform.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/comm.hpp"

namespace ksi {

/// Diagnostics of the linear system of one time t_k (METHOD section 2).
struct TimeDiagnostics {
  double residual = 0.0;     ///< |(K + ridge I) eta - h| / |h|
  double lambda_min = 0.0;   ///< smallest eigenvalue estimate of K + ridge I
  double lambda_max = 0.0;   ///< largest eigenvalue estimate of K + ridge I
  double captured = 0.0;     ///< R^2_t = eta . h / E|dI/dt|^2
  double ridge = 0.0;        ///< absolute ridge lambda tr(K) / P added to the diagonal
  double velocity_sq = 0.0;  ///< E |dI/dt|^2
};

/// What the one-shot fit measured of the interpolant at each grid time t_k (T x P each): the
/// feature moments m_rho(t_k) = E phi(I_t) and their variance over (item, draw) pairs, and h_k =
/// E[J dI/dt], the right-hand side of the normal equations. The guided passes (fit/guide.hpp) steer
/// the sampler's own feature moments to `mean`.
struct FeatureTargets {
  Matrix mean;
  Matrix variance;
  Matrix rhs;
  double pairs = 0.0;  ///< (item, draw) pairs per time behind the means
  bool empty() const noexcept { return mean.rows() == 0; }
};

/// The record of the guided passes: per pass and grid time, the RMS and the largest |z| of the
/// ensemble's feature means against the targets (z in standard errors of an ensemble mean).
struct GuideRecord {
  Matrix rms_z;  ///< passes x T
  Matrix max_z;  ///< passes x T
  Params settings;
  std::size_t passes() const noexcept { return rms_z.rows(); }
};

/// How eta (and the shell gains) run between grid times t_0 = 0 < ... < t_{T-1} = 1. `linear`:
/// linear in t between grid times. `step`: eta_k on (t_k, t_{k+1}] (eta_0 also at t = 0), so that
/// a guided pass, which changes eta_k once its ensemble has reached t_k, integrates exactly the
/// model it leaves. `hybrid`: a base eta (the one-shot fit's) linear in t plus the correction
/// eta_k - base_k constant on (t_k, t_{k+1}]: a guided pass again integrates exactly the model it
/// leaves, while the part of the drift that is not a correction keeps its linear time dependence
/// (the shell gains, part of the base, stay linear). `ramp`: eta_{k-1} at t_k, moving linearly to
/// eta_k over the first fraction f of (t_k, t_{k+1}] (Model::eta_ramp_fraction, 1/2 unless set),
/// then eta_k (eta_0 on the first interval): continuous in t like `linear`, yet eta_k acts only
/// after t_k, so a guided pass again integrates exactly the model it leaves (the shell gains stay
/// linear).
enum class EtaInterpolation { linear, step, hybrid, ramp };
/// The default share of each interval over which `ramp` eta moves from the previous grid time's
/// row to its own.
inline constexpr double kEtaRampFraction = 0.5;
/// Where, besides the grid times, eta of this interpolation bends within each interval, as a
/// fraction of it: the ramp's end for `ramp` (the `ramp_fraction`), none (0) otherwise. The
/// integration grid of the guide and of the sampler puts a node there.
inline double bend_fraction(EtaInterpolation interpolation, double ramp_fraction) {
  return interpolation == EtaInterpolation::ramp ? ramp_fraction : 0.0;
}
/// UsageError naming `what` unless f is a ramp fraction: finite and in (0, 1].
void check_eta_ramp_fraction(double f, std::string_view what);
/// "linear", "step", "hybrid" or "ramp"; UsageError naming `what` (the option or attribute)
/// otherwise.
EtaInterpolation parse_eta_interpolation(const std::string& name, std::string_view what);
std::string to_string(EtaInterpolation interpolation);

class Model {
 public:
  Model(std::unique_ptr<features::FeatureMap> features, std::unique_ptr<Schedule> schedule,
        ItemShape shape, Standardization standardization, std::vector<double> times, Matrix eta);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const features::FeatureMap& features() const { return *features_; }
  const Schedule& schedule() const { return *schedule_; }
  const ItemShape& shape() const { return shape_; }
  const Standardization& standardization() const { return standardization_; }
  const std::vector<double>& times() const { return times_; }
  const Matrix& eta() const { return eta_; }

  std::vector<TimeDiagnostics>& diagnostics() { return diagnostics_; }
  const std::vector<TimeDiagnostics>& diagnostics() const { return diagnostics_; }
  /// Settings of the fit that made the model (items, draws, seed, ridge, ...), for `ksi info`.
  Params& fit_settings() { return fit_settings_; }
  const Params& fit_settings() const { return fit_settings_; }

  /// The interpolant's feature moments and right-hand sides at the grid times (empty for models of
  /// older versions); InputError unless each matrix is T x P and finite (empty clears them).
  const FeatureTargets& targets() const { return targets_; }
  void set_targets(FeatureTargets targets);
  /// phi of every training item (N x P, in item order; in model units), or empty.
  const Matrix& training_features() const { return training_features_; }
  void set_training_features(Matrix values);
  /// Fields: the training items' mean shell powers in model units (fft::SpectralShells of the
  /// grid), or empty (vectors; files of older versions). The microcanonical generator's
  /// preconditioner.
  const std::vector<double>& training_spectrum() const { return training_spectrum_; }
  void set_training_spectrum(std::vector<double> powers);
  /// The guided passes that changed eta (none: 0 passes).
  const GuideRecord& guide_record() const { return guide_record_; }
  void set_guide_record(GuideRecord record) { guide_record_ = std::move(record); }
  /// Replaces eta (same shape); used by the guided passes.
  void set_eta(Matrix eta);
  /// The base of `hybrid` eta (T x P; the one-shot fit's eta), or empty.
  const Matrix& eta_base() const { return eta_base_; }
  /// Sets the base; InputError unless it is T x P and finite (empty clears it).
  void set_eta_base(Matrix base);

  /// Physical side of the periodic box of the data (1 for vectors); copied to generated fields.
  double box_size() const noexcept { return box_size_; }
  void set_box_size(double box_size) { box_size_ = box_size; }

  /// eta(t) between grid times as eta_interpolation() says; out.size() == P. `hybrid` needs the
  /// base (set_eta_base; InputError otherwise). Where eta jumps (`step`, `hybrid`: at the grid
  /// times) `side` picks the limit: from the left row k - 1 at t_k, from the right row k.
  void eta_at(double t, std::span<double> out, Side side = Side::left) const;
  EtaInterpolation eta_interpolation() const noexcept { return eta_interpolation_; }
  void set_eta_interpolation(EtaInterpolation interpolation) { eta_interpolation_ = interpolation; }
  /// The share f of each interval over which `ramp` eta moves to its own row (used by ramp only).
  double eta_ramp_fraction() const noexcept { return eta_ramp_fraction_; }
  /// Sets f; UsageError unless it is finite and in (0, 1].
  void set_eta_ramp_fraction(double fraction);
  /// b_t(x) = J(x)^T eta(t) + G_t x for every row of X (standardised units); G_t is the shell-gain
  /// filter (none unless set_shell_gain was called).
  /// At a grid time of piecewise eta, `side` picks the limit (eta_at).
  void drift(double t, const Matrix& X, Matrix& B, Side side = Side::left) const;
  /// The part of the drift outside the features: B = G_t X (zero without shell gains).
  void linear_drift(double t, const Matrix& X, Matrix& B, Side side = Side::left) const;

  /// Shell gains (fields only): a T x S matrix g_k(s), the drift's per-shell linear correction
  /// G_t x = F^-1[g(t, shell(k)) F x], g linear in t between grid times. Empty: none.
  const Matrix& shell_gain() const { return shell_gain_; }
  /// Sets the shell gains; InputError unless the model is of fields and gain is T x shell_count.
  void set_shell_gain(Matrix gain);

  /// The output calibration's transform of the sampler's final states (fields only; empty: none):
  /// gains per shell, spread, map (model/output_transform.hpp). Set by `ksi fit --calibrate` and
  /// `ksi calibrate`, which fit it on the sampler's own output.
  const OutputTransform& output() const { return output_; }
  /// Sets the transform; InputError unless it fits the model's items (OutputTransform::validate).
  void set_output(OutputTransform output);
  /// The settings the output transform was fitted for (none without a calibration).
  const std::optional<CalibrationRecord>& calibration() const { return calibration_; }
  void set_calibration(std::optional<CalibrationRecord> record) {
    calibration_ = std::move(record);
  }
  /// The sampler's final states (model units, rows of X) -> data units: output().apply with the
  /// model's standardisation (`spread_normals` as OutputTransform::apply needs them; `beyond` as
  /// its `beyond`).
  void to_data(Matrix& X, const Matrix* spread_normals = nullptr,
               std::vector<double>* beyond = nullptr) const;

  /// A short fingerprint of eta, the time grid, the feature map and the schedule (hex).
  std::string identity() const;

  /// Writes the model into `out` (collective; same model on every rank); `created_by` names the
  /// command in the file's provenance.
  void write(io::OutputFile& out, const std::string& created_by = "ksi fit") const;
  /// Reads model.h5 on every rank of `comm`; InputError naming the file if it is not a ksi model.
  static Model read(const std::string& path, const par::Comm& comm);
  /// CollectiveError (ExitCode::input, raised alike on every rank) "model <model_path> was fitted
  /// on items of shape ... but <items_path> holds ..." unless `items` is the shape it was fitted
  /// on.
  void check_items(const ItemShape& items, const std::string& model_path,
                   const std::string& items_path) const;

 private:
  /// Everything but the file's provenance, into / from `root` (a combination's members are models
  /// in groups of its file).
  void write_into(const io::Group& root) const;
  static std::unique_ptr<Model> read_from(const io::Group& root, const par::Comm& comm);
  /// Shells of the model's grid (Standardization::shell_count of the item shape).
  std::size_t shell_count() const;
  std::unique_ptr<features::FeatureMap> features_;
  std::unique_ptr<Schedule> schedule_;
  ItemShape shape_;
  Standardization standardization_;
  std::vector<double> times_;
  Matrix eta_;
  EtaInterpolation eta_interpolation_ = EtaInterpolation::linear;
  double eta_ramp_fraction_ = kEtaRampFraction;
  Matrix eta_base_;
  Matrix shell_gain_;
  OutputTransform output_;
  std::optional<CalibrationRecord> calibration_;
  std::vector<TimeDiagnostics> diagnostics_;
  FeatureTargets targets_;
  Matrix training_features_;
  std::vector<double> training_spectrum_;
  GuideRecord guide_record_;
  Params fit_settings_;
  double box_size_ = 1.0;
};

/// The 64-bit FNV-1a hash of bytes, as 16 hex digits; used for model and checkpoint fingerprints.
std::string fingerprint(std::span<const std::byte> bytes,
                        std::uint64_t seed = 1469598103934665603ull);

}  // namespace ksi
