#pragma once
/// @file
/// Set summaries of per-item statistics and the distances between sets behind the Q ratios of
/// METHOD section 8.
///
/// Every statistic S maps one item (a field, or a vector) to K numbers s_1 .. s_K (the shells of
/// log P(k), the bins of a PDF, one skewness, ...). A set A of n_A items is summarised by the mean
/// m_A,k and the standard deviation sd_A,k of s_k over its items. The distance of two sets is the
/// RMS over components of the Welch z-score of the difference of their means,
///
///     dist(A, B) = sqrt( (1 / K') sum_k (m_A,k - m_B,k)^2 / (sd_A,k^2 / n_A + sd_B,k^2 / n_B) ),
///
/// over the K' components with a non-zero standard error (components equal and constant in both
/// sets carry no information and are skipped; a difference with zero standard error makes the
/// distance infinite). Two independent sets of the same distribution are at distance about 1
/// whatever their sizes (each z^2 has expectation about 1), so the figure of merit
///
///     Q = dist(gen, test) / dist(train, test)
///
/// is about 1 when generated items are as close to new data as the training data are, and grows
/// with the number of standard errors by which the generated mean misses. The distance compares
/// set means only: a generated set whose items spread much more than the data's has an uncertain
/// mean and so looks closer than it is. The tables and plots carry every set's spread for that.

#include <span>
#include <vector>

#include "ksi/core/compensated.hpp"
#include "ksi/core/matrix.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::stats {

/// Adds x^2 to `squares` exactly: the rounded product and its rounding error (fma), so that sums of
/// squares in double-double keep the digits a variance about a large mean needs.
void add_square(DoubleDouble& squares, double x) noexcept;

/// Mean and sum of squared deviations sum (x - mean)^2 of `count` values from their double-double
/// sum and sum of squares (add_square); the deviations are taken in double-double, so a mean far
/// from zero costs accuracy only when the spread is below ~1e-16 of it. The same to the last bit
/// for any order of the values (up to ties of probability ~1e-16) since the sums are.
struct CentredMoments {
  double mean = 0.0;
  double squared_deviations = 0.0;
};
CentredMoments centred_moments(const DoubleDouble& sum, const DoubleDouble& squares, double count);

/// Sums of K-component values and of their squares on one rank, about a shift per component (the
/// first values added), in exact double-double terms: the deviations x - shift are split exactly
/// into two doubles before they are summed and squared, so that values equal up to round-off keep
/// their spread. Combined over ranks by summarize.
class RunningMoments {
 public:
  explicit RunningMoments(std::size_t components = 0);

  void add(std::span<const double> values);
  std::size_t components() const noexcept { return sums_.size(); }
  std::size_t count() const noexcept { return count_; }
  /// The first values added (zeros before any).
  const std::vector<double>& shift() const noexcept { return shift_; }
  /// sum (x - shift) and sum (x - shift)^2.
  const std::vector<DoubleDouble>& sums() const noexcept { return sums_; }
  const std::vector<DoubleDouble>& squares() const noexcept { return squares_; }

 private:
  std::size_t count_ = 0;
  std::vector<double> shift_;
  std::vector<DoubleDouble> sums_;
  std::vector<DoubleDouble> squares_;
};

/// A statistic over the items of one set.
struct SetSummary {
  std::size_t count = 0;
  std::vector<double> mean;    ///< m_k
  std::vector<double> stddev;  ///< sd_k, with the 1 / (n - 1) normalisation (NaN for n < 2)
};

/// Combines every rank's RunningMoments: their sums, moved in double-double to the shift of the
/// lowest rank holding values, are added in rank order, then centred_moments. When the ranks hold
/// consecutive blocks of the items in order (par::block_range), that shift is the first item's
/// value for every partition, and the summary is the same to the last bit on any number of ranks
/// (up to ties of probability ~1e-16). Every rank receives every rank's sums (40 bytes per
/// component and rank). Collective; every rank must hold the same number of components.
SetSummary summarize(const RunningMoments& local, const par::Comm& comm);

/// dist(A, B) above.
double welch_distance(const SetSummary& a, const SetSummary& b);

/// How far the item-to-item spread of A is from B's: RMS over components of ln(sd_A,k / sd_B,k) in
/// standard errors of a log standard deviation, sqrt(1/(2(n_A - 1)) + 1/(2(n_B - 1))) (Gaussian
/// items; about 1 for two sets of one law). Components where either set is constant are skipped
/// (PDF bins one set never reaches have no log ratio). dist() alone cannot see a set much wider
/// than the test set (its own standard error grows with it): a model with a few wild items reads as
/// close.
double spread_distance(const SetSummary& a, const SetSummary& b);

/// dist(gen, test) / dist(train, test); NaN when the denominator is zero or either is NaN.
double quality_ratio(double gen_test, double train_test);

/// Mean Euclidean distance over all pairs (x in X, y in Y), X and Y held by every rank; the rows of
/// X are shared out between ranks and their sums added in double-double (the same bits on any
/// number of ranks). Collective.
double mean_pair_distance(const Matrix& X, const Matrix& Y, const par::Comm& comm);

/// Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| with every pair mean taken over all pairs,
/// i = j included (the V-statistic: non-negative, and about (E|X - X'|)(1/n_X + 1/n_Y) for two
/// samples of one distribution, so the energy-distance Q is about 1 for equal-size sets).
/// Collective.
double energy_distance(const Matrix& X, const Matrix& Y, const par::Comm& comm);

}  // namespace ksi::stats
