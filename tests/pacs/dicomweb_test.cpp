// `medsynth pacs --dicomweb` against a real Orthanc with Debian's orthanc-dicomweb plugin on
// loopback, with authentication: STOW-RS push, QIDO-RS find, WADO-RS pull (series and study) with
// basic credentials from a file, a bearer token from the environment, HTTPS through a TLS front
// (stunnel) with a test CA, and the failures: wrong or missing credentials, credentials in the
// URL, an untrusted certificate, a series that is not there, the server killed mid-pull.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "medsynth/io/volume_io.h"
#include "orthanc_server.h"
#include "test_util.h"
#include "tls_proxy.h"

namespace io = medsynth::io;
using namespace medsynth::test;

namespace {

std::string kmeans() { return data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"); }

std::string make_series(const std::string& dir, const std::string& nifti = kmeans()) {
  auto r = run_medsynth("convert " + nifti + " " + dir + " --to dicom --series-description WEB-TEST");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto series = io::list_dicom_series(dir);
  EXPECT_EQ(series.size(), 1u);
  return series.empty() ? "" : series.front().series_uid;
}

std::string random_secret() {
  std::random_device rd;
  return "pw" + std::to_string(rd()) + std::to_string(rd());
}

OrthancServer::Options with_user(const std::string& password) {
  OrthancServer::Options o;
  o.dicomweb = true;
  o.user = "medsynth";
  o.password = password;
  return o;
}

bool has_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".medsynth-tmp", 0) == 0) return true;
  return false;
}

// tests/pacs/busy_proxy.py in front of `backend`: the first `busy` requests are answered `status`.
class BusyProxy {
 public:
  BusyProxy(int backend, int busy, int status, const std::string& dir) : count_file_(dir + "/requests") {
    port_ = free_tcp_port();
    const std::string script = std::string(MEDSYNTH_SOURCE_DIR) + "/tests/pacs/busy_proxy.py";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(kPython.c_str(), kPython.c_str(), script.c_str(), std::to_string(port_).c_str(), std::to_string(backend).c_str(),
              std::to_string(busy).c_str(), std::to_string(status).c_str(), count_file_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (run("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", " + std::to_string(port_) + "), 1)'").exit_code == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("busy_proxy.py did not listen");
  }
  ~BusyProxy() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/dicom-web"; }
  int requests() const {
    std::ifstream in(count_file_);
    int n = 0;
    in >> n;
    return n;
  }

 private:
  std::string count_file_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// medsynth with an environment variable set for that one command.
RunResult run_with_env(const std::string& env, const std::string& args) {
  return run(env + " " + std::string(MEDSYNTH_BINARY) + " " + args, 300);
}

}  // namespace

TEST(PacsDicomweb, RoundTripWithBasicAuthGivesBackTheSameVoxels) {
  const std::string password = random_secret();
  OrthancServer pacs(with_user(password));
  TempDir tmp;
  std::ofstream(tmp.str("auth")) << "medsynth:" << password << "\n";
  const std::string web = "--dicomweb " + pacs.http_url() + " --auth-file " + tmp.str("auth") + " ";
  const std::string uid = make_series(tmp.str("synthetic"));

  auto r = run_medsynth("pacs echo " + web);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth("pacs push " + web + tmp.str("synthetic"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sent 62 file(s)"), std::string::npos) << r.out;
  std::string all_output = r.out + r.err;

  // Orthanc's DICOMweb plugin (1.7) matches no value holding a space, even URL-encoded: '*' stands in.
  r = run_medsynth("pacs find --json --level series --modality MR --series-description '*WEB-TEST' " + web);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto found = nlohmann::json::parse(r.out);
  ASSERT_EQ(found.size(), 1u) << r.out;
  EXPECT_EQ(found[0]["SeriesInstanceUID"], uid);
  EXPECT_EQ(found[0]["NumberOfSeriesRelatedInstances"], "62");
  EXPECT_EQ(found[0]["PatientName"], "SYNTHETIC^MEDSYNTH");
  const std::string study_uid = found[0]["StudyInstanceUID"];
  r = run_medsynth("pacs find --json --level series --modality CT " + web);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 0u);
  r = run_medsynth("pacs find --json --level study --study-uid " + study_uid + " " + web);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  found = nlohmann::json::parse(r.out);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["NumberOfStudyRelatedInstances"], "62");
  r = run_medsynth("pacs find --json --level image --series-uid " + uid + " " + web);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 62u);
  // QIDO-RS has no patient level: a usage error before any traffic.
  EXPECT_EQ(run_medsynth("pacs find --level patient " + web).exit_code, 1);

