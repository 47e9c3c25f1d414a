// Native resolution, 2.5-D context and flow matching on real Colin27 slices: the native slice
// grid copies the volume voxel for voxel; patches carry their neighbours' label maps and their
// own coordinates; a flow model trains, samples slices of any size with Euler and Heun, inpaints
// and inverts; smooth start noise is correlated along the volume and exact per slice.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "medsynth/io/volume_io.h"
#include "medsynth/modules/diffusion/ddpm_model.h"
#include "medsynth/modules/diffusion/sampler.h"
#include "medsynth/modules/ldm/ldm_model.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/slice_grid.h"
#include "medsynth/pipeline/synthesis.h"
#include "medsynth/pipeline/trainer.h"
#include "train/train_fixture.h"

namespace md = medsynth::modules;
namespace pl = medsynth::pipeline;
using namespace medsynth::test;

namespace {

const char* kCh2 = "/usr/share/mricron/templates/ch2bet.nii.gz";

md::ModelConfig tiny_flow(int label_classes, int context) {
  md::ModelConfig c;
  c.image_size = 32;
  c.channels = {16, 16, 32};  // three levels: the bottleneck's self-attention sees 1/16 of the pixels
  c.res_blocks = 1;
  c.attention_levels = 0;
  c.label_classes = label_classes;
  c.context = context;
  c.coordinates = true;
  c.parametrization = "flow";
  return c;
}

// Trains `m` for `steps` steps on batches of 8 random 32 x 32 patches of Colin27's training
// slices; the mean loss of the first and the last `window` steps. Every loss must be finite.
std::pair<double, double> train_on_patches(md::GenerativeModel& m, const pl::SliceDataset& data, const md::ModelConfig& mc,
                                           int steps, int window) {
  const auto idx = data.indices(false);
  double first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    std::vector<std::size_t> b;
    std::vector<pl::PatchOffset> at;
    for (int j = 0; j < 8; ++j) {
      b.push_back(idx[static_cast<std::size_t>(s * 8 + j) % idx.size()]);
      at.push_back({(s * 37 + j * 11) % (181 - 32), (s * 53 + j * 17) % (217 - 32)});
    }
    const auto st = m.train_step(pl::make_batch(data, b, mc, torch::kCPU, at), static_cast<std::uint64_t>(s));
    EXPECT_TRUE(std::isfinite(st.loss)) << "step " << s;
    if (s < window) first += st.loss / window;
    if (s >= steps - window) last += st.loss / window;
  }
  return {first, last};
}

}  // namespace

TEST(Native, SliceGridCopiesColin27VoxelForVoxel) {
  const auto v = medsynth::io::read_volume(kCh2);
  const pl::SliceGrid sg(v.geometry, 0);
  EXPECT_EQ(sg.width(), 181);
  EXPECT_EQ(sg.height(), 217);
  EXPECT_DOUBLE_EQ(sg.pixel(), 1.0);
  const auto stack = sg.resample(v, 0.0f);
  const auto back = sg.restore(stack, v.geometry);
  ASSERT_EQ(back.voxels.size(), v.voxels.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < v.voxels.size(); ++i) differ += back.voxels[i] != v.voxels[i];
  EXPECT_EQ(differ, 0u) << "a native grid must neither interpolate nor shift";
  // On a larger canvas with an odd margin (several subjects share the largest canvas) the volume
  // sits whole pixels in: still copied, not interpolated half a pixel off.
  const auto wide = pl::SliceGrid::with_pixel(v.geometry, 1.0, 184, 220);
  const auto padded = wide.resample(v, 0.0f);
  EXPECT_EQ(padded[static_cast<std::size_t>(110 * 184 + 92) + 90 * wide.pixels()],
            stack[static_cast<std::size_t>((110 - 1) * 181 + 92 - 1) + 90 * sg.pixels()]);
  const auto back_wide = wide.restore(padded, v.geometry);
  std::size_t differ_wide = 0;
  for (std::size_t i = 0; i < v.voxels.size(); ++i) differ_wide += back_wide.voxels[i] != v.voxels[i];
  EXPECT_EQ(differ_wide, 0u);
  // The 64 grid, by contrast, is not the identity (it resamples).
  const pl::SliceGrid g64(v.geometry, 64);
  EXPECT_EQ(g64.width(), 64);
  EXPECT_GT(g64.pixel(), 3.0);
}

