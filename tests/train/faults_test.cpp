// Faults of clusters and long jobs, through the real binary: a stop signal (SIGTERM, SIGUSR1)
// during training, sampling and the stage runner saves the work and exits with code 75, and the
// resumed run ends where an uninterrupted one does; a checkpoint with a flipped byte is refused,
// and --resume falls back to the newest intact one; full file systems give a clear error, leave no
// partial file and keep the previous checkpoint; two runs on one folder, and runs sharing a slice
// cache.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "medsynth/io/error.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "small_filesystem.h"
#include "train/train_fixture.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;
using nlohmann::json;

namespace {

constexpr int kStopped = 75;  // ExitCode::kStopped (EX_TEMPFAIL)

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Starts `medsynth ARGS...` with stdout and stderr into files; returns its pid.
pid_t start_medsynth(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen(out.c_str(), "w", stdout);
    std::freopen(err.c_str(), "w", stderr);
    std::vector<std::string> a{MEDSYNTH_BINARY};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(MEDSYNTH_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits until `ready()` or the deadline; true when ready.
template <typename Fn>
bool wait_for(Fn ready, std::chrono::seconds limit = std::chrono::seconds(300)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// The exit code of a child (-1 when a signal killed it).
int exit_code_of(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Flips one byte in the middle of the largest tensor of a checkpoint (a zip archive; the data of
// its stored entries starts after each local header).
void flip_a_tensor_byte(const std::string& checkpoint) {
  const auto r = python(
      "import zipfile, struct\n"
      "p = '" + checkpoint + "'\n"
      "z = zipfile.ZipFile(p)\n"
      "i = max((i for i in z.infolist() if '/data/' in i.filename), key=lambda i: i.file_size)\n"
      "f = open(p, 'r+b')\n"
      "f.seek(i.header_offset + 26)\n"
      "n, m = struct.unpack('<HH', f.read(4))\n"
      "at = i.header_offset + 30 + n + m + i.file_size // 2\n"
      "f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x10]))\n"
      "print(i.filename, at)\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// Files in a folder that are neither checkpoints nor model cards (temporaries left behind).
std::vector<std::string> strays(const std::string& dir, const std::vector<std::string>& also_allowed = {}) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const std::regex ok(R"(ckpt-\d{8}\.(pt|model-card\.json|model-card\.md))");
    if (!std::regex_match(name, ok) && std::find(also_allowed.begin(), also_allowed.end(), name) == also_allowed.end()) {
      out.push_back(name);
    }
  }
  return out;
}

}  // namespace

TEST(Preemption, SigtermDuringTrainingSavesTheStepAndResumesToTheSameWeights) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("a.ini")) << tiny_config(manifest, tmp.str("a"), 80);
  std::ofstream(tmp.str("b.ini")) << tiny_config(manifest, tmp.str("b"), 80);
  auto ref = run_medsynth("train --config " + tmp.str("a.ini") + " --train.checkpoint_every 25", 600);
  ASSERT_EQ(ref.exit_code, 0) << ref.err;

  // The same run, sent SIGTERM between two scheduled checkpoints (25 and 50).
  const pid_t pid = start_medsynth({"train", "--config", tmp.str("b.ini"), "--train.checkpoint_every", "25",
                                    "--train.keep_checkpoints", "100"},
                                   tmp.str("b.out"), tmp.str("b.err"));
  // After step 25's checkpoint and card (a signal during them stops after step 25 itself).
  ASSERT_TRUE(wait_for([&] { return fs::exists(tmp.str("b/checkpoints/ckpt-00000025.model-card.md")); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(pid, SIGTERM);
  const int code = exit_code_of(pid);
  const std::string err = read_text(tmp.str("b.err"));
  ASSERT_EQ(code, kStopped) << "the run should stop by itself with code 75 (ended " << code << "):\n" << err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(err, m, std::regex("training: stopped by SIGTERM after step (\\d+) of 80; saved in (\\S+);")))
      << err;
  const int step = std::stoi(m[1]);
  EXPECT_GT(step, 25);
  ASSERT_LT(step, 80) << "the run ended before the signal; make it longer";
  EXPECT_NE(err.find("medsynth: error: training: stopped by SIGTERM"), std::string::npos) << err;
  // The step it stopped after is a checkpoint of its own (not a scheduled one), written atomically.
  EXPECT_EQ(m[2].str(), tmp.str("b/checkpoints/ckpt-" + std::string(8 - std::to_string(step).size(), '0') +
                                std::to_string(step) + ".pt"));
  ASSERT_TRUE(fs::exists(m[2].str()));
  EXPECT_EQ(pl::read_checkpoint_info(m[2].str()).step, step);
  EXPECT_TRUE(strays(tmp.str("b/checkpoints")).empty());
  // Every step up to the one saved is in the loss log.
  std::istringstream log(read_text(tmp.str("b/loss.csv")));
  std::string line;
  int rows = 0;
  std::getline(log, line);
  while (std::getline(log, line)) ++rows;
  EXPECT_EQ(rows, step);

  auto resumed = run_medsynth("train --config " + tmp.str("b.ini") + " --train.checkpoint_every 25 --resume", 600);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming from " + m[2].str() + " at step " + std::to_string(step)), std::string::npos)
      << resumed.err;
  EXPECT_TRUE(same_weights(weights_of(tmp.str("a/checkpoints/ckpt-00000080.pt")),
                           weights_of(tmp.str("b/checkpoints/ckpt-00000080.pt"))))
      << "the run stopped by SIGTERM and resumed diverged from the uninterrupted one";
}

TEST(Preemption, TheLauncherOfNprocPassesSigusr1ToEveryRankAndTheyStopTogether) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 200);
  const pid_t pid = start_medsynth({"train", "--config", tmp.str("c.ini"), "--nproc", "2", "--train.threads", "1",
                                    "--train.checkpoint_every", "5", "--train.batch", "4"},
                                   tmp.str("c.out"), tmp.str("c.err"));
  ASSERT_TRUE(wait_for([&] { return fs::exists(tmp.str("run/checkpoints/ckpt-00000005.pt")); }));
  ::kill(pid, SIGUSR1);
  const int code = exit_code_of(pid);
  const std::string err = read_text(tmp.str("c.err"));
  ASSERT_EQ(code, kStopped) << err;
  EXPECT_EQ(err.find("failed; stopping the other ranks"), std::string::npos) << err;
  // Both ranks stopped after the same step (a rank may see the other's signal first), rank 0 saved it.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(err, m, std::regex("training: stopped by SIGUSR1 after step (\\d+) of 200"))) << err;
  const int step = std::stoi(m[1]);
  std::size_t stops = 0;
  const std::string same_step = " after step " + m[1].str() + " of 200; saved in ";
  for (std::size_t at = err.find(same_step); at != std::string::npos; at = err.find(same_step, at + 1)) ++stops;
  EXPECT_EQ(stops, 2u) << err;
  const auto ckpts = pl::list_checkpoints(tmp.str("run/checkpoints"));
  ASSERT_FALSE(ckpts.empty());
  const auto info = pl::read_checkpoint_info(ckpts.back());
  EXPECT_EQ(info.step, step);
  EXPECT_EQ(info.world_size, 2);
}

TEST(Preemption, StopSignalsStopTheRunnerInTrainingAndInSamplingAndTheRerunKeepsWhatWasDone) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  const std::string config = tmp.str("run.ini");
  std::ofstream(config) << tiny_config(manifest, tmp.str("run"), 60) << "\n[sample]\nsteps = 5\nbatch = 8\npairs = 2\n";
  // 1. SIGUSR1 while training: the train stage is "stopped" and keeps its checkpoint.
  pid_t pid = start_medsynth({"run", config, "--train.checkpoint_every", "20"}, tmp.str("1.out"), tmp.str("1.err"));
  ASSERT_TRUE(wait_for([&] { return fs::exists(tmp.str("run/train/checkpoints/ckpt-00000020.pt")); }));
  ::kill(pid, SIGUSR1);
  int code = exit_code_of(pid);
  std::string err = read_text(tmp.str("1.err"));
  ASSERT_EQ(code, kStopped) << err;
  json train = json::parse(read_text(tmp.str("run/train/stage.json")));
  EXPECT_EQ(train["status"], "stopped");
  EXPECT_NE(train["error"].get<std::string>().find("stopped by SIGUSR1"), std::string::npos) << train.dump(1);
  EXPECT_FALSE(fs::exists(tmp.str("run/sample")));

  // 2. Started again, it resumes training; SIGTERM once the sample stage has finished a volume.
  pid = start_medsynth({"run", config, "--train.checkpoint_every", "20"}, tmp.str("2.out"), tmp.str("2.err"));
  std::string first_done;
  ASSERT_TRUE(wait_for([&] {
    const std::string s = read_text(tmp.str("run/sample/stage.json"));
    try {
      const json j = json::parse(s);
      if (j.contains("partial") && !j["partial"].empty()) first_done = j["partial"].begin().key();
    } catch (const json::exception&) {
    }
    return !first_done.empty();
  }));
  ::kill(pid, SIGTERM);
  code = exit_code_of(pid);
  err = read_text(tmp.str("2.err"));
  ASSERT_EQ(code, kStopped) << err << read_text(tmp.str("2.out"));
  EXPECT_NE(read_text(tmp.str("2.out")).find("train: running (resuming)"), std::string::npos);
  EXPECT_NE(err.find("sample: "), std::string::npos) << err;
  EXPECT_NE(err.find("stopped by SIGTERM"), std::string::npos) << err;
  json sample = json::parse(read_text(tmp.str("run/sample/stage.json")));
  EXPECT_EQ(sample["status"], "stopped");
  const json kept = sample["partial"][first_done];
  ASSERT_FALSE(kept["artefacts"].empty());
  std::map<std::string, std::string> before;
  for (const auto& a : kept["artefacts"]) before[a.get<std::string>()] = pl::hash_file(tmp.str("run/" + a.get<std::string>()));
  // No half-written volume: every file of the stage folder is a finished one or a label map.
  for (const auto& e : fs::recursive_directory_iterator(tmp.str("run/sample"))) {
    EXPECT_EQ(e.path().filename().string().find(".medsynth-tmp"), std::string::npos) << e.path();
  }

  // 3. Started again, it keeps the finished volume (not made again) and completes every stage.
  const auto r = run_medsynth("run " + config + " --train.checkpoint_every 20", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sample: running (resuming)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(first_done + ": made before the stop (kept)"), std::string::npos) << r.out;
  for (const auto& [path, hash] : before) EXPECT_EQ(pl::hash_file(tmp.str("run/" + path)), hash) << path;
  for (const std::string s : {"ingest", "train", "sample", "evaluate", "export", "report"}) {
    const json j = json::parse(read_text(tmp.str("run/" + s + "/stage.json")));
    EXPECT_EQ(j["status"], "done") << s;
    EXPECT_FALSE(j.contains("partial")) << s;
  }
  sample = json::parse(read_text(tmp.str("run/sample/stage.json")));
  EXPECT_EQ(sample["outputs"]["volumes"].size() + sample["outputs"]["pairs"].size(), 3u);
  EXPECT_EQ(json::parse(read_text(tmp.str("run/train/stage.json")))["outputs"]["steps"], 60);
}

TEST(Preemption, SigintStopsSamplingWithoutWritingTheOutput) {
  TempDir tmp;
  const std::string ckpt = trained_tiny_checkpoint();
  const pid_t pid = start_medsynth({"sample", "--checkpoint", ckpt, "--slices", "400", "--batch", "4", "--steps", "20",
                                    "--threads", "1", "--out", tmp.str("x.nii.gz")},
                                   tmp.str("s.out"), tmp.str("s.err"));
  ASSERT_TRUE(wait_for([&] { return read_text(tmp.str("s.err")).find("sampling") != std::string::npos; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGINT);
  const int code = exit_code_of(pid);
  const std::string err = read_text(tmp.str("s.err"));
  ASSERT_EQ(code, kStopped) << err;
  EXPECT_NE(err.find("medsynth: error: sampling: stopped by SIGINT; before slice "), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(tmp.str("x.nii.gz")));
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    const auto name = e.path().filename().string();
    EXPECT_TRUE(name == "s.out" || name == "s.err") << name;
  }
}

TEST(Checkpoint, AFlippedByteInATensorIsRefusedNamingTheFile) {
  TempDir tmp;
  const std::string good = trained_tiny_checkpoint();
  const std::string bad = tmp.str("flipped.pt");
  fs::copy_file(good, bad);
  EXPECT_NO_THROW(pl::read_checkpoint_info(bad));
  flip_a_tensor_byte(bad);
  try {
    pl::read_checkpoint_info(bad);
    FAIL() << "a checkpoint with a flipped byte was accepted";
  } catch (const medsynth::io::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(bad + ": checkpoint is damaged: ", 0), 0u) << e.what();
  }
  const auto r = run_medsynth("sample --checkpoint " + bad + " --slices 2 --out " + tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("medsynth: error: " + bad + ": checkpoint is damaged"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("x.nii.gz")));

  // Without the seal (as a checkpoint of an earlier medsynth), LibTorch alone loads the damaged
  // file without a word (its reader skips the zip CRCs): the checksum is what catches it.
  const auto strip = python("p = '" + bad + "'\nb = open(p, 'rb').read()\ni = b.rfind(b'PK\\x05\\x06')\n"
                            "open(p, 'wb').write(b[:i + 20] + b'\\x00\\x00')\n");
  ASSERT_EQ(strip.exit_code, 0) << strip.err;
  EXPECT_NO_THROW(pl::read_checkpoint_info(bad));
  EXPECT_NO_THROW(weights_of(bad));
}

TEST(Checkpoint, ResumeFallsBackToTheNewestIntactCheckpointWithAWarningNamingTheDamagedOne) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 20);
  auto r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.checkpoint_every 10", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string ten = tmp.str("run/checkpoints/ckpt-00000010.pt"), twenty = tmp.str("run/checkpoints/ckpt-00000020.pt");
  flip_a_tensor_byte(twenty);
  r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.checkpoint_every 10 --train.steps 30 --resume", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("medsynth: warning: " + twenty + ": checkpoint is damaged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("resuming from " + ten + " at step 10"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(twenty + ".damaged"));
  EXPECT_EQ(pl::read_checkpoint_info(tmp.str("run/checkpoints/ckpt-00000030.pt")).step, 30);
  EXPECT_EQ(pl::read_checkpoint_info(twenty).step, 20);  // made again from step 10
  // With every checkpoint damaged there is nothing to resume from: refused, naming the folder.
  for (const auto& c : pl::list_checkpoints(tmp.str("run/checkpoints"))) flip_a_tensor_byte(c);
  r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.steps 40 --resume", 600);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("medsynth: error: " + tmp.str("run/checkpoints") + ": no intact checkpoint to resume from"),
            std::string::npos)
      << r.err;
}

