// Synthetic DICOM export with DCMTK: one single-frame MR Image Storage file per slice, or (on
// request) one Enhanced MR Image Storage file holding every slice as a frame.
// Why classic MR Image by default and not Enhanced MR or Secondary Capture: classic MR keeps the
// geometry (Image Plane module) that every viewer, PACS and converter (dcm2niix, plastimatch, ITK)
// reads, while Secondary Capture has no patient geometry and Enhanced MR multi-frame is still
// refused or mis-read by older tools. docs/dicom-export.md has the details.
#include "medsynth/io/dicom_series_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "deidentify_dataset.h"
#include "dicom_common.h"
#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/io/dicom_uid.h"
#include "medsynth/io/error.h"
#include "medsynth/version.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace {

constexpr std::size_t kMaxLo = 64;  // LO (Long String) holds at most 64 characters

std::string clip_lo(std::string s) {
  if (s.size() > kMaxLo) s.resize(kMaxLo);
  return s;
}

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string random_hex(int digits) {
  std::random_device rd;
  static const char* kHex = "0123456789ABCDEF";
  std::string s;
  for (int i = 0; i < digits; ++i) s += kHex[rd() % 16];
  return s;
}

// What a template may contribute: the acquisition context a synthetic image imitates. Only these
// attributes are copied, and only after the template went through the Basic Profile, so nothing
// that identifies a patient, a site, a device or an instance can reach the output.
const DcmTagKey kTemplateMrAttributes[] = {
    DCM_ScanningSequence, DCM_SequenceVariant, DCM_ScanOptions,    DCM_MRAcquisitionType,
    DCM_SequenceName,     DCM_RepetitionTime,  DCM_EchoTime,       DCM_EchoTrainLength,
    DCM_InversionTime,    DCM_FlipAngle,       DCM_NumberOfAverages, DCM_ImagingFrequency,
    DCM_ImagedNucleus,    DCM_MagneticFieldStrength, DCM_AngioFlag};
const DcmTagKey kTemplateAnyAttributes[] = {DCM_BodyPartExamined, DCM_PatientPosition};

struct TemplateInfo {
  DcmDataset kept;  // the attributes carried over, already de-identified
  bool used = false;
};

TemplateInfo load_template(const std::string& path, const std::string& uid_root) {
  TemplateInfo t;
  if (path.empty()) return t;
  DcmFileFormat ff;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(path, "template is not a file");
  OFCondition c = ff.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (c.bad()) throw Error(path, std::string("template is not a readable DICOM file (") + c.text() + ")");
  DcmDataset& ds = *ff.getDataset();
  detail::DeidentifyContext ctx;
  ctx.uid_root = uid_root;
  detail::deidentify_dataset(ds, ctx, path);
  const bool mr = detail::get_string(ds, DCM_Modality) == "MR";
  auto copy = [&](const DcmTagKey& key) {
    DcmElement* e = nullptr;
    if (ds.findAndGetElement(key, e).good() && e && e->getLength() > 0) {
      t.kept.insert(static_cast<DcmElement*>(e->clone()), true);
    }
  };
  if (mr) {
    for (const auto& k : kTemplateMrAttributes) copy(k);
  }
  for (const auto& k : kTemplateAnyAttributes) copy(k);
  t.used = true;
  return t;
}

std::string ds_list(std::initializer_list<double> values) {
  std::string s;
  for (double v : values) s += (s.empty() ? "" : "\\") + detail::format_ds(v);
  return s;
}

void put(DcmItem& ds, const DcmTagKey& key, const std::string& value) {
  OFCondition c = ds.putAndInsertString(key, value.c_str());
  if (c.bad()) {
    throw Error(DcmTag(key).getTagName(), std::string("cannot set value '") + value + "': " + c.text(),
                ExitCode::kRuntime);
  }
}

