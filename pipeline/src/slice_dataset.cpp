#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/acquisition.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/memory.h"
#include "medsynth/physics/simulation_spec.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/slice_grid.h"
#include "medsynth/validation/tissue_segmentation.h"
#include "medsynth/version.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

constexpr int kCacheFormat = 6;  // 2: held-out masks; 3: one mask per manifest row; 4: width, height, pixel;
                                  // 5: tissue maps by validation::multi_otsu_thresholds; 6: acquisition
                                  // attributes per row, each slice's row

template <typename T>
void write_raw(const fs::path& p, const std::vector<T>& v) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  if (!out) throw io::Error(p.string(), "write failed (disk full?)", ExitCode::kRuntime);
}

}  // namespace

float IntensityWindow::map(float v) const {
  const float x = 2.0f * (v - lo) / (hi - lo) - 1.0f;
  return std::clamp(x, -1.0f, 1.0f);
}

IntensityWindow fit_window(const io::Volume& v, double p_lo, double p_hi) {
  auto [mn, mx] = io::intensity_range(v);
  std::vector<float> fg;
  fg.reserve(v.voxels.size() / 2);
  for (float x : v.voxels) {
    if (std::isfinite(x) && x > mn) fg.push_back(x);
  }
  if (fg.size() < 10) throw io::Error(v.metadata.count("source") ? v.metadata.at("source") : "volume",
                                      "has no foreground (constant image)");
  auto pick = [&](double p) {
    const auto k = static_cast<std::size_t>(std::clamp(p / 100.0, 0.0, 1.0) * static_cast<double>(fg.size() - 1));
    std::nth_element(fg.begin(), fg.begin() + static_cast<long>(k), fg.end());
    return fg[k];
  };
  IntensityWindow w;
  // clip_low <= 0: the window starts at the volume's minimum, so the background maps to -1 and a
  // synthetic -1 maps back to the background value exactly (skull-stripped MRI: 0).
  w.lo = p_lo <= 0 ? mn : pick(p_lo);
  w.hi = pick(p_hi);
  if (!(w.hi > w.lo)) w.hi = w.lo + 1;
  (void)mx;
  return w;
}

io::LabelVolume tissue_map(const io::Volume& v, int classes) {
  if (classes < 2 || classes > 4) throw ConfigError("data.tissue_classes must be 2, 3 or 4");
  // The volume's minimum is background; the rest is split by the one multi-Otsu that evaluation
  // also segments with (skimage's threshold_multiotsu, 256 bins over the foreground's range).
  const float mn = io::intensity_range(v).first;
  std::vector<float> fg;
  for (float x : v.voxels)
    if (x > mn) fg.push_back(x);
  const auto thresholds = validation::multi_otsu_thresholds(fg, classes);
  io::LabelVolume out;
  out.geometry = v.geometry;
  out.metadata = v.metadata;
  out.stored_type = io::PixelType::kUInt8;
  out.voxels.resize(v.voxels.size());
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    const float x = v.voxels[i];
    if (!(x > mn)) {
      out.voxels[i] = 0;
      continue;
    }
    int label = 1;
    for (double t : thresholds) label += x >= t ? 1 : 0;  // numpy.digitize, as evaluation
    out.voxels[i] = label;
  }
  return out;
}

std::vector<ManifestRow> read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io::Error(path, "cannot open manifest");
  std::vector<ManifestRow> rows = parse_manifest(in, path);
  for (const ManifestRow& r : rows) {
    for (const auto* p : {&r.image, &r.labels, &r.source}) {
      if (p->empty()) continue;
      const std::string where = " (manifest " + path + " line " + std::to_string(r.line) + ")";
      std::error_code ec;
      if (!fs::exists(*p, ec)) throw io::Error(*p, "no such file" + where);
      std::ifstream probe(*p, std::ios::binary);
      if (!fs::is_directory(*p, ec) && !probe) throw io::Error(*p, "cannot be read" + where);
      io::detect_read_format(*p);  // an unknown file type is refused now, not half-way through
    }
  }
  return rows;
}

struct SliceDataset::Mapping {
  void* addr = nullptr;
  std::size_t length = 0;
  ~Mapping() {
    if (addr && length) ::munmap(addr, length);
  }
};

