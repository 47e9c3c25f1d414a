// The trainer through the real binary: kill -9 and --resume end at the same weights as an
// uninterrupted run; broken checkpoints refused; a non-finite loss stops the run cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "medsynth/io/error.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/trainer.h"
#include "train/train_fixture.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;

TEST(Trainer, LearningRateWarmsUpThenDecaysToZero) {
  EXPECT_NEAR(pl::learning_rate(1.0, 10, 110, 0), 0.1, 1e-12);
  EXPECT_NEAR(pl::learning_rate(1.0, 10, 110, 9), 1.0, 1e-12);
  EXPECT_NEAR(pl::learning_rate(1.0, 10, 110, 60), 0.5, 1e-12);
  EXPECT_NEAR(pl::learning_rate(1.0, 10, 110, 110), 0.0, 1e-12);
}

TEST(Trainer, KilledRunResumedEndsWithTheSameWeightsAsAnUninterruptedOne) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("a.ini")) << tiny_config(manifest, tmp.str("a"), 120);
  std::ofstream(tmp.str("b.ini")) << tiny_config(manifest, tmp.str("b"), 120);
  auto ref = run_medsynth("train --config " + tmp.str("a.ini") + " --train.checkpoint_every 10", 600);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;

  // The same run, killed with SIGKILL once a few checkpoints exist, then resumed.
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(MEDSYNTH_BINARY, MEDSYNTH_BINARY, "train", "--config", tmp.str("b.ini").c_str(), "--train.keep_checkpoints",
            "100", "--train.checkpoint_every", "10", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!fs::exists(tmp.str("b/checkpoints/ckpt-00000030.pt")) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed; make it longer";
  ASSERT_FALSE(fs::exists(tmp.str("b/checkpoints/ckpt-00000120.pt")));
  auto resumed = run_medsynth("train --config " + tmp.str("b.ini") + " --train.checkpoint_every 10 --resume", 600);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming from"), std::string::npos) << resumed.err;
  EXPECT_TRUE(same_weights(weights_of(tmp.str("a/checkpoints/ckpt-00000120.pt")),
                           weights_of(tmp.str("b/checkpoints/ckpt-00000120.pt"))))
      << "resumed run diverged from the uninterrupted one";
  // No temporary files left behind by the kill: checkpoints and their model cards only, and
  // every checkpoint has its card.
  std::size_t checkpoints = 0, cards = 0;
  for (const auto& e : fs::directory_iterator(tmp.str("b/checkpoints"))) {
    const std::string name = e.path().filename().string();
    auto ends = [&](const std::string& tail) {
      return name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
    };
    checkpoints += ends(".pt") ? 1 : 0;
    cards += ends(".model-card.json") ? 1 : 0;
    EXPECT_TRUE(ends(".pt") || ends(".model-card.json") || ends(".model-card.md")) << e.path();
  }
  EXPECT_EQ(cards, checkpoints);
  // The loss log has one line per step, in order.
  std::ifstream log(tmp.str("b/loss.csv"));
  std::string line;
  std::getline(log, line);
  int expected = 1;
  while (std::getline(log, line)) EXPECT_EQ(std::stoi(line.substr(0, line.find(','))), expected++);
  EXPECT_EQ(expected, 121);
  // Without --resume the folder of a finished run is not overwritten.
  auto again = run_medsynth("train --config " + tmp.str("b.ini"), 120);
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
}

TEST(Checkpoint, TruncatedAndForeignFilesAreRefusedNamingTheFile) {
  TempDir tmp;
  const std::string good = trained_tiny_checkpoint();
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(tmp.str("half.pt"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  torch::save(torch::ones({3}), tmp.str("foreign.pt"));
  for (const std::string& f : {tmp.str("half.pt"), tmp.str("foreign.pt"), kTemplates + "ch2.nii.gz", tmp.str("none.pt")}) {
    try {
      pl::read_checkpoint_info(f);
      FAIL() << f << " was accepted as a checkpoint";
    } catch (const medsynth::io::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(f + ": ", 0), 0u) << e.what();
    }
    auto r = run_medsynth("sample --checkpoint " + f + " --slices 2 --out " + tmp.str("x.nii.gz"));
    EXPECT_EQ(r.exit_code, 2) << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp.str("x.nii.gz")));
}

TEST(Checkpoint, ModelOfAnotherConfigIsRefused) {
  const std::string good = trained_tiny_checkpoint();
  auto info = pl::read_checkpoint_info(good);
  auto other = info.model;
  other.channels = {8, 16};
  auto m = medsynth::modules::create_model(other, torch::kCPU);
  try {
    pl::load_checkpoint(good, *m);
    FAIL();
  } catch (const medsynth::io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model config differs"), std::string::npos) << e.what();
  }
}

TEST(Trainer, NonFiniteLossStopsTheRunAndKeepsTheCheckpoints) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 50);
  auto r = run_medsynth("train --config " + tmp.str("c.ini") +
                            " --train.checkpoint_every 1 --train.grad_clip 0 --train.lr 1e30 --train.warmup 0",
                        300);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("loss became"), std::string::npos) << r.err;
  const auto kept = pl::list_checkpoints(tmp.str("run/checkpoints"));
  ASSERT_FALSE(kept.empty());
  EXPECT_NO_THROW(pl::read_checkpoint_info(kept.back()));
  EXPECT_FALSE(fs::exists(tmp.str("run/checkpoints/ckpt-00000050.pt")));
}

TEST(Trainer, RefusesSettingsThatCannotWork) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 5);
  auto r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.checkpoint_every 0", 120);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("checkpoint_every"), std::string::npos) << r.err;
  r = run_medsynth("train --config " + tmp.str("c.ini") + " --model.num_classes 3", 120);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("needs a class"), std::string::npos) << r.err;
  // The key's first name is still read, with a warning naming the new one.
  r = run_medsynth("train --config " + tmp.str("c.ini") + " --model.class_conditioning 3", 120);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'model.class_conditioning' is now 'model.num_classes'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("needs a class"), std::string::npos) << r.err;
}
