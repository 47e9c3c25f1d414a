#pragma once
// A real Orthanc PACS for tests and benchmarks: started on 127.0.0.1 with a temporary
// configuration (free ports, temporary storage and index, medsynth's AE registered for C-MOVE,
// no remote access) and stopped, its files removed, when the object goes out of scope, also when
// a test fails. Header-only and free of GoogleTest, so bench/bench_pacs.cpp uses it too.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "medsynth/io/pacs_client.h"

namespace medsynth::test {

// A TCP port that was free a moment ago (bound to port 0 on loopback and released).
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

class OrthancServer {
 public:
  struct Options {
    bool check_called_aet = true;  // refuse associations whose called AE title is not ORTHANC
    // DICOMweb (Debian's orthanc-dicomweb plugin) at http_url(); with `user`, HTTP basic
    // authentication for that one user; with `bearer`, a Lua filter that lets in only requests
    // carrying "Authorization: Bearer <bearer>" (Orthanc itself knows no tokens).
    bool dicomweb = false;
    std::string user, password, bearer;
    // The port Orthanc sends C-MOVE sub-operations for the AE MEDSYNTH to (0: move_port()); a
    // test puts a relay there.
    int move_to_port = 0;
    // DICOM TLS on the DICOM port (Orthanc's DicomTls* options) with this server certificate and
    // key and this CA trusted; with a client certificate, Orthanc requires one from every caller
    // (that one is used for the readiness echo).
    std::string tls_cert, tls_key, tls_ca, tls_client_cert, tls_client_key;
  };
  static constexpr const char* kBinary = "/usr/sbin/Orthanc";
  static constexpr const char* kDicomWebPlugin = "/usr/lib/orthanc/libOrthancDicomWeb.so.1.7";

  // Throws std::runtime_error (with Orthanc's log) when it is missing, exits or stays silent.
  OrthancServer() : OrthancServer(Options{}) {}
  explicit OrthancServer(const Options& options) {
    namespace fs = std::filesystem;
    if (!fs::exists(kBinary)) {
      throw std::runtime_error(std::string("missing ") + kBinary + ": install the Debian package 'orthanc'");
    }
    std::random_device rd;
    dir_ = (fs::temp_directory_path() / ("medsynth-orthanc-" + std::to_string(::getpid()) + "-" + std::to_string(rd()))).string();
    fs::create_directories(dir_ + "/storage");
    fs::create_directories(dir_ + "/index");
    dicom_port_ = free_tcp_port();
    http_port_ = free_tcp_port();
    move_port_ = free_tcp_port();
    if (options.dicomweb && !fs::exists(kDicomWebPlugin)) {
      throw std::runtime_error(std::string("missing ") + kDicomWebPlugin + ": install the Debian package 'orthanc-dicomweb'");
    }
    std::string lua;
    if (!options.bearer.empty()) {
      lua = dir_ + "/bearer.lua";
      std::ofstream(lua) << "function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)\n"
                         << "  return httpHeaders['authorization'] == 'Bearer " << options.bearer << "'\n"
                         << "end\n";
    }
    const std::string config = dir_ + "/orthanc.json";
    std::ofstream(config) << "{\n"
                          << "  \"Name\": \"medsynth-test\",\n"
                          << "  \"StorageDirectory\": \"" << dir_ << "/storage\",\n"
                          << "  \"IndexDirectory\": \"" << dir_ << "/index\",\n"
                          << "  \"DicomAet\": \"ORTHANC\",\n"
                          << "  \"DicomPort\": " << dicom_port_ << ",\n"
                          << "  \"HttpPort\": " << http_port_ << ",\n"
                          << "  \"RemoteAccessAllowed\": false,\n"
                          << "  \"AuthenticationEnabled\": " << (options.user.empty() ? "false" : "true") << ",\n"
                          << (options.user.empty() ? std::string()
                                                   : "  \"RegisteredUsers\": {\"" + options.user + "\": \"" + options.password + "\"},\n")
                          << (lua.empty() ? std::string() : "  \"LuaScripts\": [\"" + lua + "\"],\n")
                          << (options.tls_cert.empty()
                                  ? std::string()
                                  : "  \"DicomTlsEnabled\": true,\n  \"DicomTlsCertificate\": \"" + options.tls_cert +
                                        "\",\n  \"DicomTlsPrivateKey\": \"" + options.tls_key +
                                        "\",\n  \"DicomTlsTrustedCertificates\": \"" + options.tls_ca +
                                        "\",\n  \"DicomTlsRemoteCertificateRequired\": " +
                                        (options.tls_client_cert.empty() ? "false" : "true") + ",\n")
                          << "  \"DicomCheckCalledAet\": " << (options.check_called_aet ? "true" : "false") << ",\n"
                          // No fsync per stored file: a throw-away server, and 10x faster pushes.
                          << "  \"SyncStorageArea\": false,\n"
                          << "  \"Plugins\": [" << (options.dicomweb ? std::string("\"") + kDicomWebPlugin + "\"" : "") << "],\n"
                          << (options.dicomweb ? "  \"DicomWeb\": {\"Enable\": true, \"Root\": \"/dicom-web/\"},\n" : "")
                          << "  \"DicomModalities\": { \"MEDSYNTH\": [\"MEDSYNTH\", \"127.0.0.1\", "
                          << (options.move_to_port > 0 ? options.move_to_port : move_port_)
                          << "] }\n"
                          << "}\n";
    const std::string log_path = dir_ + "/orthanc.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      std::FILE* out = std::freopen(log_path.c_str(), "w", stdout);
      if (out) ::dup2(::fileno(out), 2);
      ::execl(kBinary, kBinary, config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when it answers C-ECHO, within a bounded time; an early exit is reported with its log.
    io::PacsPeer peer;
    peer.port = dicom_port_;
    peer.timeout_s = 2;
    peer.tls = !options.tls_cert.empty();
    peer.tls_ca_file = options.tls_ca;
    peer.tls_cert = options.tls_client_cert;
    peer.tls_key = options.tls_client_key;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string l = log();
        cleanup();
        throw std::runtime_error("Orthanc exited at start:\n" + l);
      }
      try {
        io::pacs_echo(peer);
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    const std::string l = log();
    kill_now();
    cleanup();
    throw std::runtime_error("Orthanc did not answer C-ECHO within 30 s:\n" + l);
  }

  ~OrthancServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 100 && pid_ > 0; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
        else std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      kill_now();
    }
    cleanup();
  }
  OrthancServer(const OrthancServer&) = delete;
  OrthancServer& operator=(const OrthancServer&) = delete;

