// PACS client with DCMTK dcmnet's DcmSCU (and a DcmStorageSCP as the C-MOVE destination).
#include "medsynth/io/pacs_client.h"

#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmnet/dstorscp.h>
#include <dcmtk/dcmnet/scu.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "dicom_common.h"
#include "dicom_tls.h"
#include "file_utils.h"
#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/error.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace {

constexpr Uint32 kMaxPdu = 65536;  // larger PDUs than DCMTK's 16 KiB default: fewer round trips

const OFList<OFString>& uncompressed_syntaxes() {
  static const OFList<OFString> list = [] {
    OFList<OFString> l;
    l.push_back(UID_LittleEndianExplicitTransferSyntax);
    l.push_back(UID_LittleEndianImplicitTransferSyntax);
    l.push_back(UID_BigEndianExplicitTransferSyntax);
    return l;
  }();
  return list;
}

// Storage SOP classes offered for receiving (C-GET sub-operations, C-MOVE destination): the
// common image classes first, then DCMTK's list, within the 128 presentation contexts allowed.
std::vector<std::string> storage_classes(std::size_t limit) {
  std::vector<std::string> out = {UID_MRImageStorage, UID_CTImageStorage, UID_EnhancedMRImageStorage,
                                  UID_SecondaryCaptureImageStorage, UID_PositronEmissionTomographyImageStorage};
  for (int i = 0; i < numberOfDcmLongSCUStorageSOPClassUIDs && out.size() < limit; ++i) {
    const std::string uid = dcmLongSCUStorageSOPClassUIDs[i];
    if (std::find(out.begin(), out.end(), uid) == out.end()) out.push_back(uid);
  }
  return out;
}

[[noreturn]] void fail(const PacsPeer& peer, const std::string& what, ExitCode code = ExitCode::kRuntime) {
  throw Error(peer.describe(), what, code);
}

// A DCMTK condition in words a user can act on.
std::string explain(const OFCondition& c) {
  const std::string text = c.text();
  if (c == DUL_ASSOCIATIONREJECTED) {
    return "association rejected by the server (is --aec its AE title, and is --aet known to it?)";
  }
  if (text.find("Connection refused") != std::string::npos) {
    return "connection refused: no DICOM server is listening there (is it down, or is --port wrong?)";
  }
  if (c == DUL_PEERABORTEDASSOCIATION || c == DUL_PEERREQUESTEDRELEASE ||
      text.find("Peer aborted") != std::string::npos || text.find("closed") != std::string::npos) {
    return "the server closed the connection (" + text + ")";
  }
  if (c == DIMSE_NODATAAVAILABLE || text.find("imeout") != std::string::npos) {
    return "no answer within the timeout (" + text + "); raise --timeout if the server is slow";
  }
  return text;
}

// Owns the TLS layer of a Client: a base before DcmSCU, so the layer outlives DcmSCU's
// destructor, which still closes the network through it.
struct TlsLayerOwner {
  std::unique_ptr<DcmTLSTransportLayer> tls;
};

class Client : private TlsLayerOwner, public DcmSCU {
 public:
  explicit Client(const PacsPeer& peer) : peer_(peer) {
    if (peer.tls) tls = detail::make_tls_layer(peer);  // used once the network exists (connect)
    setAETitle(peer.calling_aet.c_str());
    setPeerHostName(peer.host.c_str());
    setPeerPort(static_cast<Uint16>(peer.port));
    setPeerAETitle(peer.called_aet.c_str());
    setMaxReceivePDULength(kMaxPdu);
    // Non-blocking DIMSE so that a server that stops answering becomes a timeout, not a hang.
    setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    setDIMSETimeout(static_cast<Uint32>(peer.timeout_s));
    setACSETimeout(static_cast<Uint32>(peer.timeout_s));
    setConnectionTimeout(peer.timeout_s);
    setProgressNotificationMode(OFFalse);
  }
  ~Client() override {
    if (isConnected()) releaseAssociation();
  }

