// The segmenter's training loop (utility.h). It shares the generators' pieces — learning-rate
// schedule, sealed checkpoints, intact-checkpoint resume, progress, stop signals, EMA inside the
// model — but draws its batches from an in-memory set of real and synthetic pairs instead of the
// slice cache, so it is its own short loop rather than a mode of trainer.cpp.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/modules/device.h"
#include "medsynth/modules/seed.h"
#include "medsynth/modules/seg/segmenter.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/progress.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/trainer.h"
#include "medsynth/pipeline/utility.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {

std::unique_ptr<modules::GenerativeModel> train_segmenter(const SegmentationSet& data, const SegmenterTraining& run,
                                                          std::string* last_checkpoint) {
  if (data.size() == 0) throw medsynth::Error(run.label + ": no training slices", ExitCode::kRuntime);
  if (run.steps <= 0 || run.batch <= 0 || run.checkpoint_every <= 0) {
    throw ConfigError("utility.steps, utility.batch and utility.checkpoint_every must be positive");
  }
  const torch::Device device = modules::parse_device(run.device);
  auto model = std::make_unique<modules::SegmenterModel>(run.model, device);
  model->configure_training(run.optim);
  const fs::path ckpt_dir = fs::path(run.out) / "checkpoints";
  fs::create_directories(ckpt_dir);

  CheckpointInfo info;
  info.family = model->family();
  info.model = run.model;
  info.run_config = run.run_config;
  info.data_fingerprint = run.data_fingerprint;
  std::int64_t start = 0;
  const auto existing = list_checkpoints(ckpt_dir.string());
  if (!existing.empty() && !run.resume) {
    throw io::Error(ckpt_dir.string(), "holds segmenter checkpoints of an earlier run: continue it with --resume, or "
                                       "choose another utility.out");
  }
  if (!existing.empty()) {
    const std::string last = newest_intact_checkpoint(existing, true);
    const auto saved = read_checkpoint_info(last);
    if (saved.data_fingerprint != info.data_fingerprint) {
      throw io::Error(last, "segmenter checkpoint was trained on other slices (fingerprint " + saved.data_fingerprint +
                                ", now " + info.data_fingerprint + "); remove the folder to start again");
    }
    load_checkpoint(last, *model);
    start = saved.step;
    *last_checkpoint = last;
    if (start >= run.steps) return model;
  }

  const auto N = static_cast<std::size_t>(data.size());
  const auto C = run.model.label_classes;
  auto write_checkpoint = [&](std::int64_t steps_done) {
    std::ostringstream name;
    name << "ckpt-" << std::setw(8) << std::setfill('0') << steps_done << ".pt";
    info.step = steps_done;
    *last_checkpoint = (ckpt_dir / name.str()).string();
    save_checkpoint(*last_checkpoint, *model, info);
    auto all = list_checkpoints(ckpt_dir.string());
    for (std::size_t i = 0; i + static_cast<std::size_t>(std::max(1, run.keep_checkpoints)) < all.size(); ++i) fs::remove(all[i]);
  };
  std::unique_ptr<Progress> bar;
  if (run.progress) bar = std::make_unique<Progress>(run.label, run.steps, start, std::max(1, run.steps / 5));
  const StopSignals stop_signals;
  std::vector<std::int64_t> rows(static_cast<std::size_t>(run.batch));
  for (std::int64_t step = start; step < run.steps; ++step) {
    model->set_learning_rate(learning_rate(run.optim.lr, run.warmup, run.steps, step));
    std::mt19937_64 rng(modules::derive_seed(static_cast<std::uint64_t>(run.seed), static_cast<std::uint64_t>(step), 2));
    std::uniform_int_distribution<std::size_t> pick(0, N - 1);
    for (auto& r : rows) r = static_cast<std::int64_t>(pick(rng));
    const auto index = torch::tensor(rows);
    modules::Batch batch;
    batch.image = data.images.index_select(0, index).to(device);
    batch.labels = torch::one_hot(data.labels.index_select(0, index), C).permute({0, 3, 1, 2}).to(torch::kFloat).to(device);
    const auto stats = model->train_step(batch, modules::derive_seed(static_cast<std::uint64_t>(run.seed),
                                                                    static_cast<std::uint64_t>(step), 3));
    if (!std::isfinite(stats.loss)) {
      throw medsynth::Error(run.label + ": the loss became " + std::to_string(stats.loss) + " at step " +
                                std::to_string(step) + " (lower utility.lr)", ExitCode::kRuntime);
    }
    std::ostringstream text;
    text << "loss " << std::setprecision(4) << stats.loss;
    if (bar) bar->update(step + 1, text.str());
    const bool scheduled = (step + 1) % run.checkpoint_every == 0 || step + 1 == run.steps;
    if (scheduled) write_checkpoint(step + 1);
    if (step + 1 < run.steps && stop_requested()) {
      if (!scheduled) write_checkpoint(step + 1);
      bar.reset();
      throw Stopped(run.label + ": stopped by " + stop_signal_name() + " after step " + std::to_string(step + 1) +
                    "; saved in " + *last_checkpoint + "; continue with --resume");
    }
  }
  return model;
}

}  // namespace medsynth::pipeline
