// The stage runner (medsynth run) through the real binary on a tiny config: every stage end to end,
// skipping on unchanged fingerprints, reruns of what a changed key touches, resume after SIGKILL,
// the lock, refused keys and stages, missing upstream artefacts; the demo's built-in config.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "medsynth/io/pacs_client.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/run.h"
#include "bids/bids_checks.h"
#include "pacs/orthanc_server.h"
#include "train/train_fixture.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kStages = {"ingest", "train", "sample", "evaluate", "export", "report"};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json stage(const std::string& run, const std::string& name) { return json::parse(read_text(run + "/" + name + "/stage.json")); }

// The tiny model of the trainer tests, sampled with 5 DDIM steps; the run folder is `out`.
std::string write_config(const std::string& dir, const std::string& manifest, const std::string& out, int steps,
                         const std::string& extra = "") {
  const std::string path = dir + "/run.ini";
  std::ofstream(path) << tiny_config(manifest, out, steps) << "\n[sample]\nsteps = 5\nbatch = 32\n" << extra;
  return path;
}

// One complete run of every stage, made once for the suite; tests work on copies of it.
class RunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    manifest_ = new std::string(write_ch2_manifest(dir_->str()));
    const std::string config = write_config(dir_->str(), *manifest_, dir_->str("run"), 20);
    first_ = new RunResult(run_medsynth("run " + config, 600));
  }
  static void TearDownTestSuite() {
    delete first_;
    delete manifest_;
    delete dir_;
  }
  // A copy of the finished run in `tmp`, with a config pointing at it.
  static std::string copy_run(const TempDir& tmp) {
    copy_tree(dir_->str("run"), tmp.str("run"));
    return write_config(tmp.str(), *manifest_, tmp.str("run"), 20);
  }
  static TempDir* dir_;
  static std::string* manifest_;
  static RunResult* first_;
};
TempDir* RunTest::dir_ = nullptr;
std::string* RunTest::manifest_ = nullptr;
RunResult* RunTest::first_ = nullptr;

}  // namespace

