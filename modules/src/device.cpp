#include "medsynth/modules/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <thread>

#include "medsynth/error.h"

namespace medsynth::modules {

torch::Device parse_device(const std::string& spec) {
  if (spec == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw UsageError("--device " + spec + ": no CUDA device is available to this LibTorch build");
    }
    int index = 0;
    if (spec.size() > 5) {
      try {
        index = std::stoi(spec.substr(5));
      } catch (const std::exception&) {
        throw UsageError("--device " + spec + ": expected cuda:K with a device number K");
      }
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count())) {
      throw UsageError("--device " + spec + ": only " + std::to_string(torch::cuda::device_count()) +
                       " CUDA device(s) visible");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device " + spec + ": expected auto, cpu, cuda or cuda:K");
}

int configure_threads(int threads) {
  // Denormal floats (tiny weights and gradients late in training) are ~100x slower on x86;
  // flushing them to zero is what PyTorch's torch.set_flush_denormal(True) does.
  at::globalContext().setFlushDenormal(true);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  return at::get_num_threads();
}

std::string runtime_summary() {
  std::string s = std::string("LibTorch ") + TORCH_VERSION + ", " + std::to_string(at::get_num_threads()) +
                  " intra-op thread(s), CUDA ";
  s += torch::cuda::is_available() ? std::to_string(torch::cuda::device_count()) + " device(s)" : "not available";
  return s;
}

}  // namespace medsynth::modules
