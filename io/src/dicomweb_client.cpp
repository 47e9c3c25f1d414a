// DICOMweb client over libcurl: QIDO-RS, WADO-RS and STOW-RS (PS3.18).
#include "medsynth/io/dicomweb_client.h"

#include <curl/curl.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "dicom_common.h"
#include "file_utils.h"
#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medsynth::io {
namespace {

constexpr std::size_t kStowBatchBytes = 32u << 20;  // one STOW-RS request carries at most this much

[[noreturn]] void fail(const DicomWebPeer& peer, const std::string& what, ExitCode code = ExitCode::kRuntime) {
  throw Error(peer.describe(), what, code);
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void curl_global() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!done) throw medsynth::Error("libcurl cannot be initialised", ExitCode::kRuntime);
}

// One HTTP exchange's outcome.
struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // kept unless a sink took it
};

// An HTTP request with medsynth's settings: TLS verified (system CA store or --ca-file), no
// redirects (credentials never go to another host), http and https only, credentials set through
// libcurl (never put into a string that could be printed), stalls bounded by the timeout, and
// 429/503 retried with back-off.
class Http {
 public:
  explicit Http(const DicomWebPeer& peer) : peer_(peer) { curl_global(); }

  using Sink = std::function<void(const char*, std::size_t)>;
  // `sink` receives the body of a 2xx response as it arrives; `restart` is called before a retry.
  Response request(const std::string& method, const std::string& url, const std::vector<std::string>& headers,
                   const std::string* upload = nullptr, const Sink& sink = nullptr,
                   const std::function<void()>& restart = nullptr) {
    for (int attempt = 0;; ++attempt) {
      Response r = once(method, url, headers, upload, sink);
      if ((r.status != 429 && r.status != 503) || attempt >= peer_.retries) return r;
      double wait = 0.5 * static_cast<double>(1 << std::min(attempt, 6));
      if (r.headers.count("retry-after")) {
        char* end = nullptr;
        const double s = std::strtod(r.headers["retry-after"].c_str(), &end);
        if (end && *end == '\0' && s >= 0) wait = std::min(s, 30.0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(wait * 1000)));
      if (restart) restart();
    }
  }

 private:
  struct Transfer {
    CURL* curl = nullptr;
    Response* response = nullptr;
    const Sink* sink = nullptr;
    std::string sink_error;
  };

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) t->response->headers.clear();  // a new response (after 100 Continue)
    const auto colon = line.find(':');
    if (colon != std::string::npos) t->response->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    return size * n;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->sink && *t->sink && status / 100 == 2) {
      try {
        (*t->sink)(data, size * n);
      } catch (const std::exception& e) {
        t->sink_error = e.what();
        return 0;  // aborts the transfer
      }
    } else if (t->response->body.size() < (64u << 20)) {
      t->response->body.append(data, size * n);
    }
    return size * n;
  }

  Response once(const std::string& method, const std::string& url, const std::vector<std::string>& headers,
                const std::string* upload, const Sink& sink) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) fail(peer_, "libcurl cannot start a request");
    CURL* c = curl.get();
    Response r;
    Transfer t{c, &r, &sink, {}};
    char error[CURL_ERROR_SIZE] = {0};
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip for STOW-RS
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list, curl_slist_free_all);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(peer_.timeout_s));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a transfer that stalls this long is a timeout
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(peer_.timeout_s));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!peer_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, peer_.ca_file.c_str());
    if (peer_.limit_rate > 0) {
      curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(peer_.limit_rate));
      curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, static_cast<curl_off_t>(peer_.limit_rate));
    }
    const DicomWebCredentials& cr = peer_.credentials;
    if (!cr.token.empty()) {
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
      curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, cr.token.c_str());
    } else if (!cr.user.empty()) {
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
      curl_easy_setopt(c, CURLOPT_USERNAME, cr.user.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, cr.password.c_str());
    }
    if (method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, upload ? upload->data() : "");
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(upload ? upload->size() : 0));
    }
    const CURLcode code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (!t.sink_error.empty()) fail(peer_, t.sink_error);
    if (code != CURLE_OK) fail(peer_, explain(code, error));
    return r;
  }

  std::string explain(CURLcode code, const char* error) const {
    const std::string detail = std::string("(") + (error[0] ? error : curl_easy_strerror(code)) + ")";
    switch (code) {
      case CURLE_COULDNT_CONNECT:
        return "connection refused: no DICOMweb server is listening there (is it down, or is the URL's port wrong?) " + detail;
      case CURLE_COULDNT_RESOLVE_HOST:
        return "the host name cannot be resolved " + detail;
      case CURLE_OPERATION_TIMEDOUT:
        return "no answer within the timeout " + detail + "; raise --timeout if the server is slow";
      case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
      case CURLE_SSL_CACERT:
#endif
        return "the server's TLS certificate is not trusted " + detail +
               (peer_.ca_file.empty() ? "; give --ca-file with the CA that signed it" : "; is --ca-file the CA that signed it?");
      case CURLE_SSL_CACERT_BADFILE:
        return "--ca-file " + peer_.ca_file + " cannot be read as PEM CA certificates " + detail;
      case CURLE_SSL_CONNECT_ERROR:
        return "the TLS handshake failed " + detail + " (is the URL https:// to a TLS port?)";
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_PARTIAL_FILE:
      case CURLE_GOT_NOTHING:
        return "the server closed the connection " + detail;
      case CURLE_UNSUPPORTED_PROTOCOL:
        return "only http:// and https:// URLs are used " + detail;
      default:
        return "HTTP request failed " + detail;
    }
  }

  const DicomWebPeer& peer_;
};

