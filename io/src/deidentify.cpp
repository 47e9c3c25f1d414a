// PS3.15 Annex E Basic Application Confidentiality Profile, applied with DCMTK. The explicit table
// covers the attributes of Table E.1-1 that occur in images; generic rules behind it catch what a
// table misses (private tags, any UID, any person name, dates, long free text, overlays, curves).
#include "medsynth/io/deidentify.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <unordered_map>

#include "deidentify_dataset.h"
#include "file_utils.h"
#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/io/dicom_uid.h"
#include "medsynth/io/error.h"
#include "medsynth/version.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace detail {
namespace {

// Action codes of Table E.1-1: X remove, Z empty (Type 2 attributes), D replace with a dummy,
// U replace a UID (consistently within the run).
enum class Action { kRemove, kEmpty, kDummy, kUid };

struct TagHash {
  std::size_t operator()(const DcmTagKey& k) const { return (std::size_t(k.getGroup()) << 16) | k.getElement(); }
};

const std::unordered_map<DcmTagKey, Action, TagHash>& profile_table() {
  static const std::unordered_map<DcmTagKey, Action, TagHash> table = {
      // Patient
      {DCM_PatientName, Action::kDummy},
      {DCM_PatientID, Action::kDummy},
      {DCM_PatientBirthDate, Action::kEmpty},
      {DCM_PatientSex, Action::kEmpty},
      {DCM_PatientBirthTime, Action::kRemove},
      {DCM_PatientAge, Action::kRemove},
      {DCM_PatientSize, Action::kRemove},
      {DCM_PatientWeight, Action::kRemove},
      {DCM_PatientAddress, Action::kRemove},
      {DCM_PatientTelephoneNumbers, Action::kRemove},
      {DCM_PatientBirthName, Action::kRemove},
      {DCM_PatientMotherBirthName, Action::kRemove},
      {DCM_OtherPatientNames, Action::kRemove},
      {DCM_RETIRED_OtherPatientIDs, Action::kRemove},
      {DCM_OtherPatientIDsSequence, Action::kRemove},
      {DCM_IssuerOfPatientID, Action::kRemove},
      {DCM_IssuerOfPatientIDQualifiersSequence, Action::kRemove},
      {DCM_RETIRED_MedicalRecordLocator, Action::kRemove},
      {DCM_PatientReligiousPreference, Action::kRemove},
      {DCM_PatientInsurancePlanCodeSequence, Action::kRemove},
      {DCM_CountryOfResidence, Action::kRemove},
      {DCM_RegionOfResidence, Action::kRemove},
      {DCM_MilitaryRank, Action::kRemove},
      {DCM_BranchOfService, Action::kRemove},
      {DCM_EthnicGroup, Action::kRemove},
      {DCM_Occupation, Action::kRemove},
      {DCM_AdditionalPatientHistory, Action::kRemove},
      {DCM_PatientComments, Action::kRemove},
      {DCM_PregnancyStatus, Action::kRemove},
      {DCM_SmokingStatus, Action::kRemove},
      {DCM_MedicalAlerts, Action::kRemove},
      {DCM_Allergies, Action::kRemove},
      {DCM_PatientState, Action::kRemove},
      {DCM_PatientSexNeutered, Action::kRemove},
      {DCM_ResponsiblePerson, Action::kRemove},
      {DCM_ResponsibleOrganization, Action::kRemove},
      {DCM_ReferencedPatientSequence, Action::kRemove},
      // Visit / admission
      {DCM_AdmissionID, Action::kRemove},
      {DCM_IssuerOfAdmissionIDSequence, Action::kRemove},
      {DCM_ServiceEpisodeID, Action::kRemove},
      {DCM_VisitComments, Action::kRemove},
      {DCM_CurrentPatientLocation, Action::kRemove},
      {DCM_PatientInstitutionResidence, Action::kRemove},
      {DCM_AdmittingDiagnosesDescription, Action::kRemove},
      // Study
      {DCM_StudyDate, Action::kEmpty},
      {DCM_StudyTime, Action::kEmpty},
      {DCM_AccessionNumber, Action::kEmpty},
      {DCM_StudyID, Action::kEmpty},
      {DCM_ReferringPhysicianName, Action::kEmpty},
      {DCM_ReferringPhysicianAddress, Action::kRemove},
      {DCM_ReferringPhysicianTelephoneNumbers, Action::kRemove},
      {DCM_ReferringPhysicianIdentificationSequence, Action::kRemove},
      {DCM_ConsultingPhysicianName, Action::kRemove},
      {DCM_PhysiciansOfRecord, Action::kRemove},
      {DCM_PhysiciansOfRecordIdentificationSequence, Action::kRemove},
      {DCM_NameOfPhysiciansReadingStudy, Action::kRemove},
      {DCM_RequestingPhysician, Action::kRemove},
      {DCM_StudyDescription, Action::kRemove},
      {DCM_RETIRED_StudyComments, Action::kRemove},
      {DCM_RETIRED_ReasonForStudy, Action::kRemove},
      {DCM_RequestedProcedureDescription, Action::kRemove},
      {DCM_RequestedProcedureID, Action::kRemove},
      {DCM_RequestAttributesSequence, Action::kRemove},
      {DCM_ReferencedStudySequence, Action::kRemove},
      {DCM_ProcedureCodeSequence, Action::kRemove},
      // Series, procedure step, equipment
      {DCM_SeriesDescription, Action::kRemove},
      {DCM_ProtocolName, Action::kRemove},
      {DCM_PerformingPhysicianName, Action::kRemove},
      {DCM_PerformingPhysicianIdentificationSequence, Action::kRemove},
      {DCM_OperatorsName, Action::kRemove},
      {DCM_OperatorIdentificationSequence, Action::kRemove},
      {DCM_PerformedProcedureStepID, Action::kRemove},
      {DCM_PerformedProcedureStepDescription, Action::kRemove},
      {DCM_ScheduledProcedureStepDescription, Action::kRemove},
      {DCM_ReferencedPerformedProcedureStepSequence, Action::kRemove},
      {DCM_InstitutionName, Action::kRemove},
      {DCM_InstitutionAddress, Action::kRemove},
      {DCM_InstitutionalDepartmentName, Action::kRemove},
      {DCM_InstitutionCodeSequence, Action::kRemove},
      {DCM_StationName, Action::kRemove},
      {DCM_DeviceSerialNumber, Action::kRemove},
      {DCM_PlateID, Action::kRemove},
      {DCM_GantryID, Action::kRemove},
      {DCM_DetectorID, Action::kRemove},
      {DCM_CassetteID, Action::kRemove},
      // Image: free text and references to other (source) instances
      {DCM_ImageComments, Action::kRemove},
      {DCM_FrameComments, Action::kRemove},
      {DCM_DerivationDescription, Action::kRemove},
      {DCM_SourceImageSequence, Action::kRemove},
      {DCM_ReferencedImageSequence, Action::kRemove},
      {DCM_AcquisitionContextSequence, Action::kRemove},
      {DCM_ContentSequence, Action::kRemove},
      {DCM_StorageMediaFileSetID, Action::kRemove},
      {DCM_RETIRED_TextComments, Action::kRemove},
      {DCM_DigitalSignaturesSequence, Action::kRemove},
      {DCM_MACParametersSequence, Action::kRemove},
      {DCM_EncryptedAttributesSequence, Action::kRemove},
      {DCM_OriginalAttributesSequence, Action::kRemove},
      {DCM_ModifiedAttributesSequence, Action::kRemove},
      {DCM_DataSetTrailingPadding, Action::kRemove},
      // Dates and times kept as empty Type 2 attributes (all others are removed, below).
      {DCM_ContentDate, Action::kEmpty},
      {DCM_ContentTime, Action::kEmpty},
      // UIDs (any other UID that is not a standard one is replaced too, below).
      {DCM_StudyInstanceUID, Action::kUid},
      {DCM_SeriesInstanceUID, Action::kUid},
      {DCM_SOPInstanceUID, Action::kUid},
      {DCM_FrameOfReferenceUID, Action::kUid},
  };
  return table;
}

bool is_date_or_time(DcmEVR vr) { return vr == EVR_DA || vr == EVR_DT || vr == EVR_TM; }

std::string random_hex(int digits) {
  std::random_device rd;
  std::string s;
  static const char* kHex = "0123456789ABCDEF";
  for (int i = 0; i < digits; ++i) s += kHex[rd() % 16];
  return s;
}

void apply_profile(DcmItem& item, DeidentifyContext& ctx, int depth) {
  const auto& table = profile_table();
  // Walk backwards so removing an element keeps the remaining indices valid.
  for (unsigned long i = item.card(); i-- > 0;) {
    DcmElement* e = item.getElement(i);
    if (!e) continue;
    const DcmTag& tag = e->getTag();
    const Uint16 group = tag.getGroup();
    const DcmEVR vr = e->ident();
    // Private attributes (odd groups, their creators included) may hold anything: dropped.
    // Curves (50xx) and overlays (60xx) can carry burned-in text or graphics: dropped.
    if ((group & 1u) != 0 || (group & 0xFF00u) == 0x5000u || (group & 0xFF00u) == 0x6000u) {
      delete item.remove(i);
      continue;
    }
    const auto it = table.find(DcmTagKey(group, tag.getElement()));
    if (it != table.end()) {
      switch (it->second) {
        case Action::kRemove:
          delete item.remove(i);
          continue;
        case Action::kEmpty:
          e->clear();
          continue;
        case Action::kDummy: {
          if (tag == DCM_PatientID) {
            const std::string source = get_string(item, DCM_PatientID);
            auto [pos, fresh] = ctx.patients.emplace(source, "");
            // A random ID, not a hash of the real one: a hash of a short ID is re-identifiable by
            // trying every ID. The same source patient keeps one dummy ID within the run.
            if (fresh) pos->second = "DEID-" + random_hex(12);
            e->putString(pos->second.c_str());
          } else {
            e->putString("DEIDENTIFIED^MEDSYNTH");
          }
          continue;
        }
        case Action::kUid:
          break;  // handled with every other UID below
      }
    }
    if (vr == EVR_SQ) {
      auto* sq = static_cast<DcmSequenceOfItems*>(e);
      for (unsigned long k = 0; k < sq->card(); ++k) apply_profile(*sq->getItem(k), ctx, depth + 1);
      continue;
    }
    if (vr == EVR_UI) {
      OFString value;
      if (e->getOFStringArray(value).good() && !value.empty()) {
        std::string v = value.c_str();
        while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.pop_back();
        // Standard UIDs (SOP classes, transfer syntaxes, coding schemes) identify nobody and
        // must stay; every other UID is an instance identity and is replaced.
        if (!v.empty() && dcmFindNameOfUID(v.c_str()) == nullptr) e->putString(ctx.replace_uid(v).c_str());
      }
      continue;
    }
    if (vr == EVR_PN) {
      e->clear();  // any person name beyond the table (e.g. in a nested code item)
      continue;
    }
    if (is_date_or_time(vr) || vr == EVR_LT || vr == EVR_UT) {
      // Dates are quasi-identifiers and long texts may name anyone: removed unless the table kept
      // them as empty Type 2 attributes above.
      delete item.remove(i);
      continue;
    }
  }
}

}  // namespace

