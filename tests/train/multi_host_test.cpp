// Data-parallel training across two hosts: one rank in each of two network namespaces joined by a
// veth pair (tests/two_hosts.h), MASTER_ADDR the first host's address and GLOO_SOCKET_IFNAME each
// host's interface, as on a cluster. The file system is shared, as a cluster's run folder is.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/checkpoint_seal.h"
#include "train/train_fixture.h"
#include "two_hosts.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {(std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()};
}

// Starts rank `host` of 2 on that host: `medsynth train` with `args`, its output in rank<host>.log.
pid_t start_rank(TwoHosts& hosts, int host, int port, const std::vector<std::string>& args, const TempDir& tmp) {
  std::vector<std::string> argv{"train"};
  argv.insert(argv.end(), args.begin(), args.end());
  return hosts.start(host,
                     {"RANK=" + std::to_string(host), "WORLD_SIZE=2", "LOCAL_RANK=0", "MASTER_ADDR=" + hosts.address(0),
                      "MASTER_PORT=" + std::to_string(port), "GLOO_SOCKET_IFNAME=" + hosts.interface(host)},
                     argv, tmp.str("rank" + std::to_string(host) + ".log"));
}

// Bytes sent through `host`'s interface (the kernel's counter, read inside its namespace).
long long sent_bytes(const TwoHosts& hosts, int host) {
  std::string out;
  TwoHosts::shell("ip netns exec " + hosts.name(host) + " cat /sys/class/net/" + hosts.interface(host) +
                      "/statistics/tx_bytes",
                  &out);
  return std::atoll(out.c_str());
}

}  // namespace

TEST(MultiHost, TwoRanksOnTwoHostsReachTheWeightsOfOneProcessWithTheDoubledBatch) {
  TwoHosts hosts;
  if (!hosts.ok()) GTEST_SKIP() << "no two hosts in network namespaces: " << hosts.error();
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("unused"), 6);
  const std::vector<std::string> common{"--config", tmp.str("c.ini"), "--train.threads", "1", "--train.warmup", "2"};
  auto one = run_medsynth("train --config " + tmp.str("c.ini") +
                          " --train.threads 1 --train.warmup 2 --train.batch 8 --train.out " + tmp.str("one"), 600);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  std::vector<std::string> args = common;
  for (const char* a : {"--train.batch", "4", "--train.dist_timeout", "60", "--train.out"}) args.emplace_back(a);
  args.push_back(tmp.str("two"));
  pid_t pids[2];
  for (int h = 0; h < 2; ++h) pids[h] = start_rank(hosts, h, 29500, args, tmp);
  for (int h = 0; h < 2; ++h) {
    EXPECT_EQ(TwoHosts::wait_for(pids[h], 600), 0) << "rank " << h << ": " << read_text(tmp.str("rank" + std::to_string(h) + ".log"));
  }
  const std::string a = tmp.str("one/checkpoints/ckpt-00000006.pt"), b = tmp.str("two/checkpoints/ckpt-00000006.pt");
  ASSERT_TRUE(fs::exists(b)) << read_text(tmp.str("rank0.log"));
  EXPECT_EQ(pl::read_checkpoint_info(b).world_size, 2);
  EXPECT_LT(largest_difference(weights_of(a), weights_of(b)), 1e-4) << "largest weight difference";
  EXPECT_GT(largest_difference(weights_of(a), initial_weights(a)), 1e-3) << "training did not change the weights";
  // The gradients crossed the link: each rank sent at least half the gradient bytes of every step
  // (Gloo's ring all-reduce of two ranks sends each rank's half twice) through its own interface.
  long long grad_bytes = 0;
  for (const auto& w : weights_of(b)) grad_bytes += w.numel() * 4;
  for (int h = 0; h < 2; ++h) EXPECT_GT(sent_bytes(hosts, h), 6 * grad_bytes / 2) << "host " << h;
}

TEST(MultiHost, ALinkDownStopsBothRanksNamingThePeerAndResumeContinues) {
  TwoHosts hosts;
  if (!hosts.ok()) GTEST_SKIP() << "no two hosts in network namespaces: " << hosts.error();
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 400);
  const int timeout = 8;
  std::vector<std::string> args{"--config", tmp.str("c.ini"), "--train.threads", "1", "--train.batch", "4",
                                "--train.checkpoint_every", "2", "--train.dist_timeout", std::to_string(timeout)};
  pid_t pids[2];
  for (int h = 0; h < 2; ++h) pids[h] = start_rank(hosts, h, 29500, args, tmp);
  const auto start = std::chrono::steady_clock::now();
  while (!fs::exists(tmp.str("run/checkpoints/ckpt-00000004.pt")) &&
         std::chrono::steady_clock::now() - start < std::chrono::minutes(4)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(tmp.str("run/checkpoints/ckpt-00000004.pt"))) << read_text(tmp.str("rank0.log"));
  ASSERT_TRUE(hosts.set_link(1, false));
  const auto down_at = std::chrono::steady_clock::now();
  // Both stop by themselves: the collective in flight times out after train.dist_timeout.
  int codes[2];
  for (int h = 0; h < 2; ++h) codes[h] = TwoHosts::wait_for(pids[h], timeout + 60);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - down_at).count();
  for (int h = 0; h < 2; ++h) {
    const std::string log = read_text(tmp.str("rank" + std::to_string(h) + ".log"));
    EXPECT_EQ(codes[h], 3) << "rank " << h << " (-1: still running " << timeout + 60 << " s after the link went down): " << log;
    // The error names the peer: its rank, and the address and interface it trains through.
    const int peer = 1 - h;
    EXPECT_NE(log.find("waiting for rank " + std::to_string(peer) + " ("), std::string::npos) << log;
    EXPECT_NE(log.find(hosts.address(peer) + " via " + hosts.interface(peer)), std::string::npos) << log;
    EXPECT_NE(log.find("the network between them is down"), std::string::npos) << log;
  }
  EXPECT_LT(secs, timeout + 45) << "the ranks took too long to give up";
  // The newest checkpoint is whole (its seal verifies) and nothing half-written was left.
  const auto kept = pl::list_checkpoints(tmp.str("run/checkpoints"));
  ASSERT_FALSE(kept.empty());
  EXPECT_TRUE(pl::verify_seal(kept.back())) << kept.back();
  for (const auto& e : fs::directory_iterator(tmp.str("run/checkpoints"))) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "temporary left: " << e.path();
  }
  const std::int64_t step = pl::read_checkpoint_info(kept.back()).step;
  // The link back up, both ranks restarted with --resume: they continue from that checkpoint.
  ASSERT_TRUE(hosts.set_link(1, true));
  args.push_back("--resume");
  args.push_back("--train.steps");
  args.push_back(std::to_string(step + 4));
  for (int h = 0; h < 2; ++h) pids[h] = start_rank(hosts, h, 29501, args, tmp);
  for (int h = 0; h < 2; ++h) {
    EXPECT_EQ(TwoHosts::wait_for(pids[h], 300), 0) << "rank " << h << ": " << read_text(tmp.str("rank" + std::to_string(h) + ".log"));
  }
  const std::string log = read_text(tmp.str("rank0.log"));
  EXPECT_NE(log.find("resuming from "), std::string::npos) << log;
  EXPECT_NE(log.find(fs::path(kept.back()).filename().string() + " at step " + std::to_string(step)), std::string::npos)
      << log;
  const auto after = pl::list_checkpoints(tmp.str("run/checkpoints"));
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(pl::read_checkpoint_info(after.back()).step, step + 4);
  EXPECT_TRUE(pl::verify_seal(after.back()));
}
