// The gan family and the shared PatchGAN blocks: the 70x70 receptive field and multi-scale
// shapes; the adversarial losses at their optima; pix2pix (BrainWeb PD to T1) and SPADE (Colin27
// tissue map) train stably on real slices; save/load; refusals.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/modules/gan/gan_model.h"
#include "medsynth/modules/nn/patchgan.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/trainer.h"
#include "train/train_fixture.h"

namespace md = medsynth::modules;
namespace mn = medsynth::modules::nn;
namespace pl = medsynth::pipeline;
using namespace medsynth::test;

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

// ---- The gan family on real slices --------------------------------------------------------------

namespace {

md::ModelConfig tiny_gan() {
  md::ModelConfig c;
  c.family = "gan";
  c.image_size = 32;
  c.channels = {16, 32};
  c.disc_channels = 16;
  return c;
}

// The ITK examples' BrainWeb slice pair (one axial slice, PD and T1 of the same brain) as a
// one-slice dataset: T1 the image, PD the source.
pl::SliceDataset brainweb_pd_t1(TempDir& tmp) {
  std::ofstream(tmp.str("pd-t1.csv")) << "subject,image,source\nbrainweb,"
                                      << data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples") << ","
                                      << data_file(kItkData + "BrainProtonDensitySlice.png", "insighttoolkit5-examples")
                                      << "\n";
  pl::RunConfig c;
  c.data.manifest = tmp.str("pd-t1.csv");
  c.data.grid = 32;
  c.data.labels = "none";
  c.data.holdout = 0;
  return pl::SliceDataset::open(pl::ingest(c, tmp.str("cache")).dir);
}

pl::SliceDataset ch2_tissue_slices(TempDir& tmp) {
  pl::RunConfig c;
  c.data.manifest = write_ch2_manifest(tmp.str());
  c.data.grid = 32;
  c.data.labels = "tissue";
  return pl::SliceDataset::open(pl::ingest(c, tmp.str("cache")).dir);
}

// Mean L1 of the EMA generator's output to the batch's images: over all pixels, and over the
// head alone (the background is learnt first and would dominate).
std::pair<double, double> mean_l1(md::GanModel& m, const md::Batch& b) {
  md::Condition c = b;
  c.image = torch::Tensor();
  const auto err = (m.sample(c, md::SampleOptions{}) - b.image).abs();
  const auto head = b.image > -0.95;
  return {err.mean().item<double>(), err.masked_select(head).mean().item<double>()};
}

// Trains `steps` steps on batches drawn from `pick` and checks that every loss part stays finite
// and that the EMA generator's L1 to `probe` falls, over the slice and over the head.
void train_and_probe(const std::string& what, md::GanModel& m, int steps, const std::function<md::Batch(int)>& pick,
                     const md::Batch& probe) {
  md::OptimConfig o;
  o.lr = 1e-3;
  m.configure_training(o);
  const auto before = mean_l1(m, probe);
  for (int s = 0; s < steps; ++s) {
    const auto stats = m.train_step(pick(s), std::uint64_t(s));
    const auto& l = m.last_losses();
    EXPECT_TRUE(std::isfinite(stats.loss) && std::isfinite(l.discriminator) && std::isfinite(l.adversarial) &&
                std::isfinite(stats.grad_norm))
        << "step " << s << ": G " << stats.loss << " D " << l.discriminator;
    if (!std::isfinite(stats.loss)) break;
  }
  const auto after = mean_l1(m, probe);
  std::cerr << what << ": L1 " << before.first << " -> " << after.first << ", in the head " << before.second << " -> "
            << after.second << "\n";
  EXPECT_LT(after.first, 0.5 * before.first) << what;
  EXPECT_LT(after.second, 0.7 * before.second) << what << " (in the head)";
}

}  // namespace

