// TrainedNet and finish_step, the training tail every family shares: a non-finite loss of any
// network (the VAE-GAN's discriminator included, which used to throw after the VAE had stepped)
// stops the step before any weight changes; parameter_count is every trained weight in every
// family (the VAE-GAN used to leave its discriminator out); a saved model continues identically.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "medsynth/modules/generative_model.h"
#include "tiny_model.h"

namespace md = medsynth::modules;

namespace {

md::ModelConfig tiny(const std::string& family) {
  auto c = medsynth::test::tiny_model(family, 32);
  if (family == "vae") c.adv_weight = 0.1, c.perceptual_weight = 0.1;  // VAE-GAN
  return c;
}

md::Batch batch(std::int64_t seed) {
  torch::manual_seed(seed);
  md::Batch b;
  b.image = torch::rand({2, 1, 32, 32}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 3, {2, 32, 32}, torch::kLong), 3).permute({0, 3, 1, 2}).to(torch::kFloat);
  return b;
}

std::vector<torch::Tensor> copies(md::GenerativeModel& m) {
  std::vector<torch::Tensor> out;
  for (const auto& w : m.weights()) out.push_back(w.detach().clone());
  return out;
}

// Equal bit for bit, NaN where NaN.
bool same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i].nan_to_num(7.0), b[i].nan_to_num(7.0))) return false;
  }
  return true;
}

}  // namespace

TEST(TrainedNet, ANonFiniteLossOfAnyNetworkStopsTheStepBeforeAnyWeightChanges) {
  for (const std::string family : {"ddpm", "vae", "gan"}) {
    SCOPED_TRACE(family);
    auto m = md::create_model(tiny(family), torch::kCPU);
    md::OptimConfig o;
    o.lr = 1e-3;
    m->configure_training(o);
    ASSERT_TRUE(std::isfinite(m->train_step(batch(1), 1).loss));
    // A NaN in the last trained tensor: the discriminator's for vae (VAE-GAN) and gan.
    {
      torch::NoGradGuard ng;
      m->weights().back().view(-1)[0] = std::nan("");
    }
    const auto before = copies(*m);
    EXPECT_FALSE(std::isfinite(m->train_step(batch(2), 2).loss));
    EXPECT_TRUE(same(before, copies(*m))) << "a weight changed in a step whose loss was not finite";
  }
}

TEST(TrainedNet, ParameterCountIsEveryTrainedWeightInEveryFamily) {
  for (const std::string family : {"ddpm", "vae", "gan"}) {
    SCOPED_TRACE(family);
    auto m = md::create_model(tiny(family), torch::kCPU);
    std::int64_t n = 0;
    for (const auto& w : m->weights()) n += w.numel();
    EXPECT_EQ(m->parameter_count(), n);
  }
  auto plain = tiny("vae");
  plain.adv_weight = 0, plain.perceptual_weight = 0;
  EXPECT_GT(md::create_model(tiny("vae"), torch::kCPU)->parameter_count(),
            md::create_model(plain, torch::kCPU)->parameter_count())
      << "the VAE-GAN's count leaves its discriminator out";
}

TEST(TrainedNet, ASavedModelContinuesExactlyAsTheOneThatKeptTraining) {
  for (const std::string family : {"ddpm", "vae", "gan"}) {
    SCOPED_TRACE(family);
    md::OptimConfig o;
    o.lr = 1e-3;
    o.grad_clip = 1;
    auto a = md::create_model(tiny(family), torch::kCPU);
    a->configure_training(o);
    for (int s = 0; s < 2; ++s) a->train_step(batch(10 + s), 10 + s);
    std::stringstream bytes;
    {
      torch::serialize::OutputArchive out;
      a->save(out);
      out.save_to(bytes);
    }
    auto b = md::create_model(tiny(family), torch::kCPU);
    b->configure_training(o);
    torch::serialize::InputArchive in;
    in.load_from(bytes);
    b->load(in);
    a->train_step(batch(20), 20);
    b->train_step(batch(20), 20);
    EXPECT_TRUE(same(copies(*a), copies(*b))) << "weights, EMA, optimiser or step count not restored alike";
  }
}
