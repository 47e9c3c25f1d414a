// medsynth utility: a segmenter trained on real, synthetic and mixed Colin27 slices (few steps)
// and scored on the held-out real slab. The Dice is checked against numpy on the written
// predictions, the real-slice segmenter against chance, resume bit for bit.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "medsynth/modules/seg/segmenter.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/utility.h"
#include "medsynth/validation/segmentation_scores.h"
#include "train/train_fixture.h"

namespace fs = std::filesystem;
using namespace medsynth;
using namespace medsynth::test;
using nlohmann::json;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string utility_config(const std::string& dir, const std::string& generator) {
  std::string ini = tiny_config(write_ch2_manifest(dir), dir + "/run", 1);
  ini += "\n[sample]\nsteps = 10\nbatch = 64\n\n[utility]\ngenerator = " + generator +
         "\nout = " + dir + "/utility\nsteps = 60\nbatch = 8\nchannels = 16,32\nfractions = 0.25,1\n"
         "synthetic_per_real = 1\nsources = labels,elastic\nbootstrap = 200\ncheckpoint_every = 30\n";
  const std::string path = dir + "/utility.ini";
  std::ofstream(path) << ini;
  return path;
}

std::vector<torch::Tensor> segmenter_weights(const std::string& checkpoint) {
  const auto info = pipeline::read_checkpoint_info(checkpoint);
  modules::SegmenterModel m(info.model, torch::kCPU);
  m.configure_training({});
  pipeline::load_checkpoint(checkpoint, m);
  std::vector<torch::Tensor> w;
  for (auto& t : m.weights()) w.push_back(t.detach().clone());
  return w;
}

}  // namespace

