// Morlet filter banks: admissibility, Littlewood-Paley frame bounds, truncation, subsampled grids,
// exact permutation of the filters by the grid's rotations, and the grid-size check.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <numbers>

#include "ksi/core/error.hpp"
#include "ksi/features/wavelets.hpp"

namespace ksi::features {
namespace {

constexpr double kPi = std::numbers::pi;

struct Grid {
  std::vector<std::size_t> dims;
  int J, L;
};

// Signed frequency vector of a flat index of the full complex frequency grid.
std::array<int, 3> frequency_of(std::size_t flat, const std::vector<std::size_t>& dims) {
  std::array<int, 3> m{0, 0, 0};
  for (std::size_t a = dims.size(); a-- > 0;) {
    const std::size_t i = flat % dims[a];
    flat /= dims[a];
    m[a] = i <= dims[a] / 2 ? static_cast<int>(i) : static_cast<int>(i) - static_cast<int>(dims[a]);
  }
  return m;
}

std::size_t flat_of(const std::array<int, 3>& m, const std::vector<std::size_t>& dims) {
  std::size_t flat = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) {
    const long n = static_cast<long>(dims[a]);
    flat = flat * dims[a] + static_cast<std::size_t>(((m[a] % n) + n) % n);
  }
  return flat;
}

double radius(const std::array<int, 3>& m, const std::vector<std::size_t>& dims) {
  double r2 = 0.0;
  for (std::size_t a = 0; a < dims.size(); ++a) r2 += std::pow(2.0 * kPi * m[a] / dims[a], 2);
  return std::sqrt(r2);
}

class Banks : public testing::TestWithParam<Grid> {};

TEST_P(Banks, WaveletsHaveZeroMean) {
  const auto g = GetParam();
  const WaveletBank bank(g.dims, g.J, g.L, 0.0, true);
  for (int j = 0; j < g.J; ++j)
    for (int l = 0; l < g.L; ++l) {
      // kappa makes the untruncated filter vanish at k = 0: sum_y psi(y) = psihat(0) = 0.
      EXPECT_LT(std::abs(bank.morlet(j, l, {0.0, 0.0, 0.0})), 1e-15);
      EXPECT_EQ(bank.filter(j, l)[0], 0.0);
    }
}

TEST_P(Banks, LittlewoodPaleySumIsBoundedOverTheBand) {
  // For real fields the bank and its mirror images keep, at every frequency of the band it covers
  // (xi_{J-1} <= |k| <= xi_0), between 0.4 and 1.2 of the energy; with the low-pass the same holds
  // down to k = 0. The numbers are those of METHOD's sigma, xi and the default slants.
  const auto g = GetParam();
  const WaveletBank bank(g.dims, g.J, g.L, 0.0, true);
  const auto lp = bank.littlewood_paley();
  const auto low = bank.lowpass();
  double band_min = 1e300, band_max = 0.0, all_min = 1e300, all_max = 0.0;
  for (std::size_t q = 0; q < lp.size(); ++q) {
    const double r = radius(frequency_of(q, g.dims), g.dims);
    if (r > WaveletBank::xi(0)) continue;
    all_min = std::min(all_min, lp[q]);
    all_max = std::max(all_max, lp[q]);
    if (r >= WaveletBank::xi(g.J - 1)) {
      const double wavelets_only = lp[q] - low[q] * low[q];
      band_min = std::min(band_min, wavelets_only);
      band_max = std::max(band_max, wavelets_only);
    }
  }
  EXPECT_GT(band_min, 0.4);
  EXPECT_LT(band_max, 1.2);
  EXPECT_GT(all_min, 0.4);
  EXPECT_LT(all_max, 1.2);
  EXPECT_NEAR(lp[0], 1.0, 1e-15);  // only the low-pass at k = 0
}

TEST_P(Banks, TruncationDiscardsNegligibleEnergy) {
  const auto g = GetParam();
  const WaveletBank bank(g.dims, g.J, g.L, 0.0, true);
  std::size_t n = 1;
  for (auto d : g.dims) n *= d;
  for (int j = 0; j < g.J; ++j)
    for (int l = 0; l < g.L; ++l) {
      const auto f = bank.filter(j, l);
      double kept = 0.0, dropped = 0.0;
      for (std::size_t q = 0; q < n; ++q) {
        const auto m = frequency_of(q, g.dims);
        std::array<double, 3> k{0, 0, 0};
        for (std::size_t a = 0; a < g.dims.size(); ++a) k[a] = 2.0 * kPi * m[a] / g.dims[a];
        if (f[q] != 0.0)
          kept += f[q] * f[q];
        else
          dropped += std::pow(bank.morlet(j, l, k), 2);
      }
      EXPECT_LT(dropped, 1e-14 * kept) << "j = " << j << ", l = " << l;
    }
}

TEST_P(Banks, SupportsLieInsideTheirGrids) {
  const auto g = GetParam();
  const WaveletBank bank(g.dims, g.J, g.L, 0.0, true);
  EXPECT_EQ(bank.subsampling(0), 1u);
  for (int j = 0; j < g.J; ++j) {
    const std::size_t s = bank.subsampling(j);
    if (j > 0) EXPECT_GE(s, bank.subsampling(j - 1));
    if (s == 1) continue;
    for (int l = 0; l < g.L; ++l)
      for (const std::uint32_t index : bank.wavelet(j, l).support) {
        const auto m = bank.frequency(index);
        for (std::size_t a = 0; a < g.dims.size(); ++a)
          EXPECT_LT(2 * s * static_cast<std::size_t>(std::abs(m[a])), g.dims[a]);
      }
  }
  const WaveletBank full(g.dims, g.J, g.L, 0.0, false);
  for (int j = 0; j < g.J; ++j) EXPECT_EQ(full.subsampling(j), 1u);
}

INSTANTIATE_TEST_SUITE_P(Grids, Banks,
                         testing::Values(Grid{{256}, 6, 1}, Grid{{128, 128}, 5, 4},
                                         Grid{{128, 128}, 5, 8}, Grid{{32, 32, 32}, 3, 3},
                                         Grid{{32, 32, 32}, 3, 7}, Grid{{32, 32, 32}, 3, 13}));

TEST(WaveletBank, CoarseScalesAreSubsampled) {
  // With the truncation at 1e-8, scale j >= 3 fits a grid subsampled by 2^(j-2).
  const WaveletBank bank({256, 256}, 6, 4, 0.0, true);
  const std::size_t expected[6] = {1, 1, 1, 2, 4, 8};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(bank.subsampling(j), expected[j]) << "j = " << j;
}

// Filters of rotated directions are the rotated filters, exactly: psihat_{R e}(R k) = psihat_e(k),
// and a flipped direction gives psihat_{-e}(k) = psihat_e(-k).
void expect_permuted(const WaveletBank& bank, const std::vector<std::array<int, 3>>& rows, int J) {
  const auto& dims = bank.dims();
  const int L = bank.orientations();
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  for (int l = 0; l < L; ++l) {
    std::array<double, 3> rotated{0, 0, 0};
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 3; ++k) rotated[i] += rows[i][k] * bank.direction(l)[k];
    int target = -1;
    double sign = 0.0;
    for (int t = 0; t < L; ++t) {
      double dot = 0.0;
      for (int i = 0; i < 3; ++i) dot += rotated[i] * bank.direction(t)[i];
      if (std::abs(std::abs(dot) - 1.0) < 1e-12) {
        target = t;
        sign = dot > 0 ? 1.0 : -1.0;
      }
    }
    ASSERT_GE(target, 0) << "a rotated direction is not in the set";
    for (int j = 0; j < J; ++j) {
      const auto f = bank.filter(j, l);
      const auto g = bank.filter(j, target);
      double worst = 0.0;
      for (std::size_t q = 0; q < n; ++q) {
        const auto m = frequency_of(q, dims);
        std::array<int, 3> rm{0, 0, 0};
        for (int i = 0; i < 3; ++i)
          for (int k = 0; k < 3; ++k) rm[i] += static_cast<int>(sign) * rows[i][k] * m[k];
        worst = std::max(worst, std::abs(g[flat_of(rm, dims)] - f[q]));
      }
      EXPECT_LT(worst, 1e-14) << "j = " << j << ", l = " << l;
    }
  }
}