TEST(Native, PatchesCarryNeighbourLabelMapsAndCoordinates) {
  torch::set_num_threads(1);
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str(), 0);
  ASSERT_TRUE(data.native());
  EXPECT_EQ(data.width(), 181);
  EXPECT_EQ(data.height(), 217);
  const int K = data.label_classes();
  auto mc = tiny_flow(K, 1);
  const auto idx = data.indices(false);
  const std::size_t i = idx[idx.size() / 2];
  const std::vector<std::size_t> rows{i, i};
  const std::vector<pl::PatchOffset> at{{40, 60}, {100, 150}};
  const auto b = pl::make_batch(data, rows, mc, torch::kCPU, at);
  ASSERT_EQ(b.image.sizes(), torch::IntArrayRef({2, 1, 32, 32}));
  ASSERT_EQ(b.labels.sizes(), torch::IntArrayRef({2, 3 * K, 32, 32}));
  ASSERT_EQ(b.coords.sizes(), torch::IntArrayRef({2, 2, 32, 32}));
  // The image patch is the slice's pixels at the offset.
  EXPECT_FLOAT_EQ(b.image[0][0][0][0].item<float>(), data.image(i)[60 * 181 + 40]);
  EXPECT_FLOAT_EQ(b.image[1][0][5][7].item<float>(), data.image(i)[(150 + 5) * 181 + 100 + 7]);
  // Channels [K, 2K) are this slice's one-hot map; [2K, 3K) the next slice's; [0, K) the previous.
  const auto ids_here = b.labels[0].narrow(0, K, K).argmax(0);
  const auto ids_next = b.labels[0].narrow(0, 2 * K, K).argmax(0);
  const auto ids_prev = b.labels[0].narrow(0, 0, K).argmax(0);
  const std::size_t up = data.neighbour(i, 1), down = data.neighbour(i, -1);
  ASSERT_EQ(data.record(up).z, data.record(i).z + 1);
  ASSERT_EQ(data.record(down).z, data.record(i).z - 1);
  long mism = 0;
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const std::size_t p = static_cast<std::size_t>((60 + y) * 181 + 40 + x);
      mism += ids_here[y][x].item<long>() != data.labels(i)[p];
      mism += ids_next[y][x].item<long>() != data.labels(up)[p];
      mism += ids_prev[y][x].item<long>() != data.labels(down)[p];
    }
  }
  EXPECT_EQ(mism, 0);
  // Neighbouring slices differ somewhere (else the context test above proves nothing).
  EXPECT_GT((b.labels[1].narrow(0, 0, K) != b.labels[1].narrow(0, 2 * K, K)).sum().item<long>() +
                (b.labels[0].narrow(0, 0, K) != b.labels[0].narrow(0, 2 * K, K)).sum().item<long>(),
            0);
  // Coordinates: mm from the canvas centre / 100, x then y.
  EXPECT_NEAR(b.coords[0][0][0][0].item<float>(), (40 + 0.5 - 181 / 2.0) / 100, 1e-6);
  EXPECT_NEAR(b.coords[0][1][0][0].item<float>(), (60 + 0.5 - 217 / 2.0) / 100, 1e-6);
  // The edge of the volume: the neighbour beyond the first kept slice is that slice itself.
  EXPECT_EQ(data.neighbour(0, -1), 0u);
}

