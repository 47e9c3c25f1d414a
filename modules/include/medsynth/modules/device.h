#pragma once
// Choosing the compute device and CPU threads, once, at the boundary (CLI or config).
#include <torch/types.h>

#include <string>

namespace medsynth::modules {

// "auto" → CUDA device 0 when LibTorch was built with CUDA and one is visible, else CPU;
// "cpu"; "cuda" or "cuda:K". Throws medsynth::Error (exit 1) for anything else or a missing GPU.
torch::Device parse_device(const std::string& spec);

// Large freed blocks stay in malloc's heap instead of going back to the system (LibTorch's CPU
// activations are malloc'ed each step): called by configure_threads, once per process.
void keep_freed_memory();

// LibTorch runs one intra-op thread by default here; medsynth uses every core unless told.
// threads <= 0 means "the number of cores". Returns the count in effect.
int configure_threads(int threads);

// Short human description of the runtime: LibTorch version, threads, CUDA availability.
std::string runtime_summary();

}  // namespace medsynth::modules
