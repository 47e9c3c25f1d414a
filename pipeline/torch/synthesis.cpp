#include "medsynth/pipeline/synthesis.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "medsynth/modules/device.h"
#include "medsynth/modules/mac_counter.h"
#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/progress.h"
#include "medsynth/pipeline/prompt.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/slice_grid.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/trainer.h"

namespace medsynth::pipeline {

namespace {
// The mark's amplitude on background the background step emptied, relative to the anatomy's:
// flat, empty background is where a mark costs SSIM most (real skull-stripped scans are exactly
// empty there), and where single 8-bit PNG slices still need it to be found (docs/ethics.md).
constexpr double kBackgroundMark = 0.5;
}  // namespace

SynthesisResult synthesise(const SynthesisRequest& rq) {
  const auto t0 = std::chrono::steady_clock::now();
  const modules::CostMeter meter;
  if (rq.shard_count < 1 || rq.shard_index < 0 || rq.shard_index >= rq.shard_count) {
    throw UsageError("--shard i/N needs 0 <= i < N");
  }
  modules::configure_threads(rq.threads);
  CheckpointInfo info;
  auto model = model_from_checkpoint(rq.checkpoint, rq.device, &info);
  const auto& mc = model->config();
  const RunConfig run = config_from_ini_text(info.run_config);
  if (!rq.labels.empty() && mc.label_classes == 0) {
    throw io::Error(rq.checkpoint, "this model was trained without label maps; it cannot take --condition");
  }
  if (!rq.source.empty() && !mc.source_image) {
    throw io::Error(rq.checkpoint, "this model was trained without source images; it cannot take --source");
  }
  if (rq.class_id >= 0 && mc.num_classes == 0) {
    throw io::Error(rq.checkpoint, "this model was trained without classes; it cannot take --class");
  }
  const nlohmann::json attributes = !rq.attributes.empty() || rq.sample.prompt.empty()
                                        ? rq.attributes
                                        : StructuredPromptEncoder().encode(rq.sample.prompt);
  if (!attributes.empty()) check_prompt(attributes, AcquisitionEncoding::parse(mc.acquisition_encoding), rq.checkpoint);

  if (rq.sample.guidance != 1.0 && mc.condition_dropout <= 0.0 &&
      modules::family_can(info.family, modules::Capability::kGuidance)) {
    std::cerr << "medsynth: warning: guidance " << rq.sample.guidance << " needs an unconditional branch, which this "
              << "model never trained (model.condition_dropout = 0); the result is unreliable\n";
  }
  // The output grid: the condition's, the source's, a reference volume's, or a plain stack.
  io::Geometry geometry;
  std::string reference = !rq.labels.empty() ? rq.labels : (!rq.source.empty() ? rq.source : rq.like);
  io::LabelVolume labels;
  io::Volume source;
  if (!rq.labels.empty()) {
    labels = io::read_label_volume(rq.labels);
    geometry = labels.geometry;
  }
  if (!rq.source.empty()) {
    source = io::read_volume(rq.source);
    if (!rq.labels.empty() && !source.geometry.same_grid(geometry, 1e-3)) {
      throw io::Error(rq.source, "source image is not on the grid of the label map " + rq.labels);
    }
    geometry = source.geometry;
  }
  if (reference == rq.like && !rq.like.empty()) geometry = io::read_volume(rq.like).geometry;
  if (reference.empty()) {
    if (rq.slices <= 0) throw UsageError("sample: give --condition, --source, --like or --slices N");
    const auto side = static_cast<std::size_t>(run.data.grid.native() ? mc.image_size : run.data.grid.value);
    geometry.size = {side, side,
                     static_cast<std::size_t>(rq.slices)};
  }
  const SliceGrid sg = model_grid(geometry, run, info);
  const std::size_t Z = sg.slices(), P = sg.pixels();

  const IntensityWindow window = checkpoint_window(info);
  SliceConditions conditions;
  if (!rq.labels.empty()) conditions.labels = label_ids_on_grid(sg, labels, rq.labels, info);
  if (!rq.source.empty()) conditions.source = source_on_grid(sg, source, run);
  conditions.class_id = rq.class_id;
  conditions.position = mc.slice_position;
  conditions.native = run.data.grid.native();
  if (mc.acquisition_width > 0 && !attributes.empty()) {
    conditions.acquisition.resize(static_cast<std::size_t>(mc.acquisition_width));
    conditions.acquisition_mask.resize(conditions.acquisition.size());
    AcquisitionEncoding::parse(mc.acquisition_encoding).encode(attributes, conditions.acquisition.data(),
                                                               conditions.acquisition_mask.data());
  }

  std::vector<float> stack(Z * P, std::numeric_limits<float>::quiet_NaN());
  // Pixel-space diffusion with a label map whose label 0 was always empty image: crop to tissue.
  if (rq.sample.crop != "auto" && rq.sample.crop != "on" && rq.sample.crop != "off") {
    throw ConfigError("sample.crop '" + rq.sample.crop + "' is not auto, on or off");
  }
  const bool crop = (rq.sample.crop == "on" || (rq.sample.crop == "auto" && info.empty_background)) &&
                    modules::family_can(info.family, modules::Capability::kCropToTissue) && !conditions.labels.empty() && !info.label_values.empty() &&
                    info.label_values[0] == 0;
  // Label 0 as empty image after sampling (any family), where it was empty image in training.
  if (rq.sample.background != "auto" && rq.sample.background != "on" && rq.sample.background != "off") {
    throw ConfigError("sample.background '" + rq.sample.background + "' is not auto, on or off");
  }
  const bool background = (rq.sample.background == "on" || (rq.sample.background == "auto" && info.empty_background)) &&
                          !conditions.labels.empty() && !info.label_values.empty() && info.label_values[0] == 0;
  const std::size_t B = static_cast<std::size_t>(std::max(1, rq.sample.batch));
  const std::size_t batches = (Z + B - 1) / B;
  std::vector<std::size_t> mine;
  for (std::size_t b = 0; b < batches; ++b) {
    if (static_cast<int>(b % static_cast<std::size_t>(rq.shard_count)) == rq.shard_index) mine.push_back(b);
  }
  SynthesisResult result;
  const torch::Device device = model->device();
  std::unique_ptr<Progress> bar;
  if (rq.progress) bar = std::make_unique<Progress>("sampling", static_cast<long>(mine.size() * B), 0, 1);
  long done = 0;
  for (std::size_t b : mine) {
    const std::size_t k0 = b * B, k1 = std::min(Z, k0 + B);
    // A stop signal (stop.h) ends sampling before the next batch; nothing is written.
    throw_if_stop_requested("sampling", "before slice " + std::to_string(k0) + " of " + std::to_string(Z) +
                                            "; nothing was written: run the same command again");
    const auto n = static_cast<std::int64_t>(k1 - k0);
    modules::SampleOptions so;
    so.sampler = rq.sample.sampler;
    so.steps = rq.sample.steps;
    so.eta = rq.sample.eta;
    so.guidance = rq.sample.guidance;
    so.height = sg.height();
    so.width = sg.width();
    for (std::size_t k = k0; k < k1; ++k) {
      so.seeds.push_back(modules::derive_seed(static_cast<std::uint64_t>(rq.sample.seed), k));
    }
    set_noise_anchors(so, rq.sample, k0, k1);
    modules::Condition c = conditions.batch(k0, k1, sg, mc, device);
    // Where label 0 only ever meant empty image in training, pixels far from any other label are
    // left empty and the network sees the rest: the box of the batch's tissue (with its context
    // slices) grown by kCropMargin. The start noise is drawn for the whole slice and cut, so a
    // slice's result does not depend on which pixels its batch leaves out.
    const CropBox box = crop ? tissue_box(conditions, sg, mc, k0, k1) : CropBox{0, 0, sg.width(), sg.height()};
    const float empty = to_intensity(-1.0f, window);
    for (std::size_t i = k0 * P; i < k1 * P; ++i) stack[i] = empty;
    if (box.width > 0 && box.height > 0) {
      if (crop) {
        auto gens = modules::sample_generators(so, n);
        so.initial = modules::start_noise(so, gens, {mc.image_channels, sg.height(), sg.width()}, torch::kCPU)
                         .narrow(2, box.y, box.height).narrow(3, box.x, box.width).contiguous().to(device);
        so.height = box.height;
        so.width = box.width;
        c = crop_condition(c, box);
      }
      auto x = model->sample(c, so).to(torch::kCPU).contiguous();
      const float* px = x.data_ptr<float>();
      for (std::int64_t j = 0; j < n; ++j) {
        for (int y = 0; y < box.height; ++y) {
          for (int xx = 0; xx < box.width; ++xx) {
            // [-1, 1] back to the intensity window of the training images.
            stack[(k0 + static_cast<std::size_t>(j)) * P + static_cast<std::size_t>(box.y + y) * static_cast<std::size_t>(sg.width()) +
                  static_cast<std::size_t>(box.x + xx)] =
                to_intensity(px[(static_cast<std::size_t>(j) * static_cast<std::size_t>(box.height) + static_cast<std::size_t>(y)) *
                                    static_cast<std::size_t>(box.width) + static_cast<std::size_t>(xx)],
                             window);
          }
        }
      }
    }
    for (std::size_t k = k0; k < k1; ++k) result.slices_done.push_back(static_cast<int>(k));
    done += n;
    if (bar) bar->update(done);
  }
  bar.reset();
  result.volume = sg.restore(stack, geometry);
  std::vector<std::uint8_t> anatomy;  // with the background step: the voxels it leaves to the model
  if (background) {
    // On the output grid (the label map's own), so every voxel it calls background is exactly
    // empty whatever grid the model works on; only this shard's (finite) voxels.
    const float empty = to_intensity(-1.0f, window);
    auto& v = result.volume.voxels;
    anatomy.assign(v.size(), 1);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (labels.voxels[i] == 0) anatomy[i] = 0;
      if (labels.voxels[i] == 0 && std::isfinite(v[i])) v[i] = empty;
    }
  }
  if (rq.mark) {
    // On the output grid, scaled by the training window (not this volume's range) and only on
    // finite voxels: a shard carries exactly its slices of the whole run's mark, so merged shards
    // still equal one run bit for bit. Background the step emptied stays exactly empty, as in
    // the real skull-stripped scans (the mark there cost the demo 0.008 SSIM).
    const std::uint32_t id = mark_run_id(info.run_config, info.data_fingerprint);
    const double rms = mark::kDefaultStrength * (window.hi - window.lo);
    mark::embed_mark(result.volume, mark::current_payload(id), rms, background ? &anatomy : nullptr);
    if (background) {
      for (auto& a : anatomy) a = !a;
      mark::embed_mark(result.volume, mark::current_payload(id), kBackgroundMark * rms, &anatomy);
    }
    result.mark_run_id = mark::run_id_text(id);
  }
  result.volume.metadata["modality"] = "MR";
  // Only the checkpoint's file name: its folder may name a patient or a person.
  result.volume.metadata["synthetic"] = info.family + " sample, " + std::filesystem::path(rq.checkpoint).filename().string();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.cost = meter.finish(static_cast<std::int64_t>(result.slices_done.size()), "slice");
  return result;
}