TEST(Flow, TrainsOnNativePatchesAndSamplesWholeSlicesWithEulerAndHeun) {
  torch::set_num_threads(1);
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str(), 0);
  auto mc = tiny_flow(data.label_classes(), 1);
  md::DdpmModel m(mc, torch::kCPU);
  md::OptimConfig o;
  o.lr = 2e-3;
  m.configure_training(o);
  const auto idx = data.indices(false);
  const auto [first, last] = train_on_patches(m, data, mc, 80, 15);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "a training loss was not finite";
  EXPECT_LT(last, 0.8 * first) << "flow loss did not fall: " << first << " -> " << last;

  // Whole native slices (217 x 181, not a multiple of 2): the condition gives the size.
  const auto v = medsynth::io::read_volume(kCh2);
  const pl::SliceGrid sg(v.geometry, 0);
  pl::SliceConditions conds;
  conds.native = true;
  conds.labels.assign(sg.slices() * sg.pixels(), 0);
  for (std::size_t n = 0; n < sg.pixels(); ++n) conds.labels[90 * sg.pixels() + n] = data.labels(idx[idx.size() / 2])[n];
  const auto c = conds.batch(89, 92, sg, mc, torch::kCPU);
  ASSERT_EQ(c.labels.sizes(), torch::IntArrayRef({3, 3 * data.label_classes(), 217, 181}));
  md::SampleOptions so;
  so.sampler = "euler";
  so.steps = 4;
  so.seeds = {1, 2, 3};
  const auto a = m.sample(c, so), a2 = m.sample(c, so);
  ASSERT_EQ(a.sizes(), torch::IntArrayRef({3, 1, 217, 181}));
  EXPECT_TRUE(torch::equal(a, a2)) << "euler with fixed seeds is deterministic";
  so.sampler = "heun";
  const auto h = m.sample(c, so);
  EXPECT_TRUE(torch::isfinite(h).all().item<bool>());
  EXPECT_GT((h - a).abs().max().item<float>(), 0.0f) << "heun takes other steps than euler";
  EXPECT_LT((h - a).abs().mean().item<float>(), 0.5f) << "but follows the same flow";
  // A flow model refuses the ddpm sampler, and a v model refuses euler, naming what fits.
  so.sampler = "ddpm";
  try {
    (void)m.sample(c, so);
    FAIL() << "ddpm on a flow model was accepted";
  } catch (const medsynth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("euler, heun or ddim"), std::string::npos) << e.what();
  }

  // Inpainting keeps every pixel outside the mask; inversion walks back to the image.
  auto known = torch::rand({3, 1, 217, 181}) * 2 - 1;
  auto mask = torch::zeros({3, 1, 217, 181});
  mask.narrow(2, 80, 40).narrow(3, 60, 50).fill_(1);
  so.sampler = "euler";
  so.known = known;
  so.mask = mask;
  const auto inp = m.sample(c, so);
  EXPECT_TRUE(torch::equal(inp * (1 - mask), known * (1 - mask)));
  so.known = torch::Tensor();
  so.mask = torch::Tensor();
  so.steps = 20;
  const auto image = m.sample(c, so);
  const auto z = m.encode(image, c, so);
  so.initial = z;
  const auto back = m.sample(c, so);
  EXPECT_LT((back - image).abs().mean().item<float>(), 0.1f) << "Euler inversion retraces the path";
}

TEST(Flow, ImagePredictionTrainsOnNativePatchesWithoutGrain) {
  // The same tiny flow model, outputting the image: the loss falls, and its one-step sample (the
  // image predicted from pure noise) is far smoother than the velocity model's, which has to copy
  // the noise through and leaves a grain (the native demo's defect before predict = image).
  torch::set_num_threads(1);
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str(), 0);
  const auto idx = data.indices(false);
  auto train = [&](const std::string& predict) {
    auto mc = tiny_flow(data.label_classes(), 0);
    mc.predict = predict;
    auto m = std::make_unique<md::DdpmModel>(mc, torch::kCPU);
    md::OptimConfig o;
    o.lr = 2e-3;
    m->configure_training(o);
    const auto [first, last] = train_on_patches(*m, data, mc, 60, 10);
    EXPECT_LT(last, first) << predict << ": loss did not fall: " << first << " -> " << last;
    std::vector<std::size_t> b(idx.begin() + static_cast<long>(idx.size() / 2), idx.begin() + static_cast<long>(idx.size() / 2) + 2);
    const auto batch = pl::make_batch(data, b, mc, torch::kCPU, {{60, 80}, {60, 80}});
    md::Condition c;
    c.labels = batch.labels;
    c.coords = batch.coords;
    md::SampleOptions so;
    so.sampler = "euler";
    so.steps = 1;
    so.seeds = {1, 2};
    const auto x = m->sample(c, so);
    // Mean absolute difference of horizontal neighbours: grain makes it large.
    return (x.narrow(3, 1, x.size(3) - 1) - x.narrow(3, 0, x.size(3) - 1)).abs().mean().item<double>();
  };
  const double image = train("image"), velocity = train("target");
  EXPECT_LT(image, 0.5 * velocity) << "neighbour difference, image " << image << " vs velocity " << velocity;
}