TEST(GanModel, Pix2PixTranslatesTheBrainWebProtonDensitySliceToT1) {
  torch::set_num_threads(1);  // ctest runs two tests at once on two cores
  TempDir tmp;
  const auto data = brainweb_pd_t1(tmp);
  ASSERT_EQ(data.size(), 1u) << "a PNG is a one-slice volume";
  ASSERT_TRUE(data.has_source());
  auto c = tiny_gan();
  c.source_image = true;
  md::GanModel m(c, torch::kCPU);
  EXPECT_EQ(m.generator_kind(), "pix2pix");
  EXPECT_EQ(m.discriminator_scales(), 1);
  const std::vector<std::size_t> idx(4, data.indices(false).at(0));
  const auto batch = pl::make_batch(data, idx, c, torch::kCPU);
  train_and_probe("pix2pix PD->T1", m, 40, [&](int) { return batch; }, batch);
}

TEST(GanModel, SpadeLearnsColin27FromItsTissueMapWithTwoDiscriminatorScales) {
  torch::set_num_threads(1);
  TempDir tmp;
  const auto data = ch2_tissue_slices(tmp);
  auto c = tiny_gan();
  c.label_classes = data.label_classes();
  c.disc_layers = 2;  // the 34x34 PatchGAN: at 32x32 a 70x70 one has room for a single scale
  c.gan_loss = "hinge";
  md::GanModel m(c, torch::kCPU);
  EXPECT_EQ(m.generator_kind(), "spade");
  EXPECT_EQ(m.discriminator_scales(), 2);
  const auto idx = data.indices(false);
  auto pick = [&](int s) {
    std::vector<std::size_t> b;
    for (int i = 0; i < 8; ++i) b.push_back(idx[(std::size_t(s) * 8 + std::size_t(i) * 37) % idx.size()]);
    return pl::make_batch(data, b, c, torch::kCPU);
  };
  std::vector<std::size_t> probe_idx;
  for (std::size_t i = 0; i < 8; ++i) probe_idx.push_back(idx[i * idx.size() / 8]);
  const auto probe = pl::make_batch(data, probe_idx, c, torch::kCPU);
  train_and_probe("spade tissue->T1", m, 40, pick, probe);
  EXPECT_GT(m.last_losses().feature_matching, 0.0);
}

TEST(GanModel, SaveAndLoadGiveTheSameSamplesAndTheSameNextStep) {
  torch::set_num_threads(1);
  auto c = tiny_gan();
  c.label_classes = 3;
  c.source_image = true;  // both conditions: pix2pix on their concatenation (auto)
  c.dropout = 0.5;
  md::Batch b;
  b.image = torch::rand({2, 1, 32, 32}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 3, {2, 32, 32}, torch::kLong), 3).permute({0, 3, 1, 2}).to(torch::kFloat);
  b.source = torch::rand({2, 1, 32, 32}) * 2 - 1;
  md::OptimConfig o;
  auto a = md::create_model(c, torch::kCPU);
  EXPECT_EQ(dynamic_cast<md::GanModel&>(*a).generator_kind(), "pix2pix");
  a->configure_training(o);
  for (int s = 0; s < 3; ++s) a->train_step(b, std::uint64_t(s));
  std::stringstream bytes;
  {
    torch::serialize::OutputArchive out;
    a->save(out);
    out.save_to(bytes);
  }
  auto r = md::create_model(c, torch::kCPU);
  r->configure_training(o);
  {
    torch::serialize::InputArchive in;
    in.load_from(bytes);
    r->load(in);
  }
  md::Condition cond = b;
  cond.image = torch::Tensor();
  EXPECT_TRUE(torch::equal(a->sample(cond, {}), r->sample(cond, {})));
  EXPECT_FALSE(torch::equal(a->sample(cond, {}), md::GanModel(c, torch::kCPU).sample(cond, {})));
  // Optimiser states and the EMA count came along: the next step is the same on both.
  a->train_step(b, 3);
  r->train_step(b, 3);
  const auto wa = a->weights(), wr = r->weights();
  ASSERT_EQ(wa.size(), wr.size());
  for (std::size_t i = 0; i < wa.size(); ++i) ASSERT_TRUE(torch::equal(wa[i], wr[i])) << "weight " << i;
  EXPECT_TRUE(torch::equal(a->sample(cond, {}), r->sample(cond, {})));
}

