// The gan family and the shared PatchGAN blocks: the 70x70 receptive field and multi-scale
// shapes; the adversarial losses at their optima.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medsynth/error.h"
#include "medsynth/modules/nn/patchgan.h"

namespace mn = medsynth::modules::nn;

TEST(GanPatchGAN, ThreeLayerPatchGANSeesA70x70Patch) {
  torch::set_num_threads(1);
  EXPECT_EQ(mn::PatchGANImpl::receptive_field(3), 70);
  EXPECT_EQ(mn::PatchGANImpl::receptive_field(2), 34);
  torch::manual_seed(1);
  // Without InstanceNorm, whose statistics span the map: the support of one output pixel's
  // gradient is exactly the convolution stack's receptive field.
  mn::PatchGAN d(1, 8, 3, false);
  auto x = torch::randn({1, 1, 96, 96}, torch::requires_grad());
  auto logits = d->forward(x).back();
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 1, 10, 10}));
  logits.index({0, 0, 5, 5}).backward();
  auto support = x.grad()[0][0].abs() > 0;
  auto rows = support.any(1).nonzero(), cols = support.any(0).nonzero();
  const auto r0 = rows.min().item<int64_t>(), r1 = rows.max().item<int64_t>();
  const auto c0 = cols.min().item<int64_t>(), c1 = cols.max().item<int64_t>();
  EXPECT_EQ(r1 - r0 + 1, 70);
  EXPECT_EQ(c1 - c0 + 1, 70);
  // Output pixel j sees inputs 8j - 23 .. 8j + 46 (three stride-2 layers, padding 1 everywhere).
  EXPECT_EQ(r0, 5 * 8 - 23);
  EXPECT_EQ(support.sum().item<int64_t>(), 70 * 70) << "holes in the receptive field";
}

TEST(GanPatchGAN, MultiScaleDiscriminatorReturnsEveryLayerAtEveryScale) {
  torch::set_num_threads(1);
  EXPECT_EQ(mn::MultiScalePatchGANImpl::min_input_size(3, 3), 96);
  mn::MultiScalePatchGAN d(3, 2, 8, 3);
  auto out = d->forward(torch::randn({2, 2, 96, 96}));
  ASSERT_EQ(out.size(), 3u);
  const std::vector<std::vector<int64_t>> logits{{2, 1, 10, 10}, {2, 1, 4, 4}, {2, 1, 1, 1}};
  const std::vector<int64_t> widths{8, 16, 32, 64, 1};
  for (std::size_t s = 0; s < 3; ++s) {
    ASSERT_EQ(out[s].size(), 5u) << "scale " << s;
    for (std::size_t l = 0; l < 5; ++l) EXPECT_EQ(out[s][l].size(1), widths[l]) << "scale " << s << " layer " << l;
    EXPECT_EQ(out[s].back().sizes(), logits[s]) << "scale " << s;
  }
  // The first layer of scale 1 sees the input at half resolution.
  EXPECT_EQ(out[1][0].size(2), 24);
}

TEST(GanPatchGAN, LossesVanishAtTheirOptimaAndFeatureMatchingLeavesTheRealSideAlone) {
  auto ones = torch::ones({2, 1, 4, 4}), zeros = torch::zeros({2, 1, 4, 4});
  mn::MultiScaleFeatures real{{ones}}, fake0{{zeros}}, fake_neg{{-ones}};
  EXPECT_EQ(mn::discriminator_loss("lsgan", real, fake0).item<double>(), 0.0);
  EXPECT_EQ(mn::generator_loss("lsgan", real).item<double>(), 0.0);
  EXPECT_EQ(mn::discriminator_loss("hinge", real, fake_neg).item<double>(), 0.0);
  EXPECT_EQ(mn::generator_loss("hinge", real).item<double>(), -1.0);
  EXPECT_NEAR(mn::discriminator_loss("lsgan", fake0, real).item<double>(), 1.0, 1e-12);  // 0.5 (1 + 1)
  EXPECT_THROW(mn::generator_loss("wgan", real), medsynth::Error);

  auto r = torch::randn({2, 4, 8, 8}, torch::requires_grad());
  auto f = torch::randn({2, 4, 8, 8}, torch::requires_grad());
  mn::MultiScaleFeatures rf{{r, r.sum()}, {r * 2, r.sum()}}, ff{{f, f.sum()}, {f * 2, f.sum()}};
  auto fm = mn::feature_matching_loss(rf, ff);
  EXPECT_NEAR(fm.item<double>(), 1.5 * torch::l1_loss(f, r).item<double>(), 1e-5);  // mean of |f-r| and 2|f-r|
  fm.backward();
  EXPECT_FALSE(r.grad().defined()) << "real features must be detached";
  EXPECT_TRUE(f.grad().defined());
  EXPECT_EQ(mn::feature_matching_loss(rf, rf).item<double>(), 0.0);
}
