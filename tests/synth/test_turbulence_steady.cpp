// The forced 64^3 steady state has the velocity-derivative skewness of real turbulence: laboratory
// flows and DNS give S = <(du/dx)^3> / <(du/dx)^2>^(3/2) of about -0.5 over a wide range of
// Reynolds numbers; at the Re_lambda of about 55 reached here it must lie in [-0.6, -0.3].
//
// Spin-up: the run starts at the steady energy (E about 2.5 for epsilon = 1) with a broad spectrum,
// so only the small scales must adjust, which takes a few of their own (short) times; the test
// waits 3 large-eddy turnovers and then averages 10 samples half a turnover apart over 5 turnovers,
// which brings the sampling error of the mean below 0.05 (single samples scatter by about +-0.07).
#include <gtest/gtest.h>

#include <cmath>

#include "ksi/synth/turbulence.hpp"
#include "support/test_support.hpp"

using namespace ksi::synth;

TEST(NavierStokesSteadyState, LongitudinalDerivativeSkewness) {
  NavierStokesOptions options;
  options.grid = 64;
  NavierStokes3D flow(options);
  flow.randomize(1, 0, 3.0, 2.5);
  flow.advance_turnovers(3.0);
  double skewness = 0.0, dissipation = 0.0, kmax_eta = 0.0, reynolds = 0.0;
  const int samples = 10;
  for (int s = 0; s < samples; ++s) {
    flow.advance_turnovers(0.5);
    const auto d = flow.diagnostics();
    const double sample = flow.longitudinal_skewness();
    std::printf("t = %6.3f  E = %.3f  eps = %.3f  k_max eta = %.3f  Re_lambda = %.1f  S = %.3f\n",
                d.time, d.energy, d.dissipation, d.kmax_eta, d.taylor_reynolds, sample);
    skewness += sample / samples;
    dissipation += d.dissipation / samples;
    kmax_eta += d.kmax_eta / samples;
    reynolds += d.taylor_reynolds / samples;
  }
  std::printf(
      "mean S = %.3f, mean dissipation = %.3f (injection 1), k_max eta = %.3f, Re_lambda = %.1f\n",
      skewness, dissipation, kmax_eta, reynolds);
  EXPECT_GE(skewness, -0.6);
  EXPECT_LE(skewness, -0.3);
  // A statistically steady state: dissipation balances the injection, resolution as designed.
  EXPECT_NEAR(dissipation, options.injection_rate, 0.25);
  EXPECT_NEAR(kmax_eta, options.kmax_eta, 0.15);
  EXPECT_LT(flow.relative_divergence(), 1e-13);
}
