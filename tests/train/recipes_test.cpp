// Every recipe in configs/ runs through every stage of 'medsynth run' with few steps (tiny batches,
// 2 training steps, 2 DDIM steps): the configs parse, their data exist, their family trains and
// samples, and the report is written. One test per recipe, so that ctest runs them side by side;
// the ldm recipe's test runs the vae recipe first and then the ldm on its run folder, as the
// recipe says (so the vae recipe has no test of its own). What the recipes learn at full length is
// in docs/models.md and the demo.
#include <gtest/gtest.h>

#include <algorithm>
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

// Runs `name` (a file of configs/) with few steps into tmp; `extra` is added to its command line.
void run_recipe(const TempDir& tmp, const std::string& name, const std::string& extra = "") {
  const std::string fast = " --train.steps 2 --train.batch 2 --train.warmup 0 --train.checkpoint_every 2"
                           " --train.threads 1 --sample.steps 2 --sample.batch 16"
                           " --utility.steps 2 --utility.batch 2 --utility.fractions 0.5,1 --utility.bootstrap 10";
  const std::string out = tmp.str(name.substr(0, name.size() - 4));
  std::string args = "run " + recipe(name) + " --train.out " + out + fast + extra;
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

// The recipes the tests below run: every file of configs/ must be one of them.
const std::vector<std::string> kTested = {
    "brainweb-pd-to-t1-pix2pix.ini", "colin27-aal-ddpm.ini",      "colin27-aal-spade.ini",
    "colin27-augmentation.ini",      "colin27-physics-ddpm.ini",  "colin27-tissue-ddpm.ini",
    "colin27-tissue-ldm.ini",        "colin27-tissue-spade.ini",  "colin27-tissue-vae.ini",
    "colin27-unconditional-ddpm.ini", "colin27-utility.ini"};

}  // namespace

TEST(SlowRecipes, EveryShippedConfigHasATestThatRunsIt) {
  const auto names = all_recipes();
  ASSERT_GE(names.size(), 8u) << "a recipe is missing from configs/";
  for (const auto& n : names) {
    EXPECT_NE(std::find(kTested.begin(), kTested.end(), n), kTested.end())
        << "configs/" << n << " has no SlowRecipes test: add one in tests/train/recipes_test.cpp";
  }
  for (const auto& n : kTested) EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n << " is gone";
}

TEST(SlowRecipes, BrainwebPdToT1Pix2pix) { run_recipe(TempDir(), "brainweb-pd-to-t1-pix2pix.ini"); }
TEST(SlowRecipes, Colin27AalDdpm) {
  data_file(kTemplates + "aal.nii.gz", "mricron-data");
  run_recipe(TempDir(), "colin27-aal-ddpm.ini");
}
TEST(SlowRecipes, Colin27AalSpade) {
  data_file(kTemplates + "aal.nii.gz", "mricron-data");
  run_recipe(TempDir(), "colin27-aal-spade.ini");
}
TEST(SlowRecipes, Colin27Augmentation) { run_recipe(TempDir(), "colin27-augmentation.ini"); }
TEST(SlowRecipes, Colin27PhysicsDdpm) { run_recipe(TempDir(), "colin27-physics-ddpm.ini"); }
TEST(SlowRecipes, Colin27TissueDdpm) { run_recipe(TempDir(), "colin27-tissue-ddpm.ini"); }
TEST(SlowRecipes, Colin27TissueVaeThenLdm) {
  TempDir tmp;
  run_recipe(tmp, "colin27-tissue-vae.ini");
  if (HasFatalFailure()) return;
  run_recipe(tmp, "colin27-tissue-ldm.ini", " --model.autoencoder " + tmp.str("colin27-tissue-vae"));
}
TEST(SlowRecipes, Colin27TissueSpade) { run_recipe(TempDir(), "colin27-tissue-spade.ini"); }
TEST(SlowRecipes, Colin27UnconditionalDdpm) { run_recipe(TempDir(), "colin27-unconditional-ddpm.ini"); }
TEST(SlowRecipes, Colin27Utility) { run_recipe(TempDir(), "colin27-utility.ini"); }
