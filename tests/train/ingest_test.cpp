// Ingest on real Colin27: a cache of normalised square slices, split by a held-out slab,
// reused while nothing changes; bad manifests refused before any work.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/slice_grid.h"
#include "train/train_fixture.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;

TEST(Ingest, BuildsCacheOnceAndReusesItWhileNothingChanges) {
  TempDir tmp;
  pl::RunConfig c;
  c.data.manifest = write_ch2_manifest(tmp.str());
  c.data.grid = 32;
  c.data.labels = "tissue";
  const auto first = pl::ingest(c, tmp.str("cache"));
  EXPECT_FALSE(first.reused);
  EXPECT_GT(first.train_slices, 80u);
  // Held out: a contiguous slab of ~20% of the kept slices.
  const double frac = double(first.heldout_slices) / double(first.train_slices + first.heldout_slices);
  EXPECT_NEAR(frac, 0.2, 0.02);
  const auto d = pl::SliceDataset::open(first.dir);
  EXPECT_EQ(d.width(), 32);
  EXPECT_EQ(d.label_classes(), 4);  // background + 3 tissues
  std::set<int> held_z;
  for (auto i : d.indices(true)) held_z.insert(d.record(i).z);
  EXPECT_EQ(*held_z.rbegin() - *held_z.begin() + 1, int(held_z.size())) << "held-out slab is not contiguous";
  float lo = 1e9f, hi = -1e9f;
  for (std::size_t i = 0; i < d.size() * d.pixels(); ++i) {
    lo = std::min(lo, d.image(0)[i]);
    hi = std::max(hi, d.image(0)[i]);
  }
  EXPECT_GE(lo, -1.0f);
  EXPECT_LE(hi, 1.0f);
  EXPECT_GT(hi, 0.9f);
  // Unchanged input: the same cache, not re-ingested.
  const auto again = pl::ingest(c, tmp.str("cache"));
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.dir, first.dir);
  // A changed setting: another fingerprint.
  c.data.grid = 48;
  const auto other = pl::ingest(c, tmp.str("cache"));
  EXPECT_FALSE(other.reused);
  EXPECT_NE(other.dir, first.dir);
}

TEST(Ingest, RefusesManifestNamingMissingFileBeforeAnyWork) {
  TempDir tmp;
  const std::string manifest = tmp.str("m.csv");
  std::ofstream(manifest) << "subject,image\na," << kTemplates << "ch2bet.nii.gz\nb," << tmp.str("missing.nii.gz") << "\n";
  pl::RunConfig c;
  c.data.manifest = manifest;
  try {
    pl::ingest(c, tmp.str("cache"));
    FAIL() << "a manifest naming a missing file was ingested";
  } catch (const medsynth::io::Error& e) {
    EXPECT_NE(std::string(e.what()).find(tmp.str("missing.nii.gz")), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp.str("cache"))) << "work started before the manifest was checked";
  std::ofstream(tmp.str("bad.csv")) << "subj,img\na,b\n";
  c.data.manifest = tmp.str("bad.csv");
  EXPECT_THROW(pl::ingest(c, tmp.str("cache")), medsynth::io::Error);
}

TEST(Ingest, SplitsBySubjectWhenThereAreSeveral) {
  TempDir tmp;
  const std::string manifest = tmp.str("m.csv");
  std::ofstream(manifest) << "subject,image\ncolin," << kTemplates << "ch2bet.nii.gz\nkmeans," << kItkData
                          << "KmeansTest_T1RawSkullStrip.nii.gz\n";
  pl::RunConfig c;
  c.data.manifest = manifest;
  c.data.grid = 32;
  c.data.labels = "none";
  c.data.holdout = 0.5;
  const auto r = pl::ingest(c, tmp.str("cache"));
  const auto d = pl::SliceDataset::open(r.dir);
  std::set<int> train_subjects, held_subjects;
  for (std::size_t i = 0; i < d.size(); ++i) (d.record(i).heldout ? held_subjects : train_subjects).insert(d.record(i).subject);
  EXPECT_EQ(train_subjects.size(), 1u);
  EXPECT_EQ(held_subjects.size(), 1u);
  EXPECT_NE(*train_subjects.begin(), *held_subjects.begin()) << "slices of one subject on both sides";
}

TEST(Ingest, SliceGridRestoresTheVolumeItResampled) {
  const auto v = medsynth::io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  const pl::SliceGrid g(v.geometry, 217);  // fine enough that the round trip is close
  const auto slices = g.resample(v, 0.0f);
  const auto back = g.restore(slices, v.geometry);
  ASSERT_TRUE(back.geometry.same_grid(v.geometry));
  double err = 0, mag = 0;
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    err += std::fabs(back.voxels[i] - v.voxels[i]);
    mag += std::fabs(v.voxels[i]);
  }
  EXPECT_LT(err / mag, 0.02);
  // Canonical orientation: slice 0 is the most inferior.
  EXPECT_LT(g.position(0), g.position(g.slices() - 1));
}

TEST(Ingest, TissueMapOrdersClassesByIntensity) {
  const auto v = medsynth::io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  const auto t = pl::tissue_map(v, 3);
  double sum[4] = {0, 0, 0, 0};
  double n[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    sum[t.voxels[i]] += v.voxels[i];
    n[t.voxels[i]] += 1;
  }
  for (int c = 1; c < 4; ++c) ASSERT_GT(n[c], 1000) << "class " << c << " nearly empty";
  EXPECT_LT(sum[1] / n[1], sum[2] / n[2]);  // CSF darker than grey matter on T1
  EXPECT_LT(sum[2] / n[2], sum[3] / n[3]);  // grey darker than white
}

TEST(Ingest, ADamagedCacheIsRebuiltNotTrusted) {
  TempDir tmp;
  pl::RunConfig c;
  c.data.manifest = write_ch2_manifest(tmp.str());
  c.data.grid = 32;
  c.data.labels = "none";
  const auto first = pl::ingest(c, tmp.str("cache"));
  fs::resize_file(fs::path(first.dir) / "images.f32", 1000);  // a cache cut short
  const auto again = pl::ingest(c, tmp.str("cache"));
  EXPECT_FALSE(again.reused);
  EXPECT_EQ(again.train_slices, first.train_slices);
  EXPECT_NO_THROW(pl::SliceDataset::open(again.dir));
}