TEST(Utility, EveryRegimeTrainsAndScoresAndTheDiceAgreesWithNumpy) {
  const std::string generator = trained_tiny_checkpoint();
  TempDir tmp;
  const auto r = run_medsynth("utility " + utility_config(tmp.str(), generator) + " --train.threads 2", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json f = read_json(tmp.str("utility/report.json"));
  std::vector<std::string> names;
  for (const auto& g : f["regimes"]) names.push_back(g["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"real", "synthetic", "mixed", "real-0.25", "mixed-0.25"}));
  const double chance = f["chance_mean_dice"];
  EXPECT_GT(chance, 0.05);
  EXPECT_LT(chance, 0.6);
  for (const auto& g : f["regimes"]) {
    ASSERT_TRUE(g["mean_dice"].is_number()) << g.dump();
    const double d = g["mean_dice"], lo = g["ci95"][0], hi = g["ci95"][1];
    EXPECT_LE(lo, d + 1e-12) << g["name"];
    EXPECT_GE(hi, d - 1e-12) << g["name"];
    EXPECT_LT(hi - lo, 0.5) << g["name"];
    EXPECT_EQ(g["classes"].size(), 3u) << "background, CSF, grey, white: three foreground classes";
    EXPECT_TRUE(fs::exists(tmp.str("utility/" + g["prediction"].get<std::string>())));
  }
  // A segmenter trained on the real slices beats chance by a clear margin.
  EXPECT_GT(f["regimes"][0]["mean_dice"].get<double>(), chance + 0.3) << f["regimes"][0].dump();
  // The synthetic pairs: one per real slice, from both label sources; the fraction takes its share.
  const auto& syn = f["regimes"][1];
  EXPECT_EQ(syn["real_slices"], 0);
  EXPECT_EQ(syn["synthetic_slices"], f["train_slices"]);
  EXPECT_GT(syn["synthetic_sources"].value("labels", 0), 0);
  EXPECT_GT(syn["synthetic_sources"].value("elastic", 0), 0);
  const std::size_t quarter = f["regimes"][3]["real_slices"];
  EXPECT_EQ(quarter, static_cast<std::size_t>(std::ceil(0.25 * f["train_slices"].get<double>())));
  EXPECT_EQ(f["regimes"][4]["synthetic_slices"], quarter);
  EXPECT_TRUE(f["synthetic_over_real"].is_number());
  EXPECT_EQ(f["scarcity_curve"].size(), 2u);
  EXPECT_EQ(f["provenance"]["generator"], generator);
  // report.html: the curve as inline SVG, no script, and the caveat.
  std::ifstream html(tmp.str("utility/report.html"));
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("<polyline"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("One subject split by a slab"), std::string::npos);

  // numpy on the written label maps: pooled Dice per foreground class and their mean.
  const auto py = python(
      "import json, nibabel as nib, numpy as np\n"
      "d = '" + tmp.str("utility") + "'\n"
      "f = json.load(open(d + '/report.json'))\n"
      "t = np.asarray(nib.load(d + '/predictions/truth.nii.gz').dataobj).astype(int)\n"
      "worst = 0.0\n"
      "for g in f['regimes']:\n"
      "    p = np.asarray(nib.load(d + '/' + g['prediction']).dataobj).astype(int)\n"
      "    assert p.shape == t.shape, (p.shape, t.shape)\n"
      "    ds = []\n"
      "    for c in g['classes']:\n"
      "        k = c['id']\n"
      "        dice = 2.0 * np.sum((p == k) & (t == k)) / (np.sum(p == k) + np.sum(t == k))\n"
      "        worst = max(worst, abs(dice - c['dice']))\n"
      "        ds.append(dice)\n"
      "    worst = max(worst, abs(np.mean(ds) - g['mean_dice']))\n"
      "print('max_difference', worst)\n"
      "assert worst < 1e-9, worst\n");
  EXPECT_EQ(py.exit_code, 0) << py.out << py.err;
  EXPECT_NE(py.out.find("max_difference"), std::string::npos);

  // A second run without --resume refuses the folder; with it, every regime is loaded, not retrained.
  const auto again = run_medsynth("utility " + tmp.str("utility.ini") + " --train.threads 2", 600);
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  const auto resumed = run_medsynth("utility " + tmp.str("utility.ini") + " --resume --train.threads 2", 600);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const json g = read_json(tmp.str("utility/report.json"));
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(g["regimes"][i]["mean_dice"], f["regimes"][i]["mean_dice"]) << names[i];
  }
}

TEST(Utility, ASegmenterResumedFromACheckpointEndsBitForBitWhereAnUninterruptedOneDoes) {
  TempDir tmp;
  const auto data = ch2_slice_dataset(tmp.str(), 32);
  const auto train = data.indices(false);
  const std::int64_t N = 40;
  pipeline::SegmentationSet set{torch::empty({N, 1, 32, 32}), torch::empty({N, 32, 32}, torch::kLong)};
  for (std::int64_t i = 0; i < N; ++i) {
    const auto k = train[static_cast<std::size_t>(i) * train.size() / N];
    set.images[i][0].copy_(torch::from_blob(const_cast<float*>(data.image(k)), {32, 32}, torch::kFloat));
    set.labels[i].copy_(torch::from_blob(const_cast<std::uint8_t*>(data.labels(k)), {32, 32}, torch::kUInt8));
  }
  pipeline::SegmenterTraining st;
  st.out = tmp.str("whole");
  st.model.family = "segmenter";
  st.model.channels = {16, 32};
  st.model.res_blocks = 1;
  st.model.attention_levels = 0;
  st.model.image_size = 32;
  st.model.label_classes = data.label_classes();
  st.optim.lr = 1e-3;
  st.steps = 20;
  st.batch = 4;
  st.warmup = 2;
  st.checkpoint_every = 10;
  st.keep_checkpoints = 3;
  st.data_fingerprint = "test";
  st.progress = false;
  std::string whole;
  pipeline::train_segmenter(set, st, &whole);
  EXPECT_EQ(fs::path(whole).filename(), "ckpt-00000020.pt");
  // The same run "killed" after step 10: only its first checkpoint is left, and --resume goes on.
  fs::create_directories(tmp.str("part/checkpoints"));
  fs::copy_file(tmp.str("whole/checkpoints/ckpt-00000010.pt"), tmp.str("part/checkpoints/ckpt-00000010.pt"));
  st.out = tmp.str("part");
  st.resume = true;
  std::string resumed;
  pipeline::train_segmenter(set, st, &resumed);
  EXPECT_TRUE(same_weights(segmenter_weights(whole), segmenter_weights(resumed)));
  // Without resume the folder is refused; other slices are refused on resume.
  st.resume = false;
  EXPECT_THROW(pipeline::train_segmenter(set, st, &resumed), medsynth::Error);
  st.resume = true;
  st.data_fingerprint = "other";
  EXPECT_THROW(pipeline::train_segmenter(set, st, &resumed), medsynth::Error);
}

TEST(Utility, ElasticDeformationsAreSmoothKeepMapsOneHotAndMoveThem) {
  const auto field = pipeline::elastic_field(32, 32, 3.0, 4.0, 5);
  ASSERT_EQ(field.sizes(), (std::vector<std::int64_t>{2, 32, 32}));
  EXPECT_NEAR(field.pow(2).sum(0).mean().sqrt().item<double>(), 3.0, 1e-4);
  // Smooth: neighbouring displacements differ far less than the displacement itself.
  EXPECT_LT((field.narrow(2, 1, 31) - field.narrow(2, 0, 31)).abs().mean().item<double>(), 0.5);
  EXPECT_FALSE(torch::equal(field, pipeline::elastic_field(32, 32, 3.0, 4.0, 6)));
  auto ids = torch::zeros({1, 32, 32}, torch::kLong);
  ids.narrow(1, 8, 16).narrow(2, 8, 16).fill_(1);
  ids.narrow(1, 12, 8).narrow(2, 12, 8).fill_(2);
  const auto onehot = torch::one_hot(ids, 3).permute({0, 3, 1, 2}).to(torch::kFloat);
  EXPECT_TRUE(torch::equal(pipeline::deform_labels(onehot, torch::zeros({1, 2, 32, 32})), onehot));
  const auto moved = pipeline::deform_labels(onehot, field.unsqueeze(0));
  EXPECT_TRUE(torch::equal(moved.sum(1), torch::ones({1, 32, 32})));
  const auto changed = (moved.argmax(1) != ids).sum().item<std::int64_t>();
  EXPECT_GT(changed, 10);
  EXPECT_LT(changed, 300);
}

TEST(Utility, ScoresArePooledDiceWithBootstrapIntervals) {
  // Two slices of 4 pixels, classes 0..2. Class 1: |A∩B| = 2, |A| = 3, |B| = 2 -> 0.8;
  // class 2: |A∩B| = 1, |A| = 1, |B| = 2 -> 2/3.
  const std::vector<std::uint8_t> truth{0, 1, 1, 2, 0, 0, 2, 0};
  const std::vector<std::uint8_t> pred{1, 1, 1, 2, 0, 0, 0, 0};
  const auto s = validation::score_segmentation(truth, pred, 2, 4, 3, 500, 1);
  ASSERT_EQ(s.classes.size(), 2u);
  EXPECT_DOUBLE_EQ(s.classes[0].dice, 0.8);
  EXPECT_DOUBLE_EQ(s.classes[1].dice, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.mean_dice, (0.8 + 2.0 / 3.0) / 2);
  EXPECT_DOUBLE_EQ(s.classes[0].prevalence, 0.25);
  EXPECT_DOUBLE_EQ(s.chance_mean_dice, 0.25);
  EXPECT_LE(s.lo, s.mean_dice);
  EXPECT_GE(s.hi, s.mean_dice);
  EXPECT_LT(s.lo, s.hi);  // two different slices: resamples differ
  const auto same = validation::score_segmentation(truth, truth, 2, 4, 3, 100, 1);
  EXPECT_DOUBLE_EQ(same.mean_dice, 1.0);
  EXPECT_DOUBLE_EQ(same.lo, 1.0);
  EXPECT_THROW(validation::score_segmentation(truth, pred, 3, 4, 3, 10, 1), medsynth::Error);
}

TEST(Utility, RefusesAFractionOutsideZeroToOneNamingTheKey) {
  TempDir tmp;
  const auto r = run_medsynth("utility " + utility_config(tmp.str(), "none.pt") + " --utility.fractions 0,1", 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("utility.fractions: '0'"), std::string::npos) << r.err;
}

// utility.sources = physics: the simulator's images of elastically deformed training label maps
// (at utility.physics' contrast, windowed like the real slices) are the synthetic pairs, counted
// by source; a segmenter trained on them alone segments the real held-out slab above chance.
TEST(Utility, PhysicsPairsAreCountedBySourceAndTeachTheRealSlab) {
  const std::string generator = trained_tiny_checkpoint();
  TempDir tmp;
  const auto r = run_medsynth("utility " + utility_config(tmp.str(), generator) +
                                  " --train.threads 2 --utility.sources physics --utility.physics mprage:field=3"
                                  " --utility.fractions 1 --utility.bootstrap 50",
                              600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json f = read_json(tmp.str("utility/report.json"));
  ASSERT_EQ(f["regimes"].size(), 3u) << f.dump();
  const auto& syn = f["regimes"][1];
  EXPECT_EQ(syn["name"], "synthetic");
  EXPECT_EQ(syn["synthetic_sources"], (json{{"physics", f["train_slices"]}})) << syn.dump();
  EXPECT_EQ(f["provenance"]["physics"], "mprage:field=3");
  const double chance = f["chance_mean_dice"];
  EXPECT_GT(syn["mean_dice"].get<double>(), chance + 0.1) << syn.dump();
  const auto bad = run_medsynth("utility " + utility_config(tmp.str(), generator) +
                                    " --utility.sources labels,physics --utility.physics mprage:tr=fast",
                                60);
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("utility.physics 'mprage:tr=fast': tr 'fast' is not a number"), std::string::npos) << bad.err;
}
