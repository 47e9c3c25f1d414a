// Paired metrics (MAE, MSE, PSNR, SSIM, MS-SSIM) against scikit-image computed at test time on
// real images: Colin27 against a perturbed copy, and ITK's paired T1 / proton-density slices.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "medsynth/error.h"
#include "medsynth/validation/image_metrics.h"
#include "medsynth/validation/ms_ssim.h"
#include "medsynth/validation/ssim.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;
using namespace medsynth::validation;

namespace {

constexpr double kTol = 1e-4;

nlohmann::json run_python_json(const std::string& script) {
  auto p = python(kSkimageHelpers + script);
  EXPECT_EQ(p.exit_code, 0) << "python3-skimage / python3-nibabel reference failed:\n" << p.err;
  return p.exit_code == 0 ? nlohmann::json::parse(p.out) : nlohmann::json();
}

}  // namespace

TEST(ImageMetric, Ch2AgainstPerturbedCopyMatchesSkimagePerSliceAndVolume) {
  TempDir tmp;
  const io::Volume real = read_ch2();
  const io::Volume synth = perturbed(real);
  write_float(real, tmp.str("real.nii"));
  write_float(synth, tmp.str("synth.nii"));
  const double range = 255.0;
  PairedOptions opt;
  opt.data_range = range;
  const PairedResult r = paired_metrics(real, synth, opt);
  ASSERT_EQ(r.slices.size(), 181u);
  EXPECT_EQ(r.ms_ssim_scales, 5);
  // Every 12th slice through skimage (all of them take ~10 s in python), plus the volume figures.
  auto j = run_python_json(
      "a = np.asarray(nib.load('" + tmp.str("real.nii") + "').dataobj, dtype=np.float64)\n"
      "b = np.asarray(nib.load('" + tmp.str("synth.nii") + "').dataobj, dtype=np.float64)\n"
      "L = " + std::to_string(range) + "\n"
      "out = {'slices': {}}\n"
      "for k in range(0, a.shape[2], 12):\n"
      "    x, y = a[:, :, k], b[:, :, k]\n"
      "    out['slices'][str(k)] = dict(mae=float(np.abs(x - y).mean()), mse=float(((x - y) ** 2).mean()),\n"
      "        psnr=float(peak_signal_noise_ratio(x, y, data_range=L)),\n"
      "        ssim=float(ssim_map(x, y, L)[0]), ms_ssim=float(ms_ssim_ref(x, y, L)))\n"
      "out['mae'] = float(np.abs(a - b).mean()); out['mse'] = float(((a - b) ** 2).mean())\n"
      "out['psnr'] = float(peak_signal_noise_ratio(a, b, data_range=L))\n"
      "print(json.dumps(out))\n");
  ASSERT_FALSE(j.is_null());
  EXPECT_NEAR(r.volume.mae, j["mae"].get<double>(), kTol);
  EXPECT_NEAR(r.volume.mse, j["mse"].get<double>(), kTol * j["mse"].get<double>());
  EXPECT_NEAR(r.volume.psnr, j["psnr"].get<double>(), kTol);
  std::size_t compared = 0;
  for (const auto& [key, ref] : j["slices"].items()) {
    const auto& m = r.slices[std::stoul(key)].metrics;
    SCOPED_TRACE("slice " + key);
    EXPECT_NEAR(m.mae, ref["mae"].get<double>(), kTol);
    EXPECT_NEAR(m.psnr, ref["psnr"].get<double>(), kTol);
    EXPECT_NEAR(m.ssim, ref["ssim"].get<double>(), kTol);
    EXPECT_NEAR(m.ms_ssim, ref["ms_ssim"].get<double>(), kTol);
    ++compared;
  }
  EXPECT_EQ(compared, 16u);
  // The perturbation is visible but not destructive: the figures sit where a fair copy would.
  EXPECT_GT(r.volume.ssim, 0.3);
  EXPECT_LT(r.volume.ssim, 0.95);
  EXPECT_GT(r.volume.ms_ssim, r.volume.ssim);
}

