// A diffusion sampler computes SPADE's label-map branch once per sampling call, not once per step
// (SampleOptions::reuse_conditions, nn::HeldConditions): the samples are the same bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/nn/blocks.h"
#include "tiny_model.h"

namespace md = medsynth::modules;

namespace {

torch::Tensor one_hot_labels(std::int64_t batch, std::int64_t classes, std::int64_t size, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto ids = torch::randint(classes, {batch, size, size}, gen, torch::kLong);
  return torch::one_hot(ids, classes).permute({0, 3, 1, 2}).to(torch::kFloat).contiguous();
}

}  // namespace

TEST(HeldConditions, ASpadeReusesItsFirstScaleAndShiftOnlyWhileHeld) {
  torch::manual_seed(1);
  md::nn::Spade spade(8, 3, 4);
  torch::NoGradGuard ng;
  const auto x = torch::randn({2, 8, 8, 8});
  const auto a = one_hot_labels(2, 3, 8, 1), b = one_hot_labels(2, 3, 8, 2);
  const auto with_a = spade(x, a), with_b = spade(x, b);
  ASSERT_FALSE(torch::equal(with_a, with_b)) << "the label map changes nothing: the test shows nothing";
  {
    md::nn::HeldConditions held(*spade, true);
    EXPECT_TRUE(torch::equal(spade(x, a), with_a));
    // Held: the second call's label map is not read (the caller promised it is the same).
    EXPECT_TRUE(torch::equal(spade(x, b), with_a));
    // Another size is computed afresh, not a wrong reuse.
    const auto small = torch::randn({2, 8, 4, 4});
    EXPECT_EQ(spade(small, b).sizes(), small.sizes());
  }
  EXPECT_FALSE(spade->held);
  EXPECT_FALSE(spade->held_gamma.defined()) << "the guard kept its tensors after it ended";
  EXPECT_TRUE(torch::equal(spade(x, b), with_b));
  {
    md::nn::HeldConditions off(*spade, false);
    EXPECT_TRUE(torch::equal(spade(x, b), with_b));
    EXPECT_TRUE(torch::equal(spade(x, a), with_a));
  }
}

// The timings are printed, not asserted (a shared machine); bench_families measures them.
TEST(HeldConditions, SpadeDdpmSamplesAreTheSameBitForBitWithTheBranchHeld) {
  auto c = medsynth::test::tiny_model("ddpm", 32);
  c.label_classes = 4;
  c.label_mode = "spade";
  torch::manual_seed(3);
  const auto model = md::create_model(c, torch::kCPU);
  md::Condition cond;
  cond.labels = one_hot_labels(3, 4, 32, 5);
  for (const double guidance : {1.0, 2.0}) {
    md::SampleOptions o;
    o.steps = 6;
    o.guidance = guidance;
    o.seeds = {11, 12, 13};
    o.reuse_conditions = false;
    const auto t0 = std::chrono::steady_clock::now();
    const auto every_step = model->sample(cond, o);
    const auto t1 = std::chrono::steady_clock::now();
    o.reuse_conditions = true;
    const auto reused = model->sample(cond, o);
    const auto t2 = std::chrono::steady_clock::now();
    EXPECT_TRUE(torch::equal(every_step, reused)) << "guidance " << guidance << ": max difference "
                                                  << (every_step - reused).abs().max().item<double>();
    std::printf("guidance %.0f: %d DDIM steps, SPADE branch every step %.3f s, once %.3f s (ratio %.2f)\n", guidance,
                o.steps, std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
                std::chrono::duration<double>(t2 - t1).count() / std::chrono::duration<double>(t1 - t0).count());
  }
  // A second call with another label map is not served the first call's scale and shift.
  md::SampleOptions o;
  o.steps = 3;
  o.seeds = {11, 12, 13};
  const auto first = model->sample(cond, o);
  md::Condition other;
  other.labels = one_hot_labels(3, 4, 32, 6);
  const auto second = model->sample(other, o);
  o.reuse_conditions = false;
  EXPECT_TRUE(torch::equal(second, model->sample(other, o)));
  EXPECT_FALSE(torch::equal(first, second));
}
