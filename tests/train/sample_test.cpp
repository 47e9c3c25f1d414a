// medsynth sample through the real binary: the output has the condition's geometry, shards
// union to the single run bit for bit, wrong conditions are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/synthesis.h"
#include "train/train_fixture.h"

namespace io = medsynth::io;
using namespace medsynth::test;

TEST(Sample, VolumeFromALabelMapHasTheLabelMapsGeometryAndFollowsIt) {
  TempDir tmp;
  const std::string ckpt = trained_tiny_checkpoint();
  const std::string labels = ch2_tissue_map();
  auto r = run_medsynth("sample --checkpoint " + ckpt + " --condition " + labels + " --steps 10 --out " +
                        tmp.str("synth.nii.gz"), 900);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume s = io::read_volume(tmp.str("synth.nii.gz"));
  const io::LabelVolume l = io::read_label_volume(labels);
  EXPECT_TRUE(s.geometry.same_grid(l.geometry, 1e-4));
  double mean[4] = {0, 0, 0, 0}, n[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < s.voxels.size(); ++i) {
    ASSERT_TRUE(std::isfinite(s.voxels[i]));
    mean[l.voxels[i]] += s.voxels[i];
    n[l.voxels[i]] += 1;
  }
  for (int c = 0; c < 4; ++c) mean[c] /= n[c];
  // Even a tiny model follows its condition: background dark, white matter brighter than CSF.
  EXPECT_LT(mean[0], mean[3]);
  EXPECT_LT(mean[1], mean[3]);
}

TEST(Sample, BackgroundOfTheLabelMapIsEmptyImageWhenAsked) {
  // sample.background: on sets every voxel the label map calls background (label 0) to empty
  // image on the output grid, one value, the window's lowest; off keeps the model's output there
  // (not uniform); auto follows the checkpoint (this 32x32 model's resampled slices never had an
  // exactly empty label 0, so auto is off here). Without the mark, which touches every voxel.
  const std::string ckpt = trained_tiny_checkpoint();
  const std::string labels = ch2_tissue_map();
  const io::LabelVolume l = io::read_label_volume(labels);
  auto run = [&](const std::string& background) {
    medsynth::pipeline::SynthesisRequest rq;
    rq.checkpoint = ckpt;
    rq.labels = labels;
    rq.sample.steps = 5;
    rq.sample.background = background;
    rq.threads = 1;
    rq.progress = false;
    rq.mark = false;
    return medsynth::pipeline::synthesise(rq).volume;
  };
  auto background_values = [&](const io::Volume& v, float* tissue_min) {
    std::set<float> values;
    *tissue_min = INFINITY;
    for (std::size_t i = 0; i < v.voxels.size(); ++i) {
      if (l.voxels[i] == 0) {
        values.insert(v.voxels[i]);
      } else {
        *tissue_min = std::min(*tissue_min, v.voxels[i]);
      }
    }
    return values;
  };
  float tissue_min = 0;
  const io::Volume on = run("on"), off = run("off"), automatic = run("auto");
  const auto bg_on = background_values(on, &tissue_min);
  ASSERT_EQ(bg_on.size(), 1u) << "background voxels with " << bg_on.size() << " values";
  EXPECT_LE(*bg_on.begin(), tissue_min + 1e-3f) << "the empty value is the window's lowest";
  EXPECT_GT(background_values(off, &tissue_min).size(), 100u) << "off: the model's own background";
  EXPECT_EQ(automatic.voxels, off.voxels) << "auto on a checkpoint whose label 0 was not always empty";
  for (std::size_t i = 0; i < l.voxels.size(); ++i) {
    if (l.voxels[i] != 0) {
      ASSERT_EQ(on.voxels[i], off.voxels[i]) << "tissue voxel " << i << " changed";
    }
  }
  medsynth::pipeline::SynthesisRequest bad;
  bad.checkpoint = ckpt;
  bad.labels = labels;
  bad.sample.background = "maybe";
  EXPECT_THROW(medsynth::pipeline::synthesise(bad), medsynth::Error);
}

TEST(Sample, ShardsTogetherEqualOneRunBitForBit) {
  TempDir tmp;
  const std::string ckpt = trained_tiny_checkpoint();
  const std::string labels = ch2_tissue_map();
  const std::string common = "sample --checkpoint " + ckpt + " --condition " + labels + " --steps 3 --batch 40 --seed 5 ";
  auto r = run_medsynth(common + "--out " + tmp.str("full.nii.gz"), 900);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume full = io::read_volume(tmp.str("full.nii.gz"));
  std::vector<io::Volume> shards;
  for (int i = 0; i < 3; ++i) {
    const std::string out = tmp.str("s" + std::to_string(i) + ".nii.gz");
    r = run_medsynth(common + "--shard " + std::to_string(i) + "/3 --out " + out, 900);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    shards.push_back(io::read_volume(out));
  }
  std::size_t covered = 0;
  for (std::size_t v = 0; v < full.voxels.size(); ++v) {
    int owners = 0;
    for (const auto& s : shards) {
      if (std::isnan(s.voxels[v])) continue;
      ++owners;
      ASSERT_EQ(s.voxels[v], full.voxels[v]) << "voxel " << v;
    }
    ASSERT_EQ(owners, 1) << "voxel " << v << " made by " << owners << " shards";
    ++covered;
  }
  EXPECT_EQ(covered, full.voxels.size());
  // merge joins shards into the single run's volume.
  r = run_medsynth("merge " + tmp.str("s0.nii.gz") + " " + tmp.str("s1.nii.gz") + " " + tmp.str("s2.nii.gz") +
                   " --out " + tmp.str("merged.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(io::read_volume(tmp.str("merged.nii.gz")).voxels, full.voxels);
}

TEST(Sample, RefusesWhatTheModelCannotTake) {
  TempDir tmp;
  const std::string ckpt = trained_tiny_checkpoint();
  auto r = run_medsynth("sample --checkpoint " + ckpt + " --source " + kTemplates + "ch2.nii.gz --out " + tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("source"), std::string::npos) << r.err;
  r = run_medsynth("sample --checkpoint " + ckpt + " --condition " + kTemplates + "aal.nii.gz --steps 2 --out " +
                   tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("never saw"), std::string::npos) << r.err;
  r = run_medsynth("sample --checkpoint " + ckpt + " --slices 2 --shard 3/2 --out " + tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("x.nii.gz")));
}
