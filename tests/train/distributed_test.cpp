// Data-parallel training on c10d/Gloo over 127.0.0.1, through the real binary: 2 ranks x batch b
// reach the parameters of 1 process x batch 2b; resume refuses another world size; a rank of other
// settings or another build is refused at start-up. Across two hosts: multi_host_test.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/config.h"
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
  const std::string a = tmp.str("one/checkpoints/ckpt-00000006.pt"), b = tmp.str("two/checkpoints/ckpt-00000006.pt");
  EXPECT_EQ(pl::read_checkpoint_info(b).world_size, 2);
  // Summation order differs (all-reduce vs one batch), so equal within float tolerance; and the
  // runs did move the weights, so the comparison means something.
  EXPECT_LT(largest_difference(weights_of(a), weights_of(b)), 1e-4) << "largest weight difference";
  EXPECT_GT(largest_difference(weights_of(a), initial_weights(a)), 1e-3) << "training did not change the weights";
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

// The fingerprint over the store: a rank launched with another setting is refused before training,
// on both sides, naming the rank and the key (not its value: values may be paths).
TEST(Distributed, ARankStartedWithOtherSettingsIsRefusedAtStartUp) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 400);
  const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(pl::free_tcp_port()) + " ";
  const std::string train = std::string(MEDSYNTH_BINARY) + " train --config " + tmp.str("c.ini") +
                            " --train.dist_timeout 30 --train.threads 1";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run("cd " + tmp.str() + " || exit 9; RANK=0 LOCAL_RANK=0 " + env + train + " 2> r0.err & p=$!; RANK=1 LOCAL_RANK=1 " +
                   env + train + " --train.lr 0.002 2> r1.err; echo $? > rc1; wait $p; echo $? > rc0",
               120);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (int rank = 0; rank < 2; ++rank) {
    std::ifstream rc(tmp.str("rc" + std::to_string(rank)));
    int code = -1;
    rc >> code;
    std::ifstream in(tmp.str("r" + std::to_string(rank) + ".err"));
    const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(code, 2) << "rank " << rank << ": " << err;
    EXPECT_NE(err.find("rank 1 ("), std::string::npos) << err;
    EXPECT_NE(err.find("other settings"), std::string::npos) << err;
    EXPECT_NE(err.find("differing: train.lr)"), std::string::npos) << err;
    EXPECT_NE(err.find("refused before training"), std::string::npos) << err;
  }
  EXPECT_TRUE(pl::list_checkpoints(tmp.str("run/checkpoints")).empty());
  EXPECT_FALSE(fs::exists(tmp.str("run/loss.csv"))) << "a refused rank must not start training";
  EXPECT_LT(secs, 60) << "refused at start-up, not after a time-out";
}

// The build's part of the fingerprint (medsynth version and commit, LibTorch): two ranks in this
// process, one claiming another build, are both refused by DataParallel itself.
TEST(Distributed, ARankOfAnotherBuildIsRefusedAtStartUp) {
  const pl::RunConfig cfg;
  const std::string ours = pl::rank_fingerprint(cfg);
  ASSERT_EQ(ours.rfind("code medsynth ", 0), 0u) << ours;
  const std::string other = "code medsynth 0.0.9 (abc1234), libtorch 1.13.0" + ours.substr(ours.find('\n'));
  const int port = pl::free_tcp_port();
  std::string errors[2];
  int codes[2] = {0, 0};
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      pl::WorldInfo w;
      w.rank = w.local_rank = r;
      w.world = 2;
      w.master_port = port;
      w.launcher = "torchrun";
      try {
        pl::DataParallel dp(w, std::chrono::seconds(20), r == 0 ? ours : other);
      } catch (const medsynth::Error& e) {
        errors[r] = e.what();
        codes[r] = static_cast<int>(e.code());
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(codes[r], 2) << "rank " << r << ": " << errors[r];
    EXPECT_NE(errors[r].find("another medsynth build (code medsynth 0.0.9 (abc1234)"), std::string::npos) << errors[r];
    EXPECT_NE(errors[r].find("rank 1 ("), std::string::npos) << errors[r];
  }
}

TEST(Distributed, AnInterfaceThisHostLacksIsRefusedNamingTheOnesItHas) {
  ::setenv("GLOO_SOCKET_IFNAME", "nosuch0", 1);
  pl::WorldInfo w;
  w.world = 2;
  w.master_port = pl::free_tcp_port();
  try {
    pl::DataParallel dp(w, std::chrono::seconds(5), "x");
    ADD_FAILURE() << "joined with a missing interface";
  } catch (const medsynth::Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(e.code(), medsynth::ExitCode::kUsage) << m;
    EXPECT_NE(m.find("GLOO_SOCKET_IFNAME=nosuch0: this host has no interface of that name"), std::string::npos) << m;
    EXPECT_NE(m.find(" lo"), std::string::npos) << "the interfaces there are: " << m;
  }
  ::unsetenv("GLOO_SOCKET_IFNAME");
}
