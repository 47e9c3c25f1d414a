#include "medsynth/modules/nn/patchgan.h"

#include <algorithm>

#include "medsynth/modules/generative_model.h"

namespace medsynth::modules::nn {

namespace F = torch::nn::functional;

namespace {

torch::nn::Conv2d conv4(int in, int out, int stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 4).stride(stride).padding(1));
}

}  // namespace

PatchGANImpl::PatchGANImpl(int in_channels, int channels, int layers_, bool instance_norm) : layers(layers_) {
  if (layers < 1 || channels < 1 || in_channels < 1) {
    throw Error("PatchGAN: layers, channels and input channels must be positive (model.disc_layers = " +
                    std::to_string(layers) + ", model.disc_channels = " + std::to_string(channels) + ")",
                ExitCode::kUsage);
  }
  // Isola et al.'s layout (their NLayerDiscriminator): the width doubles per layer up to 8x.
  auto width = [&](int i) { return channels * std::min(1 << i, 8); };
  convs.push_back(register_module("conv0", conv4(in_channels, channels, 2)));
  for (int i = 1; i <= layers; ++i) {
    // The first `layers` convolutions halve the resolution; the one after them keeps it.
    const int stride = i < layers ? 2 : 1;
    convs.push_back(register_module("conv" + std::to_string(i), conv4(width(i - 1), width(i), stride)));
    if (instance_norm) {
      norms.push_back(register_module("norm" + std::to_string(i), torch::nn::InstanceNorm2d(width(i))));
    }
  }
  convs.push_back(register_module("conv" + std::to_string(layers + 1), conv4(width(layers), 1, 1)));
}

PatchFeatures PatchGANImpl::forward(const torch::Tensor& x) {
  PatchFeatures out;
  auto h = F::leaky_relu(convs[0](x), F::LeakyReLUFuncOptions().negative_slope(0.2));
  out.push_back(h);
  for (std::size_t i = 1; i + 1 < convs.size(); ++i) {
    h = convs[i](h);
    if (!norms.empty()) h = norms[i - 1](h);
    h = F::leaky_relu(h, F::LeakyReLUFuncOptions().negative_slope(0.2));
    out.push_back(h);
  }
  out.push_back(convs.back()(h));
  return out;
}

int PatchGANImpl::receptive_field(int layers) {
  int r = 1 + 3 + 3;  // the two stride-1 4x4 convolutions at the end
  for (int i = 0; i < layers; ++i) r = (r - 1) * 2 + 4;
  return r;
}

int PatchGANImpl::min_input_size(int layers) { return 3 << layers; }

MultiScalePatchGANImpl::MultiScalePatchGANImpl(int scales, int in_channels, int channels, int layers) {
  if (scales < 1) {
    throw Error("multi-scale PatchGAN: model.disc_scales must be at least 1 (got " + std::to_string(scales) + ")",
                ExitCode::kUsage);
  }
  for (int s = 0; s < scales; ++s) {
    discriminators.push_back(register_module("scale" + std::to_string(s), PatchGAN(in_channels, channels, layers)));
  }
}

MultiScaleFeatures MultiScalePatchGANImpl::forward(const torch::Tensor& x) {
  MultiScaleFeatures out;
  auto h = x;
  for (std::size_t s = 0; s < discriminators.size(); ++s) {
    if (s > 0) {
      h = F::avg_pool2d(h, F::AvgPool2dFuncOptions(3).stride(2).padding(1).count_include_pad(false));
    }
    out.push_back(discriminators[s](h));
  }
  return out;
}

int MultiScalePatchGANImpl::min_input_size(int scales, int layers) {
  return PatchGANImpl::min_input_size(layers) << std::max(0, scales - 1);
}

void check_gan_loss(const std::string& loss) {
  if (loss != "lsgan" && loss != "hinge") {
    throw Error("model.gan_loss '" + loss + "' is not lsgan or hinge", ExitCode::kUsage);
  }
}

torch::Tensor discriminator_loss(const std::string& loss, const MultiScaleFeatures& real, const MultiScaleFeatures& fake) {
  check_gan_loss(loss);
  if (real.empty() || real.size() != fake.size()) throw Error("discriminator_loss: scales differ", ExitCode::kRuntime);
  torch::Tensor total;
  for (std::size_t s = 0; s < real.size(); ++s) {
    const auto& r = real[s].back();
    const auto& f = fake[s].back();
    // LSGAN: (D(real) - 1)^2 + D(fake)^2; hinge: max(0, 1 - D(real)) + max(0, 1 + D(fake)).
    auto term = loss == "lsgan" ? 0.5 * ((r - 1).square().mean() + f.square().mean())
                                : 0.5 * (torch::relu(1 - r).mean() + torch::relu(1 + f).mean());
    total = total.defined() ? total + term : term;
  }
  return total / static_cast<double>(real.size());
}

torch::Tensor generator_loss(const std::string& loss, const MultiScaleFeatures& fake) {
  check_gan_loss(loss);
  if (fake.empty()) throw Error("generator_loss: no scales", ExitCode::kRuntime);
  torch::Tensor total;
  for (const auto& f : fake) {
    auto term = loss == "lsgan" ? (f.back() - 1).square().mean() : -f.back().mean();
    total = total.defined() ? total + term : term;
  }
  return total / static_cast<double>(fake.size());
}

torch::Tensor feature_matching_loss(const MultiScaleFeatures& real, const MultiScaleFeatures& fake) {
  if (real.empty() || real.size() != fake.size()) throw Error("feature_matching_loss: scales differ", ExitCode::kRuntime);
  torch::Tensor total;
  std::int64_t n = 0;
  for (std::size_t s = 0; s < real.size(); ++s) {
    if (real[s].size() != fake[s].size() || real[s].size() < 2) {
      throw Error("feature_matching_loss: layers differ", ExitCode::kRuntime);
    }
    for (std::size_t l = 0; l + 1 < real[s].size(); ++l) {  // the logits are the adversarial term's
      auto term = torch::l1_loss(fake[s][l], real[s][l].detach());
      total = total.defined() ? total + term : term;
      ++n;
    }
  }
  return total / static_cast<double>(n);
}

}  // namespace medsynth::modules::nn
