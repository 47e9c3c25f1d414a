#include "medsynth/modules/nn/blocks.h"

#include <cmath>

namespace medsynth::modules::nn {

namespace F = torch::nn::functional;

torch::Tensor sinusoidal_embedding(const torch::Tensor& values, int dim) {
  const int half = dim / 2;
  auto freqs = torch::exp(-std::log(10000.0) *
                          torch::arange(half, torch::TensorOptions().dtype(torch::kFloat).device(values.device())) / half);
  auto args = values.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({torch::cos(args), torch::sin(args)}, 1);
}

torch::Tensor pad_to_multiple(const torch::Tensor& t, std::int64_t m) {
  const auto ph = (m - t.size(2) % m) % m, pw = (m - t.size(3) % m) % m;
  if (ph == 0 && pw == 0) return t;
  return F::pad(t, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
}

SpadeImpl::SpadeImpl(int channels, int label_channels, int groups, int hidden) {
  norm = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).affine(false)));
  shared = register_module("shared", torch::nn::Conv2d(torch::nn::Conv2dOptions(label_channels, hidden, 3).padding(1)));
  gamma = register_module("gamma", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, channels, 3).padding(1)));
  beta = register_module("beta", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, channels, 3).padding(1)));
}

torch::Tensor SpadeImpl::forward(const torch::Tensor& x, const torch::Tensor& labels) {
  const bool reuse = held && held_gamma.defined() && held_gamma.size(0) == x.size(0) &&
                     held_gamma.size(2) == x.size(2) && held_gamma.size(3) == x.size(3);
  torch::Tensor g = held_gamma, b = held_beta;
  if (!reuse) {
    auto l = F::interpolate(labels, F::InterpolateFuncOptions()
                                        .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                        .mode(torch::kNearest));
    auto h = torch::relu(shared(l));
    g = gamma(h);
    b = beta(h);
    if (held) {
      held_gamma = g;
      held_beta = b;
    }
  }
  return norm(x.to(torch::kFloat)) * (1 + g) + b;
}

HeldConditions::HeldConditions(torch::nn::Module& net, bool on) {
  if (!on) return;
  for (const auto& m : net.modules(/*include_self=*/true)) {
    if (auto spade = std::dynamic_pointer_cast<SpadeImpl>(m)) {
      spade->held = true;
      spade->held_gamma = spade->held_beta = torch::Tensor();
      spades_.push_back(std::move(spade));
    }
  }
}

HeldConditions::~HeldConditions() {
  for (auto& spade : spades_) {
    spade->held = false;
    spade->held_gamma = spade->held_beta = torch::Tensor();
  }
}

AdaptiveNormImpl::AdaptiveNormImpl(int channels, int groups, int label_channels) {
  if (label_channels > 0) {
    spade = register_module("spade", Spade(channels, label_channels, groups));
  } else {
    group = register_module("group", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels)));
  }
}

torch::Tensor AdaptiveNormImpl::forward(const torch::Tensor& x, const torch::Tensor& labels) {
  // GroupNorm in float32 (a bfloat16 input under autocast is widened: nn/precision.h).
  return spade ? spade(x, labels) : group(x.to(torch::kFloat));
}

ResBlockImpl::ResBlockImpl(int in_channels, int out_channels, int embed_dim, int groups, double dropout,
                           int spade_label_channels) {
  norm1 = register_module("norm1", AdaptiveNorm(in_channels, groups, spade_label_channels));
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 3).padding(1)));
  embed = register_module("embed", torch::nn::Linear(embed_dim, out_channels));
  norm2 = register_module("norm2", AdaptiveNorm(out_channels, groups, spade_label_channels));
  drop = register_module("drop", torch::nn::Dropout(dropout));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out_channels, out_channels, 3).padding(1)));
  if (in_channels != out_channels) {
    skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 1)));
  }
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& embedding, const torch::Tensor& labels) {
  auto h = conv1(torch::silu(norm1(x, labels)));
  h = h + embed(torch::silu(embedding)).unsqueeze(-1).unsqueeze(-1);
  h = conv2(drop(torch::silu(norm2(h, labels))));
  return h + (skip ? skip(x) : x);
}

AttentionImpl::AttentionImpl(int channels, int groups, int heads_) : heads(heads_) {
  norm = register_module("norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels)));
  qkv = register_module("qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 3 * channels, 1)));
  out = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const auto B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t d = C / heads;
  auto q_k_v = qkv(norm(x.to(torch::kFloat))).reshape({B, 3, heads, d, H * W}).unbind(1);
  auto q = q_k_v[0].transpose(-1, -2);  // [B, heads, HW, d]
  auto k = q_k_v[1];                     // [B, heads, d, HW]
  auto v = q_k_v[2].transpose(-1, -2);  // [B, heads, HW, d]
  auto attn = torch::softmax(torch::matmul(q, k) / std::sqrt(static_cast<double>(d)), -1);
  auto h = torch::matmul(attn, v).transpose(-1, -2).reshape({B, C, H, W});
  return x + out(h);
}

DownsampleImpl::DownsampleImpl(int channels) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).stride(2).padding(1)));
}
torch::Tensor DownsampleImpl::forward(const torch::Tensor& x) { return conv(x); }

UpsampleImpl::UpsampleImpl(int channels) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 3).padding(1)));
}
torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
  return conv(F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
}

}  // namespace medsynth::modules::nn