// The attributes of both forms: SOP Common, patient, study, series, frame of reference,
// equipment, the synthetic marking and the Image Pixel description (signed 16-bit, one rescale).
void fill_common_attributes(DcmDataset& ds, const DicomWriteOptions& o, const DicomWriteResult& r,
                            const char* sop_class) {
  const std::string date = detail::today_da(), time = detail::now_tm();
  const bool utf8 = !is_ascii(o.patient_name) || !is_ascii(o.patient_id) || !is_ascii(o.series_description);
  if (utf8) put(ds, DCM_SpecificCharacterSet, "ISO_IR 192");
  // SOP Common
  put(ds, DCM_SOPClassUID, sop_class);
  put(ds, DCM_InstanceCreationDate, date);
  put(ds, DCM_InstanceCreationTime, time);
  // Patient: a dummy unless the user maps one. Birth date and sex are Type 2: present, empty.
  put(ds, DCM_PatientName, o.patient_name.empty() ? "SYNTHETIC^MEDSYNTH" : o.patient_name);
  put(ds, DCM_PatientID, o.patient_id.empty() ? "SYN-" + random_hex(16) : o.patient_id);
  put(ds, DCM_PatientBirthDate, "");
  put(ds, DCM_PatientSex, "");
  // General Study: dates are when the synthetic series was made, not any acquisition's.
  put(ds, DCM_StudyInstanceUID, r.study_uid);
  put(ds, DCM_StudyDate, date);
  put(ds, DCM_StudyTime, time);
  put(ds, DCM_ReferringPhysicianName, "");
  put(ds, DCM_StudyID, "SYNTH");
  put(ds, DCM_AccessionNumber, "");
  put(ds, DCM_StudyDescription, "SYNTHETIC medsynth study");
  // General Series
  put(ds, DCM_Modality, "MR");
  put(ds, DCM_SeriesInstanceUID, r.series_uid);
  put(ds, DCM_SeriesNumber, std::to_string(o.series_number));
  put(ds, DCM_SeriesDate, date);
  put(ds, DCM_SeriesTime, time);
  put(ds, DCM_SeriesDescription,
      clip_lo("SYNTHETIC " + (!o.series_description.empty() ? o.series_description
                                    : o.model_family == "none" ? std::string("medsynth") : "medsynth " + o.model_family)));
  put(ds, DCM_PatientPosition, "");  // Type 2C for MR: unknown for a synthetic image
  put(ds, DCM_Laterality, "");       // Type 2C (paired body parts): unknown, so empty
  // Frame of Reference
  put(ds, DCM_FrameOfReferenceUID, r.frame_of_reference_uid);
  put(ds, DCM_PositionReferenceIndicator, "");
  // General Equipment: the equipment that made this instance is medsynth.
  put(ds, DCM_Manufacturer, "medsynth");
  put(ds, DCM_ManufacturerModelName, "medsynth synthetic image generator");
  put(ds, DCM_SoftwareVersions, kVersion);
  // General Image
  put(ds, DCM_ContentDate, date);
  put(ds, DCM_ContentTime, time);
  put(ds, DCM_BurnedInAnnotation, "NO");
  put(ds, DCM_LossyImageCompression, "00");
  put(ds, DCM_DerivationDescription,
      std::string("SYNTHETIC: generated by medsynth ") + kVersion + "; model family " + o.model_family +
          "; checkpoint " + o.checkpoint);
  put(ds, DCM_ImageComments, "SYNTHETIC IMAGE made by medsynth; not an acquisition of a real patient");
  // Tells a PACS this is not a product (clinical) image. An Enhanced MR attribute; in classic MR
  // Image files a standard extension, which dciodvfy reports as a warning only.
  put(ds, DCM_ContentQualification, "RESEARCH");
  // Image Pixel: signed 16-bit integers.
  put(ds, DCM_SamplesPerPixel, "1");
  put(ds, DCM_PhotometricInterpretation, "MONOCHROME2");
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, 16);
  ds.putAndInsertUint16(DCM_HighBit, 15);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 1);
}