// A failed HTTP status in words a user can act on.
[[noreturn]] void fail_status(const DicomWebPeer& peer, const std::string& what, const Response& r) {
  const std::string code = "HTTP " + std::to_string(r.status);
  if (r.status == 401) {
    fail(peer, what + ": the server refused " +
                   (peer.credentials.empty() ? std::string("to answer without credentials (") + code +
                                                   "): give --auth-file or set MEDSYNTH_DICOMWEB_AUTH"
                                             : std::string("the credentials (") + code +
                                                   "): check the --auth-file or MEDSYNTH_DICOMWEB_AUTH"));
  }
  if (r.status == 403) fail(peer, what + ": forbidden (" + code + "): these credentials may not do this");
  if (r.status == 404) fail(peer, what + ": not found (" + code + "): is the URL the DICOMweb service's base (e.g. .../dicom-web)?");
  if (r.status == 429 || r.status == 503) {
    fail(peer, what + ": the server is busy (" + code + ") after " + std::to_string(peer.retries) + " retries; try again later");
  }
  std::string text = r.body.substr(0, 200);
  for (auto& ch : text)
    if (ch == '\n' || ch == '\r') ch = ' ';
  fail(peer, what + ": the server answered " + code + (text.empty() ? "" : " (" + trim(text) + ")"));
}

// A query value or path segment: what RFC 3986 allows in a query stays as it is (the wildcards *
// and ? included: Orthanc's DICOMweb plugin 1.7 does not decode %2A), the rest percent-encoded.
std::string escape(const std::string& s) {
  static const std::string keep = "-._~*?,:@/()!$';";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || keep.find(static_cast<char>(c)) != std::string::npos) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string base_of(const DicomWebPeer& peer) {
  std::string b = peer.url;
  while (!b.empty() && b.back() == '/') b.pop_back();
  return b;
}

// A DICOM JSON value (PS3.18 F.2) as the text pacs_find gives: multiple values joined by '\',
// person names by their alphabetic form, numbers without trailing zeros.
std::string value_text(const json& attribute) {
  if (!attribute.is_object() || !attribute.contains("Value") || !attribute["Value"].is_array()) return "";
  std::string out;
  for (const auto& v : attribute["Value"]) {
    std::string s;
    if (v.is_string()) {
      s = v.get<std::string>();
    } else if (v.is_object()) {
      s = v.value("Alphabetic", "");
    } else if (v.is_number_integer() || v.is_number_unsigned()) {
      s = v.dump();
    } else if (v.is_number()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.10g", v.get<double>());
      s = buf;
    }
    out += (out.empty() ? "" : "\\") + s;
  }
  return out;
}

