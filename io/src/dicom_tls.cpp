#include "dicom_tls.h"

#include <fstream>

#include "medsynth/io/error.h"

namespace medsynth::io::detail {

namespace {

void require_readable(const std::string& path, const std::string& what) {
  if (!std::ifstream(path)) throw Error(path, "cannot read the " + what);
}

}  // namespace

std::unique_ptr<DcmTLSTransportLayer> make_tls_layer(const PacsPeer& peer) {
  auto tls = std::make_unique<DcmTLSTransportLayer>(NET_REQUESTOR, nullptr, OFTrue);
  OFCondition c = tls->setTLSProfile(TSP_Profile_BCP195);
  if (c.bad()) throw medsynth::Error(std::string("DICOM TLS: cannot use the BCP 195 profile: ") + c.text());
  c = tls->activateCipherSuites();
  if (c.bad()) throw medsynth::Error(std::string("DICOM TLS: no cipher suite: ") + c.text());
  if (!peer.tls_ca_file.empty()) {
    require_readable(peer.tls_ca_file, "CA file (--ca-file)");
    if (tls->addTrustedCertificateFile(peer.tls_ca_file.c_str(), DCF_Filetype_PEM).bad()) {
      throw Error(peer.tls_ca_file, "is not a PEM certificate file (--ca-file)");
    }
  } else if (tls->addTrustedCertificateDir("/etc/ssl/certs", DCF_Filetype_PEM).bad()) {
    throw Error("/etc/ssl/certs", "cannot read the system's CA certificates (give --ca-file)");
  }
  if (peer.tls_cert.empty() != peer.tls_key.empty()) {
    throw UsageError("pacs: --cert and --key go together (this client's certificate and its private key)");
  }
  if (!peer.tls_cert.empty()) {
    require_readable(peer.tls_key, "private key (--key)");
    require_readable(peer.tls_cert, "certificate (--cert)");
    if (tls->setPrivateKeyFile(peer.tls_key.c_str(), DCF_Filetype_PEM).bad()) {
      throw Error(peer.tls_key, "is not a PEM private key without a password (--key)");
    }
    if (tls->setCertificateFile(peer.tls_cert.c_str(), DCF_Filetype_PEM).bad()) {
      throw Error(peer.tls_cert, "is not a PEM certificate (--cert)");
    }
    if (!tls->checkPrivateKeyMatchesCertificate()) {
      throw Error(peer.tls_key, "does not belong to the certificate " + peer.tls_cert + " (--key, --cert)");
    }
  }
  tls->setCertificateVerification(DCV_requireCertificate);
  return tls;
}

std::string explain_tls_failure(const std::string& text, const PacsPeer& peer) {
  if (!peer.tls) return "";
  return "the TLS handshake failed (" + text + "): is the server's certificate signed by the CA of " +
         (peer.tls_ca_file.empty() ? std::string("the system store") : "--ca-file " + peer.tls_ca_file) +
         ", does it take this client's certificate, and does it speak DICOM TLS on this port?";
}

}  // namespace medsynth::io::detail
