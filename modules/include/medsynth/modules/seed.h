#pragma once
// Seeds derived from (seed, index) so that every step of training and every sampled slice has its
// own random stream: a resumed run or a shard reproduces exactly what a single run would do.
#include <cstdint>

namespace medsynth::modules {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index, std::uint64_t stream = 0) {
  return splitmix64(splitmix64(seed ^ (stream * 0xD1B54A32D192ED03ull)) + index);
}

}  // namespace medsynth::modules