// A tag "0020000D" as its keyword ("StudyInstanceUID") from DCMTK's dictionary.
std::string keyword_of(const std::string& tag) {
  if (tag.size() != 8) return tag;
  const auto group = static_cast<Uint16>(std::strtoul(tag.substr(0, 4).c_str(), nullptr, 16));
  const auto element = static_cast<Uint16>(std::strtoul(tag.substr(4).c_str(), nullptr, 16));
  DcmTag t(group, element);
  const char* name = t.getTagName();
  return name && std::string(name) != "Unknown Tag & Data" ? std::string(name) : tag;
}

std::vector<PacsRecord> records_of(const DicomWebPeer& peer, const Response& r) {
  std::vector<PacsRecord> out;
  if (r.status == 204 || trim(r.body).empty()) return out;
  json j;
  try {
    j = json::parse(r.body);
  } catch (const json::exception& e) {
    fail(peer, std::string("QIDO-RS: the answer is not DICOM JSON (") + e.what() + ")");
  }
  if (!j.is_array()) fail(peer, "QIDO-RS: the answer is not a JSON array of matches");
  for (const auto& match : j) {
    PacsRecord rec;
    if (!match.is_object()) continue;
    for (const auto& [tag, attribute] : match.items()) rec[keyword_of(tag)] = value_text(attribute);
    out.push_back(rec);
  }
  return out;
}

std::size_t count_of(const PacsRecord& r, const std::string& key) {
  const auto it = r.find(key);
  if (it == r.end() || it->second.empty()) return 0;
  try {
    return static_cast<std::size_t>(std::stoul(it->second));
  } catch (const std::exception&) {
    return 0;
  }
}

// Splits a multipart/related body as it arrives: each part's content goes to a new file.
class MultipartWriter {
 public:
  MultipartWriter(std::string boundary, std::string dir, std::size_t expected)
      : delimiter_("--" + std::move(boundary)), dir_(std::move(dir)), expected_(expected) {}

  void feed(const char* data, std::size_t n) {
    buffer_.append(data, n);
    for (;;) {
      if (state_ == State::kPreamble) {
        const auto at = buffer_.find(delimiter_);
        if (at == std::string::npos) {
          keep_tail();
          return;
        }
        buffer_.erase(0, at + delimiter_.size());
        state_ = State::kAfterDelimiter;
      } else if (state_ == State::kAfterDelimiter) {
        if (buffer_.size() < 2) return;
        if (buffer_.compare(0, 2, "--") == 0) {
          state_ = State::kDone;
          buffer_.clear();
          return;
        }
        const auto eol = buffer_.find("\r\n");
        if (eol == std::string::npos) return;
        buffer_.erase(0, eol + 2);
        state_ = State::kHeaders;
      } else if (state_ == State::kHeaders) {
        const auto end = buffer_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (buffer_.size() > 65536) throw std::runtime_error("WADO-RS: a part's headers are too long");
          return;
        }
        buffer_.erase(0, end + 4);
        ++files_;
        path_ = (fs::path(dir_) / detail::index_file_name(files_, std::max(expected_, files_))).string();
        out_.open(path_, std::ios::binary | std::ios::trunc);
        if (!out_) throw std::runtime_error(path_ + ": cannot be written");
        state_ = State::kBody;
      } else if (state_ == State::kBody) {
        const auto at = buffer_.find("\r\n" + delimiter_);
        if (at == std::string::npos) {
          const std::size_t keep = std::min(buffer_.size(), delimiter_.size() + 2);
          write(buffer_.data(), buffer_.size() - keep);
          buffer_.erase(0, buffer_.size() - keep);
          return;
        }
        write(buffer_.data(), at);
        out_.close();
        if (!out_) throw std::runtime_error(path_ + ": cannot be written (disk full?)");
        buffer_.erase(0, at + 2 + delimiter_.size());
        state_ = State::kAfterDelimiter;
      } else {
        buffer_.clear();
        return;
      }
    }
  }

  bool complete() const { return state_ == State::kDone; }
  std::size_t files() const { return files_; }

 private:
  enum class State { kPreamble, kAfterDelimiter, kHeaders, kBody, kDone };
  void keep_tail() {
    if (buffer_.size() > delimiter_.size()) buffer_.erase(0, buffer_.size() - delimiter_.size());
  }
  void write(const char* d, std::size_t n) {
    out_.write(d, static_cast<std::streamsize>(n));
    if (!out_) throw std::runtime_error(path_ + ": cannot be written (disk full?)");
  }
  std::string delimiter_, dir_, buffer_, path_;
  std::size_t expected_ = 0, files_ = 0;
  State state_ = State::kPreamble;
  std::ofstream out_;
};