SliceDataset::SliceDataset(SliceDataset&&) noexcept = default;
SliceDataset& SliceDataset::operator=(SliceDataset&&) noexcept = default;
SliceDataset::~SliceDataset() = default;

SliceDataset SliceDataset::open(const std::string& dir) {
  SliceDataset d;
  d.dir_ = dir;
  const fs::path index_path = fs::path(dir) / "index.json";
  std::ifstream in(index_path);
  if (!in) throw io::Error(dir, "not a slice cache (no index.json): 'medsynth train' or 'medsynth run' makes one");
  try {
    d.index_ = nlohmann::json::parse(in);
    d.grid_ = d.index_.at("grid").get<int>();
    d.width_ = d.index_.at("width").get<int>();
    d.height_ = d.index_.at("height").get<int>();
    d.pixel_ = d.index_.at("pixel").get<double>();
    d.label_classes_ = d.index_.at("label_classes").get<int>();
    d.fingerprint_ = d.index_.at("fingerprint").get<std::string>();
    for (const auto& s : d.index_.at("slices")) {
      SliceRecord r;
      r.subject = s.at(0).get<int>();
      r.z = s.at(1).get<int>();
      r.position = s.at(2).get<float>();
      r.heldout = s.at(3).get<int>() != 0;
      r.class_id = s.at(4).get<int>();
      r.row = s.size() > 5 ? s.at(5).get<int>() : -1;  // a format-5 cache (kept by a run folder): no attributes
      d.records_.push_back(r);
    }
  } catch (const nlohmann::json::exception& e) {
    throw io::Error(index_path.string(), std::string("corrupt slice index: ") + e.what());
  }
  auto map_file = [&](const std::string& name, std::size_t bytes) -> const void* {
    const fs::path p = fs::path(dir) / name;
    const int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) throw io::Error(p.string(), "missing from the slice cache");
    struct stat st {};
    ::fstat(fd, &st);
    if (static_cast<std::size_t>(st.st_size) != bytes) {
      ::close(fd);
      throw io::Error(p.string(), "has " + std::to_string(st.st_size) + " bytes, the index says " + std::to_string(bytes));
    }
    auto m = std::make_unique<Mapping>();
    m->length = bytes;
    m->addr = bytes ? ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0) : nullptr;
    ::close(fd);
    if (m->addr == MAP_FAILED) throw io::Error(p.string(), "cannot be memory-mapped", ExitCode::kRuntime);
    const void* a = m->addr;
    d.maps_.push_back(std::move(m));
    return a;
  };
  const std::size_t n = d.records_.size() * d.pixels();
  d.images_ = static_cast<const float*>(map_file("images.f32", n * sizeof(float)));
  if (d.label_classes_ > 0) d.labels_ = static_cast<const std::uint8_t*>(map_file("labels.u8", n));
  if (d.index_.value("has_source", false)) d.sources_ = static_cast<const float*>(map_file("sources.f32", n * sizeof(float)));
  return d;
}

const nlohmann::json& SliceDataset::attributes(std::size_t i) const {
  static const nlohmann::json none = nlohmann::json::object();
  const auto& subjects = index_.at("subjects");
  if (records_.at(i).row < 0) return none;
  const auto row = static_cast<std::size_t>(records_.at(i).row);
  if (row >= subjects.size() || !subjects[row].contains("attributes")) return none;
  return subjects[row]["attributes"];
}

std::vector<nlohmann::json> scan_attributes(const SliceDataset& data, bool heldout) {
  std::set<int> rows;
  std::vector<nlohmann::json> out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data.record(i).heldout != heldout || !rows.insert(data.record(i).row).second) continue;
    out.push_back(data.attributes(i));
  }
  return out;
}

std::vector<std::size_t> SliceDataset::indices(bool heldout) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < records_.size(); ++i) {
    if (records_[i].heldout == heldout) out.push_back(i);
  }
  return out;
}

