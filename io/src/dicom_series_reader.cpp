// DICOM series reading with DCMTK: files found under a path, their frames (dicom_frames.cpp)
// grouped by SeriesInstanceUID (and stack or echo), arranged as volumes (dicom_volume_grid.cpp),
// one volume chosen and its voxels decoded.
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
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <sstream>

#include "dicom_frames.h"
#include "dicom_volume_grid.h"
#include "file_utils.h"
#include "medsynth/io/error.h"
#include "medsynth/memory.h"

namespace fs = std::filesystem;

namespace medsynth::io {
namespace {

using detail::DicomFile;
using detail::DicomFrame;
using detail::VolumeGrid;

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

std::vector<DicomFrame> scan(const std::string& path, std::vector<std::string>* skipped) {
  init_dcmtk();
  std::error_code ec;
  std::vector<DicomFrame> out;
  if (!fs::exists(path, ec)) throw Error(path, "no such file or folder");
  if (!fs::is_directory(path, ec)) return detail::read_dicom_frames(path);
  const std::vector<fs::path> files = detail::files_under(path);
  for (const auto& f : files) {
    if (!looks_like_dicom(f)) {
      if (skipped) skipped->push_back(f.string() + ": not DICOM");
      continue;
    }
    try {
      auto frames = detail::read_dicom_frames(f.string());
      for (auto& fr : frames) out.push_back(std::move(fr));
    } catch (const Error& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  return out;
}

// One listed series: a SeriesInstanceUID, or one stack or echo of it when it holds several
// (an enhanced file with a localizer's three stacks; a dual-echo series, which dcm2niix also splits).
struct SeriesEntry {
  DicomSeriesInfo info;
  std::vector<DicomFrame> frames;
};

long leading_number(const std::string& s) { return std::strtol(s.c_str(), nullptr, 10); }
double number_or_zero(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

std::vector<SeriesEntry> group(std::vector<DicomFrame> frames) {
  std::map<std::string, std::set<std::string>> stacks, echoes;
  for (const auto& f : frames) stacks[f.series_uid].insert(f.stack), echoes[f.series_uid].insert(f.echo);
  std::vector<SeriesEntry> entries;
  for (auto& f : frames) {
    std::string part;
    if (stacks[f.series_uid].size() > 1) part = "stack " + (f.stack.empty() ? "(none)" : f.stack);
    if (echoes[f.series_uid].size() > 1) part += std::string(part.empty() ? "" : ", ") + "echo " + (f.echo.empty() ? "(none)" : f.echo);
    auto it = std::find_if(entries.begin(), entries.end(), [&](const SeriesEntry& e) {
      return e.info.series_uid == f.series_uid && e.info.part == part;
    });
    if (it == entries.end()) {
      SeriesEntry e;
      e.info.series_uid = f.series_uid;
      e.info.part = part;
      e.info.series_number = f.series_number;
      e.info.series_description = f.series_description;
      e.info.modality = f.modality;
      e.info.study_uid = f.study_uid;
      e.info.rows = static_cast<std::size_t>(f.rows);
      e.info.columns = static_cast<std::size_t>(f.columns);
      entries.push_back(std::move(e));
      it = entries.end() - 1;
    }
    if (it->info.files.empty() || it->info.files.back() != f.file->path) it->info.files.push_back(f.file->path);
    it->frames.push_back(std::move(f));
  }
  for (auto& e : entries) {
    e.info.frames = e.frames.size();
    const DicomFrame& f = e.frames.front();
    e.info.stack = stacks[f.series_uid].size() > 1 ? f.stack : "";
    e.info.echo = echoes[f.series_uid].size() > 1 ? f.echo : "";
  }
  std::stable_sort(entries.begin(), entries.end(), [](const SeriesEntry& a, const SeriesEntry& b) {
    const long na = leading_number(a.info.series_number), nb = leading_number(b.info.series_number);
    if (na != nb) return na < nb;
    if (a.info.series_uid != b.info.series_uid) return a.info.series_uid < b.info.series_uid;
    const long sa = leading_number(a.info.stack), sb = leading_number(b.info.stack);
    if (sa != sb) return sa < sb;
    return number_or_zero(a.info.echo) < number_or_zero(b.info.echo);
  });
  return entries;
}

std::string describe_series(const std::vector<SeriesEntry>& series) {
  std::ostringstream os;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i].info;
    os << "\n  " << (i + 1) << ": " << s.series_uid << (s.part.empty() ? "" : " (" + s.part + ")") << "  #"
       << s.series_number << " " << s.modality << " '" << s.series_description << "' " << s.columns << "x" << s.rows
       << ", " << s.files.size() << " file(s)";
    if (s.frames != s.files.size()) os << ", " << s.frames << " frame(s)";
    if (s.volumes > 1) os << ", " << s.volumes << " volumes";
  }
  return os.str();
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// Fills the 4th-dimension fields of the listing; a series that cannot be arranged says why.
void describe_volumes(const std::string& path, SeriesEntry& e) {
  try {
    const VolumeGrid grid = detail::arrange_frames(path, e.frames);
    e.info.volumes = grid.volumes.size();
    e.info.varies = grid.varies;
  } catch (const Error& err) {
    e.info.problem = err.what();
  }
}

std::vector<SeriesEntry> scan_series(const std::string& path, std::vector<std::string>* skipped) {
  auto entries = group(scan(path, skipped));
  for (auto& e : entries) describe_volumes(path, e);
  return entries;
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

// Decodes each file once (a multi-frame or mosaic file holds many slices) and copies its frames,
// rescaled, into their slices of `v`, frame by frame as they are decoded.
void fill_voxels(Volume& v, const std::vector<const DicomFrame*>& slices, bool* all_integer) {
  const std::size_t nx = v.geometry.size[0], ny = v.geometry.size[1];
  std::map<DicomFile*, std::vector<std::size_t>> slices_of;
  std::vector<DicomFile*> order;
  for (std::size_t k = 0; k < slices.size(); ++k) {
    DicomFile* file = slices[k]->file.get();
    if (!slices_of.count(file)) order.push_back(file);
    slices_of[file].push_back(k);
  }
  for (DicomFile* file : order) {
    // The slices each frame of the file feeds (a mosaic frame feeds all its tiles).
    std::vector<std::vector<std::size_t>> by_frame(static_cast<std::size_t>(file->frames));
    for (std::size_t k : slices_of[file]) by_frame.at(static_cast<std::size_t>(slices[k]->frame)).push_back(k);
    const std::size_t columns = static_cast<std::size_t>(file->columns);
    detail::decode_frames(*file, [&](long frame, const std::int32_t* src) {
      for (std::size_t k : by_frame[static_cast<std::size_t>(frame)]) {
        const DicomFrame& f = *slices[k];
        float* dst = v.voxels.data() + k * nx * ny;
        for (std::size_t j = 0; j < ny; ++j) {
          const std::int32_t* line = src + (static_cast<std::size_t>(f.tile_row) + j) * columns + static_cast<std::size_t>(f.tile_col);
          for (std::size_t i = 0; i < nx; ++i) dst[j * nx + i] = static_cast<float>(line[i] * f.slope + f.intercept);
        }
        if (f.slope != std::floor(f.slope) || f.intercept != std::floor(f.intercept)) *all_integer = false;
      }
    });
  }
}

}  // namespace

std::vector<DicomSeriesInfo> list_dicom_series(const std::string& path, std::vector<std::string>* skipped) {
  std::vector<DicomSeriesInfo> out;
  for (auto& e : scan_series(path, skipped)) out.push_back(std::move(e.info));
  return out;
}

namespace detail {

Volume read_dicom_series(const std::string& path, const ReadOptions& options) {
  std::vector<std::string> skipped;
  std::vector<SeriesEntry> series = scan_series(path, &skipped);
  if (series.empty()) {
    std::string why = skipped.empty() ? "" : " (first problem: " + skipped.front() + ")";
    throw Error(path, "no DICOM image found" + why);
  }
  const SeriesEntry* chosen = nullptr;
  if (!options.series.empty()) {
    std::size_t by_uid = 0;
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (std::to_string(i + 1) == options.series) chosen = &series[i];
    }
    for (std::size_t i = 0; i < series.size() && !chosen; ++i) {
      if (series[i].info.series_uid == options.series) ++by_uid;
    }
    if (by_uid > 1) {
      throw Error(path, "series '" + options.series + "' holds " + std::to_string(by_uid) +
                            " stacks or echoes; choose one by its number:" + describe_series(series));
    }
    for (std::size_t i = 0; i < series.size() && !chosen; ++i) {
      if (series[i].info.series_uid == options.series) chosen = &series[i];
    }
    if (!chosen) throw Error(path, "no series '" + options.series + "'; series found:" + describe_series(series));
  } else if (series.size() > 1) {
    throw Error(path, "holds " + std::to_string(series.size()) +
                          " series; choose one with --series UID|number:" + describe_series(series));
  } else {
    chosen = &series.front();
  }

  const VolumeGrid grid = arrange_frames(path, chosen->frames);
  const std::size_t n_volumes = grid.volumes.size();
  std::size_t t = 0;
  if (options.volume >= 0) {
    if (static_cast<std::size_t>(options.volume) >= n_volumes) {
      throw Error(path, "--volume " + std::to_string(options.volume) + " is outside 0.." + std::to_string(n_volumes - 1) +
                            " (the series holds " + std::to_string(n_volumes) + " volume(s))");
    }
    t = static_cast<std::size_t>(options.volume);
  } else if (n_volumes > 1) {
    // Never stack the frames of several volumes into one 3-D image.
    throw Error(path, "is a 4-D series of " + std::to_string(n_volumes) + " volumes (" + join(grid.varies, "; ") +
                          "); choose one with --volume N (0.." + std::to_string(n_volumes - 1) + ")");
  }
  const std::vector<const DicomFrame*>& slices = grid.volumes[t];
  const double dz = slice_spacing(path, grid, slices);
  const DicomFrame& first = *slices.front();

  Volume v;
  auto& g = v.geometry;
  g.size = {static_cast<std::size_t>(first.columns), static_cast<std::size_t>(first.rows), slices.size()};
  // PixelSpacing is (between rows, between columns) = (y, x).
  g.spacing = {first.pixel_spacing[1], first.pixel_spacing[0], dz};
  g.origin = first.ipp;
  for (std::size_t r = 0; r < 3; ++r) {
    g.direction[3 * r + 0] = grid.row[r];
    g.direction[3 * r + 1] = grid.col[r];
    g.direction[3 * r + 2] = grid.normal[r];
  }
  validate_geometry(g, path);
  // Rows x Columns x slices as the headers claim them, before the buffer (a few small files can
  // claim terabytes; their pixel data is checked only as each file is decoded).
  require_memory(static_cast<std::uint64_t>(g.voxel_count()) * sizeof(float), path);
  v.voxels.resize(g.voxel_count());
  bool all_integer = true;
  fill_voxels(v, slices, &all_integer);
  v.stored_type = choose_stored_type(v, all_integer);
  const DicomSeriesInfo& info = chosen->info;
  v.metadata["source"] = path;
  v.metadata["format"] = "DICOM";
  v.metadata["modality"] = info.modality;
  v.metadata["series_uid"] = info.series_uid;
  v.metadata["series_number"] = info.series_number;
  v.metadata["series_description"] = info.series_description;
  v.metadata["study_uid"] = info.study_uid;
  if (!info.part.empty()) v.metadata["series_part"] = info.part;
  // Acquisition attributes (the ingest's conditions; PatientAge and PatientSex among them, which
  // `info --json` leaves out): the first slice's.
  for (const auto& [k, value] : first.acquisition) v.metadata["dicom." + k] = value;
  if (n_volumes > 1) {
    v.metadata["volume"] = std::to_string(t);
    v.metadata["volumes"] = std::to_string(n_volumes);
    v.metadata["varies"] = join(grid.varies, "; ");
  }
  return v;
}

}  // namespace detail
}  // namespace medsynth::io