CropBox tissue_box(const SliceConditions& conds, const SliceGrid& sg, const modules::ModelConfig& mc, std::size_t k0,
                   std::size_t k1) {
  const int W = sg.width(), H = sg.height();
  const std::size_t P = sg.pixels(), Z = sg.slices();
  int x0 = W, y0 = H, x1 = -1, y1 = -1;
  const std::size_t lo = k0 >= static_cast<std::size_t>(mc.context) ? k0 - static_cast<std::size_t>(mc.context) : 0;
  const std::size_t hi = std::min(Z, k1 + static_cast<std::size_t>(mc.context));
  for (std::size_t k = lo; k < hi; ++k) {
    const std::int32_t* l = conds.labels.data() + k * P;
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        if (l[static_cast<std::size_t>(y) * static_cast<std::size_t>(W) + static_cast<std::size_t>(x)] != 0) {
          x0 = std::min(x0, x);
          x1 = std::max(x1, x);
          y0 = std::min(y0, y);
          y1 = std::max(y1, y);
        }
      }
    }
  }
  if (x1 < 0) return {0, 0, 0, 0};  // no tissue: the whole batch stays empty
  x0 = std::max(0, x0 - kCropMargin);
  y0 = std::max(0, y0 - kCropMargin);
  x1 = std::min(W - 1, x1 + kCropMargin);
  y1 = std::min(H - 1, y1 + kCropMargin);
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

