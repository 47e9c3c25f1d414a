#include "medsynth/io/volume_io.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "dicom_series_reader.h"
#include "itk_image_io.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "nifti_io.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Format from the file name alone; false when the suffix says nothing.
bool format_from_suffix(const std::string& path, Format* f) {
  const std::string p = lower(path);
  if (ends_with(p, ".nii") || ends_with(p, ".nii.gz")) return *f = Format::kNifti, true;
  if (ends_with(p, ".hdr") || ends_with(p, ".hdr.gz") || ends_with(p, ".img") || ends_with(p, ".img.gz")) {
    return *f = Format::kAnalyze, true;
  }
  if (ends_with(p, ".mha") || ends_with(p, ".mhd")) return *f = Format::kMeta, true;
  if (ends_with(p, ".nrrd") || ends_with(p, ".nhdr")) return *f = Format::kNrrd, true;
  if (ends_with(p, ".png")) return *f = Format::kPng, true;
  if (ends_with(p, ".dcm") || ends_with(p, ".dicom") || ends_with(p, ".ima")) return *f = Format::kDicom, true;
  return false;
}

// A value fits a component type exactly (so writing it there loses nothing).
template <typename T>
bool all_fit(const std::vector<T>& voxels, PixelType type) {
  double lo = 0, hi = 0;
  switch (type) {
    case PixelType::kUInt8: lo = 0, hi = 255; break;
    case PixelType::kInt8: lo = -128, hi = 127; break;
    case PixelType::kUInt16: lo = 0, hi = 65535; break;
    case PixelType::kInt16: lo = -32768, hi = 32767; break;
    case PixelType::kUInt32: lo = 0, hi = 4294967295.0; break;
    case PixelType::kInt32: lo = -2147483648.0, hi = 2147483647.0; break;
    case PixelType::kFloat32: return true;
    case PixelType::kFloat64: return true;
  }
  for (T x : voxels) {
    const double d = static_cast<double>(x);
    if (!(d >= lo && d <= hi) || d != std::floor(d)) return false;
  }
  return true;
}

template <typename T>
PixelType output_type(const Image<T>& v, const WriteOptions& options, Format f, const std::string& path) {
  PixelType type = options.has_pixel_type ? options.pixel_type : v.stored_type;
  if constexpr (std::is_integral_v<T>) {
    // Label maps are written in the smallest integer type that holds them (AAL: uint8, not int32).
    if (!options.has_pixel_type) {
      for (PixelType t : {PixelType::kUInt8, PixelType::kInt16, PixelType::kUInt16, PixelType::kInt32}) {
        if (all_fit(v.voxels, t)) {
          type = t;
          break;
        }
      }
    }
  }
  if (!options.has_pixel_type && !all_fit(v.voxels, type)) {
    // The voxels changed since reading (or were made here): keep them exactly.
    type = std::is_integral_v<T> ? PixelType::kInt32 : PixelType::kFloat32;
  }
  if (f == Format::kPng) {
    if (v.geometry.size[2] != 1) {
      throw Error(path, "PNG holds one 2-D slice but the volume has " + std::to_string(v.geometry.size[2]) +
                            " slices; write NIfTI, MHA or NRRD instead");
    }
    if (type != PixelType::kUInt8 && type != PixelType::kUInt16) {
      if (all_fit(v.voxels, PixelType::kUInt8)) type = PixelType::kUInt8;
      else if (all_fit(v.voxels, PixelType::kUInt16)) type = PixelType::kUInt16;
      else throw Error(path, "PNG holds integers 0..65535; these voxels do not fit (rescale first or write NIfTI)");
    }
  }
  return type;
}

template <typename T, typename WriteFn, typename NiftiFn>
void write_any(const Image<T>& v, const std::string& path, const WriteOptions& options, WriteFn write,
               NiftiFn write_nifti) {
  const Format f = detect_write_format(path);
  if (f == Format::kDicom) {
    throw Error(path, "DICOM is written as a folder of files: use 'medsynth convert IN OUT_DIR --to dicom'",
                ExitCode::kUsage);
  }
  if (v.voxels.size() != v.geometry.voxel_count()) {
    throw Error(path, "volume holds " + std::to_string(v.voxels.size()) + " voxels but its geometry needs " +
                          std::to_string(v.geometry.voxel_count()), ExitCode::kRuntime);
  }
  validate_geometry(v.geometry, path);
  const PixelType type = output_type(v, options, f, path);
  AtomicOutput out(path, options.force);
  try {
    if (f == Format::kNifti) {
      write_nifti(v, out.temp_path(), type);
    } else {
      write(v, out.temp_path(), type);
    }
    out.commit();
  } catch (...) {
    rethrow_on_target(path, false);  // the user named `path`, not the temporary file
  }
}

}  // namespace