TEST(BadInput, ATrainingBatchLargerThanMemoryIsRefusedBeforeTheModelIsMade) {
  // 10^8 slices per step (a mistyped train.batch) cannot be assembled: refused with what it needs
  // and what is available (exit 3), before the model or any checkpoint is made. (The same config
  // with its own batch of 8 trains in the other tests of this file.)
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, tmp.str("run"), 10);
  const auto r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.batch 100000000", 600);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const std::regex message(R"(medsynth: error: training batch of 100000000 slices of (\d+)x(\d+) \(train\.batch\): needs ([0-9.]+) GiB, ([0-9.]+) GiB available)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, message)) << r.err;
  // At least the images alone: 10^8 x width x height float32.
  const double images = 1e8 * std::stod(m[1]) * std::stod(m[2]) * 4 / (1u << 30);
  EXPECT_GE(std::stod(m[3]), images * 0.999) << r.err;
  EXPECT_LT(std::stod(m[4]), std::stod(m[3]));
  EXPECT_TRUE(pl::list_checkpoints(tmp.str("run/checkpoints")).empty());
}

TEST(FullDisk, ACheckpointThatDoesNotFitFailsNamingItKeepsThePreviousOneAndTheRunResumesOnceFreed) {
  TempDir tmp;
  SmallFilesystem small(16u << 20);
  MEDSYNTH_REQUIRE_MOUNT(small);
  const std::string manifest = write_ch2_manifest(tmp.str());
  const std::string run = small.str("run");
  // The slice cache lives elsewhere: only the run's checkpoints, cards and log are on the small disk.
  std::ofstream(tmp.str("c.ini")) << tiny_config(manifest, run, 10) << "\n[data]\ncache = " << tmp.str("cache") << "\n";
  auto r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.checkpoint_every 10", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string ten = run + "/checkpoints/ckpt-00000010.pt";
  const std::string ten_hash = pl::hash_file(ten);
  small.fill("filler", 64u << 10);  // 64 KiB left: a log line fits, a checkpoint does not
  r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.checkpoint_every 10 --train.steps 20 --resume", 600);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("medsynth: error: " + run + "/checkpoints/ckpt-00000020.pt: cannot write checkpoint: no space "
                       "left on the device"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(run + "/checkpoints/ckpt-00000020.pt"));
  EXPECT_TRUE(strays(run + "/checkpoints").empty());
  EXPECT_EQ(pl::hash_file(ten), ten_hash) << "the previous checkpoint changed";
  EXPECT_EQ(pl::read_checkpoint_info(ten).step, 10);
  // Space freed: the same command resumes from step 10 and finishes.
  fs::remove(small.str("filler"));
  r = run_medsynth("train --config " + tmp.str("c.ini") + " --train.checkpoint_every 10 --train.steps 20 --resume", 600);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming from " + ten + " at step 10"), std::string::npos) << r.err;
  EXPECT_EQ(pl::read_checkpoint_info(run + "/checkpoints/ckpt-00000020.pt").step, 20);
}

