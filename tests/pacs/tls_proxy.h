#pragma once
// TLS for the DICOMweb tests: certificate authorities and server certificates made with the
// openssl command, and stunnel (Debian's stunnel4) as the HTTPS front of an Orthanc, as a hospital's
// reverse proxy would be (Debian's Orthanc 1.10 resets its own HTTPS connections after the
// handshake on this system). Started on 127.0.0.1, stopped (SIGTERM, then SIGKILL) on destruction.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "orthanc_server.h"

namespace medsynth::test {

struct TestCertificate {
  std::string cert, key;  // PEM files
};

// A self-signed CA named `name` in `dir` (ca.pem and ca.key under dir/name).
inline TestCertificate make_test_ca(const std::string& dir, const std::string& name) {
  std::string folder;
  for (char c : name) folder += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  const std::string d = dir + "/" + folder;
  std::filesystem::create_directories(d);
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d + "/ca.key -out " + d +
                          "/ca.pem -days 2 -subj '/CN=" + name + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl cannot make a CA: install the Debian package 'openssl'");
  return {d + "/ca.pem", d + "/ca.key"};
}

// A server certificate for 127.0.0.1 and localhost signed by `ca`.
inline TestCertificate make_server_certificate(const TestCertificate& ca, const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/ext.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  const std::string cmd = "openssl req -newkey rsa:2048 -nodes -keyout " + dir + "/server.key -out " + dir +
                          "/server.csr -subj '/CN=127.0.0.1' >/dev/null 2>&1 && openssl x509 -req -in " + dir +
                          "/server.csr -CA " + ca.cert + " -CAkey " + ca.key + " -CAcreateserial -out " + dir +
                          "/server.pem -days 2 -extfile " + dir + "/ext.cnf >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl cannot sign a server certificate");
  return {dir + "/server.pem", dir + "/server.key"};
}

class TlsProxy {
 public:
  static constexpr const char* kBinary = "/usr/bin/stunnel4";

  // TLS on a free loopback port, forwarded to 127.0.0.1:backend_port in clear.
  TlsProxy(int backend_port, const TestCertificate& server, const std::string& dir) : dir_(dir) {
    if (!std::filesystem::exists(kBinary)) throw std::runtime_error(std::string("missing ") + kBinary + ": install the Debian package 'stunnel4'");
    std::filesystem::create_directories(dir_);
    port_ = free_tcp_port();
    const std::string config = dir_ + "/stunnel.conf";
    std::ofstream(config) << "foreground = yes\npid =\ndebug = 4\noutput = " << dir_ << "/stunnel.log\n[https]\naccept = 127.0.0.1:"
                          << port_ << "\nconnect = 127.0.0.1:" << backend_port << "\ncert = " << server.cert
                          << "\nkey = " << server.key << "\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      std::FILE* out = std::freopen((dir_ + "/stunnel.out").c_str(), "w", stdout);
      if (out) ::dup2(::fileno(out), 2);
      ::execl(kBinary, kBinary, config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("stunnel exited at start:\n" + log());
      }
      if (listening()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("stunnel did not listen within 20 s:\n" + log());
  }
  ~TlsProxy() { stop(); }
  TlsProxy(const TlsProxy&) = delete;
  TlsProxy& operator=(const TlsProxy&) = delete;

  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/dicom-web"; }
  std::string log() const {
    std::ifstream in(dir_ + "/stunnel.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  bool listening() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace medsynth::test