TEST(WaveletBank, QuarterTurnsPermuteTwoDimensionalFilters) {
  for (int L : {4, 8}) {
    const WaveletBank bank({64, 64}, 4, L, 0.0, true);
    expect_permuted(bank, {{{0, -1, 0}, {1, 0, 0}, {0, 0, 1}}}, 4);
    expect_permuted(bank, {{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}}, 4);
  }
}

TEST(WaveletBank, CubeRotationsPermuteThreeDimensionalFilters) {
  const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  const int parity[6] = {1, -1, -1, 1, 1, -1};
  for (int L : {3, 7, 13}) {
    const WaveletBank bank({16, 16, 16}, 2, L, 0.0, true);
    int rotations = 0;
    for (int p = 0; p < 6; ++p)
      for (int signs = 0; signs < 8; ++signs) {
        std::vector<std::array<int, 3>> rows(3, {0, 0, 0});
        int det = parity[p];
        for (int i = 0; i < 3; ++i) {
          const int s = (signs >> i) & 1 ? -1 : 1;
          rows[i][perms[p][i]] = s;
          det *= s;
        }
        if (det != 1) continue;
        ++rotations;
        expect_permuted(bank, rows, 2);
      }
    EXPECT_EQ(rotations, 24);
    EXPECT_EQ(bank.rotations().size(), 24u);
  }
}

TEST(WaveletBank, RejectsGridsTooSmallForJ) {
  try {
    WaveletBank bank({32, 32}, 4, 4, 0.0, true);
    FAIL() << "J = 4 on a 32 x 32 grid was accepted";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("J = 4"), std::string::npos) << message;
    EXPECT_NE(message.find("n = 32"), std::string::npos) << message;
    EXPECT_NE(message.find("J <= 3"), std::string::npos) << message;
  }
  EXPECT_EQ(WaveletBank::max_scales({32, 32}), 3);
  EXPECT_EQ(WaveletBank::max_scales({256, 256}), 6);
  EXPECT_EQ(WaveletBank::max_scales({128, 128, 128}), 5);
  EXPECT_THROW(WaveletBank({32, 32, 32}, 2, 5, 0.0, true), UsageError);
  EXPECT_THROW(WaveletBank({64}, 2, 2, 0.0, true), UsageError);
}

}  // namespace
}  // namespace ksi::features
