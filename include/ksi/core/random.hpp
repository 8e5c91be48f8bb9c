#pragma once
/// @file
/// Counter-based random streams (Philox4x64-10). A stream is named by (seed, purpose, id0, id1,
/// id2) and its numbers are a pure function of that name: no state is shared between streams, so
/// results never depend on how work is split across ranks.

#include <array>
#include <cstdint>
#include <span>

namespace ksi {

/// What a stream is used for; part of the key, so streams of different purposes never collide.
enum class StreamPurpose : std::uint64_t {
  fit_noise = 1,           ///< z of item, draw, time in the Gram assembly
  sample_noise = 2,        ///< Brownian increments and initial state of one generated sample
  synth = 3,               ///< data generators (one stream per generated item)
  feature_parameters = 4,  ///< random parameters of a feature map (e.g. Fourier frequencies)
  drifting = 5,            ///< initial particles of the drifting sampler
  baseline = 6,            ///< Gaussian baseline fields of `ksi stats`
  test = 7,                ///< tests and benchmarks
  hutchinson = 8,          ///< probe vectors of trace estimators
  calibration = 9,         ///< samples of the spectral calibration (never the user's samples)
  microcanonical = 10,     ///< initial white noise of one microcanonical synthesis
  guide = 11,              ///< ensembles of the fit's guided passes (member, pass, step)
  gram_probe = 12          ///< probes of the randomized Gram (item, draw, time and probe)
};

class RandomStream {
 public:
  RandomStream(std::uint64_t seed, StreamPurpose purpose, std::uint64_t id0, std::uint64_t id1 = 0,
               std::uint64_t id2 = 0) noexcept;

  /// Next 64 random bits.
  std::uint64_t bits() noexcept;
  /// Uniform on [0, 1) with 53 random bits.
  double uniform() noexcept;
  /// Standard normal (Box-Muller on pairs of uniforms).
  double normal() noexcept;

  void fill_uniform(std::span<double> out) noexcept;
  void fill_normal(std::span<double> out) noexcept;

 private:
  void refill() noexcept;

  std::array<std::uint64_t, 4> counter_;
  std::array<std::uint64_t, 2> key_;
  std::array<std::uint64_t, 4> block_{};
  int next_bits_ = 4;
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace ksi