  int dicom_port() const { return dicom_port_; }
  int http_port() const { return http_port_; }
  // The DICOMweb base URL (Options::dicomweb).
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port_) + "/dicom-web"; }
  // The port Orthanc connects to for C-MOVE to the AE MEDSYNTH.
  int move_port() const { return move_port_; }
  // Options for `medsynth pacs` that reach this server.
  std::string peer_args() const {
    return "--host 127.0.0.1 --port " + std::to_string(dicom_port_) + " --aec ORTHANC --aet MEDSYNTH --timeout 10";
  }
  // SIGKILL, as a crash or a power cut would stop it.
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/orthanc.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  void cleanup() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
  int dicom_port_ = 0, http_port_ = 0, move_port_ = 0;
  pid_t pid_ = -1;
};

// The files in the temporary folder (".medsynth-tmp*") of a pull into a folder of `parent`; -1
// while there is none.
inline long files_in_pull_temporary(const std::string& parent) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (e.path().filename().string().rfind(".medsynth-tmp", 0) != 0) continue;
    long n = 0;
    for (auto it = fs::directory_iterator(e.path(), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
    return n;
  }
  return -1;
}

// Runs `pull` (a pull into a folder of `parent`) on a thread of its own and kills the server
// (SIGKILL) as soon as `files` files have arrived in the pull's temporary folder; returns after
// `pull` has: true when the server was killed while the pull ran.
inline bool kill_server_mid_pull(OrthancServer& pacs, const std::string& parent, const std::function<void()>& pull,
                                 long files = 2) {
  std::atomic<bool> done{false};
  std::thread puller([&] {
    pull();
    done = true;
  });
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done && !killed && std::chrono::steady_clock::now() < deadline) {
    if (files_in_pull_temporary(parent) >= files) {
      pacs.kill_now();
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  puller.join();
  return killed;
}

}  // namespace medsynth::test
