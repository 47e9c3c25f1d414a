#pragma once
// The denoising U-Net (Ho et al. 2020; Nichol & Dhariwal 2021 layout): ResBlocks with a time and
// condition embedding, self-attention at low resolution, skip connections between the halves.
#include <torch/torch.h>

#include <vector>

#include "medsynth/modules/model_config.h"
#include "medsynth/modules/nn/blocks.h"

namespace medsynth::modules::nn {

struct UNetInput {
  torch::Tensor x;                 // [B, in_channels, H, W]: noisy image + concatenated conditions
  torch::Tensor t;                 // [B] timestep (float or int)
  torch::Tensor spade_labels;      // [B, K, H, W] for SPADE blocks, or undefined
  torch::Tensor class_id;          // [B] int64 in [0, num_classes] (num_classes = "none"), or undefined
  torch::Tensor position;          // [B] float, or undefined
  torch::Tensor position_present;  // [B] float 0/1
  torch::Tensor acquisition;       // [B, A] float (values, 0 where masked), or undefined
  torch::Tensor acquisition_mask;  // [B, A] float 0/1: given or not
};

struct UNetImpl : torch::nn::Module {
  UNetImpl(const ModelConfig& config, int in_channels, int out_channels);
  torch::Tensor forward(const UNetInput& in);  // float32 out, whatever model.precision computes in

 private:
  torch::Tensor embedding(const UNetInput& in);

  int base_;
  torch::nn::Linear time1{nullptr}, time2{nullptr}, pos1{nullptr}, pos2{nullptr}, acq1{nullptr}, acq2{nullptr};
  torch::nn::Embedding class_embed{nullptr};
  torch::nn::Conv2d in_conv{nullptr}, out_conv{nullptr};
  torch::nn::GroupNorm out_norm{nullptr};
  std::vector<ResBlock> down_blocks, up_blocks;
  std::vector<Attention> down_attn, up_attn;  // nullptr where a level has none
  std::vector<Downsample> downs;
  std::vector<Upsample> ups;
  ResBlock mid1{nullptr}, mid2{nullptr};
  Attention mid_attn{nullptr};
  int levels_, res_blocks_, stem_;
  std::string precision_;  // model.precision: bfloat16 autocast inside forward (nn/precision.h)
};
TORCH_MODULE(UNet);

}  // namespace medsynth::modules::nn
