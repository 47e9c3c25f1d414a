// `medsynth pacs` against a real Orthanc started by each test on free ports: echo, find, push,
// pull by C-GET and C-MOVE, duplicates, a series stored by DCMTK's storescu, and failures (wrong
// port, wrong called AE, unknown series, server killed mid-pull).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "medsynth/io/volume_io.h"
#include "orthanc_server.h"
#include "test_util.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

std::string kmeans() { return data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"); }

// A synthetic series of KmeansTest (62 slices) written by medsynth; returns its SeriesInstanceUID.
std::string make_series(const std::string& dir) {
  auto r = run_medsynth("convert " + kmeans() + " " + dir + " --to dicom --series-description PACS-TEST");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto series = io::list_dicom_series(dir);
  EXPECT_EQ(series.size(), 1u);
  return series.empty() ? "" : series.front().series_uid;
}

nlohmann::json find_json(const OrthancServer& pacs, const std::string& args) {
  auto r = run_medsynth("pacs find --json " + pacs.peer_args() + " " + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::array();
}

bool has_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind(".medsynth-tmp", 0) == 0) return true;
  }
  return false;
}

// A TCP relay (tests/pacs/delay_proxy.py) on `port` that holds each connection `delay_s` before
// it connects it to `backend`.
class DelayProxy {
 public:
  DelayProxy(int port, int backend, double delay_s, const std::string& dir) : port_(port) {
    const std::string script = std::string(MEDSYNTH_SOURCE_DIR) + "/tests/pacs/delay_proxy.py";
    const std::string ready = dir + "/proxy-ready";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(kPython.c_str(), kPython.c_str(), script.c_str(), std::to_string(port_).c_str(), std::to_string(backend).c_str(),
              std::to_string(delay_s).c_str(), ready.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(ready); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!fs::exists(ready)) throw std::runtime_error("delay_proxy.py did not listen");
  }
  ~DelayProxy() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

// This machine's first IPv4 address outside loopback (empty when it has none).
std::string non_loopback_address() {
  const auto r = run("hostname -I");
  std::istringstream words(r.out);
  for (std::string w; words >> w;) {
    if (w.find('.') != std::string::npos && w.rfind("127.", 0) != 0) return w;
  }
  return "";
}

}  // namespace

TEST(Pacs, EchoAnswersAndWrongPortOrCalledAeTitleFailsClearly) {
  OrthancServer pacs;
  auto r = run_medsynth("pacs echo " + pacs.peer_args());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos) << r.out;

  // Nothing listens on a fresh free port: the server is "down".
  r = run_medsynth("pacs echo --host 127.0.0.1 --port " + std::to_string(free_tcp_port()) + " --timeout 5");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("medsynth: error: ORTHANC@127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;

  // Orthanc checks the called AE title here: a wrong one is refused at association.
  r = run_medsynth("pacs echo --host 127.0.0.1 --port " + std::to_string(pacs.dicom_port()) + " --aec NOT_ORTHANC --timeout 5");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("association rejected"), std::string::npos) << r.err;

  // Usage errors are caught before any network traffic.
  EXPECT_EQ(run_medsynth("pacs echo --port 0").exit_code, 1);
  EXPECT_EQ(run_medsynth("pacs echo --aec THIS_AE_TITLE_IS_TOO_LONG").exit_code, 1);
  r = run_medsynth("pacs ecko");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("did you mean 'echo'"), std::string::npos) << r.err;
}