TEST(Flow, SmoothStartNoiseIsCorrelatedAlongTheVolumeAndExactPerSlice) {
  pl::SampleConfig sc;
  sc.noise = "smooth";
  sc.noise_span = 8;
  sc.seed = 5;
  auto noise_of = [&](std::size_t k0, std::size_t k1) {
    md::SampleOptions so;
    for (std::size_t k = k0; k < k1; ++k) so.seeds.push_back(1000 + k);
    pl::set_noise_anchors(so, sc, k0, k1);
    auto gens = md::sample_generators(so, static_cast<std::int64_t>(k1 - k0));
    return md::start_noise(so, gens, {1, 64, 64}, torch::kCPU);
  };
  const auto all = noise_of(0, 24);
  // Any slice's noise is the same whichever batch or shard draws it.
  EXPECT_TRUE(torch::equal(all.narrow(0, 10, 6), noise_of(10, 16)));
  auto corr = [&](long a, long b) {
    auto x = all[a].flatten(), y = all[b].flatten();
    return ((x * y).mean() / (x.std() * y.std())).item<double>();
  };
  EXPECT_GT(corr(3, 4), 0.9);
  EXPECT_LT(std::abs(corr(0, 20)), 0.1) << "anchors two spans apart are independent";
  EXPECT_NEAR(all.std().item<double>(), 1.0, 0.05) << "blends keep unit variance";
  sc.noise = "independent";
  const auto ind = noise_of(0, 24);
  EXPECT_LT(std::abs(((ind[3].flatten() * ind[4].flatten()).mean()).item<double>()), 0.1);
  sc.noise = "wobbly";
  EXPECT_THROW(noise_of(0, 2), medsynth::Error);
}

TEST(Native, TissueBoxCoversEveryLabelOfTheBatchAndItsContextWithAMargin) {
  const auto v = medsynth::io::read_volume(kCh2);
  const pl::SliceGrid sg(v.geometry, 0);
  pl::SliceConditions conds;
  conds.labels.assign(sg.slices() * sg.pixels(), 0);
  auto set = [&](std::size_t k, int x, int y) { conds.labels[k * sg.pixels() + static_cast<std::size_t>(y * sg.width() + x)] = 2; };
  set(50, 60, 70);
  set(51, 100, 90);
  set(53, 150, 200);  // only in the context of a batch that ends at 52 with context 1
  md::ModelConfig mc;
  mc.context = 1;
  const auto b = pl::tissue_box(conds, sg, mc, 50, 52);
  EXPECT_EQ(b.x, 60 - pl::kCropMargin);
  EXPECT_EQ(b.y, 70 - pl::kCropMargin);
  EXPECT_EQ(b.x + b.width - 1, 100 + pl::kCropMargin);
  EXPECT_EQ(b.y + b.height - 1, 90 + pl::kCropMargin);
  const auto with_context = pl::tissue_box(conds, sg, mc, 50, 53);
  EXPECT_EQ(with_context.x + with_context.width - 1, std::min(sg.width() - 1, 150 + pl::kCropMargin));
  EXPECT_EQ(with_context.y + with_context.height - 1, std::min(sg.height() - 1, 200 + pl::kCropMargin));
  EXPECT_EQ(pl::tissue_box(conds, sg, mc, 0, 10).width, 0) << "no tissue: nothing to sample";
  md::Condition c;
  c.labels = torch::rand({2, 3, sg.height(), sg.width()});
  c.coords = torch::rand({2, 2, sg.height(), sg.width()});
  const auto cut = pl::crop_condition(c, b);
  EXPECT_EQ(cut.labels.sizes(), torch::IntArrayRef({2, 3, b.height, b.width}));
  EXPECT_FLOAT_EQ(cut.coords[1][0][0][0].item<float>(), c.coords[1][0][b.y][b.x].item<float>());
}

TEST(Native, DataGridReadsNativeOrASizeAndRefusesAnythingElse) {
  const auto native = pl::load_config("", {"--data.grid", "native", "--data.context", "2"});
  EXPECT_TRUE(native.data.grid.native());
  EXPECT_EQ(native.model.image_size, 64) << "a native grid trains on 64x64 patches unless data.patch says otherwise";
  EXPECT_TRUE(native.model.coordinates);
  EXPECT_EQ(native.model.context, 2);
  EXPECT_NE(pl::to_ini(native).find("grid = native"), std::string::npos);
  EXPECT_TRUE(pl::config_from_ini_text(pl::to_ini(native)).data.grid.native());
  const auto fixed = pl::load_config("", {"--data.grid", "48"});
  EXPECT_EQ(fixed.data.grid.value, 48);
  EXPECT_FALSE(fixed.model.coordinates);
  for (const char* bad : {"nativ", "0", "-3", "64px"}) {
    try {
      (void)pl::load_config("", {"--data.grid", bad});
      ADD_FAILURE() << "data.grid " << bad << " was accepted";
    } catch (const pl::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("data.grid"), std::string::npos) << e.what();
    }
  }
}