TEST_F(RunTest, EveryStageRunsAndRecordsItself) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  const std::string run = dir_->str("run");
  for (const auto& s : kStages) {
    const json r = stage(run, s);
    EXPECT_EQ(r["status"], "done") << s;
    EXPECT_EQ(r["fingerprint"].get<std::string>().size(), 16u) << s;
    EXPECT_FALSE(r["medsynth_version"].get<std::string>().empty()) << s;
    EXPECT_FALSE(r["libraries"]["libtorch"].get<std::string>().empty()) << s;
    EXPECT_EQ(r["seeds"]["train.seed"], 3) << s;
    EXPECT_GE(r["seconds"].get<double>(), 0.0) << s;
    EXPECT_FALSE(r["started"].get<std::string>().empty()) << s;
    EXPECT_FALSE(r["finished"].get<std::string>().empty()) << s;
    for (const auto& a : r["artefacts"]) EXPECT_TRUE(fs::exists(run + "/" + a.get<std::string>())) << s << ": " << a;
    EXPECT_NE(first_->out.find(s + ": done in"), std::string::npos) << first_->out;
  }
  // What each stage made.
  EXPECT_TRUE(fs::exists(run + "/ingest/cache"));
  EXPECT_TRUE(fs::exists(stage(run, "train")["outputs"]["checkpoint"].get<std::string>().insert(0, run + "/")));
  const auto synth = medsynth::io::read_volume(run + "/sample/colin27.nii.gz");
  const auto real = medsynth::io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  EXPECT_TRUE(synth.geometry.same_grid(real.geometry, 1e-3)) << "the synthetic volume is not on the subject's grid";
  EXPECT_TRUE(fs::exists(run + "/sample/colin27-labels.nii.gz"));
  const json report = json::parse(read_text(run + "/evaluate/colin27/report.json"));
  EXPECT_TRUE(report["paired"]["volume"].contains("ssim"));
  EXPECT_FALSE(report["inputs"]["mask"].is_null()) << "the held-out slab mask was not used";
  // Privacy: the synthetic slab against the subject's training slices (those outside the slab).
  ASSERT_TRUE(report.contains("privacy")) << "no memorisation check in the run's report";
  EXPECT_GT(report["privacy"]["train_slices"].get<int>(), 0);
  for (const auto& k : report["slice_sets"]["real"]) {
    for (const auto& m : report["privacy"]["top"]) EXPECT_NE(k, m["train_slice"]) << "a held-out slice is among the training slices";
  }
  EXPECT_TRUE(fs::exists(run + "/evaluate/colin27/report.html"));
  EXPECT_TRUE(fs::exists(run + "/export/dicom/colin27/IM0001.dcm"));
  EXPECT_EQ(std::distance(fs::directory_iterator(run + "/export/dicom/colin27"), fs::directory_iterator{}),
            static_cast<long>(real.geometry.size[2]));
  const std::string index = read_text(run + "/report/index.html");
  EXPECT_NE(index.find("evaluate/colin27/report.html"), std::string::npos);
  // The report stage wrote the evaluation's figures into the model card beside the checkpoint.
  const std::string checkpoint = run + "/" + stage(run, "train")["outputs"]["checkpoint"].get<std::string>();
  const json card = pl::read_model_card(checkpoint);
  ASSERT_TRUE(card.contains("measured")) << "no model card figures beside " << checkpoint;
  ASSERT_EQ(card["measured"].size(), 1u) << card["measured"].dump();
  const json& measured = card["measured"][0];
  EXPECT_EQ(measured["volume"], "colin27");
  EXPECT_EQ(measured["figures"]["ssim"], report["paired"]["volume"]["ssim"]);
  EXPECT_EQ(measured["figures"]["psnr"], report["paired"]["volume"]["psnr"]);
  EXPECT_EQ(measured["figures"]["sharpness_ratio"], report["sharpness"]["ratio"]);
  EXPECT_EQ(measured["figures"]["memorisation_flagged_slices"], report["privacy"]["flagged_count"]);
  EXPECT_EQ(measured["note"], "paired figures on the held-out mask");
  const std::string card_md = read_text(pl::model_card_path(checkpoint, "md"));
  EXPECT_EQ(card_md.find("Nothing measured yet"), std::string::npos) << card_md;
  EXPECT_NE(card_md.find("colin27"), std::string::npos) << card_md;
  // The command ends by printing the report's path.
  const std::string tail = first_->out.substr(first_->out.rfind("report: "));
  EXPECT_EQ(tail, "report: " + fs::absolute(run + "/evaluate/colin27/report.html").string() + "\n");
}

TEST_F(RunTest, EveryStageRecordsWhatItCostAndTheReportsShowTheVolumesCost) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  const std::string run = dir_->str("run");
  for (const auto& s : kStages) {
    const json c = stage(run, s)["cost"];
    ASSERT_TRUE(c.is_object()) << s;
    EXPECT_GT(c["wall_seconds"].get<double>(), 0.0) << s;
    EXPECT_LE(c["wall_seconds"].get<double>(), stage(run, s)["seconds"].get<double>() + 0.5) << s;
    EXPECT_GE(c["cpu_seconds"].get<double>(), 0.0) << s;
    EXPECT_GT(c["peak_rss_mib"].get<double>(), 10.0) << s;
    EXPECT_GE(c["gflop"].get<double>(), 0.0) << s;
    EXPECT_GE(c["energy_joules"].get<double>(), 0.0) << s;
    EXPECT_TRUE(c["estimated"].is_boolean()) << s;
    EXPECT_FALSE(c["summary"].get<std::string>().empty()) << s;
  }
  // Training and sampling do the network's work; ingest does none.
  const json train = stage(run, "train");
  EXPECT_GT(train["cost"]["gflop"].get<double>(), 0.0);
  EXPECT_EQ(stage(run, "ingest")["cost"]["gflop"].get<double>(), 0.0);
  EXPECT_EQ(train["cost"]["steps"], train["outputs"]["steps"]);
  EXPECT_NEAR(train["cost"]["per_step"]["gflop"].get<double>() * train["outputs"]["steps"].get<double>(),
              train["cost"]["gflop"].get<double>(), 1e-6 * train["cost"]["gflop"].get<double>());
  // The volume: its own cost, per slice, inside the sample stage's.
  const json sample = stage(run, "sample");
  const json& v = sample["outputs"]["volumes"][0]["cost"];
  const auto real = medsynth::io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  EXPECT_EQ(v["slices"].get<std::size_t>(), real.geometry.size[2]);
  EXPECT_GT(v["gflop"].get<double>(), 0.0);
  EXPECT_LE(v["gflop"].get<double>(), sample["cost"]["gflop"].get<double>() * (1 + 1e-9));
  EXPECT_LE(v["wall_seconds"].get<double>(), sample["cost"]["wall_seconds"].get<double>());
  const json report = json::parse(read_text(run + "/evaluate/colin27/report.json"));
  EXPECT_EQ(report["synthesis_cost"], v);
  EXPECT_NE(read_text(run + "/evaluate/colin27/report.html").find("This volume: "), std::string::npos);
  EXPECT_NE(read_text(run + "/report/index.html").find("CPU-minutes"), std::string::npos);
}