// Classic MR Image: the attributes every slice shares beyond the common ones.
void fill_classic_attributes(DcmDataset& ds, TemplateInfo& tpl, const Rescale& rescale, double lo, double hi) {
  put(ds, DCM_ImageType, "DERIVED\\SECONDARY\\OTHER");
  put(ds, DCM_RescaleIntercept, detail::format_ds(rescale.intercept));
  put(ds, DCM_RescaleSlope, detail::format_ds(rescale.slope));
  put(ds, DCM_WindowCenter, detail::format_ds((lo + hi) / 2));
  put(ds, DCM_WindowWidth, detail::format_ds(std::max(hi - lo, 1.0)));
  // MR Image. Type 1 values that must exist: ScanningSequence RM (research mode) and
  // SequenceVariant NONE say no real sequence was run. Type 2 parameters are present and empty:
  // unknown, since no scanner acquired these voxels. A template may fill them (below).
  put(ds, DCM_ScanningSequence, "RM");
  put(ds, DCM_SequenceVariant, "NONE");
  put(ds, DCM_ScanOptions, "");
  put(ds, DCM_MRAcquisitionType, "");
  put(ds, DCM_RepetitionTime, "");
  put(ds, DCM_EchoTime, "");
  put(ds, DCM_EchoTrainLength, "");
  put(ds, DCM_MagneticFieldStrength, "");
  if (tpl.used) {
    for (unsigned long i = 0; i < tpl.kept.card(); ++i) {
      ds.insert(static_cast<DcmElement*>(tpl.kept.getElement(i)->clone()), true);
    }
    detail::mark_deidentified(ds);
  }
}

std::string orientation_text(const Geometry& g) {
  return ds_list({g.dir(0, 0), g.dir(1, 0), g.dir(2, 0), g.dir(0, 1), g.dir(1, 1), g.dir(2, 1)});
}

// Slice k of `volume` as stored values: round((value - intercept) / slope), clamped to int16.
void quantise_slice(const Volume& volume, std::size_t k, const Rescale& rescale, double lo, double hi, Sint16* out) {
  const std::size_t per_slice = volume.geometry.size[0] * volume.geometry.size[1];
  const float* src = volume.voxels.data() + k * per_slice;
  for (std::size_t i = 0; i < per_slice; ++i) {
    double x = src[i];
    // Non-finite voxels have no integer to go to: NaN and -inf become the low end, +inf the high.
    if (!std::isfinite(x)) x = (x > 0) ? hi : lo;
    const double q = std::nearbyint((x - rescale.intercept) / rescale.slope);
    out[i] = static_cast<Sint16>(std::clamp(q, -32768.0, 32767.0));
  }
}

void save(DcmFileFormat& ff, const std::string& path) {
  OFCondition c = ff.saveFile(path.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL,
                              EPD_noChange, 0, 0, EWM_fileformat);
  if (c.bad()) throw Error(path, std::string("cannot write: ") + c.text(), ExitCode::kRuntime);
}

DcmItem& new_item(DcmItem& parent, const DcmTagKey& sequence) {
  DcmItem* item = nullptr;
  // Position -2: append a new item.
  if (parent.findOrCreateSequenceItem(sequence, item, -2).bad() || !item) {
    throw Error(DcmTag(sequence).getTagName(), "cannot create a sequence item", ExitCode::kRuntime);
  }
  return *item;
}

// Where a template's classic MR attribute goes in an Enhanced MR file: a functional group of the
// shared item (`group`), or the top level (group {0, 0}). Not carried over: attributes whose
// enhanced place needs Type 1 values a template does not give (RepetitionTime, FlipAngle and
// EchoTrainLength: the MR Timing group then needs SAR and operating-mode sequences;
// ScanningSequence, SequenceVariant, ScanOptions, MRAcquisitionType, SequenceName, InversionTime,
// AngioFlag), and ImagingFrequency, which Enhanced MR Image does not have.
struct EnhancedPlace {
  DcmTagKey classic, group, enhanced;
};
const EnhancedPlace kTemplateEnhancedPlaces[] = {
    {DCM_EchoTime, DCM_MREchoSequence, DCM_EffectiveEchoTime},
    {DCM_NumberOfAverages, DCM_MRAveragesSequence, DCM_NumberOfAverages},
    {DCM_MagneticFieldStrength, DcmTagKey(0, 0), DCM_MagneticFieldStrength},
    {DCM_ImagedNucleus, DcmTagKey(0, 0), DCM_ResonantNucleus},
    {DCM_BodyPartExamined, DcmTagKey(0, 0), DCM_BodyPartExamined},
    {DCM_PatientPosition, DcmTagKey(0, 0), DCM_PatientPosition},
};

