// The model card beside every checkpoint, and the mark of every sampled volume naming its run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/synthesis.h"
#include "medsynth/pipeline/trainer.h"
#include "train/train_fixture.h"

namespace fs = std::filesystem;
namespace io = medsynth::io;
namespace mark = medsynth::mark;
namespace mp = medsynth::pipeline;
using namespace medsynth::test;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ModelCard, BesideEveryCheckpointWithDataHashesLicenceUseAndLimits) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::string ini = tiny_config(manifest, tmp.str("secret-person-name/out"), 4);
  ini.replace(ini.find("checkpoint_every = 50"), 21, "checkpoint_every = 2");
  std::ofstream(tmp.str("tiny.ini")) << ini;
  const mp::RunConfig cfg = mp::load_config(tmp.str("tiny.ini"), {});
  const mp::TrainResult r = mp::train(cfg, false);
  const auto ckpts = mp::list_checkpoints(tmp.str("secret-person-name/out/checkpoints"));
  ASSERT_EQ(ckpts.size(), 2u);
  for (const auto& c : ckpts) {
    ASSERT_TRUE(fs::exists(mp::model_card_path(c, "json"))) << c;
    ASSERT_TRUE(fs::exists(mp::model_card_path(c, "md"))) << c;
  }
  const nlohmann::json card = mp::read_model_card(r.checkpoint);
  EXPECT_EQ(card["checkpoint"]["xxh3"], mp::hash_file(r.checkpoint));
  EXPECT_EQ(card["checkpoint"]["step"], 4);
  const auto& files = card["training_data"]["files"];
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]["file"], kTemplates + "ch2bet.nii.gz");
  EXPECT_EQ(files[0]["xxh3"], mp::hash_file(kTemplates + "ch2bet.nii.gz"));
  EXPECT_NE(files[0]["licence"].get<std::string>().find("BSD-3-clause"), std::string::npos);
  EXPECT_EQ(card["training_data"]["subjects"], 1);
  EXPECT_NE(card["intended_use"].get<std::string>().find("Research, not diagnosis"), std::string::npos);
  const std::string limits = card["known_limits"].dump();
  EXPECT_NE(limits.find("one subject"), std::string::npos);
  EXPECT_NE(limits.find("tissue map is derived from the same image"), std::string::npos);
  const mp::CheckpointInfo info = mp::read_checkpoint_info(r.checkpoint);
  EXPECT_EQ(card["mark"]["run_id"], mark::run_id_text(mp::mark_run_id(info.run_config, info.data_fingerprint)));
  // No folder of the run (which may name a person) in either file.
  for (const char* ext : {"json", "md"}) {
    const std::string text = read_text(mp::model_card_path(r.checkpoint, ext));
    EXPECT_EQ(text.find("secret-person-name"), std::string::npos) << ext;
    EXPECT_EQ(text.find(tmp.str()), std::string::npos) << ext;
  }
  // Shown by medsynth info, which checks the checkpoint is the one described.
  const auto shown = run_medsynth("info " + r.checkpoint);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("# Model card: " + fs::path(r.checkpoint).filename().string()), std::string::npos);
  EXPECT_NE(shown.out.find("Research, not diagnosis"), std::string::npos);
  EXPECT_EQ(shown.out.find("WARNING"), std::string::npos);
  // A checkpoint changed after its card was written is flagged.
  std::ofstream(r.checkpoint, std::ios::app) << "x";
  const auto changed = run_medsynth("info " + r.checkpoint);
  EXPECT_NE(changed.out.find("WARNING: the checkpoint's content"), std::string::npos) << changed.out;
}

TEST(ModelCard, SampledVolumeCarriesTheMarkOfItsRunAndNoMarkLeavesItOut) {
  TempDir tmp;
  const std::string ckpt = trained_tiny_checkpoint();
  const std::string labels = ch2_tissue_map();
  auto r = run_medsynth("sample --checkpoint " + ckpt + " --condition " + labels + " --steps 2 --out " +
                        tmp.str("synth.nii.gz"), 900);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const mp::CheckpointInfo info = mp::read_checkpoint_info(ckpt);
  const std::string id = mark::run_id_text(mp::mark_run_id(info.run_config, info.data_fingerprint));
  const auto d = run_medsynth("detect " + tmp.str("synth.nii.gz"));
  EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
  EXPECT_NE(d.out.find("synthetic, made by medsynth " + mark::version_text(mark::current_payload(0)) + ", run " + id),
            std::string::npos)
      << d.out;
  r = run_medsynth("sample --checkpoint " + ckpt + " --condition " + labels + " --steps 2 --no-mark --out " +
                   tmp.str("plain.nii.gz"), 900);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: --no-mark"), std::string::npos) << r.err;
  const auto none = run_medsynth("detect " + tmp.str("plain.nii.gz"));
  EXPECT_EQ(none.exit_code, 4) << none.out;
  // The mark is the only difference, and it is small: PSNR >= 45 dB against the unmarked volume.
  const io::Volume a = io::read_volume(tmp.str("synth.nii.gz")), b = io::read_volume(tmp.str("plain.nii.gz"));
  const auto range = io::intensity_range(b);
  double se = 0;
  for (std::size_t i = 0; i < a.voxels.size(); ++i) se += (a.voxels[i] - b.voxels[i]) * (a.voxels[i] - b.voxels[i]);
  const double psnr = 10 * std::log10((range.second - range.first) * (range.second - range.first) /
                                      (se / static_cast<double>(a.voxels.size())));
  std::printf("[mark] sampled volume, marked vs --no-mark: PSNR %.1f dB\n", psnr);
  EXPECT_GE(psnr, 45.0);
}

}  // namespace