TEST_F(RunTest, UnchangedRunSkipsEveryStageAndTouchesNoStageJson) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  std::map<std::string, std::string> before;
  std::map<std::string, fs::file_time_type> mtime;
  for (const auto& s : kStages) {
    before[s] = read_text(tmp.str("run/" + s + "/stage.json"));
    mtime[s] = fs::last_write_time(tmp.str("run/" + s + "/stage.json"));
  }
  const auto r = run_medsynth("run " + config, 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& s : kStages) {
    EXPECT_NE(r.out.find(s + ": up to date (skipped)"), std::string::npos) << r.out;
    EXPECT_EQ(read_text(tmp.str("run/" + s + "/stage.json")), before[s]) << s;
    EXPECT_EQ(fs::last_write_time(tmp.str("run/" + s + "/stage.json")), mtime[s]) << s;
  }
  EXPECT_EQ(r.out.find("running"), std::string::npos) << r.out;
}

TEST_F(RunTest, ChangedSampleKeyRerunsSampleAndLaterStagesButNotTraining) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  const std::string train_before = read_text(tmp.str("run/train/stage.json"));
  const std::string sample_fp = stage(tmp.str("run"), "sample")["fingerprint"];
  const auto r = run_medsynth("run " + config + " --sample.seed 8", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ingest: up to date (skipped)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train: up to date (skipped)"), std::string::npos) << r.out;
  for (const std::string s : {"sample", "evaluate", "export", "report"}) {
    EXPECT_NE(r.out.find(s + ": done in"), std::string::npos) << s << "\n" << r.out;
  }
  EXPECT_EQ(read_text(tmp.str("run/train/stage.json")), train_before);
  EXPECT_NE(stage(tmp.str("run"), "sample")["fingerprint"], sample_fp);
  EXPECT_EQ(stage(tmp.str("run"), "sample")["seeds"]["sample.seed"], 8);
}

TEST_F(RunTest, ForcedStageRerunsAndItsDownstreamFollows) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  const std::string export_before = read_text(tmp.str("run/export/stage.json"));
  const std::string eval_id = stage(tmp.str("run"), "evaluate")["run_id"];
  // --force evaluate: evaluate and report rerun (report's fingerprint chains evaluate's run),
  // export (which does not read evaluate) stays.
  const auto r = run_medsynth("run " + config + " --force evaluate", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("evaluate: running (forced)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("report: done in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("export: up to date (skipped)"), std::string::npos) << r.out;
  EXPECT_NE(stage(tmp.str("run"), "evaluate")["run_id"], eval_id);
  EXPECT_EQ(read_text(tmp.str("run/export/stage.json")), export_before);
}

