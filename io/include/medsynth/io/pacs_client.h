#pragma once
// A DICOM network client (DCMTK dcmnet) for a PACS such as Orthanc: C-ECHO, C-FIND, C-STORE and
// C-GET / C-MOVE. docs/pacs.md describes the commands, options and failure behaviour.
#include <map>
#include <string>
#include <vector>

namespace medsynth::io {

// The peer and this client's identity. Every network failure is an io::Error with exit code 3
// whose message starts with "<aec>@<host>:<port>".
struct PacsPeer {
  std::string host = "127.0.0.1";
  int port = 4242;
  std::string calling_aet = "MEDSYNTH";  // this client's AE title
  std::string called_aet = "ORTHANC";    // the PACS's AE title
  int timeout_s = 30;                    // connect, association and each DIMSE message
  // DICOM TLS (DCMTK's dcmtls, BCP 195 profile): the server's certificate verified against
  // tls_ca_file (empty: the system's CAs); this client's certificate and key when the server
  // asks for one. C-MOVE is refused with TLS (DCMTK 3.6.7's storage SCP has no TLS).
  bool tls = false;
  std::string tls_ca_file, tls_cert, tls_key;
  std::string describe() const;
};

// Opens an association, sends C-ECHO, releases. Throws when the server is down, refuses the
// association (unknown AE titles) or does not answer within the timeout.
void pacs_echo(const PacsPeer& peer);

enum class QueryLevel { kPatient, kStudy, kSeries, kImage };
QueryLevel query_level_from_string(const std::string& s);  // throws UsageError

// Matching keys (DICOM wildcards * and ? allowed in the text ones); empty: no constraint.
struct PacsQuery {
  QueryLevel level = QueryLevel::kStudy;
  std::string patient_id, patient_name, study_uid, series_uid, modality, series_description, study_date;
};

// One match: attribute keyword -> value (e.g. "SeriesInstanceUID", "NumberOfSeriesRelatedInstances").
using PacsRecord = std::map<std::string, std::string>;
std::vector<PacsRecord> pacs_find(const PacsPeer& peer, const PacsQuery& query);

struct PushResult {
  std::size_t sent = 0;              // files the PACS accepted (success or warning status)
  std::vector<std::string> skipped;  // "<file>: <why>" for files that are not DICOM
};
// C-STORE of every DICOM file in `paths` (files, or folders searched recursively) over one
// association. A refused file or a connection lost midway throws, naming the file and how many
// were sent. Sending an instance the PACS already holds is not an error (PACSs keep one copy per
// SOP Instance UID).
PushResult pacs_push(const PacsPeer& peer, const std::vector<std::string>& paths);

enum class PullMethod { kGet, kMove };
struct PullOptions {
  std::string study_uid;   // the study to pull, or the study of `series_uid` (found by C-FIND when empty)
  std::string series_uid;  // empty: the whole study
  PullMethod method = PullMethod::kGet;
  int move_port = 0;       // C-MOVE: the port of medsynth's own storage SCP (the PACS connects to it)
  std::string move_aet;    // C-MOVE: the destination AE title the PACS knows (default: calling AE)
  bool force = false;      // replace an existing output folder
};
struct PullResult {
  std::string folder;
  std::size_t files = 0;
  // C-MOVE: associations the storage SCP refused while it listened (another AE title or host
  // than the PACS asked), as "AE 'X' from ADDRESS (reason)".
  std::vector<std::string> refused;
};
// Retrieves into `out_dir` atomically: files arrive in a temporary folder beside it, which is
// renamed only when the PACS reported success and the file count matches; otherwise nothing is
// left behind. Files are named IM0001.dcm, ... in arrival order.
PullResult pacs_pull(const PacsPeer& peer, const PullOptions& options, const std::string& out_dir);

}  // namespace medsynth::io
