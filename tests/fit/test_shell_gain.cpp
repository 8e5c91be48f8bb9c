// Shell gains (FitOptions::shell_correction): on Gaussian random fields with a known isotropic
// spectrum, a feature map that carries no spectral information (the mean only) leaves the whole
// drift to the per-shell linear correction, whose exact value is the Gaussian drift of every
// Fourier mode: g(t, s) = (alpha alpha' + beta beta' lambda_s) / (alpha^2 + beta^2 lambda_s),
// lambda_s the data's power on shell s relative to the white base.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ksi/features/builder.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/interpolant/schedule.hpp"
#include "ksi/model/standardization.hpp"
#include "support/test_support.hpp"

using namespace ksi;

namespace {

constexpr std::size_t kSide = 16;
constexpr std::size_t kItems = 256;

double lambda_of(std::size_t shell) {
  return 0.3 + 4.0 * std::exp(-static_cast<double>(shell) / 3.0);
}

// Items [begin, begin + count) of the data set: white noise coloured by sqrt(lambda_s) per shell.
Matrix gaussian_fields(std::size_t begin, std::size_t count) {
  const std::vector<std::size_t> dims{kSide, kSide};
  const fft::RealTransform transform(dims);
  const auto shells = Standardization::shell_of_modes(dims);
  const double n = static_cast<double>(kSide * kSide);
  Matrix out(count, kSide * kSide);
  std::vector<fft::complex> spectrum(transform.complex_size());
  std::vector<double> field(kSide * kSide);
  for (std::size_t i = 0; i < count; ++i) {
    std::mt19937_64 engine(1000 + begin + i);
    std::normal_distribution<double> normal;
    for (double& v : field) v = normal(engine);
    transform.forward(field.data(), spectrum.data());
    for (std::size_t m = 0; m < spectrum.size(); ++m)
      spectrum[m] *= m == 0 ? 0.0 : std::sqrt(lambda_of(shells[m])) / n;
    transform.backward_destroying(spectrum.data(), field.data());
    std::copy(field.begin(), field.end(), out.row(i).begin());
  }
  return out;
}

Model fit_on(const par::Comm& comm, const fit::FitOptions& options) {
  const ItemShape shape = ItemShape::grid({kSide, kSide});
  // The per-batch sums are what makes the gains rank-independent: deal the same batches.
  const Matrix calibration = gaussian_fields(0, 4);
  auto probe = features::build_feature_map("scattering",
                                           {{"J", "1"}, {"families", "mean"}, {"shells", "false"}},
                                           shape, calibration, comm);
  const auto range = fit::assembly_item_range(kItems, fit::items_per_batch(options, *probe),
                                              comm.rank(), comm.size());
  const Matrix local = gaussian_fields(range.begin, range.size());
  return fit::fit_model(local, range.begin, kItems, std::move(probe), shape, Standardization{},
                        options, comm);
}

fit::FitOptions options_with_gains() {
  fit::FitOptions options;
  options.schedule = "linear";
  options.times = 5;
  options.draws = 2;
  options.batch = 24;  // 12 items per batch
  options.shell_correction = true;
  return options;
}

TEST(ShellGain, EqualsTheGaussianDriftPerShell) {
  const auto& world = test::World::comm();
  const Model model = fit_on(world, options_with_gains());
  const Matrix& gain = model.shell_gain();
  const std::vector<std::size_t> dims{kSide, kSide};
  const auto shells = Standardization::shell_of_modes(dims);
  const std::size_t S = Standardization::shell_count(dims);
  ASSERT_EQ(gain.rows(), 5u);
  ASSERT_EQ(gain.cols(), S);
  // Real degrees of freedom per shell (r2c coefficients with a stored mirror count twice).
  std::vector<double> dof(S, 0.0);
  for (std::size_t m = 0; m < shells.size(); ++m) {
    const std::size_t k_last = m % (kSide / 2 + 1);
    dof[shells[m]] += k_last == 0 || 2 * k_last == kSide ? 1.0 : 2.0;
  }
  const auto schedule = make_schedule("linear");
  std::size_t checked = 0;
  for (std::size_t k = 0; k < gain.rows(); ++k) {
    const double t = model.times()[k];
    const double a = schedule->alpha(t), b = schedule->beta(t);
    const double ad = schedule->alpha_dot(t), bd = schedule->beta_dot(t);
    for (std::size_t s = 1; s < S; ++s) {
      const double lambda = lambda_of(s);
      const double exact = (a * ad + b * bd * lambda) / (a * a + b * b * lambda);
      // Monte Carlo error of a ratio of sums over items x draws x modes: the residual's spread on
      // the shell relative to x's, over sqrt(count).
      const double spread = std::sqrt((ad * ad + bd * bd * lambda) / (a * a + b * b * lambda));
      const double count = static_cast<double>(kItems) * 2.0 * dof[s];
      EXPECT_NEAR(gain(k, s), exact, 5.0 * spread / std::sqrt(count))
          << "t = " << t << ", shell " << s;
      ++checked;
    }
  }
  EXPECT_GT(checked, 40u);
  // Shell 0 (the mean, removed from the data) carries no data power: no gain, although at t = 1
  // (alpha = 0) a regression there would return alpha'/alpha.
  for (std::size_t k = 0; k < gain.rows(); ++k)
    EXPECT_EQ(gain(k, 0), 0.0) << "t = " << model.times()[k];
}

TEST(ShellGain, DriftAppliesTheGainsAndIsRankIndependent) {
  const auto& world = test::World::comm();
  const Model parallel = fit_on(world, options_with_gains());
  const Model serial = fit_on(par::Comm::self(), options_with_gains());
  ASSERT_EQ(parallel.shell_gain().size(), serial.shell_gain().size());
  for (std::size_t i = 0; i < serial.shell_gain().size(); ++i)
    EXPECT_EQ(parallel.shell_gain().values()[i], serial.shell_gain().values()[i]) << i;
  EXPECT_EQ(parallel.identity(), serial.identity());

  // The drift at a grid time is the mean feature's constant plus the gains applied shell by shell.
  const Matrix x = gaussian_fields(9999, 2);
  Matrix with(2, kSide * kSide), without(2, kSide * kSide);
  const double t = parallel.times()[2];
  parallel.drift(t, x, with);
  std::vector<double> eta(parallel.features().size());
  parallel.eta_at(t, eta);
  parallel.features().vjp_batch(x, eta, without);
  Matrix expected = x;
  const auto row = parallel.shell_gain().row(2);
  filter_shells(expected, {kSide, kSide}, std::vector<double>(row.begin(), row.end()));
  for (std::size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(with.values()[i], without.values()[i] + expected.values()[i], 1e-12);
}

TEST(ShellGain, VectorsAreRefused) {
  fit::FitOptions options = options_with_gains();
  auto features = features::build_feature_map("polynomial", {}, ItemShape::vector(2), Matrix(0, 2),
                                              par::Comm::self());
  EXPECT_THROW(fit::fit_model(Matrix(4, 2), 0, 4, std::move(features), ItemShape::vector(2),
                              Standardization{}, options, par::Comm::self()),
               UsageError);
}

}  // namespace