TEST(Native, EveryFamilyTrainsOnPatchesWithContextAndSamplesWholeSlices) {
  // vae, gan (spade and pix2pix) and ldm on 32 x 32 patches of native Colin27 slices with +-1
  // slice of tissue-map context and coordinates: the loss falls, and each samples whole 217 x 181
  // slices (not a multiple of any of their factors), which follow the tissue map: white matter
  // brighter than CSF. A condition without its context is refused.
  torch::set_num_threads(1);
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str(), 0);
  const auto idx = data.indices(false);
  const auto v = medsynth::io::read_volume(kCh2);
  const pl::SliceGrid sg(v.geometry, 0);
  pl::SliceConditions conds;
  conds.native = true;
  conds.labels.assign(sg.slices() * sg.pixels(), 0);
  const std::size_t mid = idx[idx.size() / 2];
  for (int z = 88; z <= 92; ++z) {
    for (std::size_t n = 0; n < sg.pixels(); ++n) conds.labels[static_cast<std::size_t>(z) * sg.pixels() + n] = data.labels(mid)[n];
  }
  const auto family = [&](const std::string& name) {
    auto mc = tiny_flow(data.label_classes(), 1);
    mc.family = name;
    mc.channels = {16, 32};
    mc.latent_channels = 2;
    return mc;
  };
  const auto c = conds.batch(89, 92, sg, family("vae"), torch::kCPU);
  const auto ids = c.labels.narrow(1, data.label_classes(), data.label_classes()).argmax(1, true);  // the centre slice's
  const auto csf = (ids == 1).to(torch::kFloat), white = (ids == 3).to(torch::kFloat);
  ASSERT_GT(csf.sum().item<double>(), 100.0);
  ASSERT_GT(white.sum().item<double>(), 100.0);
  md::SampleOptions so;
  so.sampler = "euler";
  so.steps = 4;
  so.seeds = {1, 2, 3};
  auto check_slices = [&](md::GenerativeModel& m, const std::string& what, bool follows_map) {
    const auto x = m.sample(c, so);
    ASSERT_EQ(x.sizes(), torch::IntArrayRef({3, 1, 217, 181})) << what;
    EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << what;
    if (!follows_map) return;
    const double w = (x * white).sum().item<double>() / white.sum().item<double>();
    const double f = (x * csf).sum().item<double>() / csf.sum().item<double>();
    EXPECT_GT(w, f + 0.2) << what << ": white matter " << w << " not brighter than CSF " << f;
  };
  md::OptimConfig o;
  o.lr = 2e-3;
  o.grad_clip = 0;
  std::unique_ptr<md::GenerativeModel> vae;
  for (const std::string name : {"vae", "spade", "pix2pix"}) {
    auto mc = family(name == "vae" ? "vae" : "gan");
    if (name != "vae") mc.generator = name;
    if (name != "vae") mc.disc_layers = 2;  // 32 x 32 patches: the 34 x 34 PatchGAN
    auto m = md::create_model(mc, torch::kCPU);
    m->configure_training(o);
    const auto [first, last] = train_on_patches(*m, data, mc, 60, 10);
    EXPECT_LT(last, 0.8 * first) << name << ": loss did not fall: " << first << " -> " << last;
    check_slices(*m, name, true);
    if (name == "vae") vae = std::move(m);
  }
  // A condition of one slice (no context) is refused by name.
  auto flat = c;
  flat.labels = c.labels.narrow(1, 0, data.label_classes());
  try {
    (void)vae->sample(flat, so);
    FAIL() << "a vae trained with context took a map of one slice";
  } catch (const medsynth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("on 3 slice(s)"), std::string::npos) << e.what();
  }
  // Encoding a whole slice and decoding it gives the slice's size back (interpolation's path).
  const auto image = vae->sample(c, so);
  const auto z = vae->encode(image, c, so);
  EXPECT_EQ(z.size(2), (217 + 1) / 2);
  so.initial = z;
  EXPECT_EQ(vae->sample(c, so).sizes(), image.sizes());
  so.initial = torch::Tensor();

  auto lc = family("ldm");
  auto ldm = std::make_unique<md::LdmModel>(lc, torch::kCPU);
  ldm->set_autoencoder(std::move(vae));
  ldm->configure_training(o);
  const auto [first, last] = train_on_patches(*ldm, data, lc, 40, 10);
  EXPECT_LT(last, first) << "ldm: loss did not fall: " << first << " -> " << last;
  check_slices(*ldm, "ldm", false);
  EXPECT_TRUE(torch::equal(ldm->sample(c, so), ldm->sample(c, so))) << "ldm with fixed seeds is deterministic";
}
