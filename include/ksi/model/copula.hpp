#pragma once
/// @file
/// Gaussian-copula standardisation of fields (Standardization mode "copula").
///
/// A field x is mapped point by point to G = g(x) = Phi^-1(F(x)), F the data's one-point CDF, so
/// that G is standard normal at every point; G is then whitened by the power spectrum P_G of the
/// Gaussian field whose image g^-1(G) has the data's power spectrum. That spectrum follows from
/// the correlation functions: with f = g^-1 expanded in normalised Hermite polynomials,
/// f(Z) = mean + sum_n b_n h_n(Z), two points of a unit-variance Gaussian field with correlation
/// rho have E[f f] - mean^2 = sum_n b_n^2 rho^n =: R(rho), so rho(r) = R^-1(xi(r)) with xi the
/// data's correlation function, and P_G = FFT(rho). Gaussian fields with P_G mapped back by g^-1
/// then have the data's one-point PDF exactly and its power spectrum up to the truncation of the
/// series and the clipping of negative P_G: the model's drift starts from this copula instead of a
/// Gaussian field, and models only what the copula lacks.

#include <cstddef>
#include <vector>

#include "ksi/core/matrix.hpp"
#include "ksi/par/comm.hpp"

namespace ksi::copula {

/// Standard normal CDF and its inverse.
double normal_cdf(double z);
double normal_quantile(double p);

/// The monotone one-point map g as a table: x strictly increasing, z non-decreasing; linear
/// between entries, clamped to the table's ends outside it.
struct MarginalTable {
  std::vector<double> x, z;

  double forward(double value) const;  ///< g(x)
  double inverse(double value) const;  ///< g^-1(z), within [x.front(), x.back()]
  /// InputError unless the table is well formed (sizes, order, finite values).
  void validate() const;
};

/// g from every value of every rank's rows: a histogram of `bins` equal bins between the global
/// minimum and maximum (integer counts, so the same table for any number of ranks), CDF levels
/// clamped to [1/(2M), 1 - 1/(2M)] for M values in all. Collective.
MarginalTable fit_marginal(const Matrix& local, const par::Comm& comm, std::size_t bins = 65536);

/// Shell powers (Standardization's convention: mean |FFT|^2 / N over the modes of shell
/// round(|k|)) of the unit-variance Gaussian field whose image under g^-1 has shell powers
/// `data_power` around the data mean `data_mean`, on a grid of `dims`. Negative values (the
/// data's spectrum need not be reachable by a copula) are clipped to 1e-12 of the largest.
std::vector<double> gaussian_shell_power(const MarginalTable& table, double data_mean,
                                         const std::vector<double>& data_power,
                                         const std::vector<std::size_t>& dims);

}  // namespace ksi::copula
