#pragma once
/// @file
/// Wavelet scattering spectra of periodic fields in 1D, 2D and 3D (METHOD section 5), with the
/// exact gradient of eta . phi by one backward sweep through the same FFTs and a structured Gram
/// assembly.
///
/// With U_lambda = x * psi_lambda / sqrt(a_lambda) (a_lambda the data mean of <|x * psi_lambda|^2>)
/// and M_lambda = |U_lambda| the features are
///
///     mean    <x>
///     Phi1    <M_lambda>
///     Phi2    <M_lambda^2>, and <|(x - <x>) * phi_J|^2> / a_low below the wavelets' band
///     Phi3    <U_lambda conj(M_lambda' * psi_lambda)> / sqrt(b_{lambda' lambda}),          j' < j
///     Phi4    <(M_1 * psi_3) conj(M_2 * psi_3)> / sqrt(b_{lambda1 lambda3} b_{lambda2 lambda3}),
///                                                                               j1 <= j2 < j3
///
/// with b_{lambda' lambda} the data mean of <|M_lambda' * psi_lambda|^2>, so that Phi2 is near 1
/// and Phi3, Phi4 are correlation coefficients. An optional marginal family (options.marginal = B
/// bins) adds a soft histogram of the one-point values of the coloured field u = C x (C the
/// isotropic filter options.colour, e.g. the inverse of a spectral whitening, so that u is the
/// field in data units):
///
///     marginal_m    <h_m(u / sigma)> / mass_m,   h_m(z) = exp(-(z - c_m)^2 / (2 w^2)),
///
/// The conditional family (options.conditional = B bins) adds, for every scale j, the wavelet
/// energy E_j = sum_l |U_{j,l}|^2 averaged within B soft bins of the field's values,
///
///     cond_{j,m}   < E_j h_m(u / sigma) > / a_{j,m},
///
/// or, with options.conditional_moment = modulus, the summed wavelet modulus M_j = sum_l |U_{j,l}|
/// in place of E_j (equal energies by level leave the shape of the local amplitudes free: an
/// intermittent field has a smaller mean modulus for the same energy, and with it less iso-surface
/// area at that level), or with `both` the energies then the moduli;
/// (bins as the marginal family's, of the map's own input u = x; a_{j,m} the data means): where, at
/// which levels, the field's fluctuations of each scale live. Averages of moduli over space (Phi1,
/// Phi2) and their linear couplings to larger scales (Phi3) do not see a level dependence that is
/// not monotone, such as the shot noise in the voids of a density field. Its rows are full-grid
/// fields.
///
/// The contrast family (options.contrast = B bins) adds, for every scale j, the field's contrast
/// with its surroundings averaged within the same kind of soft bins of its values,
///
///     contrast_{j,m}   < g_j h_m(u / sigma) > / a_{j,m},   g_j = u - G_{R_j} * u,   R_j = 2^j
///     cells,
///
/// (G_R the Gaussian low-pass of radius R; a_{j,m} the data means of <|g_j| h_m>): how far the
/// field at a given level lies below or above its neighbourhood of each size, so whether its low
/// values are flat basin bottoms (contrast near 0 at small scales, large at large ones) or isolated
/// dips (large already at small scales). For a Gaussian field the contrast at a level is fixed by
/// the spectrum; the one-point law and the level-resolved energies (the conditional family) leave
/// it free. Its rows are full-grid fields.
///
/// The shell family (options.shells) adds one feature per spectral shell s = round(|k|) >= 1 where
/// the data have power: the shell's mean power in the units the map sees,
///
///     shell_s      (1 / (a_s m_s N)) sum_{k in s} |xhat(k)|^2,
///
/// m_s the shell's number of real modes and a_s the data mean of that power (so the features are
/// near 1). Its gradient (2 / (a_s m_s)) P_s x is the field's projection on the shell: the drift
/// J^T eta then holds one linear gain per shell, which is the exact drift of Gaussian fields and
/// what the spectrum of generated fields needs.
///
/// with B centres c_m spaced by w across the data's range of z = u / sigma, sigma the data's rms
/// of u and mass_m the data mean of <h_m>. Its gradient C [h_m'(z) / (N sigma mass_m)] is a
/// full-grid field: one FFT pair per item. It gives the drift a handle on the one-point PDF, which
/// wavelet moduli see only through sums over scales. Complex features contribute real and imaginary
/// parts; a Phi4 with j1 = j2 keeps l1 <= l2 (the swap is its conjugate). All spatial means are
/// Fourier sums over filter supports, and every U_lambda is computed on its scale's subsampled
/// grid.
///
/// Every row of J = grad phi is a sum of pieces band-limited to first-layer filter supports. The
/// Gram assembly stores each row once by its Fourier coefficients on the union of the supports it
/// touches (a prefix of one global frequency order, coarse shells first), computes the pieces with
/// one c2r and one c2c FFT per (row, wavelet) instead of a full vjp per row, and adds the blocks of
/// J J^T with GEMM over common columns only. Rows are held in windows within options.workspace_mb;
/// when they do not all fit (large 3D grids), rows after a window are recomputed and streamed past
/// it, so memory stays bounded at the cost of repeated FFTs.
///
/// The map keeps one workspace reused by every call; calls on one map are serialised by a mutex
/// (use one map per thread for concurrency).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/features/wavelets.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::features {

