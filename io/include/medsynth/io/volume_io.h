#pragma once
// Reading and writing volumes: one entry point each, dispatching on what the path holds.
#include <string>
#include <vector>

#include "medsynth/io/volume.h"

namespace medsynth::io {

enum class Format { kNifti, kAnalyze, kMeta, kNrrd, kPng, kDicom };
std::string to_string(Format f);

// What a path holds for reading: a folder → DICOM; a known suffix → that format; otherwise the
// DICOM magic ("DICM" at byte 128) or a .dcm suffix → DICOM. Throws io::Error when unknown.
Format detect_read_format(const std::string& path);
// The format a writer will use for a path, from its suffix. Throws io::Error for unknown suffixes.
Format detect_write_format(const std::string& path);

struct ReadOptions {
  // DICOM only: which series when a folder holds several: a SeriesInstanceUID or the 1-based
  // position in list_dicom_series(). Empty: the folder must hold exactly one series.
  std::string series;
  // DICOM only: which volume (0-based) of a 4-D series (time, diffusion, ...). -1: the series
  // must hold one volume; a 4-D series is refused, listing what varies along its 4th dimension.
  long volume = -1;
};

Volume read_volume(const std::string& path, const ReadOptions& options = {});
LabelVolume read_label_volume(const std::string& path, const ReadOptions& options = {});

struct WriteOptions {
  bool force = false;          // replace an existing output
  bool has_pixel_type = false; // override the stored type of the volume
  PixelType pixel_type = PixelType::kFloat32;
};

// Writes to a temporary name beside the target and renames it into place; on failure nothing is
// left at the target. An existing target is refused unless options.force.
void write_volume(const Volume& volume, const std::string& path, const WriteOptions& options = {});
void write_label_volume(const LabelVolume& labels, const std::string& path,
                        const WriteOptions& options = {});

// One DICOM series found under a path (file, folder or folder tree): a SeriesInstanceUID, or one
// stack or echo of it when it holds several (`part` says which, e.g. "echo 2").
struct DicomSeriesInfo {
  std::string series_uid;
  std::string part, stack, echo;
  std::string series_number;
  std::string series_description;
  std::string modality;
  std::string study_uid;
  std::size_t rows = 0, columns = 0;  // of one slice (a mosaic's tile)
  std::vector<std::string> files;
  std::size_t frames = 0;   // 2-D slices in all files (enhanced frames, mosaic tiles)
  std::size_t volumes = 1;  // along the 4th dimension
  std::vector<std::string> varies;  // what differs between the volumes: "name: values"
  std::string problem;      // why the frames cannot be arranged as volumes ("" when they can)
};

// Series under `path`, ordered by series number then UID. Files that are not DICOM images are
// skipped; `skipped` (when given) receives "<file>: <why>" for each.
std::vector<DicomSeriesInfo> list_dicom_series(const std::string& path,
                                               std::vector<std::string>* skipped = nullptr);

}  // namespace medsynth::io
