// Data-parallel training on c10d/Gloo over 127.0.0.1, through the real binary: 2 ranks x batch b
// reach the parameters of 1 process x batch 2b; resume refuses another world size.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <fstream>

#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/distributed.h"
#include "train/train_fixture.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;

TEST(Distributed, TwoRanksWithBatchBMatchOneProcessWithBatch2B) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("unused"), 6);
  const std::string common = "train --config " + tmp.str("c.ini") + " --train.threads 1 --train.warmup 2 ";
  auto one = run_medsynth(common + "--train.batch 8 --train.out " + tmp.str("one"), 600);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = run_medsynth(common + "--train.batch 4 --nproc 2 --train.out " + tmp.str("two"), 600);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  pl::CheckpointInfo a_info, b_info;
  auto a = pl::model_from_checkpoint(tmp.str("one/checkpoints/ckpt-00000006.pt"), "cpu", &a_info);
  auto b = pl::model_from_checkpoint(tmp.str("two/checkpoints/ckpt-00000006.pt"), "cpu", &b_info);
  EXPECT_EQ(b_info.world_size, 2);
  const auto wa = a->weights(), wb = b->weights();
  ASSERT_EQ(wa.size(), wb.size());
  double max_diff = 0, max_change = 0;
  auto fresh = medsynth::modules::create_model(a_info.model, torch::kCPU);
  const auto w0 = fresh->weights();
  for (std::size_t i = 0; i < wa.size(); ++i) {
    max_diff = std::max(max_diff, (wa[i] - wb[i]).abs().max().item<double>());
    max_change = std::max(max_change, (wa[i] - w0[i]).abs().max().item<double>());
  }
  // Summation order differs (all-reduce vs one batch), so equal within float tolerance; and the
  // runs did move the weights, so the comparison means something.
  EXPECT_LT(max_diff, 1e-4) << "largest weight difference";
  EXPECT_GT(max_change, 1e-3) << "training did not change the weights";
  // Only rank 0 wrote the log: one line per step.
  std::ifstream log(tmp.str("two/loss.csv"));
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) ++lines;
  EXPECT_EQ(lines, 7);
  // Resuming with another world size is refused clearly.
  auto resumed = run_medsynth(common + "--train.batch 8 --train.steps 8 --resume --train.out " + tmp.str("two"), 120);
  EXPECT_EQ(resumed.exit_code, 2) << resumed.err;
  EXPECT_NE(resumed.err.find("same number"), std::string::npos) << resumed.err;
}

TEST(Distributed, ReadsTorchrunAndSlurmEnvironments) {
  EXPECT_EQ(pl::first_slurm_host("gpu[03-05,07],cpu1"), "gpu03");
  EXPECT_EQ(pl::first_slurm_host("node7,node8"), "node7");
  EXPECT_EQ(pl::first_slurm_host("single"), "single");
  ::unsetenv("WORLD_SIZE");
  ::setenv("SLURM_NTASKS", "4", 1);
  ::setenv("SLURM_PROCID", "2", 1);
  ::setenv("SLURM_LOCALID", "0", 1);
  ::setenv("SLURM_NODELIST", "cn[12-13]", 1);
  auto w = pl::world_from_environment();
  EXPECT_EQ(w.launcher, "slurm");
  EXPECT_EQ(w.world, 4);
  EXPECT_EQ(w.rank, 2);
  EXPECT_EQ(w.master_addr, "cn12");
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "5", 1);
  EXPECT_THROW(pl::world_from_environment(), medsynth::Error);
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("RANK");
  ::unsetenv("SLURM_NTASKS");
}

TEST(Distributed, ARankThatDiesStopsTheOthersWithAClearErrorNotAHang) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 400);
  const std::string port = std::to_string(pl::free_tcp_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", "2", 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      const std::string err = tmp.str("rank" + std::to_string(r) + ".err");
      std::freopen(err.c_str(), "w", stderr);
      ::execl(MEDSYNTH_BINARY, MEDSYNTH_BINARY, "train", "--config", tmp.str("c.ini").c_str(), "--train.threads", "1",
              "--train.checkpoint_every", "2", "--train.dist_timeout", "20", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(tmp.str("run/checkpoints/ckpt-00000004.pt")) &&
         std::chrono::steady_clock::now() - start < std::chrono::minutes(3)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pids[1], SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  int status = 0;
  ::waitpid(pids[1], &status, 0);
  // Rank 0 must stop by itself, well within the timeout (a closed connection is seen at once).
  bool exited = false;
  while (std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(60)) {
    if (::waitpid(pids[0], &status, WNOHANG) == pids[0]) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!exited) {
    ::kill(pids[0], SIGKILL);
    ::waitpid(pids[0], &status, 0);
  }
  ASSERT_TRUE(exited) << "rank 0 hung after rank 1 died";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  std::ifstream in(tmp.str("rank0.err"));
  std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(err.find("another rank died"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(tmp.str("run/checkpoints/ckpt-00000400.pt")));
}
