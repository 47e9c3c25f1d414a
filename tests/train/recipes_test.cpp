// Every recipe in configs/ runs through every stage of 'medsynth run' with few steps (tiny batches,
// 2 training steps, 2 DDIM steps): the configs parse, their data exist, their family trains and
// samples, and the report is written. The ldm recipe runs on the vae recipe's run folder, as the
// recipe says. What the recipes learn at full length is in docs/models.md and the demo.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "train/train_fixture.h"

namespace fs = std::filesystem;
using namespace medsynth::test;

namespace {

std::string recipe(const std::string& name) { return std::string(MEDSYNTH_SOURCE_DIR) + "/configs/" + name; }

std::vector<std::string> all_recipes() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(std::string(MEDSYNTH_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() == ".ini") names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(SlowRecipes, EveryShippedConfigRunsEveryStageWithFewSteps) {
  data_file(kTemplates + "aal.nii.gz", "mricron-data");
  TempDir tmp;
  const std::string fast = " --train.steps 2 --train.batch 2 --train.warmup 0 --train.checkpoint_every 2"
                           " --train.threads 1 --sample.steps 2 --sample.batch 64"
                           " --utility.steps 2 --utility.batch 2 --utility.fractions 0.5,1 --utility.bootstrap 10";
  auto names = all_recipes();
  ASSERT_GE(names.size(), 8u) << "a recipe is missing from configs/";
  // The vae before the ldm that needs it.
  std::stable_partition(names.begin(), names.end(), [](const std::string& n) { return n.find("-vae") != std::string::npos; });
  std::string vae_run;
  for (const auto& name : names) {
    const std::string out = tmp.str(name.substr(0, name.size() - 4));
    std::string args = "run " + recipe(name) + " --train.out " + out + fast;
    if (name.find("-vae") != std::string::npos) vae_run = out;
    if (name.find("-ldm") != std::string::npos) {
      ASSERT_FALSE(vae_run.empty());
      args += " --model.autoencoder " + vae_run;
    }
    if (name.find("augmentation") != std::string::npos) args += " --sample.pairs 1";
    const auto r = run_medsynth(args, 900);
    ASSERT_EQ(r.exit_code, 0) << name << ":\n" << r.err;
    for (const char* stage : {"ingest", "train", "sample", "evaluate", "export", "report"}) {
      EXPECT_TRUE(fs::exists(out + "/" + stage + "/stage.json")) << name << ": no " << stage << " stage";
    }
    EXPECT_NE(r.out.find("report: "), std::string::npos) << name << ": " << r.out;
    if (name.find("utility") != std::string::npos) {
      EXPECT_TRUE(fs::exists(out + "/utility/report.json")) << "the utility recipe wrote no utility report";
      EXPECT_NE(r.out.find("utility:  real "), std::string::npos) << r.out;
    }
    if (name.find("augmentation") != std::string::npos) {
      EXPECT_TRUE(fs::exists(out + "/sample/pairs/pairs.csv")) << "the augmentation recipe wrote no pairs";
    }
  }
}