TEST(ImageMetric, T1AgainstProtonDensityPngMatchesSkimage) {
  const std::string t1 = data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples");
  const std::string pd = data_file(kItkData + "BrainProtonDensitySlice.png", "insighttoolkit5-examples");
  const io::Volume a = io::read_volume(t1), b = io::read_volume(pd);
  PairedOptions opt;
  opt.data_range = 255;
  const PairedResult r = paired_metrics(a, b, opt);
  ASSERT_EQ(r.slices.size(), 1u);
  auto j = run_python_json(
      "x = grey('" + t1 + "')\n"
      "y = grey('" + pd + "')\n"
      "print(json.dumps(dict(mae=float(np.abs(x - y).mean()), mse=float(((x - y) ** 2).mean()),\n"
      "    psnr=float(peak_signal_noise_ratio(x, y, data_range=255)), ssim=float(ssim_map(x, y, 255)[0]),\n"
      "    ms_ssim=float(ms_ssim_ref(x, y, 255)), scales=scales_for(x.shape))))\n");
  ASSERT_FALSE(j.is_null());
  const auto& m = r.volume;
  EXPECT_NEAR(m.mae, j["mae"].get<double>(), kTol);
  EXPECT_NEAR(m.mse, j["mse"].get<double>(), kTol * j["mse"].get<double>());
  EXPECT_NEAR(m.psnr, j["psnr"].get<double>(), kTol);
  EXPECT_NEAR(m.ssim, j["ssim"].get<double>(), kTol);
  EXPECT_NEAR(m.ms_ssim, j["ms_ssim"].get<double>(), kTol);
  EXPECT_EQ(r.ms_ssim_scales, j["scales"].get<int>());
}

TEST(ImageMetric, MaskedFiguresMatchSkimageMapsAveragedInsideTheMask) {
  TempDir tmp;
  const io::Volume real = read_ch2();
  const io::Volume synth = perturbed(real, 10.0, 11);
  io::Volume mask = real;
  for (auto& v : mask.voxels) v = v > 60.0f ? 1.0f : 0.0f;
  write_float(real, tmp.str("real.nii"));
  write_float(synth, tmp.str("synth.nii"));
  write_float(mask, tmp.str("mask.nii"));
  PairedOptions opt;
  opt.mask = &mask;
  const PairedResult r = paired_metrics(real, synth, opt);
  ASSERT_GT(r.mask_voxels, 0u);
  ASSERT_LT(r.slices.size(), 181u);  // slices outside the head have no voxel inside the mask
  auto j = run_python_json(
      "a = np.asarray(nib.load('" + tmp.str("real.nii") + "').dataobj, dtype=np.float64)\n"
      "b = np.asarray(nib.load('" + tmp.str("synth.nii") + "').dataobj, dtype=np.float64)\n"
      "m = np.asarray(nib.load('" + tmp.str("mask.nii") + "').dataobj) != 0\n"
      "L = float(a[m].max() - a[m].min())\n"
      "out = dict(L=L, mae=float(np.abs(a - b)[m].mean()), mse=float(((a - b) ** 2)[m].mean()), slices={})\n"
      "for k in (60, 90, 120):\n"
      "    x, y, mk = a[:, :, k], b[:, :, k], m[:, :, k]\n"
      "    S = crop(ssim_map(x, y, L)[1])\n"
      "    out['slices'][str(k)] = dict(ssim=float(S[crop(mk)].mean()), ms_ssim=float(ms_ssim_ref(x, y, L, mk)),\n"
      "        mae=float(np.abs(x - y)[mk].mean()))\n"
      "print(json.dumps(out))\n");
  ASSERT_FALSE(j.is_null());
  EXPECT_NEAR(r.data_range, j["L"].get<double>(), 1e-9);
  EXPECT_NEAR(r.volume.mae, j["mae"].get<double>(), kTol);
  EXPECT_NEAR(r.volume.mse, j["mse"].get<double>(), kTol * j["mse"].get<double>());
  for (const auto& [key, ref] : j["slices"].items()) {
    SCOPED_TRACE("slice " + key);
    const SliceMetrics* s = nullptr;
    for (const auto& sm : r.slices)
      if (sm.index == std::stoul(key)) s = &sm;
    ASSERT_NE(s, nullptr);
    EXPECT_NEAR(s->metrics.ssim, ref["ssim"].get<double>(), kTol);
    EXPECT_NEAR(s->metrics.ms_ssim, ref["ms_ssim"].get<double>(), kTol);
    EXPECT_NEAR(s->metrics.mae, ref["mae"].get<double>(), kTol);
  }
}

