#pragma once
/// @file
/// The change of variables between data units and the units a model works in.
///   none      x' = x
///   scalar    x' = (x - mean) / scale                  one mean and scale for all values
///   spectrum  x' = F^-1[ F(x - mean) / sqrt(P(|k|)) ]  fields only: whitened by the data's
///   isotropic
///             power spectrum, P(s) = mean over items and the modes k of shell s = round(|k|) (grid
///             units) of |F(x - mean)(k)|^2 / N. The whitened data have a flat unit spectrum, so
///             with the trig schedule (alpha^2 + beta^2 = 1) the Gaussian part of the interpolant's
///             drift vanishes and the spectrum of generated fields is the data's by construction;
///             the feature map models only what is not Gaussian. (Equivalently: a Gaussian base
///             with the data's spectrum, METHOD section 6.) Shells without power (P below 1e-13 of
///             the largest, e.g. beyond a dealiasing cut-off) are zeroed both ways.
///   copula    x' = whitened[ g(x) - mean ],  g(x) = Phi^-1(F(x)) with F the data's one-point CDF,
///   and
///             the whitening by the spectrum P_G of the Gaussian field whose image under g^-1 has
///             the data's spectrum (model/copula.hpp). The model's starting point is then a
///             Gaussian copula with the data's one-point PDF and (up to what a copula can reach)
///             its spectrum. `mean` is the mean of g(x); `shell_power` holds P_G.
/// Every rank computes the same numbers (double-double sums), so models do not depend on rank
/// counts.

#include <span>
#include <string>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/core/shape.hpp"
#include "ksi/features/data_units.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/model/copula.hpp"
#include "ksi/par/comm.hpp"

namespace ksi {

struct Standardization {
  std::string mode = "none";  ///< "none", "scalar" or "spectrum"
  double mean = 0.0;
  double scale = 1.0;
  std::vector<double> shell_power;  ///< spectrum: P(s), s = 0, 1, ... (grid units); copula: P_G
  copula::MarginalTable marginal;   ///< copula: the one-point map g

  /// Shells whose power is below this fraction of the largest shell's hold no data (the mean after
  /// standardisation, beyond a dealiasing cut-off): not whitened, no drift gain, no calibration.
  static constexpr double kEmptyShell = fft::SpectralShells::kEmpty;

  static std::vector<std::string> modes() { return {"none", "scalar", "spectrum", "copula"}; }
  /// Modes that whiten fields by a per-shell power (`shell_power`): spectrum and copula.
  static bool spectral(const std::string& mode) { return mode == "spectrum" || mode == "copula"; }

  /// Estimates the transform from the rank-local rows of `local` (collective over `comm`) and
  /// applies it to them. Errors (unknown mode, spectrum of vectors, constant data) are agreed on
  /// every rank.
  static Standardization fit(Matrix& local, const ItemShape& shape, const std::string& mode,
                             const par::Comm& comm);

  /// Data units -> model units, every row of `items` in place.
  void to_model(Matrix& items, const ItemShape& shape) const;
  /// Model units -> data units, every row of `items` in place. `beyond`, if given and the mode has
  /// a table (has_table), receives per row the fraction of its values whose Gaussian level (the
  /// coloured state plus the mean: what the table maps) lies at or beyond the table's ends, where
  /// no training value is and the map is clamped (a sample that reached them has run away);
  /// otherwise it is left empty.
  void to_data(Matrix& items, const ItemShape& shape, std::vector<double>* beyond = nullptr) const;
  /// The copula mode: data units are reached through a table of the training values.
  bool has_table() const { return mode == "copula"; }

  /// spectrum: the per-shell gains sqrt(P(s)) of model units -> data units (0 on shells without
  /// power); empty for the other modes.
  std::vector<double> colouring_gains() const;
  /// The map back to data units for feature maps (features/data_units.hpp): offset, the colouring
  /// gains (spectrum, copula) or the scale (scalar), and for the copula a smooth monotone curve
  /// through the quantiles of g^-1 at `knots` Gaussian levels (the table itself has a derivative
  /// that jumps from bin to bin).
  features::FieldUnits data_units(std::size_t knots = 129) const;

  /// Shell index round(|k|) of each r2c coefficient of a grid (last axis n/2 + 1).
  static std::vector<std::size_t> shell_of_modes(const std::vector<std::size_t>& dims);
  /// Weight of each r2c coefficient of a grid in sums over the full spectrum: 2 for 0 < k_last <
  /// n/2 (the coefficient stands for k and -k), else 1.
  static std::vector<double> mode_weights(const std::vector<std::size_t>& dims);
  /// Mode-weighted number of coefficients per shell (the real degrees of freedom of a real field's
  /// shell), shell_count entries.
  static std::vector<double> modes_per_shell(const std::vector<std::size_t>& dims);
  /// Number of shells of a grid: the largest shell_of_modes + 1.
  static std::size_t shell_count(const std::vector<std::size_t>& dims);
  /// How shell_powers averages over items: the arithmetic mean of the items' shell powers, or their
  /// geometric mean exp(mean log P_i(s)), the average in which METHOD section 8 judges spectra (it
  /// is below the arithmetic mean by about half the items' variance of log P_i(s)). The geometric
  /// mean is taken on shells of at least kGeometricModes real modes; on smaller shells (the first
  /// and the grid's corners) the log of an item's power is dominated by its chi-square scatter (for
  /// one mode var log P_i = pi^2 / 2, with values near 0 that no gain can steer), and the
  /// arithmetic mean is used.
  enum class ItemAverage { arithmetic, geometric };
  static constexpr double kGeometricModes = 16;
  /// Shell powers |FFT(x - mean)|^2 / N per shell, averaged over all ranks' rows (collective;
  /// double-double sums, so the same for any number of ranks). Geometric: an item's power on a
  /// shell is floored at the smallest normal double before its log is taken.
  static std::vector<double> shell_powers(const Matrix& local, const std::vector<std::size_t>& grid,
                                          double mean, const par::Comm& comm,
                                          ItemAverage average = ItemAverage::arithmetic);
  /// Each row's own shell powers |FFT(x - mean)|^2 / N averaged over the shell's modes
  /// (rows x shells; rank-local).
  static Matrix item_shell_powers(const Matrix& local, const std::vector<std::size_t>& grid,
                                  double mean);

 private:
  void to_model_whiten(Matrix& items, const ItemShape& shape) const;
};

/// Multiplies the Fourier coefficients of every row of `rows` (fields on the grid `dims`) by
/// gain[shell_of_modes], in place: a linear, isotropic filter with one gain per shell.
void filter_shells(Matrix& rows, const std::vector<std::size_t>& dims,
                   std::span<const double> gain);
/// The same with one row of gains per row of `rows` (gains: rows.rows() x shells).
void filter_shells(Matrix& rows, const std::vector<std::size_t>& dims, const Matrix& gains);
/// Per-field gains c(s) exp(sum_k xi_ik a_k(s)) (Model::output_spread): `gain` c (empty: 1),
/// `spread` a (K x S), `normals` xi (fields x K); fields x S.
Matrix spread_gains(std::span<const double> gain, const Matrix& spread, const Matrix& normals);

}  // namespace ksi
