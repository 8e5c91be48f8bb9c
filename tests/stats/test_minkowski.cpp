// Minkowski functionals: the exact Euler characteristic and volume of simple bodies (balls, shells,
// tori, discs, annuli), and all functionals of smooth Gaussian random fields against Tomita's
// closed forms within the sampling error of a few fields, in 2D and 3D.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "gaussian_fields.hpp"
#include "ksi/core/error.hpp"
#include "ksi/stats/minkowski.hpp"

namespace {

using ksi::stats::MinkowskiFunctionals;

// 1 where inside(x) holds, 0 elsewhere, on an n^D grid.
std::vector<double> body(std::size_t D, std::size_t n,
                         const std::function<bool(const std::vector<double>&)>& inside) {
  std::size_t size = 1;
  for (std::size_t a = 0; a < D; ++a) size *= n;
  std::vector<double> f(size);
  std::vector<double> x(D);
  for (std::size_t q = 0; q < size; ++q) {
    std::size_t rest = q;
    for (std::size_t a = D; a-- > 0;) {
      x[a] = static_cast<double>(rest % n);
      rest /= n;
    }
    f[q] = inside(x) ? 1.0 : 0.0;
  }
  return f;
}

// Periodic distance on a grid of n points per axis.
double radius(const std::vector<double>& x, const std::vector<double>& centre, double n) {
  double r2 = 0.0;
  for (std::size_t a = 0; a < x.size(); ++a) {
    const double d = std::abs(x[a] - centre[a]);
    r2 += std::min(d, n - d) * std::min(d, n - d);
  }
  return std::sqrt(r2);
}

// Euler characteristic (V_D times the volume) and volume fraction of {f >= 1/2}.
void expect_topology(std::size_t D, std::size_t n, double euler,
                     const std::function<bool(const std::vector<double>&)>& inside) {
  const double box = 2.0 * static_cast<double>(n);  // spacing 2: the volume enters V_D
  const MinkowskiFunctionals mf(std::vector<std::size_t>(D, n), box, {0.5});
  const auto f = body(D, n, inside);
  std::vector<double> out(mf.size());
  mf.measure(f, 0.0, 1.0, out);
  double inside_points = 0.0;
  for (double v : f) inside_points += v;
  EXPECT_DOUBLE_EQ(out[0], inside_points / static_cast<double>(f.size()));
  EXPECT_NEAR(out[D] * std::pow(box, static_cast<double>(D)), euler, 1e-9);
}

TEST(MinkowskiFunctionals, EulerCharacteristicOfBodiesIn3D) {
  const std::vector<double> c{12, 12, 12};
  expect_topology(3, 24, 1.0, [&](const auto& x) { return radius(x, c, 24) <= 5.0; });  // ball
  expect_topology(3, 24, 2.0, [&](const auto& x) {  // hollow ball: a body and its cavity
    const double r = radius(x, c, 24);
    return r >= 3.0 && r <= 7.0;
  });
  expect_topology(3, 24, 0.0, [&](const auto& x) {  // solid torus
    const double ring = std::hypot(x[0] - 12.0, x[1] - 12.0) - 6.0;
    return std::hypot(ring, x[2] - 12.0) <= 2.2;
  });
  expect_topology(3, 24, 2.0, [&](const auto& x) {  // two balls, one across the boundary
    return radius(x, {5, 5, 5}, 24) <= 3.0 || radius(x, {23, 15, 0}, 24) <= 3.5;
  });
}

TEST(MinkowskiFunctionals, EulerCharacteristicOfBodiesIn2D) {
  const std::vector<double> c{16, 16};
  expect_topology(2, 32, 1.0, [&](const auto& x) { return radius(x, c, 32) <= 6.0; });  // disc
  expect_topology(2, 32, 0.0, [&](const auto& x) {                                      // annulus
    const double r = radius(x, c, 32);
    return r >= 4.0 && r <= 9.0;
  });
  expect_topology(2, 32, 3.0, [&](const auto& x) {  // three discs, one across the corner
    return radius(x, {4, 4}, 32) <= 2.5 || radius(x, {20, 8}, 32) <= 3.0 ||
           radius(x, {31, 26}, 32) <= 2.0;
  });
}

// Mean over `fields` Gaussian fields of every functional at the thresholds, against Tomita's forms
// with the fields' exact sigma_0 and sigma_1: within four standard errors of the mean plus a
// lattice allowance of `lattice` times the functional's largest value over thresholds.
void expect_gaussian(const std::vector<std::size_t>& dims, double smoothing, std::size_t fields,
                     double lattice) {
  const std::size_t D = dims.size();
  const double box = static_cast<double>(dims[0]);  // unit spacing
  const ksi::test::SmoothGaussianFields gaussian(
      dims, box, [&](double k) { return std::exp(-0.25 * k * k * smoothing * smoothing); });
  const double sigma0 = std::sqrt(gaussian.variance());
  const double ratio = std::sqrt(gaussian.gradient_variance()) / sigma0;
  const std::vector<double> nu{-2.5, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5};
  const MinkowskiFunctionals mf(dims, box, nu);
  const auto X = gaussian.draw(7, fields);
  const std::size_t T = nu.size();
  std::vector<double> sum(mf.size(), 0.0), squares(mf.size(), 0.0), out(mf.size());
  for (std::size_t i = 0; i < fields; ++i) {
    mf.measure(X.row(i), 0.0, sigma0, out);
    for (std::size_t c = 0; c < out.size(); ++c) {
      sum[c] += out[c];
      squares[c] += out[c] * out[c];
    }
  }
  const double n = static_cast<double>(fields);
  for (std::size_t j = 0; j <= D; ++j) {
    double largest = 0.0;
    for (double v : nu)
      largest = std::max(largest, std::abs(ksi::stats::gaussian_minkowski(D, j, v, ratio)));
    for (std::size_t t = 0; t < T; ++t) {
      const std::size_t c = j * T + t;
      const double mean = sum[c] / n;
      const double error = std::sqrt(std::max(squares[c] / n - mean * mean, 0.0) / (n - 1.0));
      const double expected = ksi::stats::gaussian_minkowski(D, j, nu[t], ratio);
      EXPECT_NEAR(mean, expected, 4.0 * error + lattice * largest)
          << D << "D V_" << j << "(" << nu[t] << "): standard error " << error;
    }
  }
}

TEST(MinkowskiFunctionals, GaussianFieldsFollowTomitasFormulasIn3D) {
  expect_gaussian({64, 64, 64}, 3.0, 8, 0.02);
}

TEST(MinkowskiFunctionals, GaussianFieldsFollowTomitasFormulasIn2D) {
  expect_gaussian({256, 256}, 3.0, 8, 0.02);
}

TEST(MinkowskiFunctionals, ClosedFormsAtKnownPoints) {
  // V_0(0) = 1/2; the Euler characteristic changes sign at nu = 1 (3D) and 0 (2D); V_1 peaks at 0.
  EXPECT_DOUBLE_EQ(ksi::stats::gaussian_minkowski(3, 0, 0.0, 1.0), 0.5);
  EXPECT_NEAR(ksi::stats::gaussian_minkowski(3, 3, 1.0, 1.0), 0.0, 1e-15);
  EXPECT_NEAR(ksi::stats::gaussian_minkowski(2, 2, 0.0, 1.0), 0.0, 1e-15);
  // 3D Euler density at nu = 0: -(sigma_1^2 / (3 sigma_0^2))^(3/2) / (2 pi)^2 (Adler).
  EXPECT_NEAR(ksi::stats::gaussian_minkowski(3, 3, 0.0, 2.0),
              -std::pow(4.0 / 3.0, 1.5) / std::pow(2.0 * std::numbers::pi, 2), 1e-15);
  EXPECT_THROW(ksi::stats::gaussian_minkowski(2, 3, 0.0, 1.0), ksi::InputError);
}

TEST(MinkowskiFunctionals, RejectsUnorderedThresholds) {
  EXPECT_THROW(MinkowskiFunctionals({8, 8}, 1.0, {1.0, 0.5}), ksi::UsageError);
  EXPECT_THROW(MinkowskiFunctionals({8, 8}, 1.0, {}), ksi::UsageError);
  EXPECT_THROW(MinkowskiFunctionals({64}, 1.0, {0.0}), ksi::InputError);
}

}  // namespace
