// Standardization: scalar and spectral (whitening) transforms, their inverses, the recovered
// spectrum, rank independence and the errors.
#include <gtest/gtest.h>

#include <cmath>

#include "ksi/core/error.hpp"
#include "ksi/core/random.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/model/standardization.hpp"
#include "ksi/par/comm.hpp"
#include "support/test_support.hpp"

namespace ksi {
namespace {

// The spectrum the test fields are drawn with: P(s) = 4 / (1 + s)^2 per mode of shell s.
double true_power(std::size_t shell) {
  return 4.0 / ((1.0 + shell) * (1.0 + shell));
}

// Gaussian fields with spectrum true_power and mean 3: white noise coloured in Fourier space.
Matrix coloured_fields(const std::vector<std::size_t>& dims, std::size_t first, std::size_t count) {
  Matrix X = test::isotropic_gaussian_fields(
      dims, 5, first, count, [](std::size_t s) { return std::sqrt(true_power(s)); });
  for (double& v : X.values()) v += 3.0;
  return X;
}

// Shell powers of a set of fields (all held here), in the units of Standardization.
std::vector<double> shell_powers(const Matrix& X, const ItemShape& shape) {
  Matrix copy = X;
  return Standardization::fit(copy, shape, "spectrum", par::Comm::self()).shell_power;
}

TEST(Standardization, ShellsOfModesRoundTheWavenumber) {
  const auto shells = Standardization::shell_of_modes({8, 8});
  // r2c layout 8 x 5: (k0, k1) at index k0 * 5 + k1.
  EXPECT_EQ(shells[0], 0u);
  EXPECT_EQ(shells[1], 1u);          // (0, 1)
  EXPECT_EQ(shells[1 * 5 + 1], 1u);  // (1, 1): |k| = 1.41
  EXPECT_EQ(shells[7 * 5 + 2], 2u);  // (-1, 2): |k| = 2.24
  EXPECT_EQ(shells[4 * 5 + 4], 6u);  // (4, 4): |k| = 5.66
}

TEST(Standardization, SpectrumRecoversTheDrawnSpectrumAndWhitens) {
  const auto& world = test::World::comm();
  const std::vector<std::size_t> dims{16, 16, 16};
  const ItemShape shape = ItemShape::grid(dims);
  const std::size_t items = 24;
  const auto range = par::block_range(items, world.rank(), world.size());
  Matrix local = coloured_fields(dims, range.begin, range.size());
  const Matrix original = local;
  const auto st = Standardization::fit(local, shape, "spectrum", world);
  EXPECT_NEAR(st.mean, 3.0, 0.03);  // sd of the mean: sqrt(P(0) / N / 24) = 0.006
  // Shells 2..8 hold hundreds of modes x 24 fields: the estimate is within a few percent.
  for (std::size_t s = 2; s <= 8; ++s)
    EXPECT_NEAR(st.shell_power[s] / true_power(s), 1.0, 0.08) << "shell " << s;

  // The whitened training set has unit power in every shell (an identity, not a statistical claim).
  Matrix all = coloured_fields(dims, 0, items);
  Standardization::fit(all, shape, "spectrum", par::Comm::self());  // whitens `all` in place
  const auto white = shell_powers(all, shape);
  for (std::size_t s = 1; s < white.size(); ++s) EXPECT_NEAR(white[s], 1.0, 1e-10) << "shell " << s;

  // to_data inverts to_model.
  Matrix back = local;
  st.to_data(back, shape);
  double worst = 0.0;
  for (std::size_t k = 0; k < back.size(); ++k)
    worst = std::max(worst, std::abs(back.values()[k] - original.values()[k]));
  EXPECT_LT(worst, 1e-12);
}

TEST(Standardization, BitwiseIndependentOfTheNumberOfRanks) {
  const auto& world = test::World::comm();
  const std::vector<std::size_t> dims{12, 12};
  const ItemShape shape = ItemShape::grid(dims);
  const std::size_t items = 11;
  const auto range = par::block_range(items, world.rank(), world.size());
  Matrix local = coloured_fields(dims, range.begin, range.size());
  Matrix all = coloured_fields(dims, 0, items);
  const auto a = Standardization::fit(local, shape, "spectrum", world);
  const auto b = Standardization::fit(all, shape, "spectrum", par::Comm::self());
  EXPECT_EQ(a.mean, b.mean);
  ASSERT_EQ(a.shell_power.size(), b.shell_power.size());
  for (std::size_t s = 0; s < a.shell_power.size(); ++s)
    EXPECT_EQ(a.shell_power[s], b.shell_power[s]);
  for (std::size_t i = 0; i < local.rows(); ++i)
    for (std::size_t k = 0; k < local.cols(); ++k) EXPECT_EQ(local(i, k), all(range.begin + i, k));
}

TEST(Standardization, EmptyShellsAreZeroedBothWays) {
  // Fields with power only in shells 0..3: the shells beyond carry nothing and come back as zero.
  const std::vector<std::size_t> dims{16, 16};
  const ItemShape shape = ItemShape::grid(dims);
  Matrix X = coloured_fields(dims, 0, 6);
  {
    const fft::RealTransform transform(dims);
    const auto shells = Standardization::shell_of_modes(dims);
    std::vector<fft::complex> spectrum(transform.complex_size());
    for (std::size_t i = 0; i < X.rows(); ++i) {
      auto row = X.row(i);
      transform.forward(row.data(), spectrum.data());
      for (std::size_t m = 0; m < spectrum.size(); ++m)
        if (shells[m] > 3)
          spectrum[m] = 0.0;
        else
          spectrum[m] /= 256.0;
      transform.backward_destroying(spectrum.data(), row.data());
    }
  }
  Matrix local = X;
  const auto st = Standardization::fit(local, shape, "spectrum", par::Comm::self());
  for (double v : local.values()) EXPECT_TRUE(std::isfinite(v));
  Matrix noise(1, shape.size());
  RandomStream(9, StreamPurpose::test, 0).fill_normal(noise.row(0));
  st.to_data(noise, shape);
  const auto p = shell_powers(noise, shape);
  for (std::size_t s = 4; s < p.size(); ++s) EXPECT_LT(p[s], 1e-20) << "shell " << s;
}

TEST(Standardization, Errors) {
  const auto& world = test::World::comm();
  Matrix vectors(3, 4, 1.0);
  EXPECT_THROW(Standardization::fit(vectors, ItemShape::vector(4), "spectrum", world),
               par::CollectiveError);
  EXPECT_THROW(Standardization::fit(vectors, ItemShape::vector(4), "whiten", world),
               par::CollectiveError);
  Matrix constant(2, 16, 1.0);
  EXPECT_THROW(
      Standardization::fit(constant, ItemShape::grid({4, 4}), "spectrum", par::Comm::self()),
      Error);
}

}  // namespace
}  // namespace ksi
