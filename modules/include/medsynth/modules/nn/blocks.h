#pragma once
// Shared network blocks, written once: every family builds from these.
// Submodule names are checkpoint keys: keep them stable.
#include <torch/torch.h>

namespace medsynth::modules::nn {

// Sinusoidal embedding of a scalar per sample ([B] → [B, dim]), as in "Attention is all you need"
// and DDPM's timestep embedding.
torch::Tensor sinusoidal_embedding(const torch::Tensor& values, int dim);

// Pads [B, C, H, W] on the bottom and right with edge values to multiples of m (a fully
// convolutional network's whole slice of any size; crop the output back with narrow()).
torch::Tensor pad_to_multiple(const torch::Tensor& t, std::int64_t m);

// SPADE (Park et al. 2019): parameter-free GroupNorm, then a per-pixel scale and shift predicted
// from the label map resized to the feature map.
struct SpadeImpl : torch::nn::Module {
  SpadeImpl(int channels, int label_channels, int groups, int hidden = 64);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels);
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d shared{nullptr}, gamma{nullptr}, beta{nullptr};
};
TORCH_MODULE(Spade);

// Normalisation that is GroupNorm, or SPADE when a label map conditions the block.
struct AdaptiveNormImpl : torch::nn::Module {
  AdaptiveNormImpl(int channels, int groups, int label_channels);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& labels);
  torch::nn::GroupNorm group{nullptr};
  Spade spade{nullptr};
};
TORCH_MODULE(AdaptiveNorm);

// Residual block with an embedding (time + conditions) added between its two convolutions.
struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int in_channels, int out_channels, int embed_dim, int groups, double dropout,
               int spade_label_channels = 0);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& embedding, const torch::Tensor& labels);
  AdaptiveNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear embed{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(ResBlock);

// Multi-head self-attention over the pixels of a low-resolution feature map.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int channels, int groups, int heads = 4);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d qkv{nullptr}, out{nullptr};
  int heads;
};
TORCH_MODULE(Attention);

struct DownsampleImpl : torch::nn::Module {
  explicit DownsampleImpl(int channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Downsample);

struct UpsampleImpl : torch::nn::Module {
  explicit UpsampleImpl(int channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample);

}  // namespace medsynth::modules::nn
