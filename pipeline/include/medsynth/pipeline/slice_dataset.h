#pragma once
// Ingest: a manifest of volumes becomes a cache of normalised square slices (memory-mapped for
// training), keyed by a fingerprint of the inputs and settings, so unchanged input is not
// ingested twice. Split by subject; with one subject, by a contiguous slab of slices.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "medsynth/io/volume.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/manifest.h"

namespace medsynth::pipeline {

// Reads the CSV (parse_manifest, manifest.h); every named file must exist, be readable and have a
// known format, checked before any work (io::Error naming the file and the manifest line).
std::vector<ManifestRow> read_manifest(const std::string& path);

// Intensity window: percentiles of the foreground (voxels above the volume's minimum) → [-1, 1].
struct IntensityWindow {
  float lo = 0, hi = 1;
  float map(float v) const;
};
IntensityWindow fit_window(const io::Volume& v, double p_lo, double p_hi);

// Tissue map by multi-Otsu thresholds of the foreground: 0 background, 1..classes by intensity
// (for T1: CSF, grey matter, white matter).
io::LabelVolume tissue_map(const io::Volume& v, int classes);

// The tissue map with a label map's non-zero labels drawn over it (data.labels = tissue+file:
// e.g. an atlas parcellation of the grey matter over background/CSF/grey/white). File label L
// becomes kOverlayOffset + L, so it never collides with a tissue class; `labels_path` names the
// file in errors.
constexpr std::int32_t kOverlayOffset = 1000;
io::LabelVolume overlay_labels(io::LabelVolume tissue, const io::LabelVolume& labels, const std::string& labels_path);

// The label map a model is conditioned on for one manifest row, per data.labels: the file, the
// image's tissue map, or the tissue map under the file's labels.
io::LabelVolume condition_label_map(const io::Volume& image, const std::string& image_path, const std::string& labels_path,
                                    const DataConfig& data);

struct SliceRecord {
  int subject = 0;      // index into subjects
  int z = 0;            // canonical slice index in its volume
  float position = 0;   // normalised slice position
  bool heldout = false;
  int class_id = -1;
  int row = 0;          // index into the index's "subjects" (one per manifest row: its attributes)
};

class SliceDataset {
 public:
  static SliceDataset open(const std::string& dir);  // throws when the cache is incomplete
  SliceDataset(SliceDataset&&) noexcept;
  SliceDataset& operator=(SliceDataset&&) noexcept;
  ~SliceDataset();

  std::size_t size() const { return records_.size(); }
  int width() const { return width_; }
  int height() const { return height_; }
  bool native() const { return grid_ == 0; }  // data.grid = native
  double pixel() const { return pixel_; }      // in-plane pixel size in mm
  int label_classes() const { return label_classes_; }  // 0 when there are no label maps
  bool has_source() const { return sources_ != nullptr; }
  const float* image(std::size_t i) const { return images_ + i * pixels(); }
  const std::uint8_t* labels(std::size_t i) const { return labels_ + i * pixels(); }
  const float* source(std::size_t i) const { return sources_ + i * pixels(); }
  const SliceRecord& record(std::size_t i) const { return records_[i]; }
  std::vector<std::size_t> indices(bool heldout) const;
  // The slice `d` slices away from slice i in the same volume; where that slice was not kept
  // (too little foreground, or outside the volume), the nearest kept one towards i.
  std::size_t neighbour(std::size_t i, int d) const;
  const nlohmann::json& index() const { return index_; }
  // The acquisition attributes (acquisition.h) of slice i's scan: an object, empty when none.
  const nlohmann::json& attributes(std::size_t i) const;
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& dir() const { return dir_; }
  std::size_t pixels() const { return static_cast<std::size_t>(width_) * static_cast<std::size_t>(height_); }

 private:
  SliceDataset() = default;
  struct Mapping;
  std::vector<std::unique_ptr<Mapping>> maps_;
  const float* images_ = nullptr;
  const std::uint8_t* labels_ = nullptr;
  const float* sources_ = nullptr;
  std::vector<SliceRecord> records_;
  nlohmann::json index_;
  std::string fingerprint_, dir_;
  int grid_ = 0, width_ = 0, height_ = 0, label_classes_ = 0;
  double pixel_ = 1;
};

// The acquisition attributes of the scans a split holds (heldout false: the training scans), one per
// manifest row with a slice in it.
std::vector<nlohmann::json> scan_attributes(const SliceDataset& data, bool heldout);

struct IngestResult {
  std::string dir;
  bool reused = false;
  std::size_t train_slices = 0, heldout_slices = 0;
};

// Ingests (or finds in the cache) the dataset of `config.data`. `cache_root` is used when
// config.data.cache is empty.
IngestResult ingest(const RunConfig& config, const std::string& cache_root);

}  // namespace medsynth::pipeline
