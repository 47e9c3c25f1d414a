// DICOM series reading with DCMTK: grouping by SeriesInstanceUID, sorting along the slice normal,
// rescale, geometry from the Image Plane module. Quirks handled are named where they are handled.
#include "dicom_series_reader.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "file_utils.h"
#include "medsynth/io/error.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace {

void init_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] {
    // DCMTK logs parser warnings to stderr; medsynth reports its own messages instead.
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();     // JPEG baseline, extended, lossless
    DJLSDecoderRegistration::registerCodecs();   // JPEG-LS
    DcmRLEDecoderRegistration::registerCodecs(); // RLE
  });
  if (!dcmDataDict.isDictionaryLoaded()) {
    throw medsynth::Error("DCMTK's data dictionary is not loaded (install the libdcmtk package "
                          "or set DCMDICTPATH)");
  }
}

struct SliceHeader {
  std::string path;
  std::shared_ptr<DcmFileFormat> file;  // pixel data is loaded lazily on first access
  std::string series_uid, series_number, series_description, modality, study_uid;
  long rows = 0, columns = 0;
  bool has_ipp = false, has_iop = false;
  std::array<double, 3> ipp{0, 0, 0};
  std::array<double, 6> iop{1, 0, 0, 0, 1, 0};
  std::array<double, 2> pixel_spacing{1, 1};  // (row spacing, column spacing)
  double slope = 1, intercept = 0;
  long instance = 0;
  double slice_spacing_hint = 0;  // SpacingBetweenSlices or SliceThickness, for single slices
};

std::string get_string(DcmDataset* ds, const DcmTagKey& key) {
  OFString s;
  if (ds->findAndGetOFStringArray(key, s).good()) {
    std::string r = s.c_str();
    while (!r.empty() && (r.back() == ' ' || r.back() == '\0')) r.pop_back();
    return r;
  }
  return {};
}

bool get_doubles(DcmDataset* ds, const DcmTagKey& key, double* out, int n) {
  for (int i = 0; i < n; ++i) {
    Float64 v;
    if (ds->findAndGetFloat64(key, v, static_cast<unsigned long>(i)).bad() || !std::isfinite(v)) return false;
    out[i] = v;
  }
  return true;
}

// Cheap test before handing a file in a folder to the parser: the "DICM" magic at byte 128, or a
// file without preamble that starts with a group 0002/0008 tag (no_meta.dcm is such a file).
bool looks_like_dicom(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char b[132] = {};
  in.read(reinterpret_cast<char*>(b), sizeof b);
  const auto n = in.gcount();
  if (n >= 132 && std::memcmp(b + 128, "DICM", 4) == 0) return true;
  if (n >= 8 && ((b[0] == 0x08 && b[1] == 0x00) || (b[0] == 0x02 && b[1] == 0x00) ||
                 (b[0] == 0x00 && b[1] == 0x08))) {
    return true;
  }
  return false;
}

SliceHeader read_header(const std::string& path) {
  SliceHeader h;
  h.path = path;
  h.file = std::make_shared<DcmFileFormat>();
  std::error_code ec;
  if (fs::file_size(path, ec) == 0) throw Error(path, "file is empty");
  // Values longer than 4 KiB (the pixel data) stay on disk until they are used.
  OFCondition c = h.file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (c.bad()) throw Error(path, std::string("not a readable DICOM file (") + c.text() + ")");
  DcmDataset* ds = h.file->getDataset();
  if (!ds) throw Error(path, "DICOM file has no dataset");
  DcmElement* pixel = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, pixel).bad() || !pixel) {
    std::string sop = get_string(ds, DCM_SOPClassUID);
    const char* name = dcmFindNameOfUID(sop.c_str());
    throw Error(path, std::string("not an image: no Pixel Data (SOP class ") +
                          (name ? name : (sop.empty() ? "unknown" : sop.c_str())) + ")");
  }
  Uint16 u16 = 0;
  if (ds->findAndGetUint16(DCM_Rows, u16).bad() || u16 == 0) throw Error(path, "missing or zero Rows");
  h.rows = u16;
  if (ds->findAndGetUint16(DCM_Columns, u16).bad() || u16 == 0) throw Error(path, "missing or zero Columns");
  h.columns = u16;
  h.series_uid = get_string(ds, DCM_SeriesInstanceUID);
  h.series_number = get_string(ds, DCM_SeriesNumber);
  h.series_description = get_string(ds, DCM_SeriesDescription);
  h.modality = get_string(ds, DCM_Modality);
  h.study_uid = get_string(ds, DCM_StudyInstanceUID);
  h.has_ipp = get_doubles(ds, DCM_ImagePositionPatient, h.ipp.data(), 3);
  h.has_iop = get_doubles(ds, DCM_ImageOrientationPatient, h.iop.data(), 6);
  if (!get_doubles(ds, DCM_PixelSpacing, h.pixel_spacing.data(), 2)) {
    // Secondary captures carry no PixelSpacing; some carry ImagerPixelSpacing instead.
    if (!get_doubles(ds, DCM_ImagerPixelSpacing, h.pixel_spacing.data(), 2)) h.pixel_spacing = {1, 1};
  }
  double v = 0;
  if (get_doubles(ds, DCM_RescaleSlope, &v, 1)) h.slope = v == 0 ? 1 : v;  // a zero slope is a writer bug
  if (get_doubles(ds, DCM_RescaleIntercept, &v, 1)) h.intercept = v;
  Sint32 inst = 0;
  if (ds->findAndGetSint32(DCM_InstanceNumber, inst).good()) h.instance = inst;
  if (!get_doubles(ds, DCM_SpacingBetweenSlices, &h.slice_spacing_hint, 1) &&
      !get_doubles(ds, DCM_SliceThickness, &h.slice_spacing_hint, 1)) {
    h.slice_spacing_hint = 0;
  }
  Sint32 frames = 1;
  if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).good() && frames > 1) {
    throw Error(path, "multi-frame DICOM (" + std::to_string(frames) +
                          " frames) is not supported yet; convert it to single-frame files first");
  }
  return h;
}

