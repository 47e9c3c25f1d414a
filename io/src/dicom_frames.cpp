// One DICOM file → its 2-D frames (classic, enhanced multi-frame, Siemens mosaic) and their stored
// values. Quirks handled are named where they are handled.
#include "dicom_frames.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "dicom_jpeg2000.h"
#include "medsynth/io/error.h"
#include "siemens_csa.h"

namespace fs = std::filesystem;

namespace medsynth::io::detail {

std::string item_string(DcmItem* item, const DcmTagKey& key) {
  OFString s;
  if (!item || item->findAndGetOFStringArray(key, s).bad()) return {};
  std::string r = s.c_str();
  while (!r.empty() && (r.back() == ' ' || r.back() == '\0')) r.pop_back();
  return r;
}

bool item_doubles(DcmItem* item, const DcmTagKey& key, double* out, int n) {
  if (!item) return false;
  for (int i = 0; i < n; ++i) {
    Float64 v;
    if (item->findAndGetFloat64(key, v, static_cast<unsigned long>(i)).bad() || !std::isfinite(v)) return false;
    out[i] = v;
  }
  return true;
}

namespace {

// A DS, IS or binary number (findAndGetFloat64 reads DS and FD only; IS is parsed from its text).
double item_number(DcmItem* item, const DcmTagKey& key, double fallback) {
  double v = 0;
  if (item_doubles(item, key, &v, 1)) return v;
  const std::string s = item_string(item, key);
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end != s.c_str() && std::isfinite(v) ? v : fallback;
}

// The raw bytes of an element: Siemens private tags in implicit-VR files have no VR (UN).
std::string raw_bytes(DcmItem* item, const DcmTagKey& key) {
  DcmElement* e = nullptr;
  if (item->findAndGetElement(key, e).bad() || !e) return {};
  Uint8* p = nullptr;
  if (e->getUint8Array(p).bad() || !p) return {};
  return std::string(reinterpret_cast<const char*>(p), e->getLength());
}

// The item of functional-group macro `seq` that applies to a frame: its per-frame item first,
// then the shared one (PS3.3 C.7.6.16: a macro is in one or the other).
DcmItem* group_item(DcmItem* per_frame, DcmItem* shared, const DcmTagKey& seq) {
  DcmItem* it = nullptr;
  if (per_frame && per_frame->findAndGetSequenceItem(seq, it, 0).good() && it) return it;
  it = nullptr;
  if (shared && shared->findAndGetSequenceItem(seq, it, 0).good() && it) return it;
  return nullptr;
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void add_label(DicomFrame& f, const std::string& name, const std::string& value) {
  if (!value.empty()) f.labels.emplace_back(name, value);
}

// Attributes of the whole file, the same for every frame in it.
DicomFrame file_frame(const std::shared_ptr<DicomFile>& file, DcmDataset* ds) {
  DicomFrame f;
  f.file = file;
  f.rows = file->rows, f.columns = file->columns;
  f.where = file->path;
  f.series_uid = item_string(ds, DCM_SeriesInstanceUID);
  f.series_number = item_string(ds, DCM_SeriesNumber);
  f.series_description = item_string(ds, DCM_SeriesDescription);
  f.modality = item_string(ds, DCM_Modality);
  f.study_uid = item_string(ds, DCM_StudyInstanceUID);
  f.has_ipp = item_doubles(ds, DCM_ImagePositionPatient, f.ipp.data(), 3);
  f.has_iop = item_doubles(ds, DCM_ImageOrientationPatient, f.iop.data(), 6);
  if (!item_doubles(ds, DCM_PixelSpacing, f.pixel_spacing.data(), 2)) {
    // Secondary captures carry no PixelSpacing; some carry ImagerPixelSpacing instead.
    if (!item_doubles(ds, DCM_ImagerPixelSpacing, f.pixel_spacing.data(), 2)) f.pixel_spacing = {1, 1};
  }
  f.slope = item_number(ds, DCM_RescaleSlope, 1);
  if (f.slope == 0) f.slope = 1;  // a zero slope is a writer bug
  f.intercept = item_number(ds, DCM_RescaleIntercept, 0);
  if (!item_doubles(ds, DCM_SpacingBetweenSlices, &f.slice_spacing_hint, 1) &&
      !item_doubles(ds, DCM_SliceThickness, &f.slice_spacing_hint, 1)) {
    f.slice_spacing_hint = 0;
  }
  f.echo = item_string(ds, DCM_EchoNumbers);
  for (const auto& [name, key] : std::vector<std::pair<std::string, DcmTagKey>>{
           {"RepetitionTime", DCM_RepetitionTime},
           {"EchoTime", DCM_EchoTime},
           {"InversionTime", DCM_InversionTime},
           {"FlipAngle", DCM_FlipAngle},
           {"MagneticFieldStrength", DCM_MagneticFieldStrength},
           {"ScanningSequence", DCM_ScanningSequence},
           {"SequenceVariant", DCM_SequenceVariant},
           {"MRAcquisitionType", DCM_MRAcquisitionType},
           {"SequenceName", DCM_SequenceName},
           {"PatientAge", DCM_PatientAge},
           {"PatientSex", DCM_PatientSex}}) {
    const std::string v = item_string(ds, key);
    if (!v.empty()) f.acquisition.emplace_back(name, v);
  }
  return f;
}

void set_acquisition(DicomFrame& f, const std::string& name, const std::string& value) {
  if (value.empty()) return;
  for (auto& [k, v] : f.acquisition) {
    if (k == name) {
      v = value;
      return;
    }
  }
  f.acquisition.emplace_back(name, value);
}

// Enhanced MR: the timing, echo and modifier functional groups and the pulse-sequence attributes
// (PS3.3 C.8.13) give what classic files carry at the top level; a ScanningSequence is made of
// EchoPulseSequence and InversionRecovery so that one rule names the sequence.
void enhanced_acquisition(DicomFrame& f, DcmDataset* ds, DcmItem* item, DcmItem* shared) {
  DcmItem* timing = group_item(item, shared, DCM_MRTimingAndRelatedParametersSequence);
  set_acquisition(f, "RepetitionTime", item_string(timing, DCM_RepetitionTime));
  set_acquisition(f, "FlipAngle", item_string(timing, DCM_FlipAngle));
  set_acquisition(f, "EchoTime", item_string(group_item(item, shared, DCM_MREchoSequence), DCM_EffectiveEchoTime));
  DcmItem* modifier = group_item(item, shared, DCM_MRModifierSequence);
  std::string ti = item_string(modifier, DCM_InversionTimes);
  set_acquisition(f, "InversionTime", ti.substr(0, ti.find('\\')));
  std::string ir = item_string(modifier, DCM_InversionRecovery);
  if (ir.empty()) ir = item_string(ds, DCM_InversionRecovery);
  const std::string echo = item_string(ds, DCM_EchoPulseSequence);
  std::string scanning = echo == "GRADIENT" ? "GR" : echo == "SPIN" ? "SE" : echo == "BOTH" ? "GR\\SE" : "";
  if (ir == "YES") scanning += scanning.empty() ? "IR" : "\\IR";
  set_acquisition(f, "ScanningSequence", scanning);
  set_acquisition(f, "SequenceName", item_string(ds, DCM_PulseSequenceName));
}

// Classic (single-frame) attributes that tell the volumes of a 4-D series apart.
void classic_4d_attributes(DicomFrame& f, DcmDataset* ds) {
  f.order = {item_number(ds, DCM_TemporalPositionIdentifier, 0), item_number(ds, DCM_AcquisitionNumber, 0),
             item_number(ds, DCM_InstanceNumber, 0)};
  for (const auto& [name, key] :
       std::vector<std::pair<std::string, DcmTagKey>>{{"EchoTime", DCM_EchoTime},
                                                      {"InversionTime", DCM_InversionTime},
                                                      {"TriggerTime", DCM_TriggerTime},
                                                      {"TemporalPositionIdentifier", DCM_TemporalPositionIdentifier},
                                                      {"DiffusionBValue", DCM_DiffusionBValue},
                                                      {"DiffusionGradientOrientation", DCM_DiffusionGradientOrientation},
                                                      {"AcquisitionNumber", DCM_AcquisitionNumber},
                                                      {"AcquisitionTime", DCM_AcquisitionTime}}) {
    add_label(f, name, item_string(ds, key));
  }
}

// Enhanced multi-frame (Enhanced MR/CT/PET, Legacy Converted Enhanced): every frame's geometry,
// rescale and dimension values come from its functional groups.
std::vector<DicomFrame> enhanced_frames(const DicomFrame& base, DcmDataset* ds, long n_frames) {
  const std::string& path = base.file->path;
  DcmSequenceOfItems* per_frame = nullptr;
  if (ds->findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).bad() || !per_frame) {
    throw Error(path, "enhanced multi-frame image (" + std::to_string(n_frames) +
                          " frames) has no PerFrameFunctionalGroupsSequence");
  }
  if (static_cast<long>(per_frame->card()) != n_frames) {
    throw Error(path, "PerFrameFunctionalGroupsSequence holds " + std::to_string(per_frame->card()) +
                          " items for NumberOfFrames " + std::to_string(n_frames) + " (frames missing?)");
  }
  DcmItem* shared = nullptr;
  if (ds->findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).bad()) shared = nullptr;
  const double acquisition = item_number(ds, DCM_AcquisitionNumber, 0), instance = item_number(ds, DCM_InstanceNumber, 0);
  std::vector<DicomFrame> frames;
  for (long k = 0; k < n_frames; ++k) {
    DcmItem* item = per_frame->getItem(static_cast<unsigned long>(k));
    DicomFrame f = base;
    f.frame = k;
    f.where = path + " (frame " + std::to_string(k + 1) + ")";
    auto need = [&](const DcmTagKey& seq, const DcmTagKey& key, double* out, int n, const char* macro) {
      if (item_doubles(group_item(item, shared, seq), key, out, n)) return true;
      // Legacy-converted files may keep the value at the top level too; take it there.
      if (item_doubles(ds, key, out, n)) return true;
      if (n_frames > 1) {
        throw Error(path, "frame " + std::to_string(k + 1) + " of " + std::to_string(n_frames) + " has no " +
                              DcmTag(key).getTagName() + " in a " + macro + " functional group");
      }
      return false;
    };
    f.has_ipp = need(DCM_PlanePositionSequence, DCM_ImagePositionPatient, f.ipp.data(), 3, "Plane Position (Patient)");
    f.has_iop = need(DCM_PlaneOrientationSequence, DCM_ImageOrientationPatient, f.iop.data(), 6,
                     "Plane Orientation (Patient)");
    DcmItem* measures = group_item(item, shared, DCM_PixelMeasuresSequence);
    item_doubles(measures, DCM_PixelSpacing, f.pixel_spacing.data(), 2);
    if (!item_doubles(measures, DCM_SpacingBetweenSlices, &f.slice_spacing_hint, 1)) {
      item_doubles(measures, DCM_SliceThickness, &f.slice_spacing_hint, 1);
    }
    // Pixel Value Transformation per frame: Philips varies the rescale from frame to frame.
    if (DcmItem* pvt = group_item(item, shared, DCM_PixelValueTransformationSequence)) {
      f.slope = item_number(pvt, DCM_RescaleSlope, 1);
      if (f.slope == 0) f.slope = 1;
      f.intercept = item_number(pvt, DCM_RescaleIntercept, 0);
    }
    DcmItem* content = group_item(item, nullptr, DCM_FrameContentSequence);
    f.stack = item_string(content, DCM_StackID);
    f.order = {acquisition, instance, item_number(content, DCM_TemporalPositionIndex, 0)};
    const Uint32* div = nullptr;
    unsigned long n_div = 0;
    if (content && content->findAndGetUint32Array(DCM_DimensionIndexValues, div, &n_div).good() && div) {
      for (unsigned long i = 0; i < n_div; ++i) f.order.push_back(div[i]);
    }
    f.order.push_back(static_cast<double>(k));
    DcmItem* echo = group_item(item, shared, DCM_MREchoSequence);
    f.echo = item_string(echo, DCM_EffectiveEchoTime);
    f.labels.clear();
    enhanced_acquisition(f, ds, item, shared);
    add_label(f, "EffectiveEchoTime", f.echo);
    add_label(f, "TemporalPositionIndex", item_string(content, DCM_TemporalPositionIndex));
    if (DcmItem* diffusion = group_item(item, shared, DCM_MRDiffusionSequence)) {
      add_label(f, "DiffusionBValue", item_string(diffusion, DCM_DiffusionBValue));
      DcmItem* dir = nullptr;
      if (diffusion->findAndGetSequenceItem(DCM_DiffusionGradientDirectionSequence, dir, 0).good()) {
        add_label(f, "DiffusionGradientOrientation", item_string(dir, DCM_DiffusionGradientOrientation));
      }
    }
    add_label(f, "NominalCardiacTriggerDelayTime",
              item_string(group_item(item, shared, DCM_CardiacSynchronizationSequence), DCM_NominalCardiacTriggerDelayTime));
    add_label(f, "FrameAcquisitionNumber", item_string(content, DCM_FrameAcquisitionNumber));
    add_label(f, "FrameAcquisitionDateTime", item_string(content, DCM_FrameAcquisitionDateTime));
    frames.push_back(std::move(f));
  }
  return frames;
}

bool is_mosaic(DcmDataset* ds) {
  const std::string type = item_string(ds, DCM_ImageType);
  return type.find("MOSAIC") != std::string::npos;
}

// Siemens mosaic: one classic image whose pixels are a grid of tiles, one slice each.
std::vector<DicomFrame> mosaic_frames(const DicomFrame& base, DcmDataset* ds) {
  const std::string& path = base.file->path;
  CsaHeader csa;
  const std::string csa_bytes = raw_bytes(ds, DcmTagKey(0x0029, 0x1010));
  if (!csa_bytes.empty()) {
    try {
      csa = parse_csa_header(reinterpret_cast<const std::uint8_t*>(csa_bytes.data()), csa_bytes.size());
    } catch (const medsynth::Error& e) {
      throw Error(path, std::string("Siemens mosaic with an unreadable CSA image header (0029,1010): ") + e.what());
    }
  }
  double n_csa = 0;
  const bool from_csa = csa_number(csa, "NumberOfImagesInMosaic", &n_csa);
  // The private "SIEMENS MR HEADER" (0019,100A) NumberOfImagesInMosaic, US; UN in implicit-VR files.
  long n_private = 0;
  Uint16 u16 = 0;
  if (ds->findAndGetUint16(DcmTagKey(0x0019, 0x100a), u16).good()) {
    n_private = u16;
  } else {
    const std::string b = raw_bytes(ds, DcmTagKey(0x0019, 0x100a));
    if (b.size() == 2) n_private = static_cast<unsigned char>(b[0]) | (static_cast<unsigned char>(b[1]) << 8);
  }
  if (!from_csa && n_private == 0) {
    throw Error(path, "Siemens mosaic (ImageType MOSAIC) without NumberOfImagesInMosaic in the CSA header "
                      "(0029,1010) or (0019,100A)");
  }
  const long n = from_csa ? std::lround(n_csa) : n_private;
  if (from_csa && n_private != 0 && n_private != n) {
    throw Error(path, "Siemens mosaic: NumberOfImagesInMosaic is " + std::to_string(n) + " in the CSA header but " +
                          std::to_string(n_private) + " in (0019,100A)");
  }
  // Tiles form the smallest square grid that holds them.
  const long grid = static_cast<long>(std::ceil(std::sqrt(static_cast<double>(n)) - 1e-9));
  // Rows and Columns need not be a multiple of the grid: nibabel's 0.dcm is 256x256 with a 7x7
  // grid; dcm2niix and nibabel take whole tiles of floor(256 / 7) = 36 pixels, and so does this.
  const long tile_rows = grid > 0 ? base.rows / grid : 0, tile_cols = grid > 0 ? base.columns / grid : 0;
  if (n < 1 || tile_rows < 1 || tile_cols < 1) {
    throw Error(path, "Siemens mosaic: NumberOfImagesInMosaic " + std::to_string(n) + " does not fit in " +
                          std::to_string(base.columns) + "x" + std::to_string(base.rows) + " pixels");
  }
  if (!base.has_ipp || !base.has_iop) {
    throw Error(path, "Siemens mosaic without ImagePositionPatient/ImageOrientationPatient");
  }
  std::array<double, 3> row{base.iop[0], base.iop[1], base.iop[2]}, col{base.iop[3], base.iop[4], base.iop[5]};
  std::array<double, 3> normal{row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                               row[0] * col[1] - row[1] * col[0]};
  // The tiles are stored along the CSA SliceNormalVector, which may point against row × column
  // (nibabel's csa_slice_norm.dcm is the case that shows a tilted normal); trust its direction.
  double csa_normal[3];
  if (csa_numbers(csa, "SliceNormalVector", csa_normal, 3)) {
    const double dot = csa_normal[0] * normal[0] + csa_normal[1] * normal[1] + csa_normal[2] * normal[2];
    if (dot < 0) normal = {-normal[0], -normal[1], -normal[2]};
  }
  const double nn = std::sqrt(normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]);
  for (auto& x : normal) x /= nn;
  const double dz = base.slice_spacing_hint > 0 ? base.slice_spacing_hint : 1.0;
  // The mosaic quirk: ImagePositionPatient is the corner of the whole mosaic as if it were one
  // big slice, not the corner of the first tile (siemens_dwi_0.dcm: IPP x = -805 mm, the tile's
  // corner is at -115). dcm2niix's correction moves it by half the difference between the mosaic
  // and the tile size, along rows and columns: IPP + row·Δx·(C − C/g)/2 + col·Δy·(R − R/g)/2, with
  // C/g and R/g divided as reals (dcm2niix and nibabel both do; it matters for 0.dcm's 256/7).
  const double g_real = static_cast<double>(grid);
  const double shift_x = base.pixel_spacing[1] * (static_cast<double>(base.columns) - base.columns / g_real) / 2.0;
  const double shift_y = base.pixel_spacing[0] * (static_cast<double>(base.rows) - base.rows / g_real) / 2.0;
  std::array<double, 3> first;
  for (int a = 0; a < 3; ++a) first[a] = base.ipp[a] + row[a] * shift_x + col[a] * shift_y;
  std::string b_value;
  double b = 0;
  if (csa_number(csa, "B_value", &b)) b_value = number_text(b);
  double g[3];
  std::string gradient;
  if (csa_numbers(csa, "DiffusionGradientDirection", g, 3)) gradient = number_text(g[0]) + "\\" + number_text(g[1]) + "\\" + number_text(g[2]);
  std::vector<DicomFrame> frames;
  for (long k = 0; k < n; ++k) {
    DicomFrame f = base;
    f.rows = tile_rows, f.columns = tile_cols;
    f.tile_row = (k / grid) * tile_rows, f.tile_col = (k % grid) * tile_cols;
    f.where = path + " (mosaic tile " + std::to_string(k + 1) + ")";
    for (int a = 0; a < 3; ++a) f.ipp[a] = first[a] + static_cast<double>(k) * dz * normal[a];
    f.slice_spacing_hint = dz;
    if (!b_value.empty()) add_label(f, "B_value (CSA)", b_value);
    if (!gradient.empty()) add_label(f, "DiffusionGradientDirection (CSA)", gradient);
    frames.push_back(std::move(f));
  }
  return frames;
}

