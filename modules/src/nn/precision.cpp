#include "medsynth/modules/nn/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>

#include "medsynth/error.h"

namespace medsynth::modules::nn {

namespace {

bool cpu_has_native_bf16() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

}  // namespace

bool use_bf16(const std::string& precision, torch::Device device) {
  if (precision == "fp32") return false;
  if (precision == "bf16") return true;
  if (precision == "auto") return device.is_cuda() ? true : cpu_has_native_bf16();
  throw Error("model.precision '" + precision + "' is not fp32, bf16 or auto", ExitCode::kUsage);
}

Autocast::Autocast(bool on, torch::Device device) : on_(on), cuda_(device.is_cuda()), previous_(false),
                                                     previous_dtype_(at::kBFloat16) {
  if (!on_) return;
  if (cuda_) {
    previous_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    previous_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!on_) return;
  // The weights' bfloat16 copies are cached while autocast is on; drop them when the outermost
  // region ends (they change with every optimiser step).
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(previous_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(previous_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
}

}  // namespace medsynth::modules::nn