std::vector<SliceHeader> scan(const std::string& path, std::vector<std::string>* skipped) {
  init_dcmtk();
  std::error_code ec;
  std::vector<SliceHeader> out;
  if (!fs::exists(path, ec)) throw Error(path, "no such file or folder");
  if (!fs::is_directory(path, ec)) {
    out.push_back(read_header(path));
    return out;
  }
  const std::vector<fs::path> files = detail::files_under(path);
  for (const auto& f : files) {
    if (!looks_like_dicom(f)) {
      if (skipped) skipped->push_back(f.string() + ": not DICOM");
      continue;
    }
    try {
      out.push_back(read_header(f.string()));
    } catch (const Error& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  return out;
}

std::vector<DicomSeriesInfo> group(const std::vector<SliceHeader>& headers) {
  std::vector<DicomSeriesInfo> series;
  for (const auto& h : headers) {
    auto it = std::find_if(series.begin(), series.end(),
                           [&](const DicomSeriesInfo& s) { return s.series_uid == h.series_uid; });
    if (it == series.end()) {
      DicomSeriesInfo s;
      s.series_uid = h.series_uid;
      s.series_number = h.series_number;
      s.series_description = h.series_description;
      s.modality = h.modality;
      s.study_uid = h.study_uid;
      s.rows = static_cast<std::size_t>(h.rows);
      s.columns = static_cast<std::size_t>(h.columns);
      series.push_back(s);
      it = series.end() - 1;
    }
    it->files.push_back(h.path);
  }
  std::stable_sort(series.begin(), series.end(), [](const DicomSeriesInfo& a, const DicomSeriesInfo& b) {
    char* ea = nullptr;
    char* eb = nullptr;
    long na = std::strtol(a.series_number.c_str(), &ea, 10);
    long nb = std::strtol(b.series_number.c_str(), &eb, 10);
    if (na != nb) return na < nb;
    return a.series_uid < b.series_uid;
  });
  return series;
}

std::string describe_series(const std::vector<DicomSeriesInfo>& series) {
  std::ostringstream os;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    os << "\n  " << (i + 1) << ": " << s.series_uid << "  #" << s.series_number << " "
       << s.modality << " '" << s.series_description << "' " << s.columns << "x" << s.rows << ", "
       << s.files.size() << " file(s)";
  }
  return os.str();
}

std::array<double, 3> cross(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

// Decodes one slice's pixels (decompressing if needed) into `dst` as rescaled floats.
void decode_pixels(SliceHeader& h, float* dst, bool* all_integer) {
  DcmDataset* ds = h.file->getDataset();
  const E_TransferSyntax xfer = ds->getOriginalXfer();
  if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
      !ds->canWriteXfer(EXS_LittleEndianExplicit)) {
    DcmXfer x(xfer);
    throw Error(h.path, std::string("pixel data compressed as '") + x.getXferName() +
                            "', which this build cannot decode");
  }
  Uint16 bits_alloc = 0, bits_stored = 0, high_bit = 0, pixel_rep = 0, samples = 1;
  ds->findAndGetUint16(DCM_BitsAllocated, bits_alloc);
  if (ds->findAndGetUint16(DCM_BitsStored, bits_stored).bad() || bits_stored == 0 || bits_stored > bits_alloc) {
    bits_stored = bits_alloc;
  }
  if (ds->findAndGetUint16(DCM_HighBit, high_bit).bad() || high_bit >= bits_alloc || high_bit + 1 < bits_stored) {
    high_bit = static_cast<Uint16>(bits_stored - 1);
  }
  // Stored bits may sit above bit 0 (HighBit > BitsStored - 1, seen in old ACR-NEMA files).
  const int shift = high_bit + 1 - bits_stored;
  ds->findAndGetUint16(DCM_PixelRepresentation, pixel_rep);
  ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
  if (samples != 1) {
    throw Error(h.path, "has " + std::to_string(samples) + " samples per pixel (colour); medsynth reads greyscale images");
  }
  const std::size_t n = static_cast<std::size_t>(h.rows) * static_cast<std::size_t>(h.columns);
  auto convert = [&](auto raw_value) {
    long v = static_cast<long>(raw_value) >> shift;
    if (bits_stored < bits_alloc) {
      const long mask = (1L << bits_stored) - 1;
      v &= mask;
      if (pixel_rep == 1 && (v & (1L << (bits_stored - 1)))) v -= (1L << bits_stored);
    } else if (pixel_rep == 1) {
      if (bits_alloc == 16) v = static_cast<Sint16>(static_cast<Uint16>(raw_value));
      if (bits_alloc == 8) v = static_cast<Sint8>(static_cast<Uint8>(raw_value));
    }
    return v;
  };
  unsigned long count = 0;
  if (bits_alloc == 16) {
    const Uint16* p = nullptr;
    if (ds->findAndGetUint16Array(DCM_PixelData, p, &count).bad() || !p) {
      throw Error(h.path, "cannot read Pixel Data (truncated file?)");
    }
    if (count < n) throw Error(h.path, "Pixel Data holds " + std::to_string(count) + " values, expected " + std::to_string(n));
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(convert(p[i]) * h.slope + h.intercept);
  } else if (bits_alloc == 8) {
    const Uint8* p = nullptr;
    if (ds->findAndGetUint8Array(DCM_PixelData, p, &count).bad() || !p) {
      throw Error(h.path, "cannot read Pixel Data (truncated file?)");
    }
    if (count < n) throw Error(h.path, "Pixel Data holds " + std::to_string(count) + " bytes, expected " + std::to_string(n));
    for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(convert(p[i]) * h.slope + h.intercept);
  } else {
    throw Error(h.path, "BitsAllocated " + std::to_string(bits_alloc) + " is not supported (8 or 16)");
  }
  if (h.slope != std::floor(h.slope) || h.intercept != std::floor(h.intercept)) *all_integer = false;
  // Free the decoded pixels: the Volume holds them now.
  h.file.reset();
}

PixelType choose_stored_type(const Volume& v, bool all_integer) {
  if (!all_integer) return PixelType::kFloat32;
  auto [lo, hi] = intensity_range(v);
  if (lo >= 0 && hi <= 255) return PixelType::kUInt8;
  if (lo >= -32768 && hi <= 32767) return PixelType::kInt16;
  if (lo >= 0 && hi <= 65535) return PixelType::kUInt16;
  if (lo >= -2147483648.0 && hi <= 2147483647.0) return PixelType::kInt32;
  return PixelType::kFloat32;
}

}  // namespace