// "'<name>' (<UID>)" of the file's transfer syntax, from its meta header. DCMTK parses a syntax
// it does not know (HTJ2K, 1.2.840.10008.1.2.4.201-203, is newer than DCMTK 3.6.7) as explicit
// little endian, so the dataset's own idea of its syntax would name the wrong one.
std::string transfer_syntax_text(DcmFileFormat& file, E_TransferSyntax parsed_as) {
  std::string uid = item_string(file.getMetaInfo(), DCM_TransferSyntaxUID);
  if (uid.empty()) uid = DcmXfer(parsed_as).getXferID();
  const DcmXfer x(uid.c_str());
  if (x.getXfer() != EXS_Unknown) return std::string("'") + x.getXferName() + "' (" + uid + ")";
  static const std::pair<const char*, const char*> kNewer[] = {
      {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)"},
      {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)"},
      {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"}};
  for (const auto& [id, name] : kNewer) {
    if (uid == id) return std::string("'") + name + "' (" + uid + ")";
  }
  return "transfer syntax " + uid + " (unknown to this build)";
}

}  // namespace

std::vector<DicomFrame> read_dicom_frames(const std::string& path) {
  auto file = std::make_shared<DicomFile>();
  file->path = path;
  file->file = std::make_shared<DcmFileFormat>();
  std::error_code ec;
  if (fs::file_size(path, ec) == 0) throw Error(path, "file is empty");
  // Values longer than 4 KiB (the pixel data) stay on disk until they are used.
  OFCondition c = file->file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (c.bad()) throw Error(path, std::string("not a readable DICOM file (") + c.text() + ")");
  DcmDataset* ds = file->file->getDataset();
  if (!ds) throw Error(path, "DICOM file has no dataset");
  DcmElement* pixel = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, pixel).bad() || !pixel) {
    std::string sop = item_string(ds, DCM_SOPClassUID);
    const char* name = dcmFindNameOfUID(sop.c_str());
    throw Error(path, std::string("not an image: no Pixel Data (SOP class ") +
                          (name ? name : (sop.empty() ? "unknown" : sop.c_str())) + ")");
  }
  Uint16 u16 = 0;
  if (ds->findAndGetUint16(DCM_Rows, u16).bad() || u16 == 0) throw Error(path, "missing or zero Rows");
  file->rows = u16;
  if (ds->findAndGetUint16(DCM_Columns, u16).bad() || u16 == 0) throw Error(path, "missing or zero Columns");
  file->columns = u16;
  Sint32 n_frames = 1;
  if (ds->findAndGetSint32(DCM_NumberOfFrames, n_frames).bad() || n_frames < 1) n_frames = 1;
  file->frames = n_frames;
  const DicomFrame base = file_frame(file, ds);
  const bool enhanced = ds->tagExists(DCM_PerFrameFunctionalGroupsSequence) ||
                        ds->tagExists(DCM_SharedFunctionalGroupsSequence);
  std::vector<DicomFrame> frames;
  if (enhanced) return enhanced_frames(base, ds, n_frames);
  if (n_frames > 1) {
    throw Error(path, "multi-frame image (" + std::to_string(n_frames) + " frames) without functional groups "
                      "(not an enhanced image): the frames have no positions to stack them by");
  }
  DicomFrame f = base;
  classic_4d_attributes(f, ds);
  if (is_mosaic(ds)) return mosaic_frames(f, ds);
  frames.push_back(std::move(f));
  return frames;
}