std::string DeidentifyContext::replace_uid(const std::string& source) {
  auto [pos, fresh] = uids.emplace(source, "");
  if (fresh) pos->second = make_dicom_uid(uid_root);
  return pos->second;
}

void mark_deidentified(DcmItem& ds) {
  ds.putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  ds.putAndInsertString(DCM_DeidentificationMethod,
                        (std::string("medsynth ") + kVersion + ": PS3.15 Annex E Basic Profile").c_str());
  ds.findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  DcmItem* code = nullptr;
  if (ds.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, code, -2).good() && code) {
    // CID 7050 (De-identification Method).
    code->putAndInsertString(DCM_CodeValue, "113100");
    code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
    code->putAndInsertString(DCM_CodeMeaning, "Basic Application Confidentiality Profile");
  }
  // Dates were removed or emptied, not shifted.
  ds.putAndInsertString(DCM_LongitudinalTemporalInformationModified, "REMOVED");
}

void deidentify_dataset(DcmDataset& ds, DeidentifyContext& ctx, const std::string& path) {
  // The Basic Profile keeps pixels as they are; it assumes no identity is burned into them.
  // A file that says otherwise needs the Clean Pixel Data option, which medsynth does not have.
  const std::string burned = get_string(ds, DCM_BurnedInAnnotation);
  if (burned == "YES") {
    throw Error(path, "BurnedInAnnotation is YES: its pixels may show identity, which the basic "
                      "profile does not clean; medsynth refuses to de-identify it");
  }
  apply_profile(ds, ctx, 0);
  mark_deidentified(ds);
}

}  // namespace detail