std::size_t SliceDataset::neighbour(std::size_t i, int d) const {
  // A volume's kept slices are consecutive records in increasing z.
  const int dir = d > 0 ? 1 : -1;
  const auto& at = records_[i];
  std::size_t j = i;
  while (true) {
    const long next = static_cast<long>(j) + dir;
    if (next < 0 || next >= static_cast<long>(records_.size())) break;
    const auto& r = records_[static_cast<std::size_t>(next)];
    const int step = (r.z - records_[j].z) * dir;
    if (r.subject != at.subject || step <= 0 || std::abs(r.z - at.z) > std::abs(d)) break;
    j = static_cast<std::size_t>(next);
  }
  return j;
}

io::LabelVolume overlay_labels(io::LabelVolume tissue, const io::LabelVolume& labels, const std::string& labels_path) {
  if (!labels.geometry.same_grid(tissue.geometry, 1e-3)) {
    throw io::Error(labels_path, "label map is not on the grid of the image its tissue map comes from");
  }
  for (std::size_t i = 0; i < tissue.voxels.size(); ++i) {
    const std::int32_t v = labels.voxels[i];
    if (v == 0) continue;
    if (v < 0 || v > 1000000) {
      throw io::Error(labels_path, "holds label " + std::to_string(v) + "; data.labels = tissue+file takes labels 1..1000000");
    }
    tissue.voxels[i] = kOverlayOffset + v;
  }
  return tissue;
}

io::LabelVolume condition_label_map(const io::Volume& image, const std::string& image_path, const std::string& labels_path,
                                    const DataConfig& dc) {
  if (dc.labels == "tissue") return tissue_map(image, dc.tissue_classes);
  io::LabelVolume l = io::read_label_volume(labels_path);
  if (!l.geometry.same_grid(image.geometry, 1e-3)) {
    throw io::Error(labels_path, "label map is not on the grid of its image " + image_path);
  }
  if (dc.labels == "tissue+file") return overlay_labels(tissue_map(image, dc.tissue_classes), l, labels_path);
  return l;
}