TEST(FullDisk, ASampledVolumeThatDoesNotFitFailsNamingItAndLeavesNoFile) {
  SmallFilesystem small(4u << 20);
  MEDSYNTH_REQUIRE_MOUNT(small);
  small.fill("filler", 32u << 10);
  const std::string out = small.str("synthetic.nii");
  const auto r = run_medsynth("sample --checkpoint " + trained_tiny_checkpoint() + " --slices 60 --steps 2 --threads 1 --out " +
                              out, 300);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("medsynth: error: " + out + ": "), std::string::npos) << r.err;
  EXPECT_EQ(small.entries("filler"), std::vector<std::string>{}) << "a partial file was left";
}

TEST(Concurrency, TwoRunsOnOneFolderTheSecondIsRefusedAndTheFirstFinishes) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  const std::string config = tmp.str("run.ini");
  std::ofstream(config) << tiny_config(manifest, tmp.str("run"), 60) << "\n[sample]\nsteps = 2\nvolumes = none\n"
                        << "\n[export]\ndicom = false\n";
  const pid_t first = start_medsynth({"run", config}, tmp.str("1.out"), tmp.str("1.err"));
  ASSERT_TRUE(wait_for([&] { return fs::exists(tmp.str("run/train/stage.json")); }));
  const auto second = run_medsynth("run " + config, 120);
  EXPECT_EQ(second.exit_code, 2) << second.err;
  EXPECT_NE(second.err.find(tmp.str("run") + ": another medsynth run (pid " + std::to_string(first) + ")"),
            std::string::npos)
      << second.err;
  ASSERT_EQ(exit_code_of(first), 0) << read_text(tmp.str("1.err"));
  for (const std::string s : {"ingest", "train"}) {
    EXPECT_EQ(json::parse(read_text(tmp.str("run/" + s + "/stage.json")))["status"], "done") << s;
  }
}