TEST(Pacs, PushFindAndPullByGetAndMoveGiveBackTheSameVoxels) {
  OrthancServer pacs;
  TempDir tmp;
  const std::string uid = make_series(tmp.str("synthetic"));
  auto r = run_medsynth("pacs push " + pacs.peer_args() + " " + tmp.str("synthetic"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sent 62 file(s)"), std::string::npos) << r.out;

  // Series level with filters: modality and a wildcard description.
  auto found = find_json(pacs, "--level series --modality MR --series-description 'SYNTHETIC PACS*'");
  ASSERT_EQ(found.size(), 1u) << found.dump();
  EXPECT_EQ(found[0]["SeriesInstanceUID"], uid);
  EXPECT_EQ(found[0]["NumberOfSeriesRelatedInstances"], "62");
  const std::string patient_id = found[0]["PatientID"];
  const std::string study_uid = found[0]["StudyInstanceUID"];
  EXPECT_EQ(patient_id.rfind("SYN-", 0), 0u);
  // A filter that matches nothing finds nothing.
  EXPECT_EQ(find_json(pacs, "--level series --modality CT").size(), 0u);
  // Patient and study level.
  found = find_json(pacs, "--level patient --patient-id " + patient_id);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["PatientName"], "SYNTHETIC^MEDSYNTH");
  found = find_json(pacs, "--level study --study-uid " + study_uid);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["NumberOfStudyRelatedInstances"], "62");

  const io::Volume source = io::read_volume(kmeans());
  r = run_medsynth("pacs pull " + pacs.peer_args() + " --series-uid " + uid + " --out " + tmp.str("got"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  io::Volume back = io::read_volume(tmp.str("got"));
  EXPECT_TRUE(back.geometry.same_grid(source.geometry, 1e-3));
  EXPECT_EQ(back.voxels, source.voxels);
  EXPECT_TRUE(fs::exists(tmp.str("got/IM0001.dcm")));

  // C-MOVE: Orthanc connects back to medsynth's own storage SCP on the registered port.
  r = run_medsynth("pacs pull " + pacs.peer_args() + " --method move --move-port " + std::to_string(pacs.move_port()) +
                   " --study-uid " + study_uid + " --series-uid " + uid + " --out " + tmp.str("moved"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  back = io::read_volume(tmp.str("moved"));
  EXPECT_EQ(back.voxels, source.voxels);

  // An existing output folder is kept unless --force.
  r = run_medsynth("pacs pull " + pacs.peer_args() + " --series-uid " + uid + " --out " + tmp.str("got"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
}

TEST(Pacs, PushingTheSameSeriesTwiceKeepsOneCopy) {
  OrthancServer pacs;
  TempDir tmp;
  const std::string uid = make_series(tmp.str("s"));
  for (int n = 0; n < 2; ++n) {
    auto r = run_medsynth("pacs push " + pacs.peer_args() + " " + tmp.str("s"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto series = find_json(pacs, "--level series --series-uid " + uid);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0]["NumberOfSeriesRelatedInstances"], "62");
  EXPECT_EQ(find_json(pacs, "--level image --series-uid " + uid).size(), 62u);
  EXPECT_EQ(find_json(pacs, "--level study").size(), 1u);
}

TEST(Pacs, PullsASeriesThatStorescuStored) {
  OrthancServer pacs;
  TempDir tmp;
  const std::string series = plastimatch_series(kmeans(), "kmeans-dicom");
  auto r = run("storescu -aet MEDSYNTH -aec ORTHANC +sd +r 127.0.0.1 " + std::to_string(pacs.dicom_port()) + " " + series);
  ASSERT_EQ(r.exit_code, 0) << "storescu failed (install the Debian package 'dcmtk'): " << r.err;
  const auto listed = io::list_dicom_series(series);
  ASSERT_EQ(listed.size(), 1u);
  r = run_medsynth("pacs pull " + pacs.peer_args() + " --series-uid " + listed[0].series_uid + " --out " + tmp.str("got"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::Volume a = io::read_volume(series), b = io::read_volume(tmp.str("got"));
  EXPECT_TRUE(a.geometry.same_grid(b.geometry, 1e-4));
  EXPECT_EQ(a.voxels, b.voxels);
}

TEST(Pacs, UnknownSeriesAndEmptyPushAreBadInputAndLeaveNothing) {
  OrthancServer pacs;
  TempDir tmp;
  auto r = run_medsynth("pacs pull " + pacs.peer_args() + " --series-uid 1.2.3.4.5 --out " + tmp.str("none"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no series 1.2.3.4.5"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("none")));
  EXPECT_FALSE(has_temporaries(tmp.path()));
  fs::create_directories(tmp.str("empty"));
  std::ofstream(tmp.str("empty/readme.txt")) << "not DICOM";
  r = run_medsynth("pacs push " + pacs.peer_args() + " " + tmp.str("empty"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_medsynth("pacs pull " + pacs.peer_args());
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

TEST(Pacs, ServerKilledMidPullIsAnErrorAndLeavesNoOutputFolder) {
  auto pacs = std::make_unique<OrthancServer>();
  TempDir tmp;
  const std::string uid = make_series(tmp.str("s"));
  ASSERT_EQ(run_medsynth("pacs push " + pacs->peer_args() + " " + tmp.str("s")).exit_code, 0);
  fs::create_directories(tmp.str("pull"));
  const std::string args = "pacs pull " + pacs->peer_args() + " --series-uid " + uid + " --out " + tmp.str("pull/got");
  RunResult result;
  // Killed as soon as the first files have arrived in the pull's temporary folder.
  const bool killed_mid_transfer = kill_server_mid_pull(*pacs, tmp.str("pull"), [&] { result = run_medsynth(args, 120); });
  ASSERT_TRUE(killed_mid_transfer) << "the pull finished before the server could be killed: " << result.out;
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("C-GET"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(tmp.str("pull/got")));
  EXPECT_FALSE(has_temporaries(tmp.str("pull")));
  // And a push to the dead server fails the same way.
  auto r = run_medsynth("pacs push " + pacs->peer_args() + " " + tmp.str("s"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(Pacs, TheMoveDestinationAdmitsOnlyThePacsItAskedAndOnlyWhileThePullRuns) {
  // Orthanc's C-MOVE association reaches medsynth through a relay that holds it 4 s, so the
  // storage SCP listens idle while two other senders try it with DCMTK's storescu: another AE
  // title from loopback, and the PACS's own AE title from this machine's other address. Both are
  // refused; the PACS's association then delivers the whole series and nothing else.
  TempDir tmp;
  OrthancServer::Options options;
  options.move_to_port = free_tcp_port();
  OrthancServer pacs(options);
  const DelayProxy relay(options.move_to_port, pacs.move_port(), 4.0, tmp.str());
  const std::string uid = make_series(tmp.str("s"));
  ASSERT_EQ(run_medsynth("pacs push " + pacs.peer_args() + " " + tmp.str("s")).exit_code, 0);
  std::string one_file;
  for (const auto& e : fs::directory_iterator(tmp.str("s"))) one_file = e.path().string();
  const std::string port = std::to_string(pacs.move_port());
  auto storescu = [&](const std::string& aet, const std::string& host) {
    return run("storescu -aet " + aet + " -aec MEDSYNTH " + host + " " + port + " " + one_file, 30);
  };
  // Before the pull nothing listens.
  EXPECT_NE(storescu("ORTHANC", "127.0.0.1").exit_code, 0);

  fs::create_directories(tmp.str("pull"));
  RunResult pull;
  std::thread puller([&] {
    pull = run_medsynth("pacs pull " + pacs.peer_args() + " --method move --move-port " + port + " --series-uid " + uid +
                        " --out " + tmp.str("pull/moved"), 120);
  });
  // The pull's temporary folder exists before its SCP listens; a moment later it does.
  for (int i = 0; i < 400 && files_in_pull_temporary(tmp.str("pull")) < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto intruder = storescu("INTRUDER", "127.0.0.1");
  const std::string other = non_loopback_address();
  RunResult from_elsewhere;
  if (!other.empty()) from_elsewhere = storescu("ORTHANC", other);
  const long during = files_in_pull_temporary(tmp.str("pull"));
  puller.join();

  EXPECT_NE(intruder.exit_code, 0) << intruder.out << intruder.err;
  EXPECT_NE((intruder.out + intruder.err).find("Association Rejected"), std::string::npos) << intruder.out << intruder.err;
  EXPECT_EQ(during, 0) << "the senders tried while the relay held the PACS's association";
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_NE(pull.err.find("medsynth: warning: C-MOVE storage SCP refused AE 'INTRUDER' from 127.0.0.1 (not ORTHANC, the PACS asked)"),
            std::string::npos) << pull.err;
  if (other.empty()) {
    std::cout << "[ NOTE ] no address outside loopback here: the refusal by address is not tried\n";
  } else {
    EXPECT_NE(from_elsewhere.exit_code, 0) << from_elsewhere.out << from_elsewhere.err;
    EXPECT_NE((from_elsewhere.out + from_elsewhere.err).find("Association Rejected"), std::string::npos)
        << from_elsewhere.out << from_elsewhere.err;
    EXPECT_NE(pull.err.find("refused AE 'ORTHANC' from " + other + " (not from 127.0.0.1, the PACS asked)"), std::string::npos)
        << pull.err;
  }
  // Exactly the series: 62 files, none of them a sender's.
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(tmp.str("pull/moved"))) n += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(n, 62u);
  EXPECT_NE(pull.out.find("(62 file(s))"), std::string::npos) << pull.out;
  // After the pull nothing listens again.
  EXPECT_NE(storescu("ORTHANC", "127.0.0.1").exit_code, 0);
}