TEST(GanModel, RefusesToSampleWithoutTheConditionsItWasTrainedWith) {
  auto c = tiny_gan();
  c.source_image = true;
  md::GanModel m(c, torch::kCPU);
  auto expect_refusal = [&](const md::Condition& cond, const std::string& words) {
    try {
      m.sample(cond, {});
      ADD_FAILURE() << "accepted; expected: " << words;
    } catch (const md::Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_refusal(md::Condition{}, "cannot sample without");
  md::Condition labels;
  labels.labels = torch::zeros({1, 4, 32, 32});
  expect_refusal(labels, "label map");
  md::Condition cls;
  cls.source = torch::zeros({1, 1, 32, 32});
  cls.class_id = torch::zeros({1}, torch::kLong);
  expect_refusal(cls, "class");
  try {
    md::require(m, md::Capability::kInpaint);
    FAIL();
  } catch (const md::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ddpm"), std::string::npos) << e.what();
  }
  auto none = tiny_gan();
  EXPECT_THROW(md::GanModel(none, torch::kCPU), md::Error) << "a GAN without any condition";
  auto spade = tiny_gan();
  spade.label_classes = 4;
  spade.disc_scales = 2;  // 2 x 24 > 32 pixels
  try {
    md::GanModel bad(spade, torch::kCPU);
    FAIL();
  } catch (const md::Error& e) {
    EXPECT_NE(std::string(e.what()).find("disc_scales"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), medsynth::ExitCode::kUsage);
  }
}

// ---- Through the real CLI -----------------------------------------------------------------------

TEST(GanCli, TrainsWithTheTinyConfigAndSamplesAVolumeFromATissueMap) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("gan.ini")) << tiny_config(manifest, tmp.str("run"), 30);
  auto r = run_medsynth("train --config " + tmp.str("gan.ini") + " --model.family gan --train.checkpoint_every 30", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string ckpt = tmp.str("run/checkpoints/ckpt-00000030.pt");
  ASSERT_TRUE(fs::exists(ckpt));
  const auto info = pl::read_checkpoint_info(ckpt);
  EXPECT_EQ(info.family, "gan");
  const std::string labels = ch2_tissue_map();
  r = run_medsynth("sample --checkpoint " + ckpt + " --condition " + labels + " --out " + tmp.str("synth.nii.gz"), 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = medsynth::io::read_volume(tmp.str("synth.nii.gz"));
  const auto l = medsynth::io::read_label_volume(labels);
  EXPECT_TRUE(s.geometry.same_grid(l.geometry, 1e-4));
  for (float v : s.voxels) ASSERT_TRUE(std::isfinite(v));
  // Without a condition there is nothing to translate: refused, nothing written.
  r = run_medsynth("sample --checkpoint " + ckpt + " --slices 4 --out " + tmp.str("x.nii.gz"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("without one"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("x.nii.gz")));
}

TEST(GanCli, ShippedConfigsTrainAndTheBrainWebModelTranslatesThePdSlice) {
  TempDir tmp;
  const std::string configs = std::string(MEDSYNTH_SOURCE_DIR) + "/configs/";
  // A few steps of each recipe as shipped (smaller batch), to catch configs that no longer load.
  auto r = run_medsynth("train --config " + configs + "brainweb-pd-to-t1-pix2pix.ini --train.out " + tmp.str("p2p") +
                            " --train.steps 3 --train.threads 1",
                        600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth("train --config " + configs + "colin27-tissue-spade.ini --train.out " + tmp.str("spade") +
                       " --train.steps 2 --train.batch 2 --train.threads 1",
                   600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(tmp.str("spade/checkpoints/ckpt-00000002.pt")));
  // The translation goes back onto the PD slice's own grid.
  const std::string pd = kItkData + "BrainProtonDensitySlice.png";
  r = run_medsynth("sample --checkpoint " + tmp.str("p2p/checkpoints/ckpt-00000003.pt") + " --source " + pd + " --out " +
                   tmp.str("t1.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto t1 = medsynth::io::read_volume(tmp.str("t1.nii.gz"));
  EXPECT_EQ(t1.geometry.size, (std::array<std::size_t, 3>{181, 217, 1}));
  // A one-slice dataset cannot hold out a slab and still train: refused, naming the key.
  r = run_medsynth("train --config " + configs + "brainweb-pd-to-t1-pix2pix.ini --train.out " + tmp.str("h") +
                   " --train.steps 1 --data.holdout 0.5");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("data.holdout = 0 trains on every slice"), std::string::npos) << r.err;
}
