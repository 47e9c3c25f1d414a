// `medsynth evaluate` end to end on real volumes: the report folder, its JSON figures, the HTML
// page's images, rendering in headless chromium, and the bad-input paths with exit code 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/validation/feature_extractor.h"
#include "medsynth/validation/slice.h"
#include "medsynth/validation/tissue_segmentation.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Slices [z0, z1) of a volume, keeping their physical position.
io::Volume slab(const io::Volume& v, std::size_t z0, std::size_t z1) {
  io::Volume s = v;
  s.geometry.size[2] = z1 - z0;
  s.geometry.origin = v.geometry.index_to_physical(0, 0, static_cast<double>(z0));
  const std::size_t n = v.geometry.size[0] * v.geometry.size[1];
  s.voxels.assign(v.voxels.begin() + static_cast<long>(z0 * n), v.voxels.begin() + static_cast<long>(z1 * n));
  return s;
}

// One subject split by slab, as DATA.md advises: training slices 30..99, held-out real 100..149,
// a synthetic copy of the held-out slab (perturbed) with training slice 70 planted at k = 10,
// the tissue condition from multi-Otsu of the skull-stripped brain, and a loss log.
struct Study {
  TempDir dir;
  std::string real, synthetic, train, labels, mask, log;
  Study() {
    const io::Volume ch2 = read_ch2();
    const io::Volume real_v = slab(ch2, 100, 150);
    io::Volume syn = perturbed(real_v, 5.0, 13);
    const std::size_t n = ch2.geometry.size[0] * ch2.geometry.size[1];
    std::copy_n(ch2.voxels.begin() + static_cast<long>(70 * n), n, syn.voxels.begin() + static_cast<long>(10 * n));
    real = write_float(real_v, dir.str("real.nii.gz"));
    synthetic = write_float(syn, dir.str("synthetic.nii.gz"));
    train = write_float(slab(ch2, 30, 100), dir.str("train.nii.gz"));
    const io::Volume bet = slab(io::read_volume(kTemplates + "ch2bet.nii.gz"), 100, 150);
    std::vector<float> brain;
    for (float v : bet.voxels)
      if (v != 0) brain.push_back(v);
    const auto t = validation::multi_otsu_thresholds(brain, 3);
    io::LabelVolume lab;
    lab.geometry = bet.geometry;
    io::Volume m = bet;
    for (std::size_t i = 0; i < bet.voxels.size(); ++i) {
      const float v = bet.voxels[i];
      lab.voxels.push_back(v == 0 ? 0 : 1 + (v >= t[0]) + (v >= t[1]));
      m.voxels[i] = v != 0 ? 1.0f : 0.0f;
    }
    io::write_label_volume(lab, labels = dir.str("tissue.nii.gz"));
    mask = write_float(m, dir.str("brain_mask.nii.gz"));
    std::ofstream csv(log = dir.str("train.csv"));
    csv << "step,loss,lr\n";
    for (int s = 0; s <= 600; s += 10) csv << s << "," << 1.0 / (1.0 + s / 40.0) << ",0.0002\n";
  }
  std::string args(const std::string& out) const {
    return "evaluate --real " + real + " --synthetic " + synthetic + " --train " + train + " --labels " + labels +
           " --log " + log + " --out " + out;
  }
};

// Every number anywhere in the report is finite (nlohmann writes NaN and infinity as null, so
// a null where a figure belongs counts as a failure too).
void expect_finite(const nlohmann::json& j, const std::string& where, std::size_t* count) {
  if (j.is_number()) {
    EXPECT_TRUE(std::isfinite(j.get<double>())) << where;
    ++*count;
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items()) expect_finite(v, where + "." + k, count);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) expect_finite(j[i], where + "[" + std::to_string(i) + "]", count);
  } else {
    EXPECT_FALSE(j.is_null()) << where << " is null";
  }
}

RunResult chromium(const std::string& html, const std::string& flags, const TempDir& profile) {
  return run("chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=" +
                 profile.str("profile") + " --enable-logging=stderr --v=0 " + flags + " file://" + html,
             120);
}

// Console messages (script errors among them) as chromium logs them with --enable-logging.
std::vector<std::string> console_lines(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) out.push_back(line);
  return out;
}

}  // namespace

