// medsynth run on two ranks (--nproc 2 on 127.0.0.1) through the real binary: rank 0 ingests, both
// train, each volume is sampled as two shards merged by rank 0, rank 0 evaluates, exports and
// reports. The equivalence (docs/distributed.md): 2 ranks x batch 4 train to the weights of 1 process
// x batch 8 within float tolerance; given the same weights the merged volume is one process's bit
// for bit; the report figures therefore agree within a tolerance. A re-run skips every stage; a
// failure on rank 0 stops the other rank with rank 0's error and exit code.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "train/train_fixture.h"

using namespace medsynth::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kStages = {"ingest", "train", "sample", "evaluate", "export", "report"};

std::string text_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json record(const std::string& run, const std::string& stage) { return json::parse(text_of(run + "/" + stage + "/stage.json")); }

}  // namespace

TEST(RunRanks, TwoRanksRunTheStagesAsOneProcessWithTheDoubledBatchAndARerunSkipsThemAll) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("run.ini")) << tiny_config(manifest, tmp.str("unused"), 8) << "\n[sample]\nsteps = 5\nbatch = 16\n";
  const std::string common = "run " + tmp.str("run.ini") + " --train.warmup 2 --train.threads 1 ";
  const std::string two = tmp.str("two"), one = tmp.str("one"), same = tmp.str("same");
  const auto t0 = std::chrono::steady_clock::now();
  const auto r2 = run_medsynth(common + "--nproc 2 --train.batch 4 --train.out " + two, 600);
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  const auto t1 = std::chrono::steady_clock::now();
  const auto r1 = run_medsynth(common + "--train.batch 8 --train.out " + one, 600);
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  const auto t2 = std::chrono::steady_clock::now();
  std::cout << "2 ranks: " << std::chrono::duration<double>(t1 - t0).count()
            << " s, 1 process: " << std::chrono::duration<double>(t2 - t1).count() << " s\n";
  for (const auto& s : kStages) {
    EXPECT_EQ(record(two, s)["status"], "done") << s;
    EXPECT_EQ(record(two, s)["world_size"], 2) << s;
    EXPECT_EQ(record(one, s)["world_size"], 1) << s;
  }
  EXPECT_NE(r2.out.find("rank 1: done (rank 0 evaluates, exports and reports)"), std::string::npos) << r2.out;
  EXPECT_EQ(r2.out.find("rank 1: done"), r2.out.rfind("rank 1: done")) << r2.out;
  EXPECT_NE(r2.out.find("report: " + two + "/evaluate/colin27/report.html"), std::string::npos) << r2.out;

  // Training: the data-parallel equivalence, through the runner.
  const std::string ckpt2 = two + "/" + record(two, "train")["outputs"]["checkpoint"].get<std::string>();
  const std::string ckpt1 = one + "/" + record(one, "train")["outputs"]["checkpoint"].get<std::string>();
  EXPECT_LT(largest_difference(weights_of(ckpt1), weights_of(ckpt2)), 1e-4) << "largest weight difference";
  EXPECT_GT(largest_difference(weights_of(ckpt2), initial_weights(ckpt2)), 1e-3) << "training did not move the weights";

  // Sampling: the shards of the two ranks, merged, are what one process samples from the same
  // weights, bit for bit (a copy of the 2-rank run, its sample stage redone on one process).
  copy_tree(two, same);
  const auto rs = run_medsynth(common + "--train.batch 4 --train.out " + same + " --only sample --force sample", 300);
  ASSERT_EQ(rs.exit_code, 0) << rs.err;
  const auto merged = medsynth::io::read_volume(two + "/sample/colin27.nii.gz");
  const auto single = medsynth::io::read_volume(same + "/sample/colin27.nii.gz");
  ASSERT_EQ(merged.voxels.size(), single.voxels.size());
  std::size_t differ = 0, nan = 0;
  for (std::size_t i = 0; i < merged.voxels.size(); ++i) {
    nan += std::isnan(merged.voxels[i]) ? 1 : 0;
    differ += merged.voxels[i] != single.voxels[i] ? 1 : 0;
  }
  EXPECT_EQ(nan, 0u) << "voxels no shard made";
  EXPECT_EQ(differ, 0u) << "voxels of the merged shards that differ from one process's";

  // The report: figures of the 2-rank run within tolerance of the 1-process run's (the weights
  // differ by float rounding only), and not all equal to it (it was computed, not copied).
  const json e2 = json::parse(text_of(two + "/evaluate/colin27/report.json"));
  const json e1 = json::parse(text_of(one + "/evaluate/colin27/report.json"));
  for (const char* k : {"ssim", "psnr"}) {
    const double a = e2["paired"]["volume"][k], b = e1["paired"]["volume"][k];
    std::cout << k << ": 2 ranks " << a << ", 1 process " << b << "\n";
    EXPECT_NEAR(a, b, std::string(k) == "psnr" ? 0.05 : 1e-3) << k;
  }

  // A re-run on two ranks skips every stage and rewrites no stage.json.
  std::map<std::string, std::string> before;
  for (const auto& s : kStages) before[s] = text_of(two + "/" + s + "/stage.json");
  const auto again = run_medsynth(common + "--nproc 2 --train.batch 4 --train.out " + two, 120);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const auto& s : kStages) {
    EXPECT_NE(again.out.find(s + ": up to date (skipped)"), std::string::npos) << again.out;
    EXPECT_EQ(text_of(two + "/" + s + "/stage.json"), before[s]) << s;
  }
  EXPECT_EQ(again.out.find("running"), std::string::npos) << again.out;
}

TEST(RunRanks, Rank0FailingStopsTheOtherRankWithItsErrorAndExitCode) {
  TempDir tmp;
  std::ofstream(tmp.str("m.csv")) << "subject,image\nnobody," << tmp.str("missing.nii.gz") << "\n";
  std::ofstream(tmp.str("run.ini")) << tiny_config(tmp.str("m.csv"), tmp.str("run"), 8);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_medsynth("run " + tmp.str("run.ini") + " --nproc 2", 120);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("rank 0 (") , std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" failed: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("this rank stops too"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.nii.gz"), std::string::npos) << r.err;
  EXPECT_LT(secs, 60) << "the other rank waited instead of stopping";
  EXPECT_FALSE(fs::exists(tmp.str("run/train"))) << "a rank trained";
}
