#pragma once
// Mixed precision: convolutions and matrix products in bfloat16 (LibTorch autocast), everything
// else (normalisation, losses, optimiser, EMA) in float32. `model.precision`: fp32 | bf16 | auto
// (bf16 where the hardware computes it natively: a CPU with AVX512-BF16 or AMX, or a CUDA GPU
// with bfloat16 support; else fp32).
#include <torch/types.h>

#include <string>

namespace medsynth::modules::nn {

// Resolves "auto" for this machine; checks the name (throws medsynth::Error, exit 1).
bool use_bf16(const std::string& precision, torch::Device device);

// While alive, autocast to bfloat16 on `device` (nothing when `on` is false). Nests.
class Autocast {
 public:
  Autocast(bool on, torch::Device device);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
  bool cuda_;
  bool previous_;
  at::ScalarType previous_dtype_;
};

}  // namespace medsynth::modules::nn