  // WADO-RS of the series and of its study: the voxels and grid of the NIfTI it came from.
  const io::Volume source = io::read_volume(kmeans());
  r = run_medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("got") + " " + web);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(62 file(s))"), std::string::npos) << r.out;
  all_output += r.out + r.err;
  io::Volume back = io::read_volume(tmp.str("got"));
  EXPECT_TRUE(back.geometry.same_grid(source.geometry, 1e-3));
  EXPECT_EQ(back.voxels, source.voxels);
  EXPECT_TRUE(fs::exists(tmp.str("got/IM0001.dcm")));
  r = run_medsynth("pacs pull --study-uid " + study_uid + " --out " + tmp.str("study") + " " + web);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(io::read_volume(tmp.str("study")).voxels, source.voxels);
  // An existing output folder is kept unless --force; with it, replaced.
  r = run_medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("got") + " " + web);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(run_medsynth("pacs pull --force --series-uid " + uid + " --out " + tmp.str("got") + " " + web).exit_code, 0);

  // The same credentials from the environment.
  r = run_with_env("MEDSYNTH_DICOMWEB_AUTH=medsynth:" + password, "pacs echo --dicomweb " + pacs.http_url());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(all_output.find(password), std::string::npos) << "the password was printed";
}

TEST(PacsDicomweb, WrongOrMissingCredentialsExitThreeAndAreNeverPrinted) {
  const std::string password = random_secret();
  OrthancServer pacs(with_user(password));
  TempDir tmp;
  const std::string wrong = random_secret();
  std::ofstream(tmp.str("wrong")) << "medsynth:" << wrong << "\n";
  const std::string uid = make_series(tmp.str("s"));

  auto r = run_medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("got") + " --dicomweb " + pacs.http_url() +
                        " --auth-file " + tmp.str("wrong"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: " + pacs.http_url() + ": QIDO-RS: the server refused the credentials (HTTP 401)", 0), 0u)
      << r.err;
  EXPECT_EQ((r.out + r.err).find(wrong), std::string::npos) << "the wrong password was printed";
  EXPECT_FALSE(fs::exists(tmp.str("got")));
  EXPECT_FALSE(has_temporaries(tmp.path()));
  r = run_medsynth("pacs push --dicomweb " + pacs.http_url() + " --auth-file " + tmp.str("wrong") + " " + tmp.str("s"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("STOW-RS (0 of 62 files stored before): the server refused the credentials"), std::string::npos) << r.err;

  // No credentials at all: the message says where they go.
  r = run_medsynth("pacs echo --dicomweb " + pacs.http_url());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("give --auth-file or set MEDSYNTH_DICOMWEB_AUTH"), std::string::npos) << r.err;

  // Credentials in the URL (visible to every user of the machine) are refused, and not echoed.
  const std::string in_url = "http://medsynth:" + password + "@127.0.0.1:" + std::to_string(pacs.http_port()) + "/dicom-web";
  r = run_medsynth("pacs echo --dicomweb " + in_url);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--auth-file"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(password), std::string::npos) << r.err;
  // A credentials file that is not one, and a missing one: exit 2, the secret not shown.
  std::ofstream(tmp.str("garbled")) << password << "\n";
  r = run_medsynth("pacs echo --dicomweb " + pacs.http_url() + " --auth-file " + tmp.str("garbled"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(tmp.str("garbled") + ": holds neither USER:PASSWORD nor 'Bearer TOKEN'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(password), std::string::npos) << r.err;
  r = run_medsynth("pacs echo --dicomweb " + pacs.http_url() + " --auth-file " + tmp.str("missing"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // Nothing listens: down, like DIMSE.
  r = run_medsynth("pacs echo --timeout 5 --dicomweb http://127.0.0.1:" + std::to_string(free_tcp_port()) + "/dicom-web");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;
}

TEST(PacsDicomweb, BearerTokenFromTheEnvironment) {
  OrthancServer::Options o;
  o.dicomweb = true;
  o.bearer = random_secret();
  OrthancServer pacs(o);
  TempDir tmp;
  const std::string uid = make_series(tmp.str("s"));
  const std::string env = "MEDSYNTH_DICOMWEB_AUTH='Bearer " + o.bearer + "'";
  auto r = run_with_env(env, "pacs push --dicomweb " + pacs.http_url() + " " + tmp.str("s"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_with_env(env, "pacs pull --series-uid " + uid + " --out " + tmp.str("got") + " --dicomweb " + pacs.http_url());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(io::read_volume(tmp.str("got")).voxels, io::read_volume(kmeans()).voxels);
  EXPECT_EQ((r.out + r.err).find(o.bearer), std::string::npos);
  // Another token is turned away by the server's filter (HTTP 403).
  r = run_with_env("MEDSYNTH_DICOMWEB_AUTH='Bearer not-" + o.bearer + "'", "pacs echo --dicomweb " + pacs.http_url());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("forbidden (HTTP 403)"), std::string::npos) << r.err;
}

TEST(PacsDicomweb, UnknownSeriesIsExitTwoAndLeavesNothing) {
  const std::string password = random_secret();
  OrthancServer pacs(with_user(password));
  TempDir tmp;
  std::ofstream(tmp.str("auth")) << "medsynth:" << password << "\n";
  auto r = run_medsynth("pacs pull --series-uid 1.2.3.4.5 --out " + tmp.str("none") + " --dicomweb " + pacs.http_url() +
                        " --auth-file " + tmp.str("auth"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(pacs.http_url() + ": no series 1.2.3.4.5 on the server"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("none")));
  EXPECT_FALSE(has_temporaries(tmp.path()));
  EXPECT_EQ(run_medsynth("pacs pull --method move --series-uid 1.2.3 --out " + tmp.str("x") + " --dicomweb " +
                         pacs.http_url() + " --auth-file " + tmp.str("auth")).exit_code,
            1);
}

TEST(PacsDicomweb, ServerKilledMidPullIsAnErrorAndLeavesNoOutputFolder) {
  const std::string password = random_secret();
  auto pacs = std::make_unique<OrthancServer>(with_user(password));
  TempDir tmp;
  std::ofstream(tmp.str("auth")) << "medsynth:" << password << "\n";
  const std::string web = " --dicomweb " + pacs->http_url() + " --auth-file " + tmp.str("auth");
  // Colin27 at 0.5 mm: 316 files, 70 MB, far more than the sockets' buffers hold, so the answer
  // is still being sent when the server dies; --limit-rate keeps it on the wire for seconds.
  const std::string uid = make_series(tmp.str("s"), data_file(kTemplates + "ch2better.nii.gz", "mricron-data"));
  ASSERT_EQ(run_medsynth("pacs push " + tmp.str("s") + web).exit_code, 0);
  fs::create_directories(tmp.str("pull"));
  const std::string args = "pacs pull --limit-rate 2048 --series-uid " + uid + " --out " + tmp.str("pull/got") + web;
  RunResult result;
  // Killed as soon as the first files have arrived in the pull's temporary folder.
  const bool killed_mid_transfer = kill_server_mid_pull(*pacs, tmp.str("pull"), [&] { result = run_medsynth(args, 120); });
  ASSERT_TRUE(killed_mid_transfer) << "the pull finished before the server could be killed: " << result.out;
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(result.err.find("WADO-RS stopped after"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(tmp.str("pull/got")));
  EXPECT_FALSE(has_temporaries(tmp.str("pull")));
  auto r = run_medsynth("pacs push " + tmp.str("s") + web);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;
}

TEST(PacsDicomweb, HttpsTrustsTheGivenCaAndRefusesAnotherCasCertificate) {
  const std::string password = random_secret();
  OrthancServer pacs(with_user(password));
  TempDir tmp;
  std::ofstream(tmp.str("auth")) << "medsynth:" << password << "\n";
  const TestCertificate ca = make_test_ca(tmp.str(), "medsynth test CA");
  const TestCertificate other = make_test_ca(tmp.str(), "another CA");
  const TlsProxy https(pacs.http_port(), make_server_certificate(ca, tmp.str("server")), tmp.str("stunnel"));
  const std::string web = " --dicomweb " + https.url() + " --auth-file " + tmp.str("auth");
  const std::string uid = make_series(tmp.str("s"));

  auto r = run_medsynth("pacs push " + tmp.str("s") + web + " --ca-file '" + ca.cert + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err << https.log();
  r = run_medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("got") + web + " --ca-file '" + ca.cert + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(io::read_volume(tmp.str("got")).voxels, io::read_volume(kmeans()).voxels);
  // The system's CA store does not know the test CA; nor does another CA vouch for the server.
  r = run_medsynth("pacs echo" + web);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("the server's TLS certificate is not trusted"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("give --ca-file"), std::string::npos) << r.err;
  r = run_medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("other") + web + " --ca-file '" + other.cert + "'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("the server's TLS certificate is not trusted"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("other")));
  // https:// to the plain-HTTP port: a failed handshake, said so.
  r = run_medsynth("pacs echo --dicomweb https://127.0.0.1:" + std::to_string(pacs.http_port()) + "/dicom-web --auth-file " +
                   tmp.str("auth") + " --ca-file '" + ca.cert + "'");
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST(PacsDicomweb, BusyAnswersAreRetriedWithBackOffAndThenReported) {
  const std::string password = random_secret();
  OrthancServer pacs(with_user(password));
  TempDir tmp;
  std::ofstream(tmp.str("auth")) << "medsynth:" << password << "\n";
  const std::string uid = make_series(tmp.str("s"));
  {
    // Two 503s, then the real server: the push and the pull get through.
    BusyProxy busy(pacs.http_port(), 2, 503, tmp.str());
    auto r = run_medsynth("pacs push --dicomweb " + busy.url() + " --auth-file " + tmp.str("auth") + " " + tmp.str("s"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(busy.requests(), 3);
  }
  {
    // 429 (too many requests) on the QIDO-RS and WADO-RS of a pull: retried, and every file comes.
    BusyProxy busy(pacs.http_port(), 1, 429, tmp.str());
    auto r = run_medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("got") + " --dicomweb " + busy.url() +
                          " --auth-file " + tmp.str("auth"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(io::read_volume(tmp.str("got")).voxels, io::read_volume(kmeans()).voxels);
    EXPECT_EQ(busy.requests(), 3);
  }
  {
    // Busy for longer than --retries allows: exit 3, saying so, nothing left behind.
    BusyProxy busy(pacs.http_port(), 100, 503, tmp.str());
    auto r = run_medsynth("pacs pull --retries 2 --series-uid " + uid + " --out " + tmp.str("none") + " --dicomweb " +
                          busy.url() + " --auth-file " + tmp.str("auth"));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("the server is busy (HTTP 503) after 2 retries"), std::string::npos) << r.err;
    EXPECT_EQ(busy.requests(), 3);
    EXPECT_FALSE(fs::exists(tmp.str("none")));
  }
}