// Enhanced MR Image: the multi-frame modules and the shared functional groups (one geometry,
// one rescale, one window for every frame), then one per-frame item per slice with its
// position and its place in the single stack.
void fill_enhanced_attributes(DcmDataset& ds, TemplateInfo& tpl, const Rescale& rescale, double lo, double hi,
                              const Geometry& g, const std::string& uid_root) {
  // Value 2 must be PRIMARY in Enhanced MR (it has no SECONDARY); value 3, the image flavor, VOLUME.
  const char* kType = "DERIVED\\PRIMARY\\VOLUME\\NONE";
  // Enhanced MR Image module (and its MR Image Description and Common CT/MR Image Description
  // macros at the image level).
  // The same Type 1 description at the image level and in the MR Image Frame Type group.
  auto describe = [&](DcmItem& item, const DcmTagKey& type) {
    put(item, type, kType);
    put(item, DCM_PixelPresentation, "MONOCHROME");
    put(item, DCM_VolumetricProperties, "VOLUME");
    put(item, DCM_VolumeBasedCalculationTechnique, "NONE");
    put(item, DCM_ComplexImageComponent, "MAGNITUDE");
    put(item, DCM_AcquisitionContrast, "UNKNOWN");
  };
  describe(ds, DCM_ImageType);
  put(ds, DCM_PresentationLUTShape, "IDENTITY");
  put(ds, DCM_SOPInstanceUID, make_dicom_uid(uid_root));
  put(ds, DCM_InstanceNumber, "1");
  // Laterality (Type 2C) must be absent when FrameLaterality is given (below).
  delete ds.remove(DCM_Laterality);
  put(ds, DCM_NumberOfFrames, std::to_string(g.size[2]));
  // MR Image and Spectroscopy Instance macro: dciodvfy requires the agency whatever the image
  // type. No acquisition took place; IEC (60601-2-33, which MR scanners everywhere follow) is named,
  // and the description says there was no acquisition.
  put(ds, DCM_ApplicableSafetyStandardAgency, "IEC");
  put(ds, DCM_ApplicableSafetyStandardDescription, "none applied: synthetic image, no acquisition");
  // Enhanced General Equipment: Type 1. The "device" is medsynth, which has no serial number.
  put(ds, DCM_DeviceSerialNumber, "medsynth");
  // Acquisition Context: Type 2, empty (no acquisition).
  ds.insertEmptyElement(DCM_AcquisitionContextSequence);
  // Multi-frame Dimension: one stack, frames by their position in it.
  const std::string dimension_uid = make_dicom_uid(uid_root);
  put(new_item(ds, DCM_DimensionOrganizationSequence), DCM_DimensionOrganizationUID, dimension_uid);
  put(ds, DCM_DimensionOrganizationType, "3D");
  for (const DcmTagKey& pointer : {DCM_StackID, DCM_InStackPositionNumber}) {
    DcmItem& d = new_item(ds, DCM_DimensionIndexSequence);
    put(d, DCM_DimensionOrganizationUID, dimension_uid);
    d.putAndInsertTagKey(DCM_DimensionIndexPointer, pointer);
    d.putAndInsertTagKey(DCM_FunctionalGroupPointer, DCM_FrameContentSequence);
  }

  DcmItem& shared = new_item(ds, DCM_SharedFunctionalGroupsSequence);
  DcmItem& measures = new_item(shared, DCM_PixelMeasuresSequence);
  put(measures, DCM_PixelSpacing, ds_list({g.spacing[1], g.spacing[0]}));  // (y, x) as in classic
  put(measures, DCM_SliceThickness, detail::format_ds(g.spacing[2]));
  put(measures, DCM_SpacingBetweenSlices, detail::format_ds(g.spacing[2]));
  put(new_item(shared, DCM_PlaneOrientationSequence), DCM_ImageOrientationPatient, orientation_text(g));
  DcmItem& pvt = new_item(shared, DCM_PixelValueTransformationSequence);
  put(pvt, DCM_RescaleIntercept, detail::format_ds(rescale.intercept));
  put(pvt, DCM_RescaleSlope, detail::format_ds(rescale.slope));
  put(pvt, DCM_RescaleType, "US");
  DcmItem& voi = new_item(shared, DCM_FrameVOILUTSequence);
  put(voi, DCM_WindowCenter, detail::format_ds((lo + hi) / 2));
  put(voi, DCM_WindowWidth, detail::format_ds(std::max(hi - lo, 1.0)));
  describe(new_item(shared, DCM_MRImageFrameTypeSequence), DCM_FrameType);
  // Frame Anatomy is Type 1: medsynth makes head MRI (SNOMED CT 69536005 "Head"), unpaired.
  DcmItem& anatomy = new_item(shared, DCM_FrameAnatomySequence);
  put(anatomy, DCM_FrameLaterality, "U");
  DcmItem& region = new_item(anatomy, DCM_AnatomicRegionSequence);
  put(region, DCM_CodeValue, "69536005");
  put(region, DCM_CodingSchemeDesignator, "SCT");
  put(region, DCM_CodeMeaning, "Head");
  if (tpl.used) {
    for (const auto& place : kTemplateEnhancedPlaces) {
      DcmElement* e = nullptr;
      if (tpl.kept.findAndGetElement(place.classic, e).bad() || !e) continue;
      OFString value;
      if (e->getOFStringArray(value).bad()) continue;
      DcmItem* to = &ds;
      if (place.group != DcmTagKey(0, 0)) {
        if (shared.findOrCreateSequenceItem(place.group, to, 0).bad() || !to) continue;
      }
      put(*to, place.enhanced, value.c_str());
    }
    detail::mark_deidentified(ds);
  }

  for (std::size_t k = 0; k < g.size[2]; ++k) {
    DcmItem& frame = new_item(ds, DCM_PerFrameFunctionalGroupsSequence);
    DcmItem& content = new_item(frame, DCM_FrameContentSequence);
    put(content, DCM_StackID, "1");
    put(content, DCM_InStackPositionNumber, std::to_string(k + 1));
    const Uint32 index[] = {1, static_cast<Uint32>(k + 1)};
    content.putAndInsertUint32Array(DCM_DimensionIndexValues, index, 2);
    const auto p = g.index_to_physical(0, 0, static_cast<double>(k));
    put(new_item(frame, DCM_PlanePositionSequence), DCM_ImagePositionPatient, ds_list({p[0], p[1], p[2]}));
  }
}