  void connect(const std::string& what) {
    OFCondition c = initNetwork();
    if (c.bad()) fail(peer_, what + ": cannot initialise the network: " + c.text());
    if (tls) {
      c = useSecureConnection(tls.get());
      if (c.bad()) fail(peer_, what + ": DICOM TLS: " + c.text());
    }
    c = negotiateAssociation();
    if (c.bad() && peer_.tls && c != DUL_ASSOCIATIONREJECTED && explain(c).rfind("connection refused", 0) != 0) {
      fail(peer_, what + ": " + detail::explain_tls_failure(c.text(), peer_));
    }
    if (c.bad()) fail(peer_, what + ": " + explain(c));
  }

  T_ASC_PresentationContextID context_for(const std::string& sop_class, const std::string& what) {
    const T_ASC_PresentationContextID id = findAnyPresentationContextID(sop_class.c_str(), "");
    if (id == 0) {
      const char* name = dcmFindNameOfUID(sop_class.c_str());
      fail(peer_, what + ": the server accepted no presentation context for " + (name ? name : sop_class));
    }
    return id;
  }

  // C-GET sub-operations arrive here: each dataset is saved under an index name.
  std::string store_dir;
  std::size_t received = 0;
  std::string store_error;

  OFCondition handleSTORERequest(const T_ASC_PresentationContextID /*presID*/, DcmDataset* incoming,
                                 OFBool& continue_session, Uint16& status) override {
    std::unique_ptr<DcmDataset> ds(incoming);  // this handler owns the dataset
    continue_session = OFTrue;
    if (!ds || store_dir.empty()) {
      status = STATUS_STORE_Refused_OutOfResources;
      return EC_IllegalParameter;
    }
    const std::string path = (fs::path(store_dir) / detail::index_file_name(received + 1, 9999)).string();
    DcmFileFormat ff(ds.get());
    const E_TransferSyntax xfer = ds->getOriginalXfer() == EXS_Unknown ? EXS_LittleEndianExplicit : ds->getOriginalXfer();
    OFCondition c = ff.saveFile(path.c_str(), xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0, EWM_fileformat);
    if (c.bad()) {
      store_error = path + ": " + c.text();
      status = STATUS_STORE_Refused_OutOfResources;
      return c;
    }
    ++received;
    status = STATUS_Success;
    return EC_Normal;
  }

 private:
  PacsPeer peer_;
};

DcmDataset query_dataset(const PacsQuery& q) {
  DcmDataset ds;
  auto key = [&](const DcmTagKey& tag, const std::string& value) { ds.putAndInsertString(tag, value.c_str()); };
  switch (q.level) {
    case QueryLevel::kPatient:
      key(DCM_QueryRetrieveLevel, "PATIENT");
      key(DCM_PatientName, q.patient_name);
      key(DCM_PatientID, q.patient_id);
      key(DCM_PatientBirthDate, "");
      key(DCM_PatientSex, "");
      key(DCM_NumberOfPatientRelatedStudies, "");
      break;
    case QueryLevel::kStudy:
      key(DCM_QueryRetrieveLevel, "STUDY");
      key(DCM_PatientName, q.patient_name);
      key(DCM_PatientID, q.patient_id);
      key(DCM_StudyInstanceUID, q.study_uid);
      key(DCM_StudyDate, q.study_date);
      key(DCM_StudyTime, "");
      key(DCM_StudyDescription, "");
      key(DCM_AccessionNumber, "");
      key(DCM_ModalitiesInStudy, q.modality);
      key(DCM_NumberOfStudyRelatedSeries, "");
      key(DCM_NumberOfStudyRelatedInstances, "");
      break;
    case QueryLevel::kSeries:
      key(DCM_QueryRetrieveLevel, "SERIES");
      key(DCM_PatientName, q.patient_name);
      key(DCM_PatientID, q.patient_id);
      key(DCM_StudyInstanceUID, q.study_uid);
      key(DCM_SeriesInstanceUID, q.series_uid);
      key(DCM_Modality, q.modality);
      key(DCM_SeriesNumber, "");
      key(DCM_SeriesDescription, q.series_description);
      key(DCM_NumberOfSeriesRelatedInstances, "");
      break;
    case QueryLevel::kImage:
      key(DCM_QueryRetrieveLevel, "IMAGE");
      key(DCM_StudyInstanceUID, q.study_uid);
      key(DCM_SeriesInstanceUID, q.series_uid);
      key(DCM_SOPInstanceUID, "");
      key(DCM_SOPClassUID, "");
      key(DCM_InstanceNumber, "");
      break;
  }
  return ds;
}

