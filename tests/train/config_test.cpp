#include <gtest/gtest.h>

#include <fstream>

#include "medsynth/pipeline/config.h"
#include "test_util.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;

TEST(Config, CommandLineOverridesIniAndDefaultsFillTheRest) {
  TempDir tmp;
  std::ofstream(tmp.str("c.ini")) << "[train]\nsteps = 300\nbatch = 4\n[model]\nchannels = 8,16,32\n";
  const auto c = pl::load_config(tmp.str("c.ini"), {"--train.steps", "42", "--data.grid", "48"});
  EXPECT_EQ(c.train.steps, 42);
  EXPECT_EQ(c.train.batch, 4);
  EXPECT_EQ(c.data.grid, 48);
  EXPECT_EQ(c.model.image_size, 48);
  EXPECT_EQ(c.model.channels, (std::vector<int>{8, 16, 32}));
  EXPECT_EQ(c.sample.steps, pl::SampleConfig{}.steps);
}

TEST(Config, UnknownKeysAreRefusedWithTheNearestValidKey) {
  TempDir tmp;
  std::ofstream(tmp.str("c.ini")) << "[train]\nstesp = 300\n";
  try {
    pl::load_config(tmp.str("c.ini"), {});
    FAIL();
  } catch (const pl::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.steps"), std::string::npos) << e.what();
  }
  try {
    pl::load_config("", {"--modle.channels", "8"});
    FAIL();
  } catch (const pl::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.channels"), std::string::npos) << e.what();
  }
}

TEST(Config, IniTextRoundTrips) {
  const auto c = pl::load_config("", {"--train.lr", "0.0005", "--model.label_mode", "spade", "--data.labels", "tissue"});
  const auto back = pl::config_from_ini_text(pl::to_ini(c));
  EXPECT_EQ(pl::to_ini(back), pl::to_ini(c));
  EXPECT_DOUBLE_EQ(back.optim.lr, 0.0005);
  EXPECT_EQ(back.model.label_mode, "spade");
}

TEST(Config, DocsHoldTheGeneratedReference) {
  std::ifstream in(std::string(MEDSYNTH_SOURCE_DIR) + "/docs/config.md");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find(pl::config_reference()), std::string::npos)
      << "docs/config.md is stale: regenerate it with 'medsynth config --reference'";
}

TEST(Config, RenamedKeysAreStillReadFromFilesAndStoredConfigs) {
  TempDir tmp;
  std::ofstream(tmp.str("old.ini")) << "[model]\nclass_conditioning = 4\n";
  testing::internal::CaptureStderr();
  const auto c = pl::load_config(tmp.str("old.ini"), {});
  const std::string warned = testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.model.num_classes, 4);
  EXPECT_NE(warned.find(tmp.str("old.ini") + ": 'model.class_conditioning' is now 'model.num_classes'"), std::string::npos)
      << warned;
  // The new name is what the config is written with, and a stored config of an earlier release
  // (a checkpoint's run config) reads without a warning.
  EXPECT_NE(pl::to_ini(c).find("num_classes = 4"), std::string::npos);
  EXPECT_EQ(pl::to_ini(c).find("class_conditioning"), std::string::npos);
  testing::internal::CaptureStderr();
  EXPECT_EQ(pl::config_from_ini_text("[model]\nclass_conditioning = 2\n").model.num_classes, 2);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}