TEST_F(RunTest, PairsForAugmentationComeWithTheirLabelMaps) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  const auto r = run_medsynth("run " + config + " --only sample --sample.volumes none --sample.pairs 1", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("evaluate:"), std::string::npos) << "--only sample ran other stages\n" << r.out;
  EXPECT_FALSE(fs::exists(tmp.str("run/sample/colin27.nii.gz")));
  const auto img = medsynth::io::read_volume(tmp.str("run/sample/pairs/pair-0001-image.nii.gz"));
  const auto lab = medsynth::io::read_label_volume(tmp.str("run/sample/pairs/pair-0001-labels.nii.gz"));
  EXPECT_TRUE(img.geometry.same_grid(lab.geometry, 1e-6));
  EXPECT_EQ(read_text(tmp.str("run/sample/pairs/pairs.csv")),
            "subject,image,labels\npair-0001,pair-0001-image.nii.gz,pair-0001-labels.nii.gz\n");
  EXPECT_EQ(stage(tmp.str("run"), "sample")["outputs"]["pairs"][0]["seed"], 8);  // sample.seed + 1
}

TEST_F(RunTest, ExportPushesTheSeriesToTheConfiguredPacs) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  OrthancServer pacs;
  const auto r = run_medsynth("run " + config + " --only export --export.host 127.0.0.1 --export.port " +
                                  std::to_string(pacs.dicom_port()) + " --export.timeout 10",
                              120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json ex = stage(tmp.str("run"), "export");
  const std::size_t files = ex["outputs"]["series"][0]["files"];
  EXPECT_NE(r.out.find("sent " + std::to_string(files) + " file(s)"), std::string::npos) << r.out;
  EXPECT_EQ(ex["outputs"]["pushed"]["sent"], files);
  medsynth::io::PacsPeer peer;
  peer.port = pacs.dicom_port();
  medsynth::io::PacsQuery q;
  q.level = medsynth::io::QueryLevel::kSeries;
  q.series_uid = ex["outputs"]["series"][0]["series_uid"];
  const auto found = medsynth::io::pacs_find(peer, q);
  ASSERT_EQ(found.size(), 1u) << "the PACS does not hold the exported series";
  EXPECT_EQ(found[0].at("NumberOfSeriesRelatedInstances"), std::to_string(files));
}

