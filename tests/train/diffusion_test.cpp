// The ddpm family on real slices: training lowers the loss; DDIM with eta 0 is deterministic;
// guidance 0 is the unconditional prediction; inpainting keeps the outside exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medsynth/modules/diffusion/ddpm_model.h"
#include "medsynth/modules/diffusion/noise_schedule.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/trainer.h"
#include "train/train_fixture.h"

namespace md = medsynth::modules;
namespace pl = medsynth::pipeline;
using namespace medsynth::test;

namespace {

md::ModelConfig tiny(int label_classes) {
  md::ModelConfig c;
  c.image_size = 32;
  c.channels = {16, 32};
  c.res_blocks = 1;
  c.label_classes = label_classes;
  c.num_classes = 3;
  c.slice_position = true;
  return c;
}

}  // namespace

TEST(Diffusion, NoiseSchedulesDecreaseFromNearOneToNearZero) {
  for (const char* s : {"linear", "cosine"}) {
    const auto ab = md::diffusion::alphas_cumprod(s, 1000);
    EXPECT_GT(ab.front(), 0.99) << s;
    EXPECT_LT(ab.back(), 0.01) << s;
    for (std::size_t i = 1; i < ab.size(); ++i) ASSERT_LT(ab[i], ab[i - 1]) << s;
  }
  const auto ts = md::diffusion::sampling_timesteps(1000, 50);
  EXPECT_EQ(ts.size(), 50u);
  EXPECT_EQ(ts.front(), 999);
  EXPECT_EQ(ts.back(), 0);
}

TEST(Diffusion, TrainingOnRealSlicesLowersTheLoss) {
  torch::set_num_threads(1);  // ctest runs two tests at once on two cores
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str());
  for (const char* mode : {"concat", "spade"}) {
    auto c = tiny(data.label_classes());
    c.label_mode = mode;
    c.num_classes = 0;
    md::DdpmModel m(c, torch::kCPU);
    md::OptimConfig o;
    o.lr = 2e-3;
    m.configure_training(o);
    const auto idx = data.indices(false);
    double first = 0, last = 0;
    const int steps = 120, window = 20;
    for (int s = 0; s < steps; ++s) {
      std::vector<std::size_t> b;
      for (int i = 0; i < 8; ++i) b.push_back(idx[(std::size_t(s) * 8 + std::size_t(i) * 37) % idx.size()]);
      const auto stats = m.train_step(pl::make_batch(data, b, c, torch::kCPU), std::uint64_t(s));
      ASSERT_TRUE(std::isfinite(stats.loss));
      if (s < window) first += stats.loss / window;
      if (s >= steps - window) last += stats.loss / window;
    }
    std::cerr << mode << ": loss " << first << " -> " << last << "\n";
    EXPECT_LT(last, 0.7 * first) << mode << ": loss " << first << " -> " << last;
  }
}

TEST(Diffusion, DdimWithEtaZeroAndFixedSeedsIsDeterministic) {
  auto c = tiny(4);
  md::DdpmModel m(c, torch::kCPU);
  md::Condition cond;
  cond.labels = torch::one_hot(torch::randint(0, 4, {3, 32, 32}, torch::kLong), 4).permute({0, 3, 1, 2}).to(torch::kFloat);
  cond.class_id = torch::tensor({0, 1, 2}, torch::kLong);
  cond.position = torch::tensor({0.1f, 0.5f, 0.9f});
  md::SampleOptions o;
  o.steps = 5;
  o.seeds = {11, 12, 13};
  const auto a = m.sample(cond, o), b = m.sample(cond, o);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{3, 1, 32, 32}));
  EXPECT_LE(a.max().item<float>(), 1.0f);
  o.seeds = {11, 12, 14};
  const auto d = m.sample(cond, o);
  EXPECT_TRUE(torch::equal(a[0], d[0])) << "a slice's result depends on another slice's seed";
  EXPECT_FALSE(torch::equal(a[2], d[2]));
  o.eta = 1.0;
  EXPECT_FALSE(torch::equal(m.sample(cond, o)[2], d[2]));
}

TEST(Diffusion, GuidanceZeroIsTheUnconditionalPrediction) {
  auto c = tiny(4);
  c.label_mode = "spade";
  md::DdpmModel m(c, torch::kCPU);
  // Train a few steps so that conditional and unconditional outputs differ.
  md::OptimConfig o;
  m.configure_training(o);
  md::Batch b;
  b.image = torch::rand({4, 1, 32, 32}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 4, {4, 32, 32}, torch::kLong), 4).permute({0, 3, 1, 2}).to(torch::kFloat);
  b.class_id = torch::tensor({0, 1, 2, 0}, torch::kLong);
  b.position = torch::tensor({0.1f, 0.2f, 0.3f, 0.4f});
  for (int s = 0; s < 5; ++s) m.train_step(b, std::uint64_t(s));
  torch::NoGradGuard ng;
  auto x = torch::randn({4, 1, 32, 32});
  auto t = torch::full({4}, 500, torch::kLong);
  const auto guided0 = m.predict(x, t, b, 0.0);
  const auto uncond = m.predict(x, t, md::Condition{}, 1.0);
  const auto cond = m.predict(x, t, b, 1.0);
  EXPECT_TRUE(torch::allclose(guided0, uncond, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(cond, uncond, 1e-3, 1e-3));
  const auto guided3 = m.predict(x, t, b, 3.0);
  EXPECT_TRUE(torch::allclose(guided3, uncond + 3.0 * (cond - uncond), 1e-4, 1e-4));
}

TEST(Diffusion, InpaintingKeepsEveryVoxelOutsideTheMask) {
  auto c = tiny(0);
  c.num_classes = 0;
  c.slice_position = false;
  md::DdpmModel m(c, torch::kCPU);
  md::SampleOptions o;
  o.steps = 6;
  o.seeds = {1, 2};
  o.known = torch::rand({2, 1, 32, 32}) * 2 - 1;
  o.mask = torch::zeros({2, 1, 32, 32});
  o.mask.index_put_({torch::indexing::Slice(), 0, torch::indexing::Slice(8, 20), torch::indexing::Slice(10, 24)}, 1.0);
  o.resample_jumps = 2;
  const auto y = m.sample(md::Condition{}, o);
  const auto outside = (1 - o.mask).to(torch::kBool);
  EXPECT_TRUE(torch::equal(y.masked_select(outside), o.known.masked_select(outside)));
  EXPECT_FALSE(torch::equal(y.masked_select(o.mask.to(torch::kBool)), o.known.masked_select(o.mask.to(torch::kBool))));
}

TEST(Diffusion, RefusesConditionsTheModelWasNotTrainedWith) {
  auto c = tiny(0);
  c.num_classes = 0;
  md::DdpmModel m(c, torch::kCPU);
  md::Condition cond;
  cond.labels = torch::zeros({1, 4, 32, 32});
  md::SampleOptions o;
  o.steps = 2;
  try {
    m.sample(cond, o);
    FAIL();
  } catch (const md::Error& e) {
    EXPECT_NE(std::string(e.what()).find("label map"), std::string::npos) << e.what();
  }
  md::ModelConfig bad = tiny(0);
  bad.family = "stylegan";
  EXPECT_THROW(md::create_model(bad, torch::kCPU), md::Error);
}