namespace {

std::vector<fs::path> input_files(const std::string& in) {
  std::error_code ec;
  if (!fs::is_directory(in, ec)) return {fs::path(in)};
  return detail::files_under(in);
}

// Loads, de-identifies and writes one file; false (with `why`) for a file that is not DICOM.
bool deidentify_file(const fs::path& in, const std::string& out, detail::DeidentifyContext& ctx, std::string* why) {
  DcmFileFormat ff;
  OFCondition c = ff.loadFile(in.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (c.bad()) {
    *why = std::string("not a readable DICOM file (") + c.text() + ")";
    return false;
  }
  DcmDataset* ds = ff.getDataset();
  DcmElement* pixels = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, pixels).bad() || !pixels) {
    *why = "not an image (no Pixel Data)";
    return false;
  }
  detail::deidentify_dataset(*ds, ctx, in.string());
  // The source's meta header names its implementation and, in (0002,0016), the sending station's
  // AE title: it is rebuilt from the de-identified dataset instead.
  ff.getMetaInfo()->clear();
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  c = ff.saveFile(out.c_str(), xfer == EXS_Unknown ? EXS_LittleEndianExplicit : xfer, EET_ExplicitLength,
                  EGL_recalcGL, EPD_noChange, 0, 0, EWM_fileformat);
  if (c.bad()) throw Error(out, std::string("cannot write: ") + c.text(), ExitCode::kRuntime);
  return true;
}

}  // namespace

