// Conditioning adherence: multi-Otsu against skimage, Dice per label on Colin27's brain.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "medsynth/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/validation/tissue_segmentation.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;
using namespace medsynth::validation;

namespace {

// skimage's 3-class multi-Otsu of a skull-stripped brain (everything above the minimum), labels 1
// (CSF) 2 (grey) 3 (white), 0 outside: the tissue map made independently of medsynth.
io::LabelVolume skimage_tissue_map(const std::string& bet, const std::string& out) {
  auto p = python(
      "import numpy as np, nibabel as nib\n"
      "from skimage.filters import threshold_multiotsu\n"
      "img = nib.load('" + bet + "'); v = np.asarray(img.dataobj).astype(np.float64)\n"
      "t = threshold_multiotsu(v[v > v.min()], classes=3)\n"
      "lab = np.where(v > v.min(), np.digitize(v, t) + 1, 0).astype(np.int16)\n"
      "nib.save(nib.Nifti1Image(lab, img.affine, img.header), '" + out + "')\n");
  EXPECT_EQ(p.exit_code, 0) << "python3-skimage: " << p.err;
  return io::read_label_volume(out);
}

}  // namespace

TEST(ConditioningMetric, MultiOtsuThresholdsMatchSkimage) {
  const std::string bet = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  const io::Volume v = io::read_volume(bet);
  std::vector<float> brain;
  for (float x : v.voxels)
    if (x != 0) brain.push_back(x);
  const auto t = multi_otsu_thresholds(brain, 3);
  ASSERT_EQ(t.size(), 2u);
  auto p = python(
      "import json, numpy as np, nibabel as nib\n"
      "from skimage.filters import threshold_multiotsu\n"
      "v = np.asarray(nib.load('" + bet + "').dataobj).astype(np.float64)\n"
      "print(json.dumps([float(x) for x in threshold_multiotsu(v[v != 0], classes=3)]))\n");
  ASSERT_EQ(p.exit_code, 0) << "python3-skimage: " << p.err;
  auto j = nlohmann::json::parse(p.out);
  EXPECT_NEAR(t[0], j[0].get<double>(), 1e-6);
  EXPECT_NEAR(t[1], j[1].get<double>(), 1e-6);
}

TEST(ConditioningMetric, IngestTissueMapIsSkimagesMultiOtsuVoxelForVoxel) {
  // The tissue condition ingest makes and the segmentation evaluation scores with are one
  // multi-Otsu: both equal skimage's digitize(threshold_multiotsu) on Colin27's brain.
  TempDir tmp;
  const std::string bet = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  const auto expected = skimage_tissue_map(bet, tmp.str("skimage.nii.gz"));
  const auto made = pipeline::tissue_map(io::read_volume(bet), 3);
  ASSERT_EQ(made.voxels.size(), expected.voxels.size());
  std::size_t differ = 0, brain = 0;
  for (std::size_t i = 0; i < made.voxels.size(); ++i) {
    differ += made.voxels[i] != expected.voxels[i] ? 1 : 0;
    brain += expected.voxels[i] != 0 ? 1 : 0;
  }
  EXPECT_EQ(differ, 0u) << "of " << brain << " brain voxels";
}

TEST(ConditioningMetric, DicePerLabelIsHighForAFaithfulImageAndLowForSwappedTissues) {
  TempDir tmp;
  const std::string bet = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  // The condition made independently, the way medsynth's tissue maps are made: skimage's 3-class
  // multi-Otsu of the brain, labels 1 (CSF) 2 (grey) 3 (white), 0 outside.
  const io::LabelVolume cond = skimage_tissue_map(bet, tmp.str("tissue.nii.gz"));
  const io::Volume real = io::read_volume(bet);
  const io::Volume faithful = perturbed(real, 4.0, 9);
  const ConditioningAdherence good = conditioning_adherence(cond, real, faithful);
  ASSERT_EQ(good.labels, (std::vector<std::int32_t>{1, 2, 3}));
  for (const auto& d : good.real) EXPECT_GT(d.dice, 0.99) << "label " << d.label;
  for (const auto& d : good.synthetic) EXPECT_GT(d.dice, 0.6) << "label " << d.label;
  EXPECT_LE(good.mean_dice_synthetic, good.mean_dice_real);
  // Grey and white matter swapped in the synthetic image: the condition is not obeyed.
  io::Volume swapped = real;
  for (std::size_t i = 0; i < swapped.voxels.size(); ++i) {
    if (cond.voxels[i] == 2) swapped.voxels[i] += 40;
    if (cond.voxels[i] == 3) swapped.voxels[i] -= 40;
  }
  const ConditioningAdherence bad = conditioning_adherence(cond, real, swapped);
  EXPECT_LT(bad.synthetic[1].dice, 0.3);
  EXPECT_LT(bad.synthetic[2].dice, 0.3);
  EXPECT_LT(bad.mean_dice_synthetic, good.mean_dice_synthetic - 0.3);
}

TEST(ConditioningMetric, LabelMapWithoutTwoTissuesIsRefused) {
  const io::Volume real = io::read_volume(data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples"));
  io::LabelVolume cond;
  cond.geometry = real.geometry;
  cond.voxels.assign(real.voxels.size(), 0);
  EXPECT_THROW(conditioning_adherence(cond, real, real), Error);
  std::fill(cond.voxels.begin(), cond.voxels.end(), 4);
  try {
    conditioning_adherence(cond, real, real);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("single foreground label"), std::string::npos) << e.what();
  }
}