/// Which feature families a map computes.
struct ScatteringFamilies {
  bool mean = true;  ///< <x>
  bool phi1 = true;  ///< <M_lambda> (sparsity)
  bool phi2 = true;  ///< <M_lambda^2> (wavelet power spectrum)
  bool phi3 = true;  ///< phase-modulus cross-correlations (needs J >= 2)
  bool phi4 = true;  ///< scattering cross-spectra (needs J >= 2)

  /// Parses "mean+phi1+phi2+phi3+phi4" (any subset, '+' separated) or "all"; UsageError otherwise.
  static ScatteringFamilies parse(const std::string& text);
  /// The canonical "+"-separated list.
  std::string text() const;
};

/// What the conditional family bins (ScatteringOptions::conditional_moment).
enum class ConditionalMoment { energy, modulus, both };

struct ScatteringOptions {
  int scales = 0;                ///< J (0: WaveletBank::max_scales of the grid)
  int orientations = 0;          ///< L (0: 1 in 1D, 4 in 2D, 3 in 3D)
  double slant = 0.0;            ///< perpendicular width factor of the filters (0: default)
  ScatteringFamilies families;   ///< families to compute
  bool isotropic = false;        ///< average every feature over the rotation group (2D, 3D)
  bool phi4_diagonal = false;    ///< keep only Phi4 terms with l1 = l2
  bool subsample = true;         ///< compute coarse scales on subsampled grids
  double workspace_mb = 1536.0;  ///< accumulate's budget for the rows held at once (MB, per rank)
  int marginal = 0;              ///< bins of the marginal family (0: none)
  bool shells = false;           ///< the shell-power family (one feature per shell)
  int conditional = 0;           ///< bins of the conditional family (0: none)
  /// What the conditional family bins: the energy E_j = sum_l |U_{j,l}|^2, the modulus
  /// M_j = sum_l |U_{j,l}| (an L1 measure: the level-resolved size of the fluctuations, not their
  /// power), or both (twice the features).
  ConditionalMoment conditional_moment = ConditionalMoment::energy;
  int contrast = 0;  ///< bins of the contrast family (0: none)
  /// Every bin family's range spans the data's quantiles [q, 1 - q] of its values instead of
  /// their extremes (0): no bin where the data put (almost) nothing.
  double bin_tail = 0.0;
  std::vector<double> colour;  ///< marginal: gain per shell round(|k|) of C (empty: C = 1)
};

/// The bins' masses (marginal) and data means (conditional, contrast) are raised to this fraction
/// of their family's largest: a bin where the data put (almost) nothing sits at this floor.
inline constexpr double kBinMassFloor = 1e-3;

/// `energy`, `modulus` or `both`; UsageError naming the option otherwise.
ConditionalMoment parse_conditional_moment(const std::string& name);
std::string to_string(ConditionalMoment moment);

