#pragma once
// Generation with scattering features, judged against held-out fields and a Gaussian baseline:
// shared by test_scattering_generation (small grids) and bench_scattering_generation (the issue's
// sizes). Log-normal fields are made here with FFTs, independent of the physics generators.
//
// Distances (on pooled values and set-mean spectra):
//   one-point PDF   W1(A, B): the 1-Wasserstein distance between the distributions of all values of
//                   the fields of A and of B, from 1000 matched quantiles (in data units);
//   power spectrum  S(A, B) = RMS over the complete shells k = 1 .. n/2 of ln(P_A(k) / P_B(k)),
//   with
//                   P_A the mean over A's fields of the shell power (stats::PowerSpectrum).
// Sets: gen (the samples), test (held-out fields), gauss (Gaussian fields with the training set's
// shell spectrum and mean, as many as samples), train (as many training fields as samples).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "ksi/core/phase_timer.hpp"
#include "ksi/core/random.hpp"
#include "ksi/features/builder.hpp"
#include "ksi/fft/fft.hpp"
#include "ksi/fit/fit.hpp"
#include "ksi/sample/sample.hpp"
#include "ksi/stats/power_spectrum.hpp"

namespace ksi::test {

/// Log-normal field: x = exp(sigma g), g a unit-variance Gaussian field of spectrum
/// (1 + |m|^2 / m0^2)^(-beta) with m in cycles per box and m0 = 4: multi-scale, positively skewed.
inline std::vector<double> lognormal_field(const std::vector<std::size_t>& dims, std::uint64_t item,
                                           double beta, double sigma) {
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<double> g(n);
  RandomStream(2024, StreamPurpose::test, item).fill_normal(g);
  fft::RealTransform t(dims);
  std::vector<fft::complex> spectrum(t.complex_size());
  t.forward(g.data(), spectrum.data());
  const std::size_t n_last = dims.back(), h_last = n_last / 2 + 1;
  const double m0 = 4.0;
  for (std::size_t q = 0; q < spectrum.size(); ++q) {
    std::size_t rest = q / h_last;
    double m2 = std::pow(static_cast<double>(fft::frequency(q % h_last, n_last)), 2);
    for (std::size_t a = dims.size() - 1; a-- > 0;) {
      m2 += std::pow(static_cast<double>(fft::frequency(rest % dims[a], dims[a])), 2);
      rest /= dims[a];
    }
    spectrum[q] *= q == 0 ? 0.0 : std::pow(1.0 + m2 / (m0 * m0), -0.5 * beta);
  }
  t.backward(spectrum.data(), g.data());
  double var = 0.0;
  for (double v : g) var += v * v;
  const double scale = sigma / std::sqrt(var / static_cast<double>(n));
  for (auto& v : g) v = std::exp(scale * v);
  return g;
}

inline Matrix lognormal_fields(const std::vector<std::size_t>& dims, std::size_t first,
                               std::size_t count, double beta, double sigma) {
  std::size_t d = 1;
  for (auto n : dims) d *= n;
  Matrix X(count, d);
  for (std::size_t i = 0; i < count; ++i) {
    const auto f = lognormal_field(dims, first + i, beta, sigma);
    std::copy(f.begin(), f.end(), X.row(i).begin());
  }
  return X;
}

inline double wasserstein_distance(const Matrix& a, const Matrix& b) {
  std::vector<double> x(a.values().begin(), a.values().end()),
      y(b.values().begin(), b.values().end());
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  const int quantiles = 1000;
  double sum = 0.0;
  for (int q = 0; q < quantiles; ++q) {
    const double u = (q + 0.5) / quantiles;
    sum += std::abs(x[static_cast<std::size_t>(u * x.size())] -
                    y[static_cast<std::size_t>(u * y.size())]);
  }
  return sum / quantiles;
}

inline std::vector<double> mean_spectrum(const stats::PowerSpectrum& ps, const Matrix& X) {
  std::vector<double> mean(ps.shells(), 0.0), p(ps.shells());
  for (std::size_t i = 0; i < X.rows(); ++i) {
    ps.measure(X.row(i), p);
    for (std::size_t s = 0; s < p.size(); ++s) mean[s] += p[s] / static_cast<double>(X.rows());
  }
  return mean;
}

inline double spectrum_distance(const stats::PowerSpectrum& ps, const Matrix& a, const Matrix& b) {
  const auto pa = mean_spectrum(ps, a), pb = mean_spectrum(ps, b);
  double sum = 0.0;
  for (std::size_t s = 1; s <= ps.complete_shells(); ++s)
    sum += std::pow(std::log(pa[s] / pb[s]), 2);
  return std::sqrt(sum / static_cast<double>(ps.complete_shells()));
}

struct GenerationCase {
  std::vector<std::size_t> dims;
  std::string feature_params;  ///< as for ksi fit --feature-params
  std::size_t train = 64, test = 16, samples = 16;
  double beta = 2.0, sigma = 0.8;  ///< of the log-normal fields
  std::size_t times = 9, draws = 1, steps = 30;
};

struct GenerationResult {
  std::size_t features = 0;
  double captured_min = 0.0, captured_max = 0.0;  ///< R^2_t over the time grid
  double pdf_gen = 0.0, pdf_gauss = 0.0, pdf_train = 0.0;
  double spectrum_gen = 0.0, spectrum_gauss = 0.0, spectrum_train = 0.0;
  double fit_seconds = 0.0, sample_seconds = 0.0;  ///< maxima over ranks
};

/// Fits on `train` fields, samples, and measures the distances. Collective.
inline GenerationResult run_generation(const GenerationCase& c, const par::Comm& world) {
  GenerationResult r;
  const ItemShape shape = ItemShape::grid(c.dims);
  // Standardise and calibrate on a block of items, then fit on the assembly blocks of the map.
  const auto block_range = par::block_range(c.train, world.rank(), world.size());
  Matrix block = lognormal_fields(c.dims, block_range.begin, block_range.size(), c.beta, c.sigma);
  Stopwatch fit_clock;
  const Standardization st = Standardization::fit(block, shape, "scalar", world);
  Params params;
  std::stringstream in(c.feature_params);
  std::string item;
  while (std::getline(in, item, ','))
    params.set(item.substr(0, item.find('=')), item.substr(item.find('=') + 1));
  auto map = features::build_feature_map("scattering", params, shape, block, world);
  r.features = map->size();
  fit::FitOptions options;
  options.times = c.times;
  options.draws = c.draws;
  options.seed = 3;
  const auto range = fit::assembly_item_range(c.train, fit::items_per_batch(options, *map),
                                              world.rank(), world.size());
  Matrix local = lognormal_fields(c.dims, range.begin, range.size(), c.beta, c.sigma);
  for (double& v : local.values()) v = (v - st.mean) / st.scale;
  const Model model =
      fit::fit_model(local, range.begin, c.train, std::move(map), shape, st, options, world);
  r.fit_seconds = world.allreduce_max(fit_clock.seconds());
  r.captured_min = 1e300;
  r.captured_max = -1e300;
  for (const auto& d : model.diagnostics()) {
    r.captured_min = std::min(r.captured_min, d.captured);
    r.captured_max = std::max(r.captured_max, d.captured);
  }

  sample::SampleOptions so;
  so.steps = c.steps;
  so.seed = 5;
  const auto mine = par::block_range(c.samples, world.rank(), world.size());
  Matrix generated_local;
  Stopwatch sample_clock;
  par::collective(world,
                  [&] { generated_local = sample::generate(model, so, mine.begin, mine.size()); });
  r.sample_seconds = world.allreduce_max(sample_clock.seconds());
  const auto all = world.allgatherv(generated_local.values());
  Matrix gen(c.samples, shape.size());
  std::copy(all.begin(), all.end(), gen.data());

  // Reference sets, on every rank (items are keyed by index, so every rank builds the same).
  const Matrix train = lognormal_fields(c.dims, 0, c.train, c.beta, c.sigma);
  const Matrix held_out = lognormal_fields(c.dims, 1000000, c.test, c.beta, c.sigma);
  const stats::PowerSpectrum ps(c.dims, 1.0);
  const auto train_power = mean_spectrum(ps, train);
  double train_mean = 0.0;
  for (double v : train.values()) train_mean += v / static_cast<double>(train.size());
  Matrix gauss(c.samples, shape.size());
  for (std::size_t i = 0; i < c.samples; ++i) {
    RandomStream(77, StreamPurpose::baseline, i).fill_normal(gauss.row(i));
    ps.impose(gauss.row(i), train_power, train_mean);
  }
  const Matrix train_subset = lognormal_fields(c.dims, 0, c.samples, c.beta, c.sigma);
  r.pdf_gen = wasserstein_distance(gen, held_out);
  r.pdf_gauss = wasserstein_distance(gauss, held_out);
  r.pdf_train = wasserstein_distance(train_subset, held_out);
  r.spectrum_gen = spectrum_distance(ps, gen, held_out);
  r.spectrum_gauss = spectrum_distance(ps, gauss, held_out);
  r.spectrum_train = spectrum_distance(ps, train_subset, held_out);
  for (double v : gen.values())
    if (!std::isfinite(v)) r.spectrum_gen = r.pdf_gen = INFINITY;
  return r;
}

}  // namespace ksi::test
