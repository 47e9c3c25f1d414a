// The vae family on real Colin27 slices: training lowers the reconstruction error; the decoder
// follows the label map; sampling is seeded per slice; latents round-trip through a checkpoint;
// what a vae cannot do is refused naming the families that can.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "medsynth/modules/vae/vae_model.h"
#include "medsynth/pipeline/trainer.h"
#include "train/train_fixture.h"

namespace md = medsynth::modules;
namespace pl = medsynth::pipeline;
using namespace medsynth::test;

namespace {

md::ModelConfig tiny_vae(int label_classes) {
  md::ModelConfig c;
  c.family = "vae";
  c.image_size = 32;
  c.channels = {16, 32, 32};
  c.res_blocks = 1;
  c.label_classes = label_classes;
  c.latent_channels = 4;
  c.kl_warmup = 20;
  return c;
}

std::vector<std::size_t> batch_of(const std::vector<std::size_t>& idx, int step, int n) {
  std::vector<std::size_t> b;
  for (int i = 0; i < n; ++i) b.push_back(idx[(std::size_t(step) * std::size_t(n) + std::size_t(i) * 37) % idx.size()]);
  return b;
}

double mean_abs(const torch::Tensor& t) { return t.abs().mean().item<double>(); }

}  // namespace

TEST(Vae, TrainsOnRealSlicesAndItsDecoderFollowsTheLabelMap) {
  torch::set_num_threads(1);  // ctest runs two tests at once on two cores
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str());
  auto c = tiny_vae(data.label_classes());
  md::VaeModel m(c, torch::kCPU);
  EXPECT_EQ(m.latent_shape(), (std::vector<std::int64_t>{4, 8, 8}));
  md::OptimConfig o;
  o.lr = 2e-3;
  m.configure_training(o);
  const auto idx = data.indices(false);
  const auto fixed = pl::make_batch(data, batch_of(data.indices(true), 0, 8), c, torch::kCPU);  // held-out slices
  md::SampleOptions so;
  const double before = mean_abs(m.decode(m.encode(fixed.image, fixed, so), fixed) - fixed.image);
  for (int s = 0; s < 150; ++s) {
    const auto st = m.train_step(pl::make_batch(data, batch_of(idx, s, 8), c, torch::kCPU), std::uint64_t(s));
    ASSERT_TRUE(std::isfinite(st.loss)) << "step " << s;
  }
  const auto z = m.encode(fixed.image, fixed, so);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{8, 4, 8, 8}));
  const double after = mean_abs(m.decode(z, fixed) - fixed.image);
  std::cerr << "held-out reconstruction L1 " << before << " -> " << after << "\n";
  EXPECT_LT(after, 0.5 * before);
  EXPECT_LT(after, 0.15);  // of a [-1, 1] range

  // Samples from the prior, decoded with the held-out label maps: tissue classes come out in the
  // order of their intensity on T1 (CSF < grey < white matter), as the tissue map defines them.
  so.seeds = {1, 2, 3, 4, 5, 6, 7, 8};
  const auto x = m.sample(fixed, so);
  const auto ids = fixed.labels.argmax(1, true);
  std::vector<double> mean;
  for (int k = 1; k < 4; ++k) mean.push_back(x.masked_select(ids == k).mean().item<double>());
  EXPECT_LT(mean[0], mean[1]);
  EXPECT_LT(mean[1], mean[2]);
  // Seeded per sample: the same seeds give the same slices, another seed another slice.
  EXPECT_TRUE(torch::equal(x, m.sample(fixed, so)));
  so.seeds[0] = 99;
  const auto y = m.sample(fixed, so);
  EXPECT_FALSE(torch::equal(x[0], y[0]));
  EXPECT_TRUE(torch::equal(x[1], y[1]));
}