TEST(Evaluate, ReportHoldsFiniteFiguresFlagsThePlantedCopyAndEveryImageExists) {
  Study s;
  const std::string out = s.dir.str("report");
  auto r = run_medsynth(s.args(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("report.html"), std::string::npos);
  const auto j = nlohmann::json::parse(slurp(out + "/report.json"));
  // The figures every report of this kind must hold.
  for (const char* key : {"mae", "mse", "psnr", "ssim", "ms_ssim"}) EXPECT_TRUE(j["paired"]["volume"][key].is_number()) << key;
  for (const char* key : {"frechet_distance", "mmd2", "mmd_bandwidth", "precision", "recall", "density", "coverage"})
    EXPECT_TRUE(j["distribution"][key].is_number()) << key;
  EXPECT_TRUE(j["diversity"]["synthetic"]["mean_ms_ssim"].is_number());
  EXPECT_TRUE(j["diversity"]["real"]["mean_ms_ssim"].is_number());
  ASSERT_EQ(j["conditioning"]["synthetic"].size(), 3u);
  EXPECT_EQ(j["paired"]["slices"].size(), 50u);
  EXPECT_EQ(j["paired"]["ms_ssim_scales"], 5);
  EXPECT_EQ(j["data_range"]["source"], "max - min of the real volume");
  EXPECT_GT(j["data_range"]["value"].get<double>(), 100.0);
  std::size_t numbers = 0;
  for (const char* section : {"paired", "distribution", "diversity", "conditioning", "privacy", "data_range", "training_log"}) {
    ASSERT_TRUE(j.contains(section)) << section;
    expect_finite(j[section], section, &numbers);
  }
  EXPECT_GT(numbers, 500u);
  // Provenance: each input with its size and a 64-bit xxh3 fingerprint.
  for (const char* input : {"real", "synthetic", "train", "labels", "log"}) {
    const auto& p = j["inputs"][input];
    EXPECT_GT(p["bytes"].get<std::size_t>(), 0u) << input;
    EXPECT_TRUE(std::regex_match(p["xxh3_64"].get<std::string>(), std::regex("[0-9a-f]{16}"))) << input;
  }
  EXPECT_FALSE(j["medsynth"]["version"].get<std::string>().empty());
  // The planted copy is the most correlated synthetic slice, flagged, paired with training k=40.
  const auto& priv = j["privacy"];
  ASSERT_GE(priv["flagged_count"].get<int>(), 1);
  EXPECT_EQ(priv["flagged"][0]["slice"], 10);
  EXPECT_EQ(priv["flagged"][0]["train_slice"], 40);
  EXPECT_GT(priv["flagged"][0]["correlation"].get<double>(), 0.9999);
  // Every image the page references exists, and at least the montages and privacy pairs are there.
  const std::string html = slurp(out + "/report.html");
  const std::regex src("src=\"([^\"]+)\"");
  std::size_t images = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), src); it != std::sregex_iterator(); ++it, ++images) {
    const std::string ref = (*it)[1];
    EXPECT_EQ(ref.rfind("images/", 0), 0u) << ref << " is not inside the report folder";
    EXPECT_TRUE(fs::exists(out + "/" + ref)) << ref;
  }
  EXPECT_GE(images, 6u + 8u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<h2>Training log</h2>"), std::string::npos);  // the loss curve from --log
  EXPECT_NE(html.find("aria-label=\"loss\""), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex("<script[^>]*\\bsrc=")));  // the viewer's script is inline
  // PNGs that skimage reads back as RGB images of the montage's shape (3 panels + 2 gaps).
  auto p = python("from skimage import io\n"
                  "im = io.imread('" + out + "/" + j["images"]["montages"][0]["image"].get<std::string>() + "')\n"
                  "assert im.ndim == 3 and im.shape[2] == 3, im.shape\n"
                  "f = im.shape[0] // 217\n"
                  "assert im.shape == (217 * f, (3 * 181 + 8) * f, 3), im.shape\n"
                  "assert im.std() > 10\n");
  EXPECT_EQ(p.exit_code, 0) << p.err;
}

