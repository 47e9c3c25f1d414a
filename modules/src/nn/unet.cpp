#include "medsynth/modules/nn/unet.h"

#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/nn/precision.h"

namespace medsynth::modules::nn {

UNetImpl::UNetImpl(const ModelConfig& c, int in_channels, int out_channels)
    : base_(c.channels.at(0)), levels_(static_cast<int>(c.channels.size())), res_blocks_(c.res_blocks), stem_(c.stem), precision_(c.precision) {
  use_bf16(precision_, torch::kCPU);  // checks the name
  if (stem_ < 1) throw Error("model.stem must be 1 or more", ExitCode::kUsage);
  for (int ch : c.channels) {
    if (ch % c.groups != 0) {
      throw Error("model.channels: " + std::to_string(ch) + " is not a multiple of model.groups (" +
                  std::to_string(c.groups) + ")", ExitCode::kUsage);
    }
  }
  if (c.image_size % (stem_ << (levels_ - 1)) != 0) {
    throw Error("model.image_size " + std::to_string(c.image_size) + " must be divisible by stem * 2^(levels-1) = " +
                std::to_string(stem_ << (levels_ - 1)), ExitCode::kUsage);
  }
  const int E = 4 * base_;
  const int spade = c.label_classes > 0 && c.label_mode == "spade" ? c.label_classes * context_slices(c) : 0;
  time1 = register_module("time1", torch::nn::Linear(base_, E));
  time2 = register_module("time2", torch::nn::Linear(E, E));
  if (c.num_classes > 0) class_embed = register_module("class_embed", torch::nn::Embedding(c.num_classes + 1, E));
  if (c.slice_position) {
    pos1 = register_module("pos1", torch::nn::Linear(base_, E));
    pos2 = register_module("pos2", torch::nn::Linear(E, E));
  }
  if (c.acquisition_width > 0) {
    // Acquisition attributes: values and their masks in, so that "not given" is its own input.
    acq1 = register_module("acq1", torch::nn::Linear(2 * c.acquisition_width, E));
    acq2 = register_module("acq2", torch::nn::Linear(E, E));
  }
  in_conv = register_module("in_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels * stem_ * stem_, base_, 3).padding(1)));

  std::vector<int> skip_channels{base_};
  int ch = base_;
  for (int l = 0; l < levels_; ++l) {
    const bool attn = l >= levels_ - c.attention_levels;
    for (int b = 0; b < res_blocks_; ++b) {
      const std::string i = std::to_string(down_blocks.size());
      down_blocks.push_back(register_module("down_" + i, ResBlock(ch, c.channels[l], E, c.groups, c.dropout, spade)));
      ch = c.channels[l];
      down_attn.push_back(attn ? register_module("down_attn_" + i, Attention(ch, c.groups)) : Attention(nullptr));
      skip_channels.push_back(ch);
    }
    if (l + 1 < levels_) {
      downs.push_back(register_module("downsample_" + std::to_string(l), Downsample(ch)));
      skip_channels.push_back(ch);
    }
  }
  mid1 = register_module("mid1", ResBlock(ch, ch, E, c.groups, c.dropout, spade));
  mid_attn = register_module("mid_attn", Attention(ch, c.groups));
  mid2 = register_module("mid2", ResBlock(ch, ch, E, c.groups, c.dropout, spade));
  for (int l = levels_ - 1; l >= 0; --l) {
    const bool attn = l >= levels_ - c.attention_levels;
    for (int b = 0; b < res_blocks_ + 1; ++b) {
      const std::string i = std::to_string(up_blocks.size());
      const int skip = skip_channels.back();
      skip_channels.pop_back();
      up_blocks.push_back(register_module("up_" + i, ResBlock(ch + skip, c.channels[l], E, c.groups, c.dropout, spade)));
      ch = c.channels[l];
      up_attn.push_back(attn ? register_module("up_attn_" + i, Attention(ch, c.groups)) : Attention(nullptr));
    }
    if (l > 0) ups.push_back(register_module("upsample_" + std::to_string(l), Upsample(ch)));
  }
  out_norm = register_module("out_norm", torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.groups, ch)));
  out_conv = register_module("out_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, out_channels * stem_ * stem_, 3).padding(1)));
}

torch::Tensor UNetImpl::embedding(const UNetInput& in) {
  auto e = time2(torch::silu(time1(sinusoidal_embedding(in.t, base_))));
  if (class_embed && in.class_id.defined()) e = e + class_embed(in.class_id);
  if (pos1 && in.position.defined()) {
    auto p = pos2(torch::silu(pos1(sinusoidal_embedding(in.position * 1000.0, base_))));
    e = e + p * in.position_present.unsqueeze(1);
  }
  if (acq1 && in.acquisition.defined()) {
    e = e + acq2(torch::silu(acq1(torch::cat({in.acquisition * in.acquisition_mask, in.acquisition_mask}, 1))));
  }
  return e;
}

torch::Tensor UNetImpl::forward(const UNetInput& in) {
  // Fully convolutional: a slice of any size is padded (edge values) to a multiple of
  // stem * 2^(levels-1) on the bottom and right, and the output cropped back.
  const std::int64_t m = static_cast<std::int64_t>(stem_) << (levels_ - 1);
  const auto H = in.x.size(2), W = in.x.size(3);
  if (H % m != 0 || W % m != 0) {
    UNetInput padded = in;
    padded.x = pad_to_multiple(in.x, m);
    if (in.spade_labels.defined()) padded.spade_labels = pad_to_multiple(in.spade_labels, m);
    return forward(padded).narrow(2, 0, H).narrow(3, 0, W);
  }
  Autocast autocast(use_bf16(precision_, in.x.device()), in.x.device());
  const auto emb = embedding(in);
  const auto& labels = in.spade_labels;
  std::vector<torch::Tensor> skips;
  // The stem folds stem x stem pixels into channels (space-to-depth), so every level runs at
  // 1/stem the resolution; the output unfolds again (Shi et al. 2016's sub-pixel layout).
  auto h = in_conv(stem_ > 1 ? torch::pixel_unshuffle(in.x, stem_) : in.x);
  skips.push_back(h);
  std::size_t block = 0;
  for (int l = 0; l < levels_; ++l) {
    for (int b = 0; b < res_blocks_; ++b, ++block) {
      h = down_blocks[block](h, emb, labels);
      if (down_attn[block]) h = down_attn[block](h);
      skips.push_back(h);
    }
    if (l + 1 < levels_) {
      h = downs[static_cast<std::size_t>(l)](h);
      skips.push_back(h);
    }
  }
  h = mid2(mid_attn(mid1(h, emb, labels)), emb, labels);
  block = 0;
  std::size_t up = 0;
  for (int l = levels_ - 1; l >= 0; --l) {
    for (int b = 0; b < res_blocks_ + 1; ++b, ++block) {
      h = up_blocks[block](torch::cat({h, skips.back()}, 1), emb, labels);
      skips.pop_back();
      if (up_attn[block]) h = up_attn[block](h);
    }
    if (l > 0) h = ups[up++](h);
  }
  auto out = out_conv(torch::silu(out_norm(h.to(torch::kFloat)))).to(torch::kFloat);
  return stem_ > 1 ? torch::pixel_shuffle(out, stem_) : out;
}

}  // namespace medsynth::modules::nn