TEST(Concurrency, RunsSharingASliceCacheAtOnceMakeOneIntactCache) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    const std::string ini = tmp.str("c" + std::to_string(i) + ".ini");
    // Three runs of other lengths (train.seed shapes the split, so it stays), one data set and cache.
    std::ofstream(ini) << tiny_config(manifest, tmp.str("run" + std::to_string(i)), 4 + i) << "\n[data]\ncache = "
                       << tmp.str("cache") << "\n";
    pids.push_back(start_medsynth({"train", "--config", ini}, tmp.str(std::to_string(i) + ".out"),
                                  tmp.str(std::to_string(i) + ".err")));
  }
  for (std::size_t i = 0; i < pids.size(); ++i) {
    EXPECT_EQ(exit_code_of(pids[i]), 0) << read_text(tmp.str(std::to_string(i) + ".err"));
  }
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(tmp.str("cache"))) entries.push_back(e.path().filename().string());
  ASSERT_EQ(entries.size(), 1u) << "temporaries or several caches left: " << entries.size();
  const auto data = pl::SliceDataset::open(tmp.str("cache/" + entries[0]));
  EXPECT_GT(data.size(), 10u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(pl::read_checkpoint_info(pl::list_checkpoints(tmp.str("run" + std::to_string(i) + "/checkpoints")).back())
                  .data_fingerprint,
              data.fingerprint());
  }
}