bool all_whole_numbers(const Volume& v) {
  for (float x : v.voxels) {
    if (std::isfinite(x) && x != std::floor(x)) return false;
  }
  return true;
}

}  // namespace

Rescale choose_rescale(double lo, double hi, bool all_integer) {
  Rescale r;
  if (all_integer && lo >= -32768 && hi <= 32767) return r;  // stored as is
  if (all_integer && hi - lo <= 65535) {
    r.intercept = lo + 32768;  // shift the range into int16, still exact
    return r;
  }
  if (hi <= lo) {
    r.intercept = lo;
    return r;
  }
  // The range onto [-32767, 32767]. DS holds 16 characters, so the values are rounded to what
  // the file will say and the quantisation uses exactly those.
  r.slope = std::stod(detail::format_ds((hi - lo) / 65534.0));
  r.intercept = std::stod(detail::format_ds((hi + lo) / 2.0));
  return r;
}

namespace {

DicomWriteResult write_series(const Volume& volume, const std::string& out_dir, const DicomWriteOptions& o) {
  detail::init_dcmtk_quiet();
  const Geometry& g = volume.geometry;
  validate_geometry(g, out_dir);
  if (g.size[0] > 65535 || g.size[1] > 65535) {
    throw Error(out_dir, "slices larger than 65535 pixels on a side do not fit DICOM Rows/Columns", ExitCode::kBadInput);
  }
  if (volume.voxels.size() != g.voxel_count()) throw Error(out_dir, "volume holds the wrong number of voxels", ExitCode::kRuntime);
  // One Pixel Data value holds at most 2^32 - 2 bytes.
  if (o.enhanced && volume.voxels.size() > 0xFFFFFFFEull / 2) {
    throw Error(out_dir, "volume too large for one Enhanced MR file (Pixel Data over 4 GiB); write it without --enhanced",
                ExitCode::kBadInput);
  }
  // Template first: a bad template is bad input, reported before anything is created.
  TemplateInfo tpl = load_template(o.template_path, o.uid_root);
  AtomicFolder target(out_dir, o.force);

  DicomWriteResult r;
  r.folder = target.final_dir();
  r.study_uid = make_dicom_uid(o.uid_root);
  r.series_uid = make_dicom_uid(o.uid_root);
  r.frame_of_reference_uid = make_dicom_uid(o.uid_root);
  const auto [lo_f, hi_f] = intensity_range(volume);
  const double lo = lo_f, hi = hi_f;
  const Rescale rescale = choose_rescale(lo, hi, all_whole_numbers(volume));
  r.rescale_slope = rescale.slope;
  r.rescale_intercept = rescale.intercept;

  DcmDataset base;
  fill_common_attributes(base, o, r, o.enhanced ? UID_EnhancedMRImageStorage : UID_MRImageStorage);
  put(base, DCM_Rows, std::to_string(g.size[1]));
  put(base, DCM_Columns, std::to_string(g.size[0]));
  const std::size_t per_slice = g.size[0] * g.size[1];
  if (o.enhanced) {
    fill_enhanced_attributes(base, tpl, rescale, lo, hi, g, o.uid_root);
    DcmFileFormat ff(&base);
    DcmDataset& ds = *ff.getDataset();
    std::vector<Sint16> pixels(volume.voxels.size());
    for (std::size_t k = 0; k < g.size[2]; ++k) quantise_slice(volume, k, rescale, lo, hi, pixels.data() + k * per_slice);
    ds.putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(pixels.data()),
                               static_cast<unsigned long>(pixels.size()));
    const std::string name = detail::index_file_name(1, 1);
    save(ff, (fs::path(target.temp_dir()) / name).string());
    r.files.push_back((fs::path(r.folder) / name).string());
    target.commit();
    return r;
  }

