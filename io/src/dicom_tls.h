#pragma once
// DICOM TLS for medsynth's DIMSE client (DCMTK's dcmtls over OpenSSL): the transport layer a
// DcmSCU uses when PacsPeer::tls is set. Private to io (includes DCMTK).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include <memory>
#include <string>

#include "medsynth/io/pacs_client.h"

namespace medsynth::io::detail {

// A requestor's TLS layer: BCP 195 profile (TLS 1.2 or newer, its cipher suites), the server's
// certificate required and verified against `peer.tls_ca_file` (or the system's CAs in
// /etc/ssl/certs), and this client's certificate and key when given. Throws io::Error naming the
// file for an unreadable CA, certificate or key, or a key that does not match its certificate.
std::unique_ptr<DcmTLSTransportLayer> make_tls_layer(const PacsPeer& peer);

// A TLS failure's text for users ("" when `text` is not about TLS).
std::string explain_tls_failure(const std::string& text, const PacsPeer& peer);

}  // namespace medsynth::io::detail
