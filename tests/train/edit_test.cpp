// medsynth edit through the real binary, with tiny models of each family trained once per build:
// inpainting keeps every voxel outside the mask exactly; a sketch edit changes the relabelled
// region the way the new label says and nothing outside it; interpolation walks from one scan to
// the other; a family without a capability is refused, naming the families that have it.
#include <gtest/gtest.h>

#include <cmath>

#include "medsynth/io/volume_io.h"
#include "train/train_fixture.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

const std::string kCh2bet = kTemplates + "ch2bet.nii.gz";

// A 20x20x3 box in the brain (around the centre of Colin27) as a mask volume on ch2's grid.
std::string write_box_mask(const TempDir& tmp, std::size_t k0 = 88) {
  io::Volume ref = io::read_volume(data_file(kCh2bet, "mricron-data"));
  io::Volume m;
  m.geometry = ref.geometry;
  m.voxels.assign(ref.voxels.size(), 0.0f);
  for (std::size_t k = k0; k < k0 + 3; ++k)
    for (std::size_t j = 100; j < 120; ++j)
      for (std::size_t i = 80; i < 100; ++i) m.at(i, j, k) = 1.0f;
  m.stored_type = io::PixelType::kUInt8;
  io::write_volume(m, tmp.str("mask.nii.gz"));
  return tmp.str("mask.nii.gz");
}

}  // namespace

TEST(Edit, InpaintKeepsEveryVoxelOutsideTheMaskExactlyForDdpmAndLdm) {
  TempDir tmp;
  const std::string mask = write_box_mask(tmp);
  const io::Volume image = io::read_volume(data_file(kCh2bet, "mricron-data"));
  const io::Volume m = io::read_volume(mask);
  for (const auto& [family, ckpt] : {std::make_pair(std::string("ddpm"), trained_tiny_checkpoint()),
                                     std::make_pair(std::string("ldm"), trained_tiny_ldm())}) {
    const std::string out = tmp.str(family + "-inpainted.nii.gz");
    auto r = run_medsynth("edit inpaint --checkpoint " + ckpt + " --image " + kCh2bet + " --mask " + mask +
                              " --condition " + ch2_tissue_map() + " --steps 10 --jumps 2 --out " + out, 900);
    ASSERT_EQ(r.exit_code, 0) << family << ": " << r.err;
    const io::Volume y = io::read_volume(out);
    ASSERT_TRUE(y.geometry.same_grid(image.geometry, 1e-6));
    std::size_t outside_diff = 0, inside_diff = 0, inside = 0;
    for (std::size_t i = 0; i < y.voxels.size(); ++i) {
      if (m.voxels[i] == 0.0f) {
        outside_diff += y.voxels[i] != image.voxels[i];
      } else {
        ++inside;
        inside_diff += y.voxels[i] != image.voxels[i];
        ASSERT_TRUE(std::isfinite(y.voxels[i]));
      }
    }
    EXPECT_EQ(outside_diff, 0u) << family << ": voxels outside the mask changed";
    EXPECT_GT(inside_diff, inside / 2) << family << ": the masked region was not regenerated";
    EXPECT_NE(y.metadata.at("synthetic").find(family), std::string::npos);
  }
}

TEST(Edit, FamiliesWithoutACapabilityAreRefusedNamingThoseWithIt) {
  TempDir tmp;
  const std::string mask = write_box_mask(tmp);
  auto r = run_medsynth("edit inpaint --checkpoint " + trained_tiny_vae() + " --image " + kCh2bet + " --mask " + mask +
                            " --condition " + ch2_tissue_map() + " --out " + tmp.str("x.nii.gz"), 300);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("a vae model cannot inpaint (families that can: ddpm, ldm)"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp.str("x.nii.gz")));
  r = run_medsynth("edit jiggle --checkpoint x --out y", 60);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown action 'jiggle'"), std::string::npos) << r.err;
}