std::string random_boundary() {
  std::random_device rd;
  char buf[48];
  std::snprintf(buf, sizeof buf, "medsynth-%08x%08x%08x", rd(), rd(), rd());
  return buf;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string(), "cannot be read");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

DicomWebCredentials read_dicomweb_credentials(const std::string& file, const char* env) {
  std::string line, where;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw Error(file, "cannot read the credentials file");
    std::getline(in, line);
    where = file;
  } else if (const char* v = env ? std::getenv(env) : nullptr) {
    line = v;
    where = std::string("environment variable ") + env;
  }
  line = trim(line);
  DicomWebCredentials c;
  if (line.empty()) {
    if (!file.empty()) throw Error(where, "is empty: give USER:PASSWORD or 'Bearer TOKEN' on its first line");
    return c;
  }
  if (lower(line).rfind("bearer ", 0) == 0) {
    c.token = trim(line.substr(7));
    if (c.token.empty()) throw Error(where, "holds 'Bearer' without a token");
    return c;
  }
  const auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    throw Error(where, "holds neither USER:PASSWORD nor 'Bearer TOKEN'");  // the value itself is not shown
  }
  c.user = line.substr(0, colon);
  c.password = line.substr(colon + 1);
  return c;
}

void check_dicomweb_peer(const DicomWebPeer& peer) {
  const std::string l = lower(peer.url);
  if (l.rfind("http://", 0) != 0 && l.rfind("https://", 0) != 0) {
    throw UsageError("pacs: --dicomweb '" + peer.url + "' is not an http:// or https:// URL");
  }
  const auto start = peer.url.find("://") + 3;
  const std::string authority = peer.url.substr(start, peer.url.find('/', start) - start);
  if (authority.find('@') != std::string::npos) {
    // The message leaves the URL out: it holds the credentials.
    throw UsageError("pacs: --dicomweb holds credentials (user@ or user:password@); put them in --auth-file or "
                     "MEDSYNTH_DICOMWEB_AUTH, since other users can read a command line");
  }
  if (peer.timeout_s <= 0) throw UsageError("pacs: --timeout must be positive (seconds)");
  if (peer.retries < 0) throw UsageError("pacs: --retries must be 0 or more");
  if (peer.limit_rate < 0) throw UsageError("pacs: --limit-rate must be 0 (no limit) or more");
}

void dicomweb_echo(const DicomWebPeer& peer) {
  check_dicomweb_peer(peer);
  detail::init_dcmtk_quiet();
  Http http(peer);
  const Response r = http.request("GET", base_of(peer) + "/studies?limit=1", {"Accept: application/dicom+json"});
  if (r.status != 200 && r.status != 204) fail_status(peer, "QIDO-RS", r);
  records_of(peer, r);  // an answer that is not DICOM JSON is not a DICOMweb service
}

