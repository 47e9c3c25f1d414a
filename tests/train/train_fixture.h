#pragma once
// Shared set-up of the LibTorch tests: small configs on real Colin27 slices, and one trained
// tiny model made once per build (under a lock) and reused by the sampling tests.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "medsynth/pipeline/slice_dataset.h"
#include "test_util.h"

namespace medsynth::test {

// A manifest of Colin27 (skull-stripped) in `dir`; returns its path.
std::string write_ch2_manifest(const std::string& dir);

// INI text of a tiny conditional model (channels 16/32, 32x32 slices, tissue label maps).
std::string tiny_config(const std::string& manifest, const std::string& out, int steps);

// Colin27 ingested into a slice cache under `dir` (grid x grid slices, tissue label maps).
pipeline::SliceDataset ch2_slice_dataset(const std::string& dir, int grid = 32);

// A tiny model trained once per build for 300 steps; returns its checkpoint.
std::string trained_tiny_checkpoint();

// A tiny model of another family trained once per build through the CLI: tiny_config with the
// [model] lines `model_lines` added (keys tiny_config does not set); returns its checkpoint.
std::string trained_family_checkpoint(const std::string& name, const std::string& model_lines, int steps);
// The tiny vae and the tiny ldm on its latents (both with tissue label maps).
std::string trained_tiny_vae();
std::string trained_tiny_ldm();

// A tissue label map of Colin27 as NIfTI (made once per build); returns its path.
std::string ch2_tissue_map();

// The trained weights of a checkpoint (copies), and whether two such lists are identical bit for
// bit (the resume tests: an interrupted run ends where an uninterrupted one does).
std::vector<torch::Tensor> weights_of(const std::string& checkpoint);
bool same_weights(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);
// The largest absolute difference between two such lists (infinity when their shapes differ), and
// the weights of the untrained model a checkpoint's config builds (the data-parallel tests: equal
// within float tolerance, and training moved the weights).
double largest_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b);
std::vector<torch::Tensor> initial_weights(const std::string& checkpoint);

}  // namespace medsynth::test