TEST_F(RunTest, ExportBidsWritesADerivativesDatasetThatPassesTheBidsChecks) {
  // export.bids on the finished run: the export stage reruns (its fingerprint changed) and writes
  // export/bids, which passes the checks of tests/bids (names, description, the validator).
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  const auto r = run_medsynth("run " + config + " --only export --export.bids true", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path bids = tmp.path() / "run/export/bids";
  EXPECT_NE(r.out.find("export: " + bids.string() + " (BIDS derivatives, 1 volume(s))"), std::string::npos) << r.out;
  const json ex = stage(tmp.str("run"), "export");
  EXPECT_EQ(ex["outputs"]["bids"]["folder"], "export/bids");
  const std::vector<std::string> files = ex["outputs"]["bids"]["files"];
  const std::string image = "sub-colin27/anat/sub-colin27_desc-synthetic_T1w.nii.gz";
  ASSERT_NE(std::find(files.begin(), files.end(), image), files.end()) << ex.dump();
  // The sampled volume byte for byte, its sidecar naming the run's checkpoint and mark.
  EXPECT_EQ(read_text((bids / image).string()), read_text(tmp.str("run/sample/colin27.nii.gz")));
  const json sidecar = json::parse(read_text((bids / "sub-colin27/anat/sub-colin27_desc-synthetic_T1w.json").string()));
  EXPECT_EQ(sidecar["Synthetic"], true);
  EXPECT_EQ(sidecar["Provenance"]["Checkpoint"], "ckpt-00000020.pt");
  EXPECT_EQ(sidecar["SyntheticMark"]["RunId"], stage(tmp.str("run"), "sample")["outputs"]["volumes"][0]["mark_run_id"]);
  expect_valid_bids_derivatives(bids, files, tmp.path() / "raw-view");
}

TEST_F(RunTest, MissingUpstreamArtefactNamesTheStageToRun) {
  ASSERT_EQ(first_->exit_code, 0) << first_->err;
  TempDir tmp;
  const std::string config = copy_run(tmp);
  fs::remove_all(tmp.str("run/train/checkpoints"));
  const auto r = run_medsynth("run " + config + " --only sample --force sample", 120);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("sample needs the train stage"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ckpt-00000020.pt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--from train"), std::string::npos) << r.err;

  TempDir fresh;
  const std::string config2 = write_config(fresh.str(), *manifest_, fresh.str("run"), 20);
  const auto r2 = run_medsynth("run " + config2 + " --only evaluate", 120);
  EXPECT_EQ(r2.exit_code, 2) << r2.err;
  EXPECT_NE(r2.err.find("evaluate needs the ingest stage, which has not run"), std::string::npos) << r2.err;
  EXPECT_NE(r2.err.find("--from ingest"), std::string::npos) << r2.err;
}

TEST(Run, KilledDuringTrainingFinishesWithoutRedoingIngestAndResumes) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  const std::string config = write_config(tmp.str(), manifest, tmp.str("run"), 60,
                                          "volumes = none\n");
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execl(MEDSYNTH_BINARY, MEDSYNTH_BINARY, "run", config.c_str(), "--train.checkpoint_every", "10",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(tmp.str("run/train/checkpoints/ckpt-00000020.pt")) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed; make it longer";
  EXPECT_EQ(stage(tmp.str("run"), "train")["status"], "running");
  const std::string ingest_before = read_text(tmp.str("run/ingest/stage.json"));

  const auto r = run_medsynth("run " + config + " --train.checkpoint_every 10", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ingest: up to date (skipped)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("resuming from"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(tmp.str("run/ingest/stage.json")), ingest_before);
  const json train = stage(tmp.str("run"), "train");
  EXPECT_EQ(train["status"], "done");
  EXPECT_EQ(train["outputs"]["steps"], 60);
  for (const auto& s : kStages) EXPECT_EQ(stage(tmp.str("run"), s)["status"], "done") << s;
}

TEST(Run, SecondRunIntoALockedFolderIsRefused) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  const std::string config = write_config(tmp.str(), manifest, tmp.str("run"), 20);
  fs::create_directories(tmp.str("run"));
  const int fd = ::open(tmp.str("run/run.lock").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string me = std::to_string(::getpid()) + "\n";
  ASSERT_EQ(::write(fd, me.data(), me.size()), static_cast<ssize_t>(me.size()));
  const auto r = run_medsynth("run " + config, 60);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(tmp.str("run") + ": another medsynth run (pid " + std::to_string(::getpid()) + ")"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("run/ingest"))) << "the refused run started a stage";
}

TEST(Run, UnknownKeysAndStagesAreRefusedWithTheNearestOne) {
  TempDir tmp;
  const std::string manifest = write_ch2_manifest(tmp.str());
  const std::string config = write_config(tmp.str(), manifest, tmp.str("run"), 20);
  auto r = run_medsynth("run " + config + " --sample.stepz 5", 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("unknown key 'sample.stepz' (did you mean 'sample.steps'?)"), std::string::npos) << r.err;
  std::ofstream(tmp.str("bad.ini")) << read_text(config) << "\n[export]\nhots = pacs.example.org\n";
  r = run_medsynth("run " + tmp.str("bad.ini"), 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("unknown key 'export.hots' (did you mean 'export.host'?)"), std::string::npos) << r.err;
  r = run_medsynth("run " + config + " --from trian", 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--from 'trian' is not a stage (did you mean 'train'?)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("run"))) << "a refused run created its folder";
}

TEST(Run, DemoConfigIsTheShippedConfig) {
  EXPECT_EQ(std::string(pl::demo_config_text()), read_text(std::string(MEDSYNTH_SOURCE_DIR) + "/configs/colin27-tissue-ddpm.ini"))
      << "pipeline/torch/run/demo_command.cpp's demo config and configs/colin27-tissue-ddpm.ini differ: make them equal";
  EXPECT_EQ(std::string(pl::demo_manifest_text()), read_text(std::string(MEDSYNTH_SOURCE_DIR) + "/configs/colin27.csv"));
}