// The numeric addresses a host name or address stands for (IPv4 and IPv6); empty when unknown.
std::set<std::string> addresses_of(const std::string& host) {
  std::set<std::string> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return out;
  for (const addrinfo* a = list; a; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) == 0) out.insert(text);
  }
  ::freeaddrinfo(list);
  return out;
}

// The C-MOVE destination: medsynth's own storage SCP, listening while the move runs. It admits
// only the PACS that was asked for the move: its AE title (the called AE of the request) from one
// of its host's addresses; any other association is refused and remembered for a warning.
class MoveReceiver : public DcmStorageSCP {
 public:
  MoveReceiver(const std::string& dir, const std::string& aet, int port, int timeout_s, const PacsPeer& sender)
      : dir_(dir), sender_aet_(sender.called_aet), sender_host_(sender.host), sender_addresses_(addresses_of(sender.host)) {
    dcmDisableGethostbyaddr.set(OFTrue);  // callers by their numeric address (this process's only SCP)
    setAETitle(aet.c_str());
    setPort(static_cast<Uint16>(port));
    setMaxReceivePDULength(kMaxPdu);
    // Non-blocking accept with a 1 s tick, so the loop notices stop() promptly.
    setConnectionBlockingMode(DUL_NOBLOCK);
    setConnectionTimeout(1);
    setDIMSEBlockingMode(DIMSE_NONBLOCKING);
    setDIMSETimeout(static_cast<Uint32>(timeout_s));
    setACSETimeout(static_cast<Uint32>(timeout_s));
    setOutputDirectory(dir.c_str());
    // Storage classes only: with a Verification context added too, DCMTK 3.6.7 calls the profile
    // "not a valid SCP association profile" and refuses to listen.
    for (const auto& uid : storage_classes(120)) note(addPresentationContext(uid.c_str(), uncompressed_syntaxes()));
  }
  // The first failure while setting up, reported when the port is opened.
  std::string setup_error;
  void note(const OFCondition& c) {
    if (c.bad() && setup_error.empty()) setup_error = c.text();
  }
  void stop() { stop_ = true; }
  std::size_t received() const { return received_; }
  // The associations refused, as "AE 'X' from ADDRESS (reason)".
  std::vector<std::string> refused() const {
    std::lock_guard<std::mutex> lock(refused_mutex_);
    return refused_;
  }

 protected:
  // DCMTK announces the request (with the caller's numeric address: reverse lookups are off, a
  // PTR record is the caller's to choose), then asks about its calling host and AE title,
  // refusing at the first "no". DCMTK 3.6.7 hands checkCallingHostAccepted an empty string, so
  // the address comes from the announcement.
  void notifyAssociationRequest(const T_ASC_Parameters& params, DcmSCPActionType& action) override {
    caller_aet_ = params.DULparams.callingAPTitle;
    caller_host_ = params.DULparams.callingPresentationAddress;
    while (!caller_aet_.empty() && caller_aet_.back() == ' ') caller_aet_.pop_back();
    DcmStorageSCP::notifyAssociationRequest(params, action);
  }
  OFBool checkCallingHostAccepted(const OFString& /*empty in DCMTK 3.6.7*/) override {
    bool known = caller_host_ == sender_host_;
    for (const auto& a : addresses_of(caller_host_)) known = known || sender_addresses_.count(a) > 0;
    if (!known) refuse("not from " + sender_host_ + ", the PACS asked");
    return known;
  }
  OFBool checkCallingAETitleAccepted(const OFString& calling_aet) override {
    std::string aet = calling_aet.c_str();
    while (!aet.empty() && aet.back() == ' ') aet.pop_back();
    const bool ok = aet == sender_aet_;
    if (!ok) refuse("not " + sender_aet_ + ", the PACS asked");
    return ok;
  }
  // Index names (IM0001.dcm, ...) in arrival order, like C-GET, instead of names from UIDs.
  OFCondition generateDirAndFilename(OFString& filename, OFString& directory, OFString& /*sop_class*/,
                                     OFString& /*sop_instance*/, DcmDataset* /*dataset*/) override {
    directory = dir_.c_str();
    filename = (fs::path(dir_) / detail::index_file_name(next_++ + 1, 9999)).c_str();
    return EC_Normal;
  }
  void notifyInstanceStored(const OFString& /*filename*/, const OFString& /*sop_class*/,
                            const OFString& /*sop_instance*/, DcmDataset* /*dataset*/) const override {
    ++received_;
  }
  OFBool stopAfterConnectionTimeout() override { return stop_.load(); }
  OFBool stopAfterCurrentAssociation() override { return stop_.load(); }