TEST(Vae, CheckpointRoundTripGivesTheSameLatentsAndSamples) {
  auto c = tiny_vae(0);
  md::VaeModel a(c, torch::kCPU);
  md::OptimConfig o;
  a.configure_training(o);
  md::Batch b;
  b.image = torch::rand({4, 1, 32, 32}) * 2 - 1;
  for (int s = 0; s < 3; ++s) a.train_step(b, std::uint64_t(s));
  torch::serialize::OutputArchive out;
  a.save(out);
  std::stringstream buf;
  out.save_to(buf);
  md::VaeModel r(c, torch::kCPU);
  r.configure_training(o);
  torch::serialize::InputArchive in;
  in.load_from(buf);
  r.load(in);
  md::SampleOptions so;
  so.seeds = {5, 6};
  EXPECT_TRUE(torch::equal(a.sample(md::Condition{}, so), r.sample(md::Condition{}, so)));
  EXPECT_TRUE(torch::equal(a.encode(b.image, md::Condition{}, so), r.encode(b.image, md::Condition{}, so)));
  // Training continues identically (optimiser state and step count came along).
  a.train_step(b, 9);
  r.train_step(b, 9);
  for (std::size_t i = 0; i < a.weights().size(); ++i) ASSERT_TRUE(torch::equal(a.weights()[i], r.weights()[i]));
}

TEST(Vae, RefusesInpaintingNamingTheFamiliesThatCan) {
  md::VaeModel m(tiny_vae(0), torch::kCPU);
  EXPECT_TRUE(m.can(md::Capability::kInterpolate));
  try {
    md::require(m, md::Capability::kInpaint);
    FAIL() << "a vae claimed to inpaint";
  } catch (const md::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("vae model cannot inpaint"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ddpm"), std::string::npos) << msg;
    EXPECT_EQ(e.code(), medsynth::ExitCode::kUsage);
  }
  md::Condition with_labels;
  with_labels.labels = torch::zeros({1, 4, 32, 32});
  md::SampleOptions so;
  so.seeds = {1};
  EXPECT_THROW(m.sample(with_labels, so), md::Error);
}

TEST(Vae, VaeGanTrainsWithFiniteLossesAndCheckpointsItsDiscriminator) {
  torch::set_num_threads(1);
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str());
  auto c = tiny_vae(data.label_classes());
  c.adv_weight = 0.1;
  c.perceptual_weight = 1.0;
  c.disc_channels = 16;
  c.disc_layers = 2;
  md::VaeModel m(c, torch::kCPU);
  md::OptimConfig o;
  o.lr = 2e-3;
  m.configure_training(o);
  const auto n_plain = md::VaeModel(tiny_vae(data.label_classes()), torch::kCPU).weights().size();
  EXPECT_GT(m.weights().size(), n_plain) << "the discriminator's weights are not part of the model";
  const auto idx = data.indices(false);
  const auto fixed = pl::make_batch(data, batch_of(idx, 0, 8), c, torch::kCPU);
  md::SampleOptions so;
  const double before = mean_abs(m.decode(m.encode(fixed.image, fixed, so), fixed) - fixed.image);
  for (int s = 0; s < 40; ++s) {
    const auto st = m.train_step(pl::make_batch(data, batch_of(idx, s, 8), c, torch::kCPU), std::uint64_t(s));
    ASSERT_TRUE(std::isfinite(st.loss)) << "step " << s;
  }
  const double after = mean_abs(m.decode(m.encode(fixed.image, fixed, so), fixed) - fixed.image);
  EXPECT_LT(after, 0.6 * before) << before << " -> " << after;
  torch::serialize::OutputArchive out;
  m.save(out);
  std::stringstream buf;
  out.save_to(buf);
  md::VaeModel r(c, torch::kCPU);
  torch::serialize::InputArchive in;
  in.load_from(buf);
  r.load(in);
  for (std::size_t i = 0; i < m.weights().size(); ++i) ASSERT_TRUE(torch::equal(m.weights()[i], r.weights()[i]));
  // A perceptual term without a discriminator is refused: it measures in the discriminator's features.
  auto bad = tiny_vae(0);
  bad.perceptual_weight = 1.0;
  EXPECT_THROW(md::VaeModel(bad, torch::kCPU), md::Error);
}
