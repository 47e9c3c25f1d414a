#pragma once
// A DICOMweb client (libcurl) for archives that speak HTTP(S): QIDO-RS to find, WADO-RS to pull a
// series or a study (multipart/related DICOM), STOW-RS to push. The same records, pull folder and
// exit codes as the DIMSE client (pacs_client.h); docs/pacs.md describes commands and failures.
#include <string>
#include <vector>

#include "medsynth/io/pacs_client.h"

namespace medsynth::io {

// Who this client is to the server. Credentials come from a file or the environment, never the
// command line (which other users can see), and are never printed: messages name the URL only.
struct DicomWebCredentials {
  std::string user, password;  // HTTP basic authentication
  std::string token;           // bearer token (RFC 6750)
  bool empty() const { return user.empty() && token.empty(); }
};

// The credentials in `file` (when not empty) or else in the environment variable `env`: one line,
// either USER:PASSWORD (basic) or "Bearer TOKEN". Nothing in either: no credentials. A file that
// cannot be read, or a line that is neither, is refused naming the file or the variable (exit 2).
DicomWebCredentials read_dicomweb_credentials(const std::string& file, const char* env = "MEDSYNTH_DICOMWEB_AUTH");

struct DicomWebPeer {
  std::string url;                    // the service's base URL, e.g. https://pacs.example.org/dicom-web
  DicomWebCredentials credentials;
  std::string ca_file;                // PEM file of the CA(s) to trust ("": the system's CA store)
  int timeout_s = 30;                 // to connect, and the longest a transfer may stall
  int retries = 4;                    // retries of a request answered 429 or 503, with back-off
  long limit_rate = 0;                // bytes per second a transfer may use (0: no limit)
  // The URL as messages show it. Every failure is an io::Error whose message starts with it.
  std::string describe() const { return url; }
};

// Checks the URL (http or https, no credentials in it: UsageError) and the options.
void check_dicomweb_peer(const DicomWebPeer& peer);

// A QIDO-RS search for one study, so that the server, its TLS and the credentials are checked.
void dicomweb_echo(const DicomWebPeer& peer);

// QIDO-RS at study, series or image (instance) level with the query's filters; the records use
// the same keywords as pacs_find. QIDO-RS has no patient level (UsageError).
std::vector<PacsRecord> dicomweb_find(const DicomWebPeer& peer, const PacsQuery& query);

// STOW-RS of every DICOM file in `paths` (files, or folders searched recursively), in requests of
// at most 32 MiB. A file the server refuses (FailedSOPSequence) throws naming it.
PushResult dicomweb_push(const DicomWebPeer& peer, const std::vector<std::string>& paths);

// WADO-RS of a series (or a whole study) into `out_dir`, atomically as pacs_pull: files arrive in a
// temporary folder beside it, renamed only when the response was complete and the number of files
// equals what QIDO-RS lists. Only options.study_uid, series_uid and force are used.
PullResult dicomweb_pull(const DicomWebPeer& peer, const PullOptions& options, const std::string& out_dir);

}  // namespace medsynth::io
