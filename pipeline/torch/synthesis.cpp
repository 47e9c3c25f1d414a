#include "medsynth/pipeline/synthesis.h"

#include <chrono>
#include <cmath>
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

  std::vector<std::int32_t> label_ids;
  if (!rq.labels.empty()) {
    std::map<std::int32_t, std::int32_t> id;
    for (std::size_t i = 0; i < info.label_values.size(); ++i) id[info.label_values[i]] = static_cast<std::int32_t>(i);
    label_ids = sg.resample_labels(labels);
    for (auto& v : label_ids) {
      auto it = id.find(v);
      if (it == id.end()) {
        throw io::Error(rq.labels, "holds label " + std::to_string(v) + ", which the model never saw in training (" +
                                       std::to_string(info.label_values.size()) + " labels)");
      }
      v = it->second;
    }
  }
  std::vector<float> source_slices;
  if (!rq.source.empty()) {
    const IntensityWindow w = fit_window(source, run.data.clip_low, run.data.clip_high);
    const auto [mn, mx] = io::intensity_range(source);
    (void)mx;
    source_slices = sg.resample(source, mn);
    for (auto& x : source_slices) x = w.map(x);
  }

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
    modules::Condition c;
    modules::SampleOptions so;
    so.sampler = rq.sample.sampler;
    so.steps = rq.sample.steps;
    so.eta = rq.sample.eta;
    so.guidance = rq.sample.guidance;
    for (std::size_t k = k0; k < k1; ++k) {
      so.seeds.push_back(modules::derive_seed(static_cast<std::uint64_t>(rq.sample.seed), k));
    }
    if (!label_ids.empty()) {
      auto ids = torch::from_blob(label_ids.data() + k0 * P, {n, static_cast<std::int64_t>(G), static_cast<std::int64_t>(G)},
                                  torch::kInt).to(torch::kLong);
      c.labels = torch::one_hot(ids, mc.label_classes).permute({0, 3, 1, 2}).to(torch::kFloat).contiguous().to(device);
    }
    if (!source_slices.empty()) {
      c.source = torch::from_blob(source_slices.data() + k0 * P, {n, 1, static_cast<std::int64_t>(G), static_cast<std::int64_t>(G)},
                                  torch::kFloat).clone().to(device);
    }
    if (rq.class_id >= 0) c.class_id = torch::full({n}, rq.class_id, torch::kLong).to(device);
    if (mc.slice_position) {
      std::vector<float> pos;
      for (std::size_t k = k0; k < k1; ++k) pos.push_back(sg.position(k));
      c.position = torch::tensor(pos).to(device);
    }
    auto x = model->sample(c, so).to(torch::kCPU).contiguous();
    const float* px = x.data_ptr<float>();
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) * P; ++i) {
      // [-1, 1] back to the intensity window of the training images.
      stack[k0 * P + i] = info.window_lo + (px[i] + 1.0f) * 0.5f * (info.window_hi - info.window_lo);
    }
    for (std::size_t k = k0; k < k1; ++k) result.slices_done.push_back(static_cast<int>(k));
    done += n;
    if (bar) bar->update(done);
  }
  bar.reset();
  result.volume = sg.restore(stack, geometry);
  result.volume.metadata["modality"] = "MR";
  result.volume.metadata["synthetic"] = "medsynth " + info.family + " from " + rq.checkpoint;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace medsynth::pipeline