std::vector<PacsRecord> dicomweb_find(const DicomWebPeer& peer, const PacsQuery& q) {
  check_dicomweb_peer(peer);
  detail::init_dcmtk_quiet();  // the dictionary names the tags
  std::string resource;
  std::vector<std::string> include;
  switch (q.level) {
    case QueryLevel::kPatient:
      throw UsageError("pacs find: DICOMweb (QIDO-RS) has no patient level; use --level study with --patient-id");
    case QueryLevel::kStudy:
      resource = "/studies";
      include = {"PatientName", "PatientID", "StudyDate", "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
                 "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"};
      break;
    case QueryLevel::kSeries:
      resource = "/series";
      include = {"PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "Modality", "SeriesNumber",
                 "SeriesDescription", "NumberOfSeriesRelatedInstances"};
      break;
    case QueryLevel::kImage:
      resource = "/instances";
      include = {"StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "InstanceNumber", "Modality"};
      break;
  }
  std::vector<std::pair<std::string, std::string>> filters = {
      {"PatientID", q.patient_id}, {"PatientName", q.patient_name}, {"StudyInstanceUID", q.study_uid},
      {"SeriesInstanceUID", q.series_uid}, {"SeriesDescription", q.series_description}, {"StudyDate", q.study_date},
      {q.level == QueryLevel::kStudy ? "ModalitiesInStudy" : "Modality", q.modality}};
  std::string url = base_of(peer) + resource + "?";
  for (const auto& [k, v] : filters)
    if (!v.empty()) url += k + "=" + escape(v) + "&";
  for (const auto& k : include) url += "includefield=" + k + "&";
  url.pop_back();
  Http http(peer);
  const Response r = http.request("GET", url, {"Accept: application/dicom+json"});
  if (r.status != 200 && r.status != 204) fail_status(peer, "QIDO-RS", r);
  return records_of(peer, r);
}

PushResult dicomweb_push(const DicomWebPeer& peer, const std::vector<std::string>& paths) {
  check_dicomweb_peer(peer);
  detail::init_dcmtk_quiet();
  PushResult result;
  struct Item {
    fs::path path;
    std::string sop_instance;
    std::uintmax_t size = 0;
  };
  std::vector<Item> items;
  for (const auto& f : detail::dicom_candidates(paths)) {
    DcmFileFormat ff;
    if (ff.loadFile(f.c_str(), EXS_Unknown, EGL_noChange, 256, ERM_fileOnly).bad()) {
      result.skipped.push_back(f.string() + ": not a readable DICOM file (STOW-RS sends Part 10 files)");
      continue;
    }
    Item it{f, detail::get_string(*ff.getDataset(), DCM_SOPInstanceUID), fs::file_size(f)};
    if (it.sop_instance.empty()) {
      result.skipped.push_back(f.string() + ": no SOP Instance UID");
      continue;
    }
    items.push_back(it);
  }
  if (items.empty()) {
    throw Error(paths.empty() ? std::string("(no input)") : paths.front(),
                "no DICOM file to send" + (result.skipped.empty() ? std::string() : " (first problem: " + result.skipped.front() + ")"));
  }
  Http http(peer);
  for (std::size_t begin = 0; begin < items.size();) {
    std::size_t end = begin, bytes = 0;
    while (end < items.size() && (end == begin || bytes + items[end].size <= kStowBatchBytes)) bytes += items[end++].size;
    const std::string boundary = random_boundary();
    std::string body;
    body.reserve(bytes + (end - begin) * 128);
    for (std::size_t i = begin; i < end; ++i) {
      body += "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n";
      body += read_file(items[i].path);
      body += "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    const Response r = http.request("POST", base_of(peer) + "/studies",
                                    {"Content-Type: multipart/related; type=\"application/dicom\"; boundary=" + boundary,
                                     "Accept: application/dicom+json"},
                                    &body);
    const std::string progress = " (" + std::to_string(result.sent) + " of " + std::to_string(items.size()) + " files stored before)";
    if (r.status != 200 && r.status != 202 && r.status != 409) fail_status(peer, "STOW-RS" + progress, r);
    // FailedSOPSequence (0008,1198): instances the server did not store, with FailureReason (0008,1197).
    json answer;
    try {
      answer = trim(r.body).empty() ? json::object() : json::parse(r.body);
    } catch (const json::exception&) {
      answer = json::object();
    }
    if (answer.contains("00081198") && answer["00081198"].contains("Value")) {
      for (const auto& failed : answer["00081198"]["Value"]) {
        const std::string uid = value_text(failed.value("00081155", json::object()));
        const std::string reason = value_text(failed.value("00081197", json::object()));
        std::string file = uid;
        for (std::size_t i = begin; i < end; ++i)
          if (items[i].sop_instance == uid) file = items[i].path.string();
        fail(peer, "STOW-RS of " + file + " refused (FailureReason " + (reason.empty() ? "?" : reason) + ")" + progress);
      }
    }
    if (r.status == 409) fail_status(peer, "STOW-RS" + progress, r);
    result.sent += end - begin;
    begin = end;
  }
  return result;
}

PullResult dicomweb_pull(const DicomWebPeer& peer, const PullOptions& options, const std::string& out_dir) {
  check_dicomweb_peer(peer);
  if (options.study_uid.empty() && options.series_uid.empty()) {
    throw UsageError("pacs pull: give --series-uid and/or --study-uid");
  }
  if (options.method == PullMethod::kMove) throw UsageError("pacs pull: --method move is DIMSE only; DICOMweb pulls by WADO-RS");
  // The study of the series, and how many files to expect, from the server itself (QIDO-RS).
  PacsQuery q;
  q.level = options.series_uid.empty() ? QueryLevel::kStudy : QueryLevel::kSeries;
  q.study_uid = options.study_uid;
  q.series_uid = options.series_uid;
  const auto found = dicomweb_find(peer, q);
  if (found.empty()) {
    fail(peer, "no " + std::string(options.series_uid.empty() ? "study " + options.study_uid : "series " + options.series_uid) +
                   " on the server", ExitCode::kBadInput);
  }
  const PacsRecord& rec = found.front();
  const std::string study_uid = rec.count("StudyInstanceUID") && !rec.at("StudyInstanceUID").empty()
                                    ? rec.at("StudyInstanceUID") : options.study_uid;
  if (study_uid.empty()) fail(peer, "QIDO-RS did not say which study series " + options.series_uid + " is in");
  const std::size_t expected = count_of(rec, options.series_uid.empty() ? "NumberOfStudyRelatedInstances"
                                                                         : "NumberOfSeriesRelatedInstances");
  std::string url = base_of(peer) + "/studies/" + escape(study_uid);
  if (!options.series_uid.empty()) url += "/series/" + escape(options.series_uid);

  AtomicFolder target(out_dir, options.force);
  std::unique_ptr<MultipartWriter> writer;
  std::string head;  // the body's first line, "--<boundary>", until it is whole
  Http http(peer);
  auto restart = [&] {
    writer.reset();
    head.clear();
    for (const auto& e : fs::directory_iterator(target.temp_dir())) fs::remove_all(e.path());
  };
  Response response;
  // The headers say the boundary; the body is written part by part as it arrives.
  Http::Sink sink = [&](const char* data, std::size_t n) {
    if (!writer) {
      head.append(data, n);
      const auto eol = head.find("\r\n");
      if (eol == std::string::npos) {
        if (head.size() > 1024) throw std::runtime_error("WADO-RS: the answer is not multipart/related");
        return;
      }
      const std::string boundary = head.rfind("--", 0) == 0 ? trim(head.substr(2, eol - 2)) : std::string();
      if (boundary.empty()) throw std::runtime_error("WADO-RS: the answer is not multipart/related");
      writer = std::make_unique<MultipartWriter>(boundary, target.temp_dir(), expected);
      const std::string first = std::move(head);
      head.clear();
      writer->feed(first.data(), first.size());
      return;
    }
    writer->feed(data, n);
  };
  try {
    response = http.request("GET", url, {"Accept: multipart/related; type=\"application/dicom\"; transfer-syntax=*"},
                            nullptr, sink, restart);
  } catch (const Error& e) {
    // "<url>: <reason>" again, with how far the pull came.
    std::string reason = e.what();
    const std::string prefix = peer.describe() + ": ";
    if (reason.rfind(prefix, 0) == 0) reason.erase(0, prefix.size());
    const std::size_t got = writer ? writer->files() : 0;
    fail(peer, "WADO-RS stopped after " + std::to_string(got) + " file(s): " + reason, e.code());
  }
  if (response.status / 100 != 2) fail_status(peer, "WADO-RS", response);
  if (!writer || !writer->complete()) {
    fail(peer, "WADO-RS stopped after " + std::to_string(writer ? writer->files() : 0) +
                   " file(s): the answer ended before its closing boundary (did the server stop or close the connection?)");
  }
  PullResult result;
  result.folder = target.final_dir();
  result.files = writer->files();
  if (result.files == 0) fail(peer, "WADO-RS succeeded but no file arrived");
  if (expected > 0 && result.files != expected) {
    fail(peer, "received " + std::to_string(result.files) + " files where the server lists " + std::to_string(expected));
  }
  for (const auto& e : fs::directory_iterator(target.temp_dir())) {
    std::ifstream in(e.path(), std::ios::binary);
    char magic[132] = {0};
    in.read(magic, sizeof magic);
    if (in.gcount() < 132 || std::string(magic + 128, 4) != "DICM") {
      fail(peer, "WADO-RS: part " + e.path().filename().string() + " is not a DICOM Part 10 file");
    }
  }
  target.commit();
  return result;
}

}  // namespace medsynth::io
