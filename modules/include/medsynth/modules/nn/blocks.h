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
  // While held (HeldConditions), the scale and shift of the first call are reused by the next
  // calls of the same batch and size: the label map is the caller's promise not to change.
  bool held = false;
  torch::Tensor held_gamma, held_beta;
};
TORCH_MODULE(Spade);

// For the life of this guard, every SPADE in `net` computes its label-map branch once and reuses
// it (a diffusion sampler's steps over one condition: three of every SPADE's four convolutions
// are not run again). The guard's owner keeps the label map the same while it lives; the held
// tensors are dropped when it ends. Inactive (`on` false): nothing changes.
class HeldConditions {
 public:
  HeldConditions(torch::nn::Module& net, bool on);
  ~HeldConditions();
  HeldConditions(const HeldConditions&) = delete;
  HeldConditions& operator=(const HeldConditions&) = delete;

 private:
  std::vector<std::shared_ptr<SpadeImpl>> spades_;
};

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
