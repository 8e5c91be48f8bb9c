// A 2D Gaussian mixture learnt with random Fourier features: generated samples are about as close
// to fresh data (energy distance) as fresh data are to each other.
#include <gtest/gtest.h>

#include <cstdio>

#include "ksi/core/random.hpp"
#include "ksi/features/random_fourier.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/sample/sample.hpp"
#include "ksi/synth/vectors.hpp"
#include "support/test_support.hpp"

using namespace ksi;

TEST(MixtureWithFourierFeatures, EnergyDistanceWithinTwiceTheDataToDataValue) {
  const auto& comm = test::World::comm();
  const auto mixture = synth::make_mixture(2, 8, 4.0, 0.5, 7);
  const std::size_t items = 4000;
  const auto range = par::block_range(items, comm.rank(), comm.size());
  Matrix local = synth::draw_mixture(mixture, 1, range.begin, range.size());
  const Standardization st = Standardization::fit(local, ItemShape::vector(2), "scalar", comm);
  fit::FitOptions options;
  options.times = 41;
  options.draws = 4;
  const Model model = fit::fit_model(
      local, range.begin, items,
      std::make_unique<features::RandomFourierFeatures>(ItemShape::vector(2), 512, 0.5, 1),
      ItemShape::vector(2), st, options, comm);
  sample::SampleOptions sampling;
  sampling.steps = 50;
  const std::size_t n = 1500;
  const Matrix generated = sample::generate(model, sampling, 0, n);
  // Averaged over three fresh test sets, so the comparison is not at the mercy of one draw.
  double generated_to_test = 0, data_to_test = 0;
  for (std::uint64_t k = 0; k < 3; ++k) {
    const Matrix test_set = synth::draw_mixture(mixture, 100 + k, 0, n);
    const Matrix fresh = synth::draw_mixture(mixture, 200 + k, 0, n);
    generated_to_test += test::energy_distance(generated, test_set);
    data_to_test += test::energy_distance(fresh, test_set);
  }
  std::printf("energy distance: generated-test %.5f, data-test %.5f, ratio %.3f\n",
              generated_to_test / 3, data_to_test / 3, generated_to_test / data_to_test);
  EXPECT_LT(generated_to_test, 2.0 * data_to_test);
  // And the model is not trivially right: the initial Gaussian N(0, I) (in standardised units) is
  // far.
  Matrix gaussian(n, 2);
  RandomStream(5, StreamPurpose::test, 0).fill_normal(gaussian.values());
  for (double& v : gaussian.values()) v = st.mean + st.scale * v;
  const Matrix test_set = synth::draw_mixture(mixture, 100, 0, n);
  EXPECT_GT(test::energy_distance(gaussian, test_set), 5.0 * data_to_test / 3.0);
}
