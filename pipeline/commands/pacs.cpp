// medsynth pacs echo|find|pull|push: talk to a PACS (e.g. Orthanc) over the DICOM network.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "medsynth/io/dicomweb_client.h"
#include "medsynth/io/error.h"
#include "medsynth/io/pacs_client.h"
#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {
namespace {

io::PacsPeer peer_from(const po::variables_map& vm) {
  io::PacsPeer p;
  p.host = vm["host"].as<std::string>();
  p.port = vm["port"].as<int>();
  p.calling_aet = vm["aet"].as<std::string>();
  p.called_aet = vm["aec"].as<std::string>();
  p.timeout_s = vm["timeout"].as<int>();
  p.tls = vm.count("tls") > 0;
  p.tls_ca_file = vm["ca-file"].as<std::string>();
  p.tls_cert = vm["cert"].as<std::string>();
  p.tls_key = vm["key"].as<std::string>();
  if (!p.tls) {
    for (const char* only : {"ca-file", "cert", "key"}) {
      if (!vm[only].as<std::string>().empty()) throw UsageError(std::string("pacs: --") + only + " needs --tls or --dicomweb");
    }
  }
  if (p.port <= 0 || p.port > 65535) throw UsageError("pacs: --port must be 1..65535");
  if (p.timeout_s <= 0) throw UsageError("pacs: --timeout must be positive (seconds)");
  for (const auto* aet : {&p.calling_aet, &p.called_aet}) {
    // AE titles are 1..16 characters of the default repertoire, no backslash.
    if (aet->empty() || aet->size() > 16 || aet->find('\\') != std::string::npos) {
      throw UsageError("pacs: AE title '" + *aet + "' must be 1 to 16 characters without '\\'");
    }
  }
  return p;
}

// --dicomweb URL: the DICOMweb peer, its credentials from --auth-file or MEDSYNTH_DICOMWEB_AUTH.
io::DicomWebPeer dicomweb_peer_from(const po::variables_map& vm) {
  io::DicomWebPeer p;
  p.url = vm["dicomweb"].as<std::string>();
  p.ca_file = vm["ca-file"].as<std::string>();
  p.timeout_s = vm["timeout"].as<int>();
  p.retries = vm["retries"].as<int>();
  p.limit_rate = static_cast<long>(vm["limit-rate"].as<int>()) * 1024;
  io::check_dicomweb_peer(p);
  if (!p.ca_file.empty() && !std::ifstream(p.ca_file)) throw io::Error(p.ca_file, "cannot read the CA file (--ca-file)");
  p.credentials = io::read_dicomweb_credentials(vm["auth-file"].as<std::string>());
  if (!p.credentials.empty() && p.url.rfind("http://", 0) == 0 && p.url.find("://127.") == std::string::npos &&
      p.url.find("://localhost") == std::string::npos && p.url.find("://[::1]") == std::string::npos) {
    std::cerr << "medsynth: warning: " << p.url << ": the credentials go over plain http, readable on the network; "
              << "use https\n";
  }
  return p;
}

void print_records(const po::variables_map& vm, const std::vector<io::PacsRecord>& records) {
  if (vm.count("json")) {
    std::cout << nlohmann::json(records).dump(2) << "\n";
    return;
  }
  for (const auto& r : records) {
    std::string line;
    for (const auto& [k, v] : r) line += (line.empty() ? "" : "  ") + k + "=" + v;
    std::cout << line << "\n";
  }
  std::cerr << records.size() << " match(es)\n";
}

io::PacsQuery query_from(const po::variables_map& vm) {
  io::PacsQuery q;
  q.level = io::query_level_from_string(vm["level"].as<std::string>());
  q.patient_id = vm["patient-id"].as<std::string>();
  q.patient_name = vm["patient-name"].as<std::string>();
  q.study_uid = vm["study-uid"].as<std::string>();
  q.series_uid = vm["series-uid"].as<std::string>();
  q.modality = vm["modality"].as<std::string>();
  q.series_description = vm["series-description"].as<std::string>();
  q.study_date = vm["study-date"].as<std::string>();
  return q;
}

io::PullOptions pull_options_from(const po::variables_map& vm) {
  io::PullOptions o;
  o.study_uid = vm["study-uid"].as<std::string>();
  o.series_uid = vm["series-uid"].as<std::string>();
  o.force = vm.count("force") > 0;
  const std::string method = vm["method"].as<std::string>();
  if (method == "move") {
    o.method = io::PullMethod::kMove;
  } else if (method != "get") {
    throw UsageError("pacs pull: --method must be get or move");
  }
  o.move_port = vm["move-port"].as<int>();
  o.move_aet = vm["move-aet"].as<std::string>();
  return o;
}

// The same actions over DICOMweb: QIDO-RS, STOW-RS, WADO-RS.
int run_dicomweb(const po::variables_map& vm, const std::string& action, const std::vector<std::string>& paths) {
  const io::DicomWebPeer peer = dicomweb_peer_from(vm);
  if (action == "echo") {
    io::dicomweb_echo(peer);
    std::cout << "DICOMweb " << peer.describe() << ": ok\n";
    return 0;
  }
  if (action == "find") {
    print_records(vm, io::dicomweb_find(peer, query_from(vm)));
    return 0;
  }
  if (action == "push") {
    if (paths.empty()) throw UsageError("pacs push: give the files or folders to send");
    const auto r = io::dicomweb_push(peer, paths);
    for (const auto& s : r.skipped) std::cerr << "medsynth: warning: skipped " << s << "\n";
    std::cout << "sent " << r.sent << " file(s) to " << peer.describe() << "\n";
    return 0;
  }
  const std::string out = vm["out"].as<std::string>();
  if (out.empty()) throw UsageError("pacs pull: give --out FOLDER");
  const auto r = io::dicomweb_pull(peer, pull_options_from(vm), out);
  std::cout << r.folder << " (" << r.files << " file(s))\n";
  return 0;
}

int run_pacs(const po::variables_map& vm) {
  const std::string action = vm["action"].as<std::string>();
  const std::vector<std::string> paths =
      vm.count("paths") ? vm["paths"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (action != "push" && !paths.empty()) throw UsageError("pacs " + action + ": unexpected argument '" + paths.front() + "'");
  const bool known = action == "echo" || action == "find" || action == "push" || action == "pull";
  if (known && !vm["dicomweb"].as<std::string>().empty()) {
    if (vm.count("tls") || !vm["cert"].as<std::string>().empty() || !vm["key"].as<std::string>().empty()) {
      throw UsageError("pacs: --tls, --cert and --key are for DIMSE; DICOMweb is encrypted by an https:// URL");
    }
    return run_dicomweb(vm, action, paths);
  }
  if (known && !vm["auth-file"].as<std::string>().empty()) throw UsageError("pacs: --auth-file needs --dicomweb");
  const io::PacsPeer peer = peer_from(vm);
  if (action == "echo") {
    io::pacs_echo(peer);
    std::cout << "C-ECHO " << peer.describe() << ": ok\n";
    return 0;
  }
  if (action == "find") {
    print_records(vm, io::pacs_find(peer, query_from(vm)));
    return 0;
  }
  if (action == "push") {
    if (paths.empty()) throw UsageError("pacs push: give the files or folders to send");
    const auto r = io::pacs_push(peer, paths);
    for (const auto& s : r.skipped) std::cerr << "medsynth: warning: skipped " << s << "\n";
    std::cout << "sent " << r.sent << " file(s) to " << peer.describe() << "\n";
    return 0;
  }
  if (action == "pull") {
    const std::string out = vm["out"].as<std::string>();
    if (out.empty()) throw UsageError("pacs pull: give --out FOLDER");
    const auto r = io::pacs_pull(peer, pull_options_from(vm), out);
    for (const auto& s : r.refused) std::cerr << "medsynth: warning: C-MOVE storage SCP refused " << s << "\n";
    std::cout << r.folder << " (" << r.files << " file(s))\n";
    return 0;
  }
  std::vector<std::string> actions = {"echo", "find", "pull", "push"};
  const std::string hint = nearest(action, actions);
  throw UsageError("pacs: unknown action '" + action + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                   "; one of echo, find, pull, push");
}

}  // namespace

Command make_pacs_command() {
  Command c;
  c.name = "pacs";
  c.summary = "talk to a PACS: echo, find, pull (C-GET/C-MOVE) and push (C-STORE), or the same over DICOMweb";
  c.usage = "medsynth pacs echo|find|pull|push [FILE|FOLDER ...] [--host H] [--port P] [--aet A] [--aec A] [--tls] [--dicomweb URL]";
  c.details =
      "echo   C-ECHO: is the server there and does it accept this AE title?\n"
      "find   C-FIND at --level patient|study|series|image with the filters below (* and ? match).\n"
      "pull   C-GET (default) or C-MOVE (--method move: medsynth listens on --move-port as --move-aet,\n"
      "       which the PACS must know) of --series-uid or --study-uid into the folder --out. Files\n"
      "       arrive in a temporary folder renamed only when the PACS reported success and every file\n"
      "       came: a failed pull leaves nothing behind.\n"
      "push   C-STORE of DICOM files and folders (searched recursively) over one association.\n"
      "With --dicomweb URL the same actions go over DICOMweb (HTTP or HTTPS): find by QIDO-RS,\n"
      "pull by WADO-RS (the same atomic folder), push by STOW-RS, echo by a one-study QIDO-RS search.\n"
      "Credentials never go on the command line: --auth-file FILE or the environment variable\n"
      "MEDSYNTH_DICOMWEB_AUTH holds USER:PASSWORD (basic) or 'Bearer TOKEN'. HTTPS trusts the\n"
      "system's CAs, or --ca-file. Answers 429 and 503 are retried (--retries) with back-off.\n"
      "With --tls, DIMSE goes over DICOM TLS: the server's certificate must be signed by --ca-file's\n"
      "CA (or a system CA); --cert and --key give this client's own certificate. C-MOVE has no TLS.\n"
      "Network failures (server down, association refused, credentials refused, untrusted certificate,\n"
      "timeout, connection lost) exit with 3; a series or study that the server does not hold exits\n"
      "with 2. See docs/pacs.md.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("action", po::value<std::string>()->required(), "echo, find, pull or push")
        ("paths", po::value<std::vector<std::string>>(), "push: files or folders to send")
        ("host", po::value<std::string>()->default_value("127.0.0.1"), "the PACS's host name or address")
        ("port", po::value<int>()->default_value(4242), "the PACS's DICOM port")
        ("aet", po::value<std::string>()->default_value("MEDSYNTH"), "this client's (calling) AE title")
        ("aec", po::value<std::string>()->default_value("ORTHANC"), "the PACS's (called) AE title")
        ("timeout", po::value<int>()->default_value(30), "seconds to wait to connect and for each message")
        ("level", po::value<std::string>()->default_value("study"), "find: patient, study, series or image")
        ("patient-id", po::value<std::string>()->default_value(""), "find: PatientID to match")
        ("patient-name", po::value<std::string>()->default_value(""), "find: PatientName to match")
        ("study-uid", po::value<std::string>()->default_value(""), "find/pull: StudyInstanceUID")
        ("series-uid", po::value<std::string>()->default_value(""), "find/pull: SeriesInstanceUID")
        ("modality", po::value<std::string>()->default_value(""), "find: Modality (ModalitiesInStudy at study level)")
        ("series-description", po::value<std::string>()->default_value(""), "find: SeriesDescription to match")
        ("study-date", po::value<std::string>()->default_value(""), "find: StudyDate or range YYYYMMDD-YYYYMMDD")
        ("json", "find: print the matches as JSON")
        ("out", po::value<std::string>()->default_value(""), "pull: the folder to create")
        ("force", "pull: replace --out if it exists")
        ("method", po::value<std::string>()->default_value("get"), "pull: get (C-GET) or move (C-MOVE)")
        ("move-port", po::value<int>()->default_value(0), "pull --method move: port medsynth listens on")
        ("move-aet", po::value<std::string>()->default_value(""),
         "pull --method move: destination AE title known to the PACS (default: --aet)")
        ("dicomweb", po::value<std::string>()->default_value(""),
         "use DICOMweb at this base URL (e.g. https://pacs.example.org/dicom-web) instead of DIMSE")
        ("auth-file", po::value<std::string>()->default_value(""),
         "DICOMweb: file whose first line is USER:PASSWORD or 'Bearer TOKEN' (else MEDSYNTH_DICOMWEB_AUTH)")
        ("ca-file", po::value<std::string>()->default_value(""),
         "DICOMweb over https, or --tls: PEM file of the CA(s) to trust (default: the system's CA store)")
        ("tls", "DIMSE over DICOM TLS (TLS 1.2+, BCP 195): the server's certificate must be signed by a trusted CA")
        ("cert", po::value<std::string>()->default_value(""), "--tls: this client's certificate (PEM), for servers that ask")
        ("key", po::value<std::string>()->default_value(""), "--tls: the private key of --cert (PEM, no password)")
        ("retries", po::value<int>()->default_value(4), "DICOMweb: retries of a request answered 429 or 503")
        ("limit-rate", po::value<int>()->default_value(0), "DICOMweb: KiB/s a transfer may use (0: no limit)");
    p.add("action", 1).add("paths", -1);
  };
  c.run = run_pacs;
  return c;
}

}  // namespace medsynth::pipeline
