#include "medsynth/modules/device.h"

#include <malloc.h>

#include <limits>

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

void keep_freed_memory() {
  // LibTorch's CPU tensors come from malloc. glibc serves blocks above its mmap threshold (at most
  // 32 MiB) with a fresh mmap and unmaps them on free, so every large activation of every step is
  // page-faulted in again: at a 181x217 grid, batch 16, that was 25% of sampling's wall time in
  // system calls (4.1 s of 16.4), and 27 s of 46 at batch 64. Served from the heap and kept there,
  // the same memory is reused: 12.7 s and 16.4 s, the same peak at batch 16 (docs/performance.md).
  static const bool once = [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    return true;
  }();
  (void)once;
}

int configure_threads(int threads) {
  // Denormal floats (tiny weights and gradients late in training) are ~100x slower on x86;
  // flushing them to zero is what PyTorch's torch.set_flush_denormal(True) does.
  at::globalContext().setFlushDenormal(true);
  keep_freed_memory();
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