modules::Condition crop_condition(modules::Condition c, const CropBox& b) {
  for (auto* t : {&c.labels, &c.source, &c.coords}) {
    if (t->defined()) *t = t->narrow(2, b.y, b.height).narrow(3, b.x, b.width).contiguous();
  }
  return c;
}

SliceGrid model_grid(const io::Geometry& geometry, const RunConfig& run, const CheckpointInfo& info) {
  if (run.data.grid.native()) return SliceGrid::with_pixel(geometry, info.pixel, 0, 0);
  return SliceGrid(geometry, run.data.grid.value);
}

void set_noise_anchors(modules::SampleOptions& so, const SampleConfig& sc, std::size_t k0, std::size_t k1) {
  if (sc.noise == "independent") return;
  if (sc.noise != "smooth" && sc.noise != "shared") {
    throw ConfigError("sample.noise '" + sc.noise + "' is not independent, smooth or shared");
  }
  if (sc.noise == "smooth" && sc.noise_span < 1) throw ConfigError("sample.noise_span must be at least 1");
  // Anchor a sits at slice a * span; a slice between two anchors blends them by its distance,
  // so the start noise changes smoothly along the volume and any slice's is known on its own
  // (shards stay exact). The anchors' seeds come from (seed, "anchor", a).
  const std::uint64_t seed = static_cast<std::uint64_t>(sc.seed);
  for (std::size_t k = k0; k < k1; ++k) {
    std::size_t a = 0;
    double w = 0;
    if (sc.noise == "smooth") {
      const auto span = static_cast<std::size_t>(sc.noise_span);
      a = k / span;
      w = static_cast<double>(k % span) / static_cast<double>(span);
    }
    so.anchor_lo.push_back(modules::derive_seed(seed, a, 11));
    so.anchor_hi.push_back(modules::derive_seed(seed, a + 1, 11));
    so.anchor_weight.push_back(w);
  }
}