TEST(Evaluate, ReportRendersInHeadlessChromiumWithoutConsoleErrors) {
  Study s;
  const std::string out = s.dir.str("report");
  auto r = run_medsynth(s.args(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  TempDir profile;
  auto c = chromium(out + "/report.html", "--window-size=1200,3000 --screenshot=" + profile.str("shot.png"), profile);
  ASSERT_EQ(c.exit_code, 0) << "chromium (package chromium): " << c.err;
  EXPECT_TRUE(console_lines(c.err).empty()) << c.err;
  ASSERT_TRUE(fs::exists(profile.str("shot.png")));
  EXPECT_GT(fs::file_size(profile.str("shot.png")), 50000u);  // a drawn page, not a blank one
  auto dom = chromium(out + "/report.html", "--dump-dom", profile);
  EXPECT_NE(dom.out.find("medsynth evaluation report"), std::string::npos);
  EXPECT_NE(dom.out.find("Privacy: memorisation check"), std::string::npos);
  // The check itself can fail: a page with a script error is caught the same way.
  std::ofstream(profile.str("broken.html")) << "<!DOCTYPE html><html><body><script>notDefined();</script></body></html>";
  auto bad = chromium(profile.str("broken.html"), "--dump-dom", profile);
  EXPECT_FALSE(console_lines(bad.err).empty()) << bad.err;
}

TEST(Evaluate, DifferentGridsAreRefusedNamingBothOrResampledOnRequest) {
  Study s;
  // The synthetic volume on a coarser grid: 2 mm in-plane, as a model trained at half size gives.
  const io::Volume real = io::read_volume(s.real);
  const io::Volume syn = io::read_volume(s.synthetic);
  io::Volume half;
  half.geometry = syn.geometry;
  half.geometry.size = {syn.geometry.size[0] / 2, syn.geometry.size[1] / 2, syn.geometry.size[2]};
  half.geometry.spacing = {2.0, 2.0, 1.0};
  half.geometry.origin = syn.geometry.index_to_physical(0.5, 0.5, 0);
  for (std::size_t k = 0; k < half.geometry.size[2]; ++k)
    for (std::size_t j = 0; j < half.geometry.size[1]; ++j)
      for (std::size_t i = 0; i < half.geometry.size[0]; ++i)
        half.voxels.push_back(0.25f * (syn.at(2 * i, 2 * j, k) + syn.at(2 * i + 1, 2 * j, k) + syn.at(2 * i, 2 * j + 1, k) +
                                       syn.at(2 * i + 1, 2 * j + 1, k)));
  const std::string coarse = write_float(half, s.dir.str("coarse.nii.gz"));
  auto r = run_medsynth("evaluate --real " + s.real + " --synthetic " + coarse + " --out " + s.dir.str("a"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("90x108x50, spacing 2x2x1 mm"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("181x217x50, spacing 1x1x1 mm"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--resample"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(s.dir.str("a")));
  r = run_medsynth("evaluate --resample --real " + s.real + " --synthetic " + coarse + " --out " + s.dir.str("b"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(s.dir.str("b/report.json")));
  EXPECT_EQ(j["resampled"][0], "synthetic (trilinear)");
  // Halved and brought back, the brain is blurred but in place: high MS-SSIM, far from identical.
  EXPECT_GT(j["paired"]["volume"]["ms_ssim"].get<double>(), 0.8);
  EXPECT_LT(j["paired"]["volume"]["ssim"].get<double>(), 0.95);
}

TEST(Evaluate, BadInputExitsTwoWithAClearMessageAndLeavesNothingBehind) {
  Study s;
  const io::Volume real = io::read_volume(s.real);
  io::Volume zero = real;
  std::fill(zero.voxels.begin(), zero.voxels.end(), 0.0f);
  const std::string empty_mask = write_float(zero, s.dir.str("empty_mask.nii.gz"));
  io::Volume flat = real;
  std::fill(flat.voxels.begin(), flat.voxels.end(), 50.0f);
  const std::string constant = write_float(flat, s.dir.str("constant.nii.gz"));
  const std::string base = "evaluate --out " + s.dir.str("out");
  struct Case {
    std::string args, message;
  };
  std::ofstream(s.dir.str("bad.csv")) << "step,loss\n1,0.5\n2,abc\n";
  const std::vector<Case> cases = {
      {" --real " + s.real + " --synthetic " + s.synthetic + " --mask " + empty_mask, "mask is empty"},
      {" --real " + constant + " --synthetic " + s.synthetic, "give --data-range"},
      {" --real " + s.real + " --synthetic " + s.dir.str("missing.nii.gz"), "missing.nii.gz"},
      {" --real " + s.real + " --synthetic " + s.synthetic + " --log " + s.dir.str("bad.csv"), "line 3: 'abc' is not a number"},
      {" --real " + s.real + " --synthetic " + s.synthetic + " --labels " + empty_mask, "no foreground label"},
  };
  for (const auto& c : cases) {
    auto r = run_medsynth(base + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.rfind("medsynth: error: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find("nan"), std::string::npos) << r.err;
  }
  // No report and no temporary folder were left beside it.
  for (const auto& e : fs::directory_iterator(s.dir.path()))
    EXPECT_EQ(e.path().filename().string().find("out"), std::string::npos) << e.path();
  // A constant real volume is fine once the data range is given; an existing report needs --force.
  auto r = run_medsynth(base + " --real " + constant + " --synthetic " + s.synthetic + " --data-range 255");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth(base + " --real " + s.real + " --synthetic " + s.synthetic);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  r = run_medsynth(base + " --force --real " + s.real + " --synthetic " + s.synthetic + " --mask " + s.mask);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(s.dir.str("out/report.json")));
  EXPECT_GT(j["mask"]["voxels"].get<std::size_t>(), 100000u);
  EXPECT_EQ(j["data_range"]["source"], "max - min of the real volume inside the mask");
  r = run_medsynth(base + "2 --real " + s.real + " --synthetic " + s.synthetic + " --data-range -1");
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

TEST(Evaluate, ReadsADicomSeriesAsTheRealVolumeAndReportsIdenticalImagesHonestly) {
  // plastimatch's DICOM series of Colin27 against the NIfTI it was written from: one grid, the
  // same voxels. Identical images have PSNR +inf, which JSON cannot hold: null, and ∞ on the page.
  const std::string series = plastimatch_series(kTemplates + "ch2.nii.gz", "ch2-dicom");
  TempDir tmp;
  auto r = run_medsynth("evaluate --real " + series + " --synthetic " + kTemplates + "ch2.nii.gz --out " + tmp.str("r"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(tmp.str("r/report.json")));
  EXPECT_EQ(j["inputs"]["real"]["files"], 181);
  EXPECT_EQ(j["inputs"]["synthetic"]["files"], 1);
  EXPECT_EQ(j["paired"]["volume"]["ssim"], 1.0);
  EXPECT_EQ(j["paired"]["volume"]["ms_ssim"], 1.0);
  EXPECT_EQ(j["paired"]["volume"]["mae"], 0.0);
  EXPECT_TRUE(j["paired"]["volume"]["psnr"].is_null());
  EXPECT_NEAR(j["distribution"]["frechet_distance"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(j["distribution"]["precision"], 1.0);
  EXPECT_EQ(j["diversity"]["synthetic"]["mean_ms_ssim"], j["diversity"]["real"]["mean_ms_ssim"]);
  const std::string html = slurp(tmp.str("r/report.html"));
  EXPECT_NE(html.find("∞ dB"), std::string::npos);
}

// The runner's case, one subject split by slab: the real volume is ch2bet whole, the mask the
// held-out slab (whole axial slices 100..149), the training volume ch2bet with the slab blanked
// (as run_evaluate writes it) and the synthetic volume ch2bet blurred in-plane with a gain that
// changes from slice to slice (what independent slices sampled at a coarse grid look like).
TEST(Evaluate, ReportsVolumeFiguresAndARealVsRealBaselineBesideTheDistributionFigures) {
  TempDir tmp;
  const std::string bet = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  auto p = python(kVolumeFigureHelpers +
                  "out = '" + tmp.str() + "'\n"
                  "img = nib.load('" + bet + "')\n"
                  "a = np.asarray(img.dataobj, dtype=np.float32)\n"
                  "X, Y, Z = axes = axes_of(img.affine)\n"
                  "rng = np.random.default_rng(3)\n"
                  "gain = (1 + 0.1 * rng.standard_normal(a.shape[Z])).astype(np.float32)\n"
                  "shape = [1, 1, 1]; shape[Z] = -1\n"
                  "syn = ndimage.gaussian_filter(a, sigma=[0 if ax == Z else 1.5 for ax in range(3)]) * gain.reshape(shape)\n"
                  "m = np.zeros(a.shape, bool); idx = [slice(None)] * 3; idx[Z] = slice(100, 150); m[tuple(idx)] = True\n"
                  "train = np.where(m, 0, a).astype(np.float32)\n"
                  "for name, v in dict(real=a, synthetic=syn, mask=m.astype(np.float32), train=train).items():\n"
                  "    nib.save(nib.Nifti1Image(v.astype(np.float32), img.affine), f'{out}/{name}.nii.gz')\n"
                  "real, syn = a.astype(np.float64), syn.astype(np.float64)\n"
                  "L = float(real[m].max() - real[m].min())\n"
                  "print(json.dumps(dict(L=L, coherence=[coherence(v, m, axes) for v in (real, syn)],\n"
                  "    band=[band_power(v, m, axes) for v in (real, syn)],\n"
                  "    sagittal=plane_figures(real, syn, L, X, m), coronal=plane_figures(real, syn, L, Y, m))))\n",
                  300);
  ASSERT_EQ(p.exit_code, 0) << "python3-scipy / python3-nibabel reference failed:\n" << p.err;
  const auto ref = nlohmann::json::parse(p.out);
  const std::string out = tmp.str("report");
  auto r = run_medsynth("evaluate --real " + tmp.str("real.nii.gz") + " --synthetic " + tmp.str("synthetic.nii.gz") +
                        " --mask " + tmp.str("mask.nii.gz") + " --train " + tmp.str("train.nii.gz") + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_NEAR(j["data_range"]["value"].get<double>(), ref["L"].get<double>(), 1e-9);

  // Through-plane coherence inside the mask, per volume and as a ratio.
  const auto& t = j["through_plane"];
  EXPECT_EQ(t["slice_axis"]["index_axis"], 2);
  EXPECT_EQ(t["slice_axis"]["points"], "S");
  EXPECT_EQ(t["in_plane_axis"]["points"], "R");  // index axis 0 of a RAS volume, nearest L-R
  EXPECT_EQ(t["region"], "inside the mask");
  const char* sides[] = {"real", "synthetic"};
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE(sides[s]);
    const auto& c = t[sides[s]];
    const auto& rc = ref["coherence"][s];
    EXPECT_EQ(c["through_pairs"], rc["through_pairs"]);
    EXPECT_NEAR(c["through_plane_mad"].get<double>(), rc["through_plane"].get<double>(), 1e-9 * rc["through_plane"].get<double>());
    EXPECT_NEAR(c["in_plane_mad"].get<double>(), rc["in_plane"].get<double>(), 1e-9 * rc["in_plane"].get<double>());
    EXPECT_NEAR(c["coherence"].get<double>(), rc["coherence"].get<double>(), 1e-9);
    const auto& b = j["sharpness"][sides[s]];
    const auto& rb = ref["band"][s];
    EXPECT_NEAR(b["band_power"].get<double>(), rb["band"].get<double>(), 1e-9 * rb["band"].get<double>());
    EXPECT_NEAR(b["total_power"].get<double>(), rb["total"].get<double>(), 1e-9 * rb["total"].get<double>());
  }
  EXPECT_NEAR(t["ratio"].get<double>(), t["synthetic"]["coherence"].get<double>() / t["real"]["coherence"].get<double>(), 1e-12);
  EXPECT_GT(t["ratio"].get<double>(), 1.5);  // the gain steps between slices
  EXPECT_EQ(j["sharpness"]["slices"], 50);
  EXPECT_LT(j["sharpness"]["ratio"].get<double>(), 0.1);  // the in-plane blur
  // Sagittal and coronal slices through the paired SSIM/PSNR code, inside the mask.
  for (const char* plane : {"sagittal", "coronal"}) {
    SCOPED_TRACE(plane);
    EXPECT_NEAR(j["reslices"][plane]["ssim"].get<double>(), ref[plane]["ssim"].get<double>(), 1e-4);
    EXPECT_NEAR(j["reslices"][plane]["psnr"].get<double>(), ref[plane]["psnr"].get<double>(), 1e-4);
    EXPECT_LT(j["reslices"][plane]["ssim"].get<double>(), j["paired"]["volume"]["ssim"].get<double>());
  }
  EXPECT_EQ(j["reslices"]["axial"]["ssim"], j["paired"]["volume"]["ssim"]);

  // The baseline: training slices, as many as the synthetic set, against the same real set; its
  // figures recomputed here with numpy/scipy from the features of the slices it lists.
  const auto& d = j["distribution"];
  ASSERT_TRUE(d.contains("frechet_distance")) << d.dump();
  ASSERT_TRUE(d["baseline"].contains("frechet_distance")) << d["baseline"].dump();
  const auto& b = d["baseline"];
  EXPECT_EQ(b["train_slices"], d["synthetic_slices"]);
  EXPECT_EQ(b["real_slices"], d["real_slices"]);
  EXPECT_EQ(b["train_slice_indices"].size(), b["train_slices"].get<std::size_t>());
  // On the real grid the training slices nearest the slab stand in: none inside it, all next to it.
  EXPECT_EQ(b["train_choice"], "nearest the real set's slices along k (same grid)");
  for (const auto& k : b["train_slice_indices"]) {
    EXPECT_TRUE(k.get<int>() < 100 || k.get<int>() >= 150) << k;
    EXPECT_TRUE(k.get<int>() >= 50 && k.get<int>() < 200) << k;
  }
  const io::Volume real = io::read_volume(tmp.str("real.nii.gz")), train = io::read_volume(tmp.str("train.nii.gz"));
  const io::Volume mask = io::read_volume(tmp.str("mask.nii.gz"));
  std::vector<validation::Slice> rs, ts;
  std::vector<validation::SliceMask> rm;
  for (const auto& k : j["slice_sets"]["real"]) {
    rs.push_back(validation::slice_of(real, k.get<std::size_t>()));
    rm.push_back(validation::mask_slice_of(mask, k.get<std::size_t>()));
  }
  for (const auto& k : b["train_slice_indices"]) ts.push_back(validation::slice_of(train, k.get<std::size_t>()));
  const double low = j["data_range"]["low"].get<double>(), range = j["data_range"]["value"].get<double>();
  const validation::RadiomicsFeatureExtractor radiomics(validation::RadiomicsOptions{low, low + range, 32, 32});
  auto write_matrix = [](const validation::FeatureMatrix& f, const std::string& path) {
    std::ofstream o(path);
    o.precision(17);
    for (std::size_t i = 0; i < f.rows; ++i)
      for (std::size_t c = 0; c < f.cols; ++c) o << f.at(i, c) << (c + 1 < f.cols ? " " : "\n");
  };
  write_matrix(validation::extract_features(radiomics, rs, &rm), tmp.str("real.txt"));
  write_matrix(validation::extract_features(radiomics, ts), tmp.str("train.txt"));
  auto q = python("import json, numpy as np, scipy.linalg\n"
                  "r = np.loadtxt('" + tmp.str("real.txt") + "'); t = np.loadtxt('" + tmp.str("train.txt") + "')\n"
                  "mu, sd = r.mean(0), r.std(0, ddof=1); keep = sd > 1e-12 * np.maximum(1, np.abs(mu))\n"
                  "a, b = ((r - mu) / sd)[:, keep], ((t - mu) / sd)[:, keep]\n"
                  "s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)\n"
                  "fd = float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))\n"
                  "def d(x, y): return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))\n"
                  "dxx, dyy, dxy = d(a, a), d(b, b), d(a, b); m, n = len(a), len(b)\n"
                  "sig = " + std::to_string(d["mmd_bandwidth"].get<double>()) + "\n"
                  "k = lambda D: np.exp(-D ** 2 / (2 * sig ** 2))\n"
                  "mmd2 = (k(dxx).sum() - m) / (m * (m - 1)) + (k(dyy).sum() - n) / (n * (n - 1)) - 2 * k(dxy).mean()\n"
                  "rad = lambda D, kk: np.sort(D, axis=1)[:, kk]\n"
                  "print(json.dumps(dict(fd=fd, mmd2=float(mmd2),\n"
                  "    precision=float((dxy <= rad(dxx, 3)[:, None]).any(axis=0).mean()),\n"
                  "    recall=float((dxy <= rad(dyy, 3)[None, :]).any(axis=1).mean()),\n"
                  "    density=float((dxy <= rad(dxx, 5)[:, None]).sum() / (5 * n)),\n"
                  "    coverage=float((dxy.min(axis=1) <= rad(dxx, 5)).mean()))))\n");
  ASSERT_EQ(q.exit_code, 0) << "python3-scipy reference failed: " << q.err;
  const auto rb = nlohmann::json::parse(q.out);
  EXPECT_NEAR(b["frechet_distance"].get<double>(), rb["fd"].get<double>(), 1e-6 * std::max(1.0, rb["fd"].get<double>()));
  EXPECT_NEAR(b["mmd2"].get<double>(), rb["mmd2"].get<double>(), 1e-6);
  for (const char* key : {"precision", "recall", "density", "coverage"}) EXPECT_NEAR(b[key].get<double>(), rb[key].get<double>(), 1e-9) << key;
  EXPECT_EQ(b["mmd_bandwidth"], d["mmd_bandwidth"]);
  // The page shows both.
  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("Across slices and in-plane sharpness"), std::string::npos);
  EXPECT_NE(html.find("training vs real (baseline)"), std::string::npos);
}
