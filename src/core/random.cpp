#include "ksi/core/random.hpp"

#include <Random123/philox.h>

#include <cmath>
#include <numbers>

namespace ksi {

RandomStream::RandomStream(std::uint64_t seed, StreamPurpose purpose, std::uint64_t id0,
                           std::uint64_t id1, std::uint64_t id2) noexcept
    : counter_{id0, id1, id2, 0}, key_{seed, static_cast<std::uint64_t>(purpose)} {}

void RandomStream::refill() noexcept {
  r123::Philox4x64 generator;
  r123::Philox4x64::ctr_type ctr = {{counter_[0], counter_[1], counter_[2], counter_[3]}};
  r123::Philox4x64::key_type key = {{key_[0], key_[1]}};
  const auto out = generator(ctr, key);
  for (int i = 0; i < 4; ++i) block_[i] = out.v[i];
  ++counter_[3];
  next_bits_ = 0;
}

std::uint64_t RandomStream::bits() noexcept {
  if (next_bits_ == 4) refill();
  return block_[next_bits_++];
}

double RandomStream::uniform() noexcept {
  return static_cast<double>(bits() >> 11) * 0x1.0p-53;
}

double RandomStream::normal() noexcept {
  if (has_spare_) {
    has_spare_ = false;
    return spare_normal_;
  }
  // u1 in (0, 1] keeps the logarithm finite.
  const double u1 = static_cast<double>((bits() >> 11) + 1) * 0x1.0p-53;
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(angle);
  has_spare_ = true;
  return r * std::cos(angle);
}

void RandomStream::fill_uniform(std::span<double> out) noexcept {
  for (auto& v : out) v = uniform();
}

void RandomStream::fill_normal(std::span<double> out) noexcept {
  for (auto& v : out) v = normal();
}

}  // namespace ksi
