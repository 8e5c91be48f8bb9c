#pragma once
// The closed-form drift of a Gaussian target (METHOD section 4) and the polynomial-feature eta that
// represents it exactly: an independent reference for fit and sample.
#include <memory>

#include "ksi/core/matrix.hpp"
#include "ksi/features/feature_map.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/interpolant/schedule.hpp"
#include "ksi/model/model.hpp"
#include "ksi/synth/vectors.hpp"

namespace ksi::test {

/// b_t(x) = beta' m + (alpha' alpha I + beta' beta S)(alpha^2 I + beta^2 S)^{-1} (x - beta m), as
/// b = c + A x (A symmetric).
void gaussian_drift(const synth::Gaussian& g, const Schedule& s, double t, Matrix& A,
                    std::vector<double>& c);

/// b_t(x) for every row of X.
Matrix gaussian_drift_at(const synth::Gaussian& g, const Schedule& s, double t, const Matrix& X);

/// The model's drift b_t at every row of X.
Matrix drift_at(const Model& model, double t, const Matrix& X);

/// n points distributed like I_t = alpha z + beta x1 (x1 ~ g from stream `data_seed`, z from the
/// test stream `noise_id`), where the drift matters.
Matrix interpolant_points(const synth::Gaussian& g, const Schedule& s, double t, std::size_t n,
                          std::uint64_t data_seed = 999, std::uint64_t noise_id = 77);

/// A polynomial-feature model whose eta(t_k) is the exact Gaussian drift on `times` uniform times.
Model exact_gaussian_model(const synth::Gaussian& g, const std::string& schedule,
                           std::size_t times);

/// A fit on `items` draws of g (stream `data_seed`) with `features`, each rank holding the items it
/// assembles (fit::assembly_item_range), so that every rank has batches when there are enough. With
/// `expect_work`, a rank holding none fails the test (rank-invariance tests need work everywhere).
Model fit_spread(const synth::Gaussian& g, std::size_t items, std::uint64_t data_seed,
                 std::unique_ptr<features::FeatureMap> features, const fit::FitOptions& options,
                 const par::Comm& comm, bool expect_work = true);

}  // namespace ksi::test