std::vector<DicomSeriesInfo> list_dicom_series(const std::string& path, std::vector<std::string>* skipped) {
  return group(scan(path, skipped));
}

namespace detail {

Volume read_dicom_series(const std::string& path, const ReadOptions& options) {
  std::vector<std::string> skipped;
  std::vector<SliceHeader> headers = scan(path, &skipped);
  if (headers.empty()) {
    std::string why = skipped.empty() ? "" : " (first problem: " + skipped.front() + ")";
    throw Error(path, "no DICOM image found" + why);
  }
  const auto series = group(headers);
  const DicomSeriesInfo* chosen = nullptr;
  if (!options.series.empty()) {
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (series[i].series_uid == options.series || std::to_string(i + 1) == options.series) {
        chosen = &series[i];
      }
    }
    if (!chosen) throw Error(path, "no series '" + options.series + "'; series found:" + describe_series(series));
  } else if (series.size() > 1) {
    throw Error(path, "holds " + std::to_string(series.size()) +
                          " series; choose one with --series UID|number:" + describe_series(series));
  } else {
    chosen = &series.front();
  }

  std::vector<SliceHeader> slices;
  for (auto& h : headers) {
    if (h.series_uid == chosen->series_uid) slices.push_back(std::move(h));
  }
  // A copy: `slices` is re-sorted below, and every check here compares against this one slice.
  const SliceHeader first = slices.front();
  for (const auto& s : slices) {
    if (s.rows != first.rows || s.columns != first.columns) {
      throw Error(path, "mixed image sizes in one series: " + first.path + " is " +
                            std::to_string(first.columns) + "x" + std::to_string(first.rows) + ", " + s.path +
                            " is " + std::to_string(s.columns) + "x" + std::to_string(s.rows));
    }
    if (std::fabs(s.pixel_spacing[0] - first.pixel_spacing[0]) > 1e-4 ||
        std::fabs(s.pixel_spacing[1] - first.pixel_spacing[1]) > 1e-4) {
      throw Error(path, "mixed pixel spacing in one series (" + first.path + " vs " + s.path + ")");
    }
    if (slices.size() > 1 && (!s.has_ipp || !s.has_iop)) {
      throw Error(s.path, "has no ImagePositionPatient/ImageOrientationPatient, so the series cannot be stacked");
    }
    for (int i = 0; i < 6; ++i) {
      if (std::fabs(s.iop[static_cast<std::size_t>(i)] - first.iop[static_cast<std::size_t>(i)]) > 1e-3) {
        throw Error(path, "mixed slice orientations in one series (" + first.path + " vs " + s.path + ")");
      }
    }
  }
  std::array<double, 3> row{first.iop[0], first.iop[1], first.iop[2]};
  std::array<double, 3> col{first.iop[3], first.iop[4], first.iop[5]};
  // Some writers store IOP with few digits; renormalise so the direction stays orthonormal.
  auto normalise = [](std::array<double, 3>& v) {
    double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (auto& x : v) x /= n;
  };
  normalise(row);
  normalise(col);
  std::array<double, 3> normal = cross(row, col);
  normalise(normal);
  auto along = [&](const SliceHeader& s) {
    return s.ipp[0] * normal[0] + s.ipp[1] * normal[1] + s.ipp[2] * normal[2];
  };
  std::stable_sort(slices.begin(), slices.end(),
                   [&](const SliceHeader& a, const SliceHeader& b) { return along(a) < along(b); });