modules::Condition SliceConditions::batch(std::size_t k0, std::size_t k1, const SliceGrid& sg,
                                          const modules::ModelConfig& mc, torch::Device device) const {
  const auto n = static_cast<std::int64_t>(k1 - k0);
  const auto H = static_cast<std::int64_t>(sg.height()), W = static_cast<std::int64_t>(sg.width());
  const std::size_t P = sg.pixels(), Z = sg.slices();
  const int k = mc.context, K = modules::context_slices(mc);
  // Slice z's neighbours z-k .. z+k, clamped at the volume's ends, slice-major.
  auto gather = [&](const auto& stack, auto type) {
    auto out = torch::empty({n, K, H, W}, type);
    using T = typename std::decay_t<decltype(stack)>::value_type;
    auto* dst = out.template data_ptr<T>();
    for (std::size_t z = k0; z < k1; ++z) {
      for (int d = -k; d <= k; ++d) {
        const auto j = static_cast<std::size_t>(std::clamp<long>(static_cast<long>(z) + d, 0, static_cast<long>(Z) - 1));
        std::copy_n(stack.data() + j * P, P, dst + ((z - k0) * static_cast<std::size_t>(K) + static_cast<std::size_t>(d + k)) * P);
      }
    }
    return out;
  };
  modules::Condition c;
  if (!labels.empty()) {
    auto ids = gather(labels, torch::kInt).to(torch::kLong);
    c.labels = torch::one_hot(ids, mc.label_classes).permute({0, 1, 4, 2, 3}).reshape({n, K * mc.label_classes, H, W})
                   .to(torch::kFloat).contiguous().to(device);
  }
  if (!source.empty()) c.source = gather(source, torch::kFloat).to(device);
  if (class_id >= 0) c.class_id = torch::full({n}, class_id, torch::kLong).to(device);
  if (position) {
    std::vector<float> pos;
    for (std::size_t z = k0; z < k1; ++z) pos.push_back(sg.position(z));
    c.position = torch::tensor(pos).to(device);
  }
  if (!acquisition.empty()) {
    const auto A = static_cast<std::int64_t>(acquisition.size());
    c.acquisition = torch::tensor(acquisition).view({1, A}).expand({n, A}).contiguous().to(device);
    c.acquisition_mask = torch::tensor(acquisition_mask).view({1, A}).expand({n, A}).contiguous().to(device);
  }
  if (mc.coordinates) {
    const auto xy = pixel_coordinates(sg.width(), sg.height(), 0, 0, sg.width(), sg.height(),
                                      coordinate_scale(native, sg.pixel(), sg.width()));
    c.coords = xy.unsqueeze(0).expand({n, 2, H, W}).contiguous().to(device);
  }
  return c;
}

std::vector<std::int32_t> label_ids_on_grid(const SliceGrid& sg, const io::LabelVolume& labels, const std::string& path,
                                            const CheckpointInfo& info) {
  std::map<std::int32_t, std::int32_t> id;
  for (std::size_t i = 0; i < info.label_values.size(); ++i) id[info.label_values[i]] = static_cast<std::int32_t>(i);
  auto ids = sg.resample_labels(labels);
  for (auto& v : ids) {
    auto it = id.find(v);
    if (it == id.end()) {
      throw io::Error(path, "holds label " + std::to_string(v) + ", which the model never saw in training (" +
                                std::to_string(info.label_values.size()) + " labels)");
    }
    v = it->second;
  }
  return ids;
}

std::vector<float> source_on_grid(const SliceGrid& sg, const io::Volume& source, const RunConfig& run) {
  const IntensityWindow w = fit_window(source, run.data.clip_low, run.data.clip_high);
  const auto range = io::intensity_range(source);
  auto slices = sg.resample(source, range.first);
  for (auto& x : slices) x = w.map(x);
  return slices;
}

std::vector<float> image_on_grid(const SliceGrid& sg, const io::Volume& image, const RunConfig& run,
                                 IntensityWindow* window) {
  *window = fit_window(image, run.data.clip_low, run.data.clip_high);
  const auto range = io::intensity_range(image);
  auto slices = sg.resample(image, range.first);
  for (auto& x : slices) x = window->map(x);
  return slices;
}

IntensityWindow checkpoint_window(const CheckpointInfo& info) {
  IntensityWindow w;
  w.lo = info.window_lo;
  w.hi = info.window_hi;
  return w;
}

float to_intensity(float x, const IntensityWindow& w) { return w.lo + (x + 1.0f) * 0.5f * (w.hi - w.lo); }

}  // namespace medsynth::pipeline
