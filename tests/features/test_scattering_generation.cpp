// End to end with scattering features: fit on log-normal fields, sample 16, and judge the samples
// against held-out fields and a Gaussian field with the training data's spectrum (distances in
// generation_check.hpp). Pass criteria:
//   W1(gen, test) < W1(gauss, test) / 2   the samples carry the skewed one-point PDF that a
//   Gaussian
//                                         field with the right spectrum cannot;
//   S(gen, test) < 0.6                    the spectrum is learned over all complete shells to a
//                                         factor e^0.6 = 1.8 RMS. The Gaussian baseline has the
//                                         training spectrum by construction (S about 0.08, the
//                                         noise of 16 fields); the features shape the drift's gain
//                                         in |k| with J + 1 smooth bumps, which bounds how well any
//                                         spectrum is reproduced (S about 0.44 even for Gaussian
//                                         data). A drift blind to a band fails: without the
//                                         low-pass power, k = 1 came out at 2% of its power, S =
//                                         0.84;
//   the training fields pass both by a wide margin (sanity of the criteria).
// The larger cases (128 x 128, 64^3) run in bench_scattering_generation.
#include <gtest/gtest.h>

#include "features/generation_check.hpp"
#include "support/test_support.hpp"

namespace ksi {
namespace {

void expect_generation_quality(const test::GenerationCase& c) {
  const auto& world = test::World::comm();
  const auto r = test::run_generation(c, world);
  if (world.is_root())
    std::printf(
        "  %zuD, P = %zu, R^2 in [%.3f, %.3f], fit %.1f s, sample %.1f s\n"
        "  PDF W1:  gen %.4f  gauss %.4f  train %.4f\n"
        "  P(k) S:  gen %.4f  gauss %.4f  train %.4f\n",
        c.dims.size(), r.features, r.captured_min, r.captured_max, r.fit_seconds, r.sample_seconds,
        r.pdf_gen, r.pdf_gauss, r.pdf_train, r.spectrum_gen, r.spectrum_gauss, r.spectrum_train);
  EXPECT_LT(r.pdf_gen, 0.5 * r.pdf_gauss);
  EXPECT_LT(r.spectrum_gen, 0.6);
  EXPECT_LT(r.pdf_train, 0.5 * r.pdf_gauss);
  EXPECT_LT(r.spectrum_train, 0.2);
}

TEST(ScatteringGeneration, LogNormalFields2D) {
  test::GenerationCase c;
  c.dims = {64, 64};
  c.feature_params = "J=4,L=4,isotropic=true,phi4_diagonal=true";
  c.train = 64;
  expect_generation_quality(c);
}

TEST(ScatteringGeneration, LogNormalFields3D) {
  test::GenerationCase c;
  c.dims = {32, 32, 32};
  c.feature_params = "J=3,L=3,isotropic=true";
  c.train = 32;
  c.beta = 2.5;
  c.times = 7;
  c.steps = 24;
  expect_generation_quality(c);
}

}  // namespace
}  // namespace ksi
