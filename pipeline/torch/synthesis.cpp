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
#include "medsynth/modules/device.h"
#include "medsynth/modules/seed.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/progress.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/slice_grid.h"

namespace medsynth::pipeline {

SynthesisResult synthesise(const SynthesisRequest& rq) {
  const auto t0 = std::chrono::steady_clock::now();
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

  if (rq.sample.guidance != 1.0 && mc.condition_dropout <= 0.0 && info.family != "vae" && info.family != "gan") {
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
    geometry.size = {static_cast<std::size_t>(mc.image_size), static_cast<std::size_t>(mc.image_size),
                     static_cast<std::size_t>(rq.slices)};
  }
  const SliceGrid sg(geometry, mc.image_size);
  const std::size_t Z = sg.slices(), G = static_cast<std::size_t>(mc.image_size), P = G * G;

  const IntensityWindow window = checkpoint_window(info);
  SliceConditions conditions;
  if (!rq.labels.empty()) conditions.labels = label_ids_on_grid(sg, labels, rq.labels, info);
  if (!rq.source.empty()) conditions.source = source_on_grid(sg, source, run);
  conditions.class_id = rq.class_id;
  conditions.position = mc.slice_position;

  std::vector<float> stack(Z * P, std::numeric_limits<float>::quiet_NaN());
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
    const auto n = static_cast<std::int64_t>(k1 - k0);
    modules::SampleOptions so;
    so.sampler = rq.sample.sampler;
    so.steps = rq.sample.steps;
    so.eta = rq.sample.eta;
    so.guidance = rq.sample.guidance;
    for (std::size_t k = k0; k < k1; ++k) {
      so.seeds.push_back(modules::derive_seed(static_cast<std::uint64_t>(rq.sample.seed), k));
    }
    const modules::Condition c = conditions.batch(k0, k1, sg, mc, device);
    auto x = model->sample(c, so).to(torch::kCPU).contiguous();
    const float* px = x.data_ptr<float>();
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) * P; ++i) {
      // [-1, 1] back to the intensity window of the training images.
      stack[k0 * P + i] = to_intensity(px[i], window);
    }
    for (std::size_t k = k0; k < k1; ++k) result.slices_done.push_back(static_cast<int>(k));
    done += n;
    if (bar) bar->update(done);
  }
  bar.reset();
  result.volume = sg.restore(stack, geometry);
  result.volume.metadata["modality"] = "MR";
  // Only the checkpoint's file name: its folder may name a patient or a person.
  result.volume.metadata["synthetic"] = info.family + " sample, " + std::filesystem::path(rq.checkpoint).filename().string();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

modules::Condition SliceConditions::batch(std::size_t k0, std::size_t k1, const SliceGrid& sg,
                                          const modules::ModelConfig& mc, torch::Device device) const {
  const auto n = static_cast<std::int64_t>(k1 - k0);
  const auto G = static_cast<std::int64_t>(sg.grid());
  const std::size_t P = static_cast<std::size_t>(G * G);
  modules::Condition c;
  if (!labels.empty()) {
    auto ids = torch::from_blob(const_cast<std::int32_t*>(labels.data()) + k0 * P, {n, G, G}, torch::kInt).to(torch::kLong);
    c.labels = torch::one_hot(ids, mc.label_classes).permute({0, 3, 1, 2}).to(torch::kFloat).contiguous().to(device);
  }
  if (!source.empty()) {
    c.source = torch::from_blob(const_cast<float*>(source.data()) + k0 * P, {n, 1, G, G}, torch::kFloat).clone().to(device);
  }
  if (class_id >= 0) c.class_id = torch::full({n}, class_id, torch::kLong).to(device);
  if (position) {
    std::vector<float> pos;
    for (std::size_t k = k0; k < k1; ++k) pos.push_back(sg.position(k));
    c.position = torch::tensor(pos).to(device);
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