 private:
  void refuse(const std::string& reason) {
    std::lock_guard<std::mutex> lock(refused_mutex_);
    refused_.push_back("AE '" + caller_aet_ + "' from " + caller_host_ + " (" + reason + ")");
  }

  std::string dir_;
  std::string sender_aet_, sender_host_;
  std::set<std::string> sender_addresses_;
  std::string caller_aet_, caller_host_;  // of the association being negotiated (one at a time)
  std::size_t next_ = 0;
  mutable std::atomic<std::size_t> received_{0};  // counted in a const DCMTK callback
  std::atomic<bool> stop_{false};
  mutable std::mutex refused_mutex_;
  std::vector<std::string> refused_;
};

std::size_t count_of(const PacsRecord& r, const char* key) {
  auto it = r.find(key);
  if (it == r.end() || it->second.empty()) return 0;
  return static_cast<std::size_t>(std::strtoul(it->second.c_str(), nullptr, 10));
}

// The final retrieve response decides: success with no failed sub-operation, or an error.
void check_retrieve(const PacsPeer& peer, const OFList<RetrieveResponse*>& responses, const std::string& what,
                    const char* (*status_text)(Uint16)) {
  if (responses.empty()) fail(peer, what + ": the server sent no response");
  const RetrieveResponse* last = responses.back();
  if (last->m_status != STATUS_Success || last->m_numberOfFailedSubops > 0) {
    fail(peer, what + ": the server reported " + status_text(last->m_status) + " (" +
                   std::to_string(last->m_numberOfCompletedSubops) + " sent, " +
                   std::to_string(last->m_numberOfFailedSubops) + " failed)");
  }
}

}  // namespace

std::string PacsPeer::describe() const { return called_aet + "@" + host + ":" + std::to_string(port); }

QueryLevel query_level_from_string(const std::string& s) {
  if (s == "patient") return QueryLevel::kPatient;
  if (s == "study") return QueryLevel::kStudy;
  if (s == "series") return QueryLevel::kSeries;
  if (s == "image") return QueryLevel::kImage;
  throw UsageError("--level '" + s + "' is not one of patient, study, series, image");
}

void pacs_echo(const PacsPeer& peer) {
  detail::init_dcmtk_quiet();
  Client scu(peer);
  scu.addPresentationContext(UID_VerificationSOPClass, uncompressed_syntaxes());
  scu.connect("C-ECHO");
  OFCondition c = scu.sendECHORequest(scu.context_for(UID_VerificationSOPClass, "C-ECHO"));
  if (c.bad()) fail(peer, "C-ECHO: " + explain(c));
}

std::vector<PacsRecord> pacs_find(const PacsPeer& peer, const PacsQuery& query) {
  detail::init_dcmtk_quiet();
  const char* model = query.level == QueryLevel::kPatient ? UID_FINDPatientRootQueryRetrieveInformationModel
                                                          : UID_FINDStudyRootQueryRetrieveInformationModel;
  Client scu(peer);
  scu.addPresentationContext(model, uncompressed_syntaxes());
  scu.connect("C-FIND");
  DcmDataset keys = query_dataset(query);
  OFList<QRResponse*> responses;
  OFCondition c = scu.sendFINDRequest(scu.context_for(model, "C-FIND"), &keys, &responses);
  std::vector<PacsRecord> out;
  Uint16 final_status = 0xFFFF;
  for (QRResponse* r : responses) {
    final_status = r->m_status;
    if (DICOM_PENDING_STATUS(r->m_status) && r->m_dataset) {
      PacsRecord rec;
      for (unsigned long i = 0; i < r->m_dataset->card(); ++i) {
        DcmElement* e = r->m_dataset->getElement(i);
        OFString v;
        if (e->getTag() == DCM_QueryRetrieveLevel || e->getTag() == DCM_SpecificCharacterSet) continue;
        if (e->getOFStringArray(v).good()) {
          std::string s = v.c_str();
          while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
          DcmTag tag = e->getTag();
          rec[tag.getTagName()] = s;
        }
      }
      out.push_back(std::move(rec));
    }
    delete r;
  }
  if (c.bad()) fail(peer, "C-FIND: " + explain(c));
  if (final_status != STATUS_Success) {
    fail(peer, std::string("C-FIND: the server reported ") + DU_cfindStatusString(final_status));
  }
  return out;
}