DeidentifyResult deidentify(const std::string& in, const std::string& out, const DeidentifyOptions& options) {
  detail::init_dcmtk_quiet();
  std::error_code ec;
  if (!fs::exists(in, ec)) throw Error(in, "no such file or folder");
  detail::DeidentifyContext ctx;
  ctx.uid_root = options.uid_root;
  DeidentifyResult result;
  std::string why;
  if (!fs::is_directory(in, ec)) {
    AtomicOutput target(out, options.force);
    if (!deidentify_file(in, target.temp_path(), ctx, &why)) throw Error(in, why);
    target.commit();
    result.outputs.push_back(out);
    result.uids_replaced = ctx.uids.size();
    return result;
  }
  const auto files = input_files(in);
  AtomicFolder target(out, options.force);
  std::size_t written = 0;
  for (const auto& f : files) {
    // Names come from a counter: a source file name may itself carry a patient's name or ID.
    const std::string name = detail::index_file_name(written + 1, files.size());
    if (deidentify_file(f, (fs::path(target.temp_dir()) / name).string(), ctx, &why)) {
      ++written;
      result.outputs.push_back((fs::path(target.final_dir()) / name).string());
    } else {
      result.skipped.push_back(f.string() + ": " + why);
    }
  }
  if (written == 0) {
    throw Error(in, "no DICOM image found" +
                        (result.skipped.empty() ? std::string() : " (first problem: " + result.skipped.front() + ")"));
  }
  target.commit();
  result.uids_replaced = ctx.uids.size();
  return result;
}

}  // namespace medsynth::io