  fill_classic_attributes(base, tpl, rescale, lo, hi);
  // Image Plane. Rows run along index axis y, columns along x: PixelSpacing is (y, x).
  put(base, DCM_PixelSpacing, ds_list({g.spacing[1], g.spacing[0]}));
  put(base, DCM_ImageOrientationPatient, orientation_text(g));
  put(base, DCM_SliceThickness, detail::format_ds(g.spacing[2]));
  put(base, DCM_SpacingBetweenSlices, detail::format_ds(g.spacing[2]));
  // Slice normal (row x column cosine): SliceLocation is the position along it.
  const std::array<double, 3> normal{g.dir(1, 0) * g.dir(2, 1) - g.dir(2, 0) * g.dir(1, 1),
                                     g.dir(2, 0) * g.dir(0, 1) - g.dir(0, 0) * g.dir(2, 1),
                                     g.dir(0, 0) * g.dir(1, 1) - g.dir(1, 0) * g.dir(0, 1)};
  std::vector<Sint16> pixels(per_slice);
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    quantise_slice(volume, k, rescale, lo, hi, pixels.data());
    DcmFileFormat ff(&base);
    DcmDataset& ds = *ff.getDataset();
    const auto p = g.index_to_physical(0, 0, static_cast<double>(k));
    put(ds, DCM_SOPInstanceUID, make_dicom_uid(o.uid_root));
    put(ds, DCM_InstanceNumber, std::to_string(k + 1));
    put(ds, DCM_ImagePositionPatient, ds_list({p[0], p[1], p[2]}));
    put(ds, DCM_SliceLocation, detail::format_ds(p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2]));
    ds.putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(pixels.data()),
                               static_cast<unsigned long>(per_slice));
    const std::string name = detail::index_file_name(k + 1, g.size[2]);
    save(ff, (fs::path(target.temp_dir()) / name).string());
    r.files.push_back((fs::path(r.folder) / name).string());
  }
  target.commit();
  return r;
}

}  // namespace

DicomWriteResult write_dicom_series(const Volume& volume, const std::string& out_dir, const DicomWriteOptions& o) {
  try {
    return write_series(volume, out_dir, o);
  } catch (...) {
    rethrow_on_target(out_dir, true);  // a full disk reads as such, on the folder the user named
  }
}

}  // namespace medsynth::io
