// Acquisition-aware conditioning end to end through the real binary: one anatomy (Colin27's tissue
// map) as two acquisitions, the real T1 (Colin27: spoiled gradient echo, TR 18 ms, TE 10 ms) and a
// T2-weighted spin echo rendered from the same map by `medsynth simulate` (TR 4000 ms, TE 100 ms),
// their parameters in the manifest's columns; a tiny ddpm with model.acquisition = tr,te; then
// `sample --prompt` with each parameter set gives that contrast on the same label map.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "medsynth/io/volume_io.h"
#include "train/train_fixture.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

// Mean of the sampled volume over CSF (1) and white matter (3) of the label map.
std::pair<double, double> csf_and_wm(const std::string& volume, const io::LabelVolume& labels) {
  const io::Volume v = io::read_volume(volume);
  double sum[4] = {0, 0, 0, 0}, n[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    const int l = labels.voxels[i];
    if (l < 0 || l > 3 || !std::isfinite(v.voxels[i])) continue;
    sum[l] += v.voxels[i];
    n[l] += 1;
  }
  return {sum[1] / n[1], sum[3] / n[3]};
}

}  // namespace

TEST(AcquisitionPrompt, ADdpmTrainedOnT1AndT2ScansOfOneAnatomyGivesTheContrastThePromptNames) {
  TempDir tmp;
  const std::string map = ch2_tissue_map();
  const std::string t1 = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  auto r = run_medsynth("simulate " + map + " " + tmp.str("t2.nii.gz") + " --sequence se --tr 4000 --te 100 --field 1.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ofstream(tmp.str("m.csv")) << "subject,image,labels,tr,te\ncolin," << t1 << "," << map << ",18,10\n"
                                  << "t2sim," << tmp.str("t2.nii.gz") << "," << map << ",4000ms,0.1s\n";
  std::ofstream(tmp.str("a.ini")) << "[data]\nmanifest = " << tmp.str("m.csv") << "\ngrid = 32\nlabels = file\nholdout = 0\n\n"
                                  << "[model]\nchannels = 16,32\nres_blocks = 1\nattention_levels = 1\nacquisition = tr,te\n\n"
                                  << "[train]\nout = " << tmp.str("out") << "\nsteps = 300\nbatch = 8\nlr = 0.001\n"
                                  << "warmup = 10\ncheckpoint_every = 300\nlog_every = 100\nthreads = 1\nseed = 3\n";
  r = run_medsynth("train --config " + tmp.str("a.ini"), 900);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string ckpt = tmp.str("out/checkpoints/ckpt-00000300.pt");

  // A slab of 12 axial slices of the map (sampling the whole head would cost most of the test).
  io::LabelVolume full = io::read_label_volume(map), slab = io::extract_slice(full, 84, map);
  const std::size_t plane = full.geometry.size[0] * full.geometry.size[1];
  slab.geometry.size[2] = 12;
  slab.voxels.assign(full.voxels.begin() + static_cast<long>(84 * plane), full.voxels.begin() + static_cast<long>(96 * plane));
  io::write_label_volume(slab, tmp.str("slab.nii.gz"));

  const std::string common = "sample --checkpoint " + ckpt + " --condition " + tmp.str("slab.nii.gz") + " --steps 20 --seed 5 ";
  r = run_medsynth(common + "--prompt 'TR=18 TE=10' --out " + tmp.str("t1.nii.gz"), 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth(common + "--prompt 'TR=4000 TE=100' --out " + tmp.str("p2.nii.gz"), 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto [csf1, wm1] = csf_and_wm(tmp.str("t1.nii.gz"), slab);
  const auto [csf2, wm2] = csf_and_wm(tmp.str("p2.nii.gz"), slab);
  std::cout << "T1 prompt: CSF " << csf1 << ", WM " << wm1 << "; T2 prompt: CSF " << csf2 << ", WM " << wm2 << "\n";
  EXPECT_LT(csf1, wm1);  // T1-weighted: CSF dark, white matter bright
  EXPECT_GT(csf2, wm2);  // T2-weighted: CSF bright, white matter dark
  // Not given: the model still samples (attributes masked).
  r = run_medsynth(common + "--out " + tmp.str("none.nii.gz"), 600);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // An attribute the model was not trained on, and an unknown word: usage errors naming what it takes.
  r = run_medsynth(common + "--prompt 'TR=2300 TI=900' --out " + tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("was trained on the acquisition attributes tr, te only"), std::string::npos) << r.err;
  r = run_medsynth(common + "--prompt 'T2w sparkly' --out " + tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown word 'sparkly'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("x.nii.gz")));
}