PushResult pacs_push(const PacsPeer& peer, const std::vector<std::string>& paths) {
  detail::init_dcmtk_quiet();
  PushResult result;
  const auto candidates = detail::dicom_candidates(paths);
  // Read each file's header (values over 256 bytes stay on disk) for its SOP class and syntax.
  struct Item {
    std::string path, sop_class, xfer;
  };
  std::vector<Item> items;
  for (const auto& f : candidates) {
    DcmFileFormat ff;
    if (ff.loadFile(f.c_str(), EXS_Unknown, EGL_noChange, 256, ERM_autoDetect).bad()) {
      result.skipped.push_back(f.string() + ": not a readable DICOM file");
      continue;
    }
    Item it{f.string(), detail::get_string(*ff.getDataset(), DCM_SOPClassUID),
            detail::get_string(*ff.getMetaInfo(), DCM_TransferSyntaxUID)};
    if (it.sop_class.empty()) {
      result.skipped.push_back(f.string() + ": no SOP Class UID");
      continue;
    }
    items.push_back(it);
  }
  if (items.empty()) {
    throw Error(paths.empty() ? std::string("(no input)") : paths.front(),
                "no DICOM file to send" + (result.skipped.empty() ? std::string() : " (first problem: " + result.skipped.front() + ")"));
  }
  Client scu(peer);
  // One presentation context per SOP class and stored syntax, plus the uncompressed ones so the
  // server can pick; DCMTK converts a file when its own syntax was not accepted.
  std::set<std::pair<std::string, std::string>> proposed;
  for (const auto& it : items) {
    if (!proposed.insert({it.sop_class, it.xfer}).second) continue;
    OFList<OFString> syntaxes;
    if (!it.xfer.empty()) syntaxes.push_back(it.xfer.c_str());
    for (const auto& s : uncompressed_syntaxes()) {
      if (s != it.xfer.c_str()) syntaxes.push_back(s);
    }
    scu.addPresentationContext(it.sop_class.c_str(), syntaxes);
  }
  if (proposed.size() > 128) fail(peer, "C-STORE: more than 128 kinds of files (SOP class and syntax) in one push", ExitCode::kBadInput);
  scu.setDatasetConversionMode(OFTrue);
  scu.connect("C-STORE");
  for (const auto& it : items) {
    Uint16 status = 0;
    OFCondition c = scu.sendSTORERequest(0, it.path.c_str(), nullptr, status);
    if (c.bad()) {
      fail(peer, "C-STORE of " + it.path + " failed after " + std::to_string(result.sent) + " of " +
                     std::to_string(items.size()) + " files: " + explain(c));
    }
    // 0xB000, 0xB006, 0xB007: stored with a warning (coercion, elements discarded).
    if (status != STATUS_Success && (status & 0xF000) != 0xB000) {
      fail(peer, "C-STORE of " + it.path + " refused: " + DU_cstoreStatusString(status) + " (status 0x" +
                     [&] { char b[8]; std::snprintf(b, sizeof b, "%04X", status); return std::string(b); }() + ")");
    }
    ++result.sent;
  }
  return result;
}