IngestResult ingest(const RunConfig& config, const std::string& cache_root) {
  const DataConfig& dc = config.data;
  if (dc.labels != "file" && dc.labels != "tissue" && dc.labels != "tissue+file" && dc.labels != "none") {
    throw ConfigError("data.labels '" + dc.labels + "' is not file, tissue, tissue+file or none");
  }
  const auto rows = read_dataset(dc);
  const std::string dataset = dataset_path(dc);

  // Fingerprint: every input's content and every setting that shapes the cache.
  std::ostringstream key;
  key << "format=" << kCacheFormat << ";grid=" << dc.grid.value << ";clip=" << dc.clip_low << "," << dc.clip_high
      << ";holdout=" << dc.holdout << ";min_fg=" << dc.min_foreground << ";labels=" << dc.labels
      << ";tissue=" << dc.tissue_classes << ";seed=" << config.train.seed
      << (dc.simulate_source.empty() ? "" : ";simulate_source=" + dc.simulate_source) << "\n";
  for (const auto& r : rows) {
    key << r.subject << "," << hash_file(r.image) << "," << (r.labels.empty() ? "" : hash_file(r.labels)) << ","
        << (r.source.empty() ? "" : hash_file(r.source)) << "," << r.class_id;
    if (!r.entities.empty() || !r.acquisition.is_null()) key << "," << r.entities << "," << r.acquisition.dump();
    if (!r.attributes.empty()) key << ",attributes=" << r.attributes.dump();
    key << "\n";
  }
  const std::string fingerprint = hash_text(key.str());
  const fs::path root = dc.cache.empty() ? fs::path(cache_root) : fs::path(dc.cache);
  const fs::path dir = root / fingerprint;
  IngestResult result;
  result.dir = dir.string();
  if (fs::exists(dir / "index.json")) {
    try {
      auto d = SliceDataset::open(dir.string());  // verifies sizes
      result.reused = true;
      result.train_slices = d.indices(false).size();
      result.heldout_slices = d.indices(true).size();
      return result;
    } catch (const io::Error&) {
      fs::remove_all(dir);  // a damaged cache is rebuilt, never trusted
    }
  }
  fs::create_directories(root);

  const bool want_labels = dc.labels != "none";
  bool has_source = false;
  for (const auto& r : rows) {
    if ((dc.labels == "file" || dc.labels == "tissue+file") && r.labels.empty()) {
      throw io::Error(dataset, "line " + std::to_string(r.line) + ": data.labels = " + dc.labels +
                                       " but no labels column value");
    }
    has_source = has_source || !r.source.empty();
  }
  // data.simulate_source: the source image is the physics rendering of each row's label map.
  const bool simulated = !dc.simulate_source.empty();
  const physics::SimulationSpec simulation =
      simulated ? physics::parse_simulation_spec(dc.simulate_source, "data.simulate_source") : physics::SimulationSpec{};
  if (simulated) {
    if (!want_labels) throw ConfigError("data.simulate_source needs label maps to simulate (data.labels = file or tissue)");
    if (has_source) throw ConfigError("data.simulate_source is set and " + dataset + " has a source column: give one of them");
  }
  if (has_source) {
    for (const auto& r : rows) {
      if (r.source.empty()) throw io::Error(dataset, "line " + std::to_string(r.line) + ": some rows have a source image, this one has none");
    }
  }
  has_source = has_source || simulated;

  // Subjects in order of first appearance; held out: whole subjects (several), or a slab (one).
  std::vector<std::string> subjects;
  for (const auto& r : rows) {
    if (std::find(subjects.begin(), subjects.end(), r.subject) == subjects.end()) subjects.push_back(r.subject);
  }
  std::set<std::string> heldout_subjects;
  if (subjects.size() > 1 && dc.holdout > 0) {
    std::vector<std::string> shuffled = subjects;
    std::mt19937_64 rng(static_cast<std::uint64_t>(config.train.seed));
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto n = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(dc.holdout * static_cast<double>(subjects.size()))));
    for (std::size_t i = 0; i < std::min(n, subjects.size() - 1); ++i) heldout_subjects.insert(shuffled[i]);
  }

  // The canvas: grid x grid per volume, or (native) the first volume's in-plane pixel and a canvas
  // that holds every volume at that pixel.
  double pixel = 0;
  int width = dc.grid, height = dc.grid;
  if (dc.grid.native()) {
    width = height = 0;
    for (const auto& r : rows) {
      const SliceGrid probe(io::read_volume(r.image).geometry, 0);
      if (pixel == 0) pixel = probe.native_pixel();
      const auto [w, h] = probe.fit(pixel);
      width = std::max(width, w);
      height = std::max(height, h);
    }
  }
  const std::size_t P = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  std::vector<float> images, sources;
  std::vector<std::uint8_t> labels;
  std::vector<SliceRecord> records;
  std::set<std::int32_t> label_values_set;
  struct Pending {
    std::vector<std::int32_t> labels;
  };
  std::vector<Pending> pending_labels;
  nlohmann::json subjects_json = nlohmann::json::array();
  std::vector<std::pair<std::string, io::LabelVolume>> heldout_masks;

  for (const auto& r : rows) {
    const int subject = static_cast<int>(std::find(subjects.begin(), subjects.end(), r.subject) - subjects.begin());
    io::Volume v = io::read_volume(r.image);
    const SliceGrid sg = dc.grid.native() ? SliceGrid::with_pixel(v.geometry, pixel, width, height) : SliceGrid(v.geometry, dc.grid);
    const IntensityWindow w = fit_window(v, dc.clip_low, dc.clip_high);
    const auto [mn, mx] = io::intensity_range(v);
    auto raw = sg.resample(v, mn);
    // Foreground by the original intensity: above the volume's minimum.
    std::vector<float> img(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) img[i] = w.map(raw[i]);
    std::vector<std::int32_t> lab;
    if (want_labels) {
      lab = sg.resample_labels(condition_label_map(v, r.image, r.labels, dc));
    }
    std::vector<float> src;
    if (has_source) {
      io::Volume s = simulated ? physics::simulate_labels(simulation, condition_label_map(v, r.image, r.labels, dc), r.image)
                               : io::read_volume(r.source);
      if (!s.geometry.same_grid(v.geometry, 1e-3)) throw io::Error(r.source, "source image is not on the grid of " + r.image);
      const IntensityWindow ws = fit_window(s, dc.clip_low, dc.clip_high);
      const auto [smn, smx] = io::intensity_range(s);
      (void)smx;
      src = sg.resample(s, smn);
      for (auto& x : src) x = ws.map(x);
    }
    // Keep slices with enough foreground.
    std::vector<int> kept;
    for (std::size_t k = 0; k < sg.slices(); ++k) {
      std::size_t fg = 0;
      for (std::size_t i = 0; i < P; ++i) fg += raw[k * P + i] > mn ? 1 : 0;
      if (static_cast<double>(fg) >= dc.min_foreground * static_cast<double>(P)) kept.push_back(static_cast<int>(k));
    }
    if (kept.empty()) throw io::Error(r.image, "no slice has enough foreground (data.min_foreground)");
    // One subject: hold out a contiguous slab in the middle of its kept slices.
    std::size_t slab_begin = kept.size(), slab_end = kept.size();
    if (subjects.size() == 1 && dc.holdout > 0) {
      const auto n = static_cast<std::size_t>(std::lround(dc.holdout * static_cast<double>(kept.size())));
      if (n >= kept.size()) {
        // e.g. a one-slice PNG pair with data.holdout 0.5: nothing would be left to train on.
        throw io::Error(dataset, "data.holdout = " + std::to_string(dc.holdout) + " holds out all " +
                                         std::to_string(kept.size()) + " kept slice(s) of the only subject, " + r.subject +
                                         ": lower it (data.holdout = 0 trains on every slice and holds none out)");
      }
      slab_begin = (kept.size() - n) / 2;
      slab_end = slab_begin + n;
    }
    // The cache is built in memory before it is written: this subject's slices must fit.
    require_memory(static_cast<std::uint64_t>(kept.size()) * P *
                       (sizeof(float) * (has_source ? 2 : 1) + (want_labels ? sizeof(std::int32_t) + 1 : 0)),
                   r.image + ": its slices for the slice cache");
    for (std::size_t n = 0; n < kept.size(); ++n) {
      const auto k = static_cast<std::size_t>(kept[n]);
      images.insert(images.end(), img.begin() + static_cast<long>(k * P), img.begin() + static_cast<long>((k + 1) * P));
      if (has_source) sources.insert(sources.end(), src.begin() + static_cast<long>(k * P), src.begin() + static_cast<long>((k + 1) * P));
      if (want_labels) {
        Pending p;
        p.labels.assign(lab.begin() + static_cast<long>(k * P), lab.begin() + static_cast<long>((k + 1) * P));
        for (auto x : p.labels) label_values_set.insert(x);
        pending_labels.push_back(std::move(p));
      }
      SliceRecord rec;
      rec.subject = subject;
      rec.z = kept[n];
      rec.position = sg.position(k);
      rec.heldout = heldout_subjects.count(r.subject) > 0 || (n >= slab_begin && n < slab_end);
      rec.class_id = r.class_id;
      rec.row = static_cast<int>(subjects_json.size());
      records.push_back(rec);
    }
    // The held-out slices as a mask on the subject's own grid, for evaluating on them alone
    // (medsynth evaluate --mask).
    std::string mask_name;
    if (slab_end > slab_begin) {
      std::vector<float> stack(sg.slices() * P, 0.0f);
      for (std::size_t n = slab_begin; n < slab_end; ++n) {
        std::fill(stack.begin() + static_cast<long>(static_cast<std::size_t>(kept[n]) * P),
                  stack.begin() + static_cast<long>((static_cast<std::size_t>(kept[n]) + 1) * P), 1.0f);
      }
      const io::Volume m = sg.restore(stack, v.geometry);
      io::LabelVolume mask;
      mask.geometry = m.geometry;
      mask.voxels.reserve(m.voxels.size());
      for (float x : m.voxels) mask.voxels.push_back(x > 0.5f ? 1 : 0);
      mask_name = "heldout-mask-" + std::to_string(subjects_json.size()) + ".nii.gz";  // one per manifest row
      heldout_masks.emplace_back(mask_name, std::move(mask));
    }
    nlohmann::json sj;
    sj["heldout_mask"] = mask_name;
    sj["subject"] = r.subject;
    sj["image"] = r.image;
    sj["labels"] = dc.labels == "tissue" ? "tissue map of the image"
                   : dc.labels == "tissue+file" ? "tissue map of the image under " + r.labels
                                                : r.labels;
    sj["source"] = r.source;
    if (!dc.bids.empty()) {
      sj["session"] = r.session;
      sj["entities"] = r.entities;
      sj["acquisition"] = r.acquisition;
    }
    // Acquisition attributes: the manifest's columns or BIDS's sidecar over the DICOM header's.
    sj["attributes"] = merge_attributes(attributes_from_dicom(v.metadata), r.attributes);
    sj["window"] = {w.lo, w.hi};
    sj["size"] = v.geometry.size;
    sj["slices_kept"] = kept.size();
    sj["heldout_slab"] = subjects.size() == 1 ? nlohmann::json({kept[std::min(slab_begin, kept.size() - 1)],
                                                                 kept[std::max<std::size_t>(slab_end, 1) - 1]})
                                              : nlohmann::json(heldout_subjects.count(r.subject) > 0);
    subjects_json.push_back(sj);
  }
  // Label values → contiguous ids 0..K-1 (0 is background when present).
  std::vector<std::int32_t> label_values(label_values_set.begin(), label_values_set.end());
  if (label_values.size() > 255) throw io::Error(dataset, "label maps hold more than 255 distinct labels");
  // Does label 0 cover only empty image (the window's -1)? Then sampling may skip it far from tissue.
  std::size_t zero_pixels = 0, zero_empty = 0;
  if (want_labels) {
    std::map<std::int32_t, std::uint8_t> id;
    for (std::size_t i = 0; i < label_values.size(); ++i) id[label_values[i]] = static_cast<std::uint8_t>(i);
    labels.reserve(records.size() * P);
    for (const auto& p : pending_labels) {
      for (auto x : p.labels) {
        const std::size_t at = labels.size();
        labels.push_back(id[x]);
        if (x == 0) {
          ++zero_pixels;
          zero_empty += images[at] <= -0.999f;
        }
      }
    }
  }
  const bool empty_background = zero_pixels > 0 && static_cast<double>(zero_empty) >= 0.999 * static_cast<double>(zero_pixels);

  // Written into a temporary folder, renamed into place when complete: a half-written cache is
  // never found under the fingerprint.
  const fs::path tmp = root / (".ingest-" + fingerprint + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    write_raw(tmp / "images.f32", images);
    if (want_labels) write_raw(tmp / "labels.u8", labels);
    if (has_source) write_raw(tmp / "sources.f32", sources);
    nlohmann::json index;
    index["format"] = kCacheFormat;
    index["fingerprint"] = fingerprint;
    index["medsynth_version"] = std::string(kVersion) + " (" + kGitDescribe + ")";
    index["grid"] = dc.grid.value;
    index["width"] = width;
    index["height"] = height;
    index["pixel"] = dc.grid.native() ? pixel : 0.0;
    index["label_classes"] = want_labels ? static_cast<int>(label_values.size()) : 0;
    index["label_values"] = label_values;
    index["label_source"] = dc.labels;
    index["empty_background"] = empty_background;
    index["has_source"] = has_source;
    index["manifest"] = dc.manifest;
    if (!dc.bids.empty()) index["bids"] = dc.bids;
    index["subjects"] = subjects_json;
    index["split"] = subjects.size() > 1 ? "by subject" : "by contiguous slab of slices (one subject)";
    nlohmann::json sl = nlohmann::json::array();
    for (const auto& rec : records) sl.push_back({rec.subject, rec.z, rec.position, rec.heldout ? 1 : 0, rec.class_id, rec.row});
    index["slices"] = sl;
    for (const auto& [name, mask] : heldout_masks) io::write_label_volume(mask, (tmp / name).string());
    std::ofstream(tmp / "index.json") << index.dump(1);
    std::error_code ec;
    fs::rename(tmp, dir, ec);
    if (ec) {
      fs::remove_all(tmp);
      if (!fs::exists(dir / "index.json")) throw io::Error(dir.string(), "cannot move the cache into place: " + ec.message(), ExitCode::kRuntime);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  for (const auto& rec : records) (rec.heldout ? result.heldout_slices : result.train_slices)++;
  return result;
}

}  // namespace medsynth::pipeline