TEST(Edit, SketchChangesOnlyTheRelabelledRegionAndFollowsTheNewLabel) {
  TempDir tmp;
  const io::Volume image = io::read_volume(data_file(kCh2bet, "mricron-data"));
  const io::LabelVolume tissue = io::read_label_volume(ch2_tissue_map());
  // "Grow a lesion": a block of white matter (3) relabelled as CSF (1), which is dark on T1.
  io::LabelVolume edited = tissue;
  std::size_t relabelled = 0;
  for (std::size_t k = 88; k < 91; ++k)
    for (std::size_t j = 95; j < 125; ++j)
      for (std::size_t i = 75; i < 105; ++i)
        if (edited.at(i, j, k) == 3) {
          edited.at(i, j, k) = 1;
          ++relabelled;
        }
  ASSERT_GT(relabelled, 300u);
  io::write_label_volume(edited, tmp.str("edited.nii.gz"));
  for (const auto& [family, ckpt] : {std::make_pair(std::string("ddpm"), trained_tiny_checkpoint()),
                                     std::make_pair(std::string("vae"), trained_tiny_vae())}) {
    const std::string out = tmp.str(family + "-sketch.nii.gz");
    auto r = run_medsynth("edit sketch --checkpoint " + ckpt + " --labels " + tmp.str("edited.nii.gz") +
                              " --keep-outside --image " + kCh2bet + " --original-labels " + ch2_tissue_map() +
                              " --margin 1 --steps 10 --jumps 2 --out " + out, 900);
    ASSERT_EQ(r.exit_code, 0) << family << ": " << r.err;
    const io::Volume y = io::read_volume(out);
    double before = 0, after = 0;
    std::size_t far_changed = 0;
    for (std::size_t k = 0; k < image.geometry.size[2]; ++k)
      for (std::size_t j = 0; j < image.geometry.size[1]; ++j)
        for (std::size_t i = 0; i < image.geometry.size[0]; ++i) {
          const std::size_t v = image.index(i, j, k);
          if (edited.voxels[v] != tissue.voxels[v]) {
            before += image.voxels[v];
            after += y.voxels[v];
          }
          const bool near = k >= 88 && k < 91 && j + 2 >= 95 && j < 127 && i + 2 >= 75 && i < 107;
          if (!near) far_changed += y.voxels[v] != image.voxels[v];
        }
    EXPECT_EQ(far_changed, 0u) << family << ": voxels outside the edited region changed";
    std::cerr << family << ": relabelled region mean " << before / relabelled << " -> " << after / relabelled << "\n";
    EXPECT_LT(after, 0.8 * before) << family << ": the region relabelled as CSF did not become darker";
  }
  // Without --keep-outside it is synthesis from the edited map, on its grid.
  auto r = run_medsynth("edit sketch --checkpoint " + trained_tiny_vae() + " --labels " + tmp.str("edited.nii.gz") +
                            " --out " + tmp.str("whole.nii.gz"), 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(io::read_volume(tmp.str("whole.nii.gz")).geometry.same_grid(image.geometry, 1e-6));
  r = run_medsynth("edit sketch --checkpoint " + trained_tiny_vae() + " --labels " + tmp.str("edited.nii.gz") +
                       " --keep-outside --out " + tmp.str("y.nii.gz"), 300);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--original-labels"), std::string::npos) << r.err;
}

TEST(Edit, InterpolationWalksFromOneScanToTheOther) {
  TempDir tmp;
  // Two real slices on one grid: axial slices 80 and 100 of Colin27, the second given the first's
  // position, with their tissue maps.
  const std::string ch2 = data_file(kCh2bet, "mricron-data");
  const io::Volume full = io::read_volume(ch2);
  const io::LabelVolume tissue = io::read_label_volume(ch2_tissue_map());
  io::Volume va = io::extract_slice(full, 80, ch2), vb = io::extract_slice(full, 100, ch2);
  vb.geometry = va.geometry;
  io::LabelVolume la = io::extract_slice(tissue, 80, "tissue"), lb = io::extract_slice(tissue, 100, "tissue");
  lb.geometry = la.geometry;
  io::write_volume(va, tmp.str("a.nii.gz"));
  io::write_volume(vb, tmp.str("b.nii.gz"));
  io::write_label_volume(la, tmp.str("la.nii.gz"));
  io::write_label_volume(lb, tmp.str("lb.nii.gz"));
  for (const auto& [family, ckpt] : {std::make_pair(std::string("vae"), trained_tiny_vae()),
                                     std::make_pair(std::string("ddpm"), trained_tiny_checkpoint()),
                                     std::make_pair(std::string("ldm"), trained_tiny_ldm())}) {
    const std::string dir = tmp.str(family + "-path");
    const std::string common = "edit interpolate --checkpoint " + ckpt + " --from " + tmp.str("a.nii.gz") + " --to " +
                               tmp.str("b.nii.gz") + " --count 5 --steps 20 --out " + dir;
    // A condition on another grid is refused, naming it.
    auto r = run_medsynth(common + " --condition " + ch2_tissue_map(), 300);
    ASSERT_EQ(r.exit_code, 2) << family << ": " << r.err;
    EXPECT_NE(r.err.find("is not on the grid"), std::string::npos) << r.err;
    r = run_medsynth(common + " --condition " + tmp.str("la.nii.gz") + " --to-condition " + tmp.str("lb.nii.gz"), 900);
    ASSERT_EQ(r.exit_code, 0) << family << ": " << r.err;
    ASSERT_TRUE(std::filesystem::exists(dir + "/strip.png"));
    std::vector<double> to_a, to_b;
    for (int s = 0; s < 5; ++s) {
      const io::Volume v = io::read_volume(dir + "/step-0" + std::to_string(s) + ".nii.gz");
      ASSERT_TRUE(v.geometry.same_grid(va.geometry, 1e-6));
      EXPECT_NE(v.metadata.at("synthetic").find(family + " interpolation"), std::string::npos);
      double da = 0, db = 0;
      for (std::size_t i = 0; i < v.voxels.size(); ++i) {
        da += std::abs(v.voxels[i] - va.voxels[i]);
        db += std::abs(v.voxels[i] - vb.voxels[i]);
      }
      to_a.push_back(da);
      to_b.push_back(db);
    }
    std::cerr << family << ": distance to a";
    for (double d : to_a) std::cerr << " " << d;
    std::cerr << "; to b";
    for (double d : to_b) std::cerr << " " << d;
    std::cerr << "\n";
    // The path starts nearer --from and ends nearer --to.
    EXPECT_LT(to_a.front(), to_b.front()) << family;
    EXPECT_LT(to_b.back(), to_a.back()) << family;
    EXPECT_LT(to_a.front(), to_a.back()) << family;
  }
}