void decode_frames(DicomFile& f, const FrameSink& use) {
  DcmDataset* ds = f.file->getDataset();
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  Uint16 bits_alloc = 0, bits_stored = 0, high_bit = 0, pixel_rep = 0, samples = 1;
  ds->findAndGetUint16(DCM_BitsAllocated, bits_alloc);
  if (ds->findAndGetUint16(DCM_BitsStored, bits_stored).bad() || bits_stored == 0 || bits_stored > bits_alloc) {
    bits_stored = bits_alloc;
  }
  if (ds->findAndGetUint16(DCM_HighBit, high_bit).bad() || high_bit >= bits_alloc || high_bit + 1 < bits_stored) {
    high_bit = static_cast<Uint16>(bits_stored - 1);
  }
  ds->findAndGetUint16(DCM_PixelRepresentation, pixel_rep);
  ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
  if (samples != 1) {
    throw Error(f.path, "has " + std::to_string(samples) + " samples per pixel (colour); medsynth reads greyscale images");
  }
  if (bits_alloc != 8 && bits_alloc != 16) {
    throw Error(f.path, "BitsAllocated " + std::to_string(bits_alloc) + " is not supported (8 or 16)");
  }
  const std::size_t frame_size = static_cast<std::size_t>(f.rows) * static_cast<std::size_t>(f.columns);
  const std::size_t n = frame_size * static_cast<std::size_t>(f.frames);
  // Stored bits may sit above bit 0 (HighBit > BitsStored - 1, seen in old ACR-NEMA files).
  const int shift = high_bit + 1 - bits_stored;
  auto convert = [&](long v, int from_bit) {
    v >>= from_bit;
    if (bits_stored < 32) {
      const long mask = (1L << bits_stored) - 1;
      v &= mask;
      if (pixel_rep == 1 && (v & (1L << (bits_stored - 1)))) v -= (1L << bits_stored);
    }
    return static_cast<std::int32_t>(v);
  };
  if (is_jpeg2000_syntax(xfer)) {
    // Debian's DCMTK has no JPEG 2000 codec: the frames are decoded with OpenJPEG. Decoded samples
    // sit at bit 0 (HighBit plays no part). J2K_pixelrep_mismatch.dcm (pydicom) is the quirk: its
    // codestream says unsigned, PixelRepresentation says signed; the header wins, as pydicom
    // decides (dcm2niix keeps the codestream's unsigned values). 693_J2KI.dcm codes 14 stored
    // bits as a signed 16-bit codestream, whose values are taken as they are.
    Jpeg2000Frames j2k = decode_jpeg2000_frames(f.path, ds, f.rows, f.columns, f.frames);
    f.file.reset();
    if (j2k.precision > bits_alloc) {
      throw Error(f.path, "JPEG 2000 codestream has " + std::to_string(j2k.precision) + "-bit samples, more than BitsAllocated " +
                              std::to_string(bits_alloc));
    }
    if (j2k.is_signed != (pixel_rep == 1)) {
      for (auto& v : j2k.samples) v = convert(v, 0);
    }
    for (long k = 0; k < f.frames; ++k) use(k, j2k.samples.data() + static_cast<std::size_t>(k) * frame_size);
    return;
  }
  if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
      !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
    throw Error(f.path, "pixel data compressed as " + transfer_syntax_text(*f.file, xfer) +
                            ", which this build cannot decode");
  }
  unsigned long count = 0;
  const std::string expected = std::to_string(n) + " (" + std::to_string(f.frames) + " frame(s) of " +
                               std::to_string(f.columns) + "x" + std::to_string(f.rows) + ")";
  // One frame at a time through a buffer that stays in cache: a whole-file buffer of int32 would
  // be zeroed, written and read again (a quarter of the read time of the 176-frame Philips file).
  std::vector<std::int32_t> frame(frame_size);
  if (bits_alloc == 16) {
    const Uint16* p = nullptr;
    if (ds->findAndGetUint16Array(DCM_PixelData, p, &count).bad() || !p) {
      throw Error(f.path, "cannot read Pixel Data (truncated file?)");
    }
    if (count < n) throw Error(f.path, "Pixel Data holds " + std::to_string(count) + " values, expected " + expected);
    const bool sign16 = pixel_rep == 1 && bits_stored == 16;
    for (long k = 0; k < f.frames; ++k, p += frame_size) {
      for (std::size_t i = 0; i < frame_size; ++i) frame[i] = convert(sign16 ? static_cast<Sint16>(p[i]) : p[i], shift);
      use(k, frame.data());
    }
  } else {
    const Uint8* p = nullptr;
    if (ds->findAndGetUint8Array(DCM_PixelData, p, &count).bad() || !p) {
      throw Error(f.path, "cannot read Pixel Data (truncated file?)");
    }
    if (count < n) throw Error(f.path, "Pixel Data holds " + std::to_string(count) + " bytes, expected " + expected);
    const bool sign8 = pixel_rep == 1 && bits_stored == 8;
    for (long k = 0; k < f.frames; ++k, p += frame_size) {
      for (std::size_t i = 0; i < frame_size; ++i) frame[i] = convert(sign8 ? static_cast<Sint8>(p[i]) : p[i], shift);
      use(k, frame.data());
    }
  }
  // Free the file's pixels: the caller has copied what it needs.
  f.file.reset();
}

}  // namespace medsynth::io::detail