PullResult pacs_pull(const PacsPeer& peer, const PullOptions& options, const std::string& out_dir) {
  detail::init_dcmtk_quiet();
  if (options.study_uid.empty() && options.series_uid.empty()) {
    throw UsageError("pacs pull: give --series-uid and/or --study-uid");
  }
  // The study of the series, and how many files to expect, from the PACS itself.
  PacsQuery q;
  q.level = options.series_uid.empty() ? QueryLevel::kStudy : QueryLevel::kSeries;
  q.study_uid = options.study_uid;
  q.series_uid = options.series_uid;
  const auto found = pacs_find(peer, q);
  if (found.empty()) {
    fail(peer, "no " + std::string(options.series_uid.empty() ? "study " + options.study_uid : "series " + options.series_uid) +
                   " on the server", ExitCode::kBadInput);
  }
  const PacsRecord& rec = found.front();
  const std::string study_uid = rec.count("StudyInstanceUID") ? rec.at("StudyInstanceUID") : options.study_uid;
  const std::size_t expected = count_of(rec, options.series_uid.empty() ? "NumberOfStudyRelatedInstances"
                                                                         : "NumberOfSeriesRelatedInstances");
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, options.series_uid.empty() ? "STUDY" : "SERIES");
  keys.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
  if (!options.series_uid.empty()) keys.putAndInsertString(DCM_SeriesInstanceUID, options.series_uid.c_str());

  AtomicFolder target(out_dir, options.force);
  PullResult result;
  result.folder = target.final_dir();
  OFList<RetrieveResponse*> responses;
  struct Cleanup {
    OFList<RetrieveResponse*>* list;
    ~Cleanup() {
      for (auto* r : *list) delete r;
    }
  } cleanup{&responses};

  if (options.method == PullMethod::kGet) {
    Client scu(peer);
    scu.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, uncompressed_syntaxes());
    // C-GET sends the files back on this association: offer to be the storage SCP for them.
    for (const auto& uid : storage_classes(126)) scu.addPresentationContext(uid.c_str(), uncompressed_syntaxes(), ASC_SC_ROLE_SCP);
    scu.store_dir = target.temp_dir();
    scu.connect("C-GET");
    OFCondition c = scu.sendCGETRequest(scu.context_for(UID_GETStudyRootQueryRetrieveInformationModel, "C-GET"), &keys, &responses);
    if (!scu.store_error.empty()) fail(peer, "C-GET: cannot store a received file: " + scu.store_error);
    if (c.bad()) fail(peer, "C-GET stopped after " + std::to_string(scu.received) + " files: " + explain(c));
    check_retrieve(peer, responses, "C-GET", DU_cgetStatusString);
    result.files = scu.received;
  } else {
    if (options.move_port <= 0 || options.move_port > 65535) throw UsageError("pacs pull --method move needs --move-port");
    if (peer.tls) {
      throw UsageError("pacs pull: --method move cannot use --tls (DCMTK 3.6.7's storage SCP has no TLS); pull by C-GET");
    }
    const std::string dest = options.move_aet.empty() ? peer.calling_aet : options.move_aet;
    MoveReceiver receiver(target.temp_dir(), dest, options.move_port, peer.timeout_s, peer);
    if (!receiver.setup_error.empty()) fail(peer, "C-MOVE: storage SCP set-up: " + receiver.setup_error);
    OFCondition c = receiver.setAndCheckAssociationProfile("DEFAULT");
    if (c.bad()) fail(peer, std::string("C-MOVE: storage SCP set-up: ") + c.text());
    // Bind before asking for the move, so the server's connection back cannot arrive too early.
    c = receiver.openListenPort();
    if (c.bad()) fail(peer, "C-MOVE: cannot listen on port " + std::to_string(options.move_port) + ": " + c.text());
    std::thread listener([&receiver] { receiver.acceptAssociations(); });
    struct Join {
      MoveReceiver& r;
      std::thread& t;
      ~Join() {
        r.stop();
        if (t.joinable()) t.join();
      }
    } join{receiver, listener};
    Client scu(peer);
    scu.addPresentationContext(UID_MOVEStudyRootQueryRetrieveInformationModel, uncompressed_syntaxes());
    scu.connect("C-MOVE");
    c = scu.sendMOVERequest(scu.context_for(UID_MOVEStudyRootQueryRetrieveInformationModel, "C-MOVE"), dest.c_str(), &keys,
                            &responses);
    if (c.bad()) fail(peer, "C-MOVE stopped after " + std::to_string(receiver.received()) + " files: " + explain(c));
    check_retrieve(peer, responses, "C-MOVE to " + dest, DU_cmoveStatusString);
    receiver.stop();
    listener.join();
    result.files = receiver.received();
    result.refused = receiver.refused();
  }
  if (result.files == 0) fail(peer, "the retrieve succeeded but no file arrived");
  if (expected > 0 && result.files != expected) {
    fail(peer, "received " + std::to_string(result.files) + " files where the server lists " + std::to_string(expected));
  }
  target.commit();
  return result;
}

}  // namespace medsynth::io