std::string to_string(Format f) {
  switch (f) {
    case Format::kNifti: return "NIfTI";
    case Format::kAnalyze: return "Analyze/NIfTI pair";
    case Format::kMeta: return "MetaImage";
    case Format::kNrrd: return "NRRD";
    case Format::kPng: return "PNG";
    case Format::kDicom: return "DICOM";
  }
  return "unknown";
}

Format detect_read_format(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path, "no such file or folder");
  if (fs::is_directory(path, ec)) return Format::kDicom;
  Format f;
  if (format_from_suffix(path, &f)) return f;
  std::ifstream in(path, std::ios::binary);
  char b[132] = {};
  in.read(b, sizeof b);
  if (in.gcount() == 0) throw Error(path, "file is empty");
  if (in.gcount() >= 132 && std::memcmp(b + 128, "DICM", 4) == 0) return Format::kDicom;
  throw Error(path, "unknown file type (expected .nii, .nii.gz, .mha, .mhd, .nrrd, .nhdr, .png, a DICOM "
                    "file or a folder of DICOM files)");
}

Format detect_write_format(const std::string& path) {
  Format f;
  if (!format_from_suffix(path, &f)) {
    throw Error(path, "unknown output type (use .nii.gz, .nii, .mha, .mhd, .nrrd, .nhdr or .png)", ExitCode::kUsage);
  }
  if (f == Format::kAnalyze) {
    throw Error(path, "Analyze output is not written; use .nii or .nii.gz", ExitCode::kUsage);
  }
  return f;
}

Volume read_volume(const std::string& path, const ReadOptions& options) {
  const Format f = detect_read_format(path);
  if (f == Format::kDicom) return detail::read_dicom_series(path, options);
  std::error_code ec;
  if (fs::file_size(path, ec) == 0) throw Error(path, "file is empty");
  Volume v = (f == Format::kNifti || f == Format::kAnalyze) ? detail::read_nifti_volume(path)
                                                             : detail::itk_read_volume(path);
  v.metadata["format"] = to_string(f);
  return v;
}

LabelVolume read_label_volume(const std::string& path, const ReadOptions& options) {
  const Format f = detect_read_format(path);
  if (f == Format::kDicom) {
    Volume v = detail::read_dicom_series(path, options);
    LabelVolume l;
    l.geometry = v.geometry;
    l.metadata = v.metadata;
    l.stored_type = PixelType::kInt32;
    l.voxels.reserve(v.voxels.size());
    for (float x : v.voxels) {
      if (x != std::floor(x)) throw Error(path, "label map holds non-integer value " + std::to_string(x));
      l.voxels.push_back(static_cast<std::int32_t>(x));
    }
    return l;
  }
  std::error_code ec;
  if (fs::file_size(path, ec) == 0) throw Error(path, "file is empty");
  if (f == Format::kNifti || f == Format::kAnalyze) {
    LabelVolume l = detail::read_nifti_label_volume(path);
    l.metadata["format"] = to_string(f);
    return l;
  }
  LabelVolume l = detail::itk_read_label_volume(path);
  if (l.stored_type == PixelType::kFloat32 || l.stored_type == PixelType::kFloat64) {
    // A float label map is fine as long as it holds whole numbers; read it again as float to check.
    Volume v = detail::itk_read_volume(path);
    for (float x : v.voxels) {
      if (x != std::floor(x)) {
        throw Error(path, "label map holds non-integer value " + std::to_string(x));
      }
    }
    l.stored_type = PixelType::kInt32;
  }
  l.metadata["format"] = to_string(f);
  return l;
}

void write_volume(const Volume& volume, const std::string& path, const WriteOptions& options) {
  write_any(volume, path, options, detail::itk_write_volume, detail::write_nifti_volume);
}

void write_label_volume(const LabelVolume& labels, const std::string& path, const WriteOptions& options) {
  write_any(labels, path, options, detail::itk_write_label_volume, detail::write_nifti_label_volume);
}

}  // namespace medsynth::io