TEST(ImageMetric, SmallSlicesUseFewerMsSsimScalesWithRenormalisedWeights) {
  EXPECT_EQ(ms_ssim_scales(181, 217), 5);
  EXPECT_EQ(ms_ssim_scales(176, 176), 5);  // 11 at the fifth scale
  EXPECT_EQ(ms_ssim_scales(175, 400), 4);  // 10 at the fifth scale
  EXPECT_EQ(ms_ssim_scales(64, 64), 3);
  EXPECT_EQ(ms_ssim_scales(11, 11), 1);
  EXPECT_EQ(ms_ssim_scales(10, 64), 0);
  // A 64x64 crop of the T1/PD pair: 3 scales, weights 0.0448 0.2856 0.3001 over their sum.
  const io::Volume a = io::read_volume(data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples"));
  const io::Volume b = io::read_volume(kItkData + "BrainProtonDensitySlice.png");
  Slice x, y;
  x.width = y.width = x.height = y.height = 64;
  for (std::size_t j = 0; j < 64; ++j)
    for (std::size_t i = 0; i < 64; ++i) {
      x.pixels.push_back(a.at(i + 80, j + 90, 0));
      y.pixels.push_back(b.at(i + 80, j + 90, 0));
    }
  const MsSsimResult ms = ms_ssim(x, y, SsimOptions{255});
  EXPECT_EQ(ms.scales, 3);
  auto j = run_python_json(
      "x = grey('" + kItkData + "BrainT1Slice.png')[90:154, 80:144]\n"
      "y = grey('" + kItkData + "BrainProtonDensitySlice.png')[90:154, 80:144]\n"
      "print(json.dumps(dict(ms=float(ms_ssim_ref(x, y, 255)))))\n");
  ASSERT_FALSE(j.is_null());
  EXPECT_NEAR(ms.ms_ssim, j["ms"].get<double>(), kTol);
  // Under 11x11 there is no SSIM window: refused, not a made-up number.
  Slice tiny;
  tiny.width = tiny.height = 10;
  tiny.pixels.assign(100, 1.0f);
  try {
    ms_ssim(tiny, tiny, SsimOptions{1});
    FAIL() << "a 10x10 slice was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("11x11"), std::string::npos) << e.what();
  }
}

TEST(ImageMetric, IdenticalImagesGiveSsimOneAndInfinitePsnr) {
  const io::Volume a = io::read_volume(data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples"));
  const PairedResult r = paired_metrics(a, a, PairedOptions{255, nullptr, 1});
  EXPECT_NEAR(r.volume.ssim, 1.0, 1e-12);
  EXPECT_NEAR(r.volume.ms_ssim, 1.0, 1e-12);
  EXPECT_EQ(r.volume.mae, 0.0);
  EXPECT_TRUE(std::isinf(r.volume.psnr));
}

TEST(ImageMetric, DifferentGridsAreRefusedNamingBothGrids) {
  const io::Volume a = read_ch2();
  io::Volume b = a;
  b.geometry.spacing[2] = 2.0;
  try {
    paired_metrics(a, b);
    FAIL() << "different grids were accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(msg.find("spacing 1x1x1 mm"), std::string::npos) << msg;
    EXPECT_NE(msg.find("spacing 1x1x2 mm"), std::string::npos) << msg;
  }
}

TEST(ImageMetric, EmptyMaskAndConstantRealVolumeAreClearErrorsNotNan) {
  const io::Volume a = io::read_volume(data_file(kItkData + "BrainT1Slice.png", "insighttoolkit5-examples"));
  io::Volume empty = a;
  std::fill(empty.voxels.begin(), empty.voxels.end(), 0.0f);
  PairedOptions opt;
  opt.mask = &empty;
  try {
    paired_metrics(a, a, opt);
    FAIL() << "an empty mask was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("mask is empty"), std::string::npos) << e.what();
  }
  io::Volume constant = a;
  std::fill(constant.voxels.begin(), constant.voxels.end(), 7.0f);
  try {
    paired_metrics(constant, a);
    FAIL() << "a constant real volume without a data range was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("--data-range"), std::string::npos) << e.what();
  }
  // With an explicit range a constant image has well-defined, finite figures.
  const PairedResult r = paired_metrics(constant, a, PairedOptions{255, nullptr, 1});
  EXPECT_TRUE(std::isfinite(r.volume.ssim));
  EXPECT_TRUE(std::isfinite(r.volume.psnr));
}