/// Fixed normalisation constants computed from training data and stored with the model.
struct ScatteringNormalization {
  /// a_lambda, one per wavelet, then a_low of the low-pass (empty: 1, no normalisation).
  std::vector<double> first_layer;
  /// b_{lambda' lambda} at [lambda' * count + lambda] for j' < j (empty: 1).
  std::vector<double> second_layer;
  /// Marginal family: sigma, z_low, z_high, then mass_m of each bin (empty: sigma 1, range
  /// [-4, 4], masses 1).
  std::vector<double> marginal;
  /// Shell family: a_s for every shell s of the grid (0: no feature for that shell; empty: a_s = 1
  /// for every shell s >= 1).
  std::vector<double> shells;
  /// Conditional family: sigma, z_low, z_high, then a_jm (j * bins + m) (empty: 1, range [-4, 4]).
  std::vector<double> conditional;
  /// Contrast family: sigma, z_low, z_high, then a_jm (j * bins + m), the data means of
  /// <|g_j| h_m> (empty: 1, range [-4, 4]).
  std::vector<double> contrast;
};

class ScatteringSpectra final : public FeatureMap {
 public:
  /// A map for fields of `shape` (a 1D, 2D or 3D grid). UsageError for vectors, grids too small for
  /// J, or unsupported L; InputError when `normalization` does not fit the bank.
  ScatteringSpectra(const ItemShape& shape, const ScatteringOptions& options,
                    ScatteringNormalization normalization = {});
  ~ScatteringSpectra() override;
  ScatteringSpectra(const ScatteringSpectra&) = delete;
  ScatteringSpectra& operator=(const ScatteringSpectra&) = delete;

  std::string kind() const override { return "scattering"; }
  std::size_t size() const override;
  const ItemShape& input_shape() const override { return shape_; }
  void evaluate(std::span<const double> x, std::span<double> phi) const override;
  void vjp(std::span<const double> x, std::span<const double> eta,
           std::span<double> grad) const override;
  /// One forward pass for both (the vjp's forward computes everything evaluate needs).
  void evaluate_and_vjp(std::span<const double> x, std::span<double> phi, const EtaOfPhi& eta_of,
                        std::span<double> grad) const override;
  void accumulate(const Matrix& X, const Matrix& V, Matrix& K_raw,
                  std::span<double> h) const override;
  /// The dense Jacobian from the structured rows: one c2r per row instead of one vjp.
  void jacobian(std::span<const double> x, Matrix& J) const override;
  std::size_t preferred_batch() const override;
  FeatureSpec spec() const override;
  std::vector<std::string> feature_names() const override;
  std::vector<std::size_t> bin_features() const override;

  const WaveletBank& bank() const;
  const ScatteringOptions& options() const { return options_; }
  const ScatteringNormalization& normalization() const { return normalization_; }

  /// Unnormalised layer powers of one field: <|x * psi_lambda|^2> per wavelet and
  /// <|(x - <x>) * phi_J|^2> last (bank().count() + 1 values), and <|M_lambda' * psi_lambda|^2>
  /// with M = |x * psi_lambda'| / sqrt(a_lambda') (this map's a) at [lambda' * count + lambda] for
  /// j' < j, else 0.
  void layer_powers(std::span<const double> x, std::span<double> first,
                    std::span<double> second) const;

  /// Normalisation constants from data items (rows of `local_items`, this rank's share), computed
  /// with this map's filters (the map must be unnormalised): the means over all items of all ranks,
  /// summed in item order so the result is the same for any number of ranks; averaged over rotation
  /// orbits when options().isotropic. Constants below 1e-12 of the largest are raised to that
  /// level. Collective over `comm`.
  ScatteringNormalization calibrate(const Matrix& local_items, const par::Comm& comm) const;

  /// Rebuilds from a stored spec; InputError when it does not fit `shape`.
  static std::unique_ptr<ScatteringSpectra> from_spec(const FeatureSpec& spec,
                                                      const ItemShape& shape);

 private:
  std::vector<double> calibrate_marginal(const Matrix& local_items, const par::Comm& comm) const;
  std::vector<double> calibrate_shells(const Matrix& local_items, const par::Comm& comm) const;
  std::vector<double> calibrate_conditional(const Matrix& local_items, const par::Comm& comm) const;
  std::vector<double> calibrate_contrast(const Matrix& local_items, const par::Comm& comm) const;

  struct Impl;
  ItemShape shape_;
  ScatteringOptions options_;
  ScatteringNormalization normalization_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ksi::features