  double dz = first.slice_spacing_hint > 0 ? first.slice_spacing_hint : 1.0;
  if (slices.size() > 1) {
    std::vector<double> gaps;
    for (std::size_t i = 1; i < slices.size(); ++i) {
      const double g = along(slices[i]) - along(slices[i - 1]);
      if (g < 1e-3) {
        throw Error(path, "two slices at one position (" + std::to_string(along(slices[i])) +
                              " mm along the normal): " + slices[i - 1].path + " and " + slices[i].path);
      }
      gaps.push_back(g);
    }
    // The smallest gap is the spacing: with slices missing, the other gaps are its multiples
    // (a median would call a 3-slice series with one slice missing "uneven").
    dz = *std::min_element(gaps.begin(), gaps.end());
    for (std::size_t i = 0; i < gaps.size(); ++i) {
      if (std::fabs(gaps[i] - dz) > 1e-2 * dz + 1e-3) {
        const double ratio = gaps[i] / dz;
        if (std::fabs(ratio - std::round(ratio)) < 0.05 && ratio > 1.5) {
          throw Error(path, "missing slice(s): gap of " + std::to_string(gaps[i]) + " mm between " +
                                slices[i].path + " and " + slices[i + 1].path + " where the spacing is " +
                                std::to_string(dz) + " mm");
        }
        throw Error(path, "uneven slice spacing: " + std::to_string(gaps[i]) + " mm between " +
                              slices[i].path + " and " + slices[i + 1].path + ", " + std::to_string(dz) +
                              " mm elsewhere");
      }
    }
  }

  Volume v;
  auto& g = v.geometry;
  g.size = {static_cast<std::size_t>(first.columns), static_cast<std::size_t>(first.rows), slices.size()};
  // PixelSpacing is (between rows, between columns) = (y, x).
  g.spacing = {first.pixel_spacing[1], first.pixel_spacing[0], dz};
  g.origin = slices.front().ipp;
  for (int r = 0; r < 3; ++r) {
    g.direction[static_cast<std::size_t>(3 * r + 0)] = row[static_cast<std::size_t>(r)];
    g.direction[static_cast<std::size_t>(3 * r + 1)] = col[static_cast<std::size_t>(r)];
    g.direction[static_cast<std::size_t>(3 * r + 2)] = normal[static_cast<std::size_t>(r)];
  }
  validate_geometry(g, path);
  v.voxels.resize(g.voxel_count());
  const std::size_t per_slice = g.size[0] * g.size[1];
  bool all_integer = true;
  for (std::size_t k = 0; k < slices.size(); ++k) {
    decode_pixels(slices[k], v.voxels.data() + k * per_slice, &all_integer);
  }
  v.stored_type = choose_stored_type(v, all_integer);
  v.metadata["source"] = path;
  v.metadata["format"] = "DICOM";
  v.metadata["modality"] = chosen->modality;
  v.metadata["series_uid"] = chosen->series_uid;
  v.metadata["series_number"] = chosen->series_number;
  v.metadata["series_description"] = chosen->series_description;
  v.metadata["study_uid"] = chosen->study_uid;
  return v;
}

}  // namespace detail
}  // namespace medsynth::io
