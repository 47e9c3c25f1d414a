#include "medsynth/pipeline/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/memory.h"
#include "medsynth/modules/device.h"
#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/seed.h"
#include "medsynth/pipeline/acquisition.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/distributed.h"
#include "medsynth/pipeline/progress.h"
#include "medsynth/pipeline/stop.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {

double learning_rate(double lr, int warmup, int steps, std::int64_t step) {
  if (warmup > 0 && step < warmup) return lr * static_cast<double>(step + 1) / warmup;
  const double span = std::max(1, steps - warmup);
  const double progress = std::clamp(static_cast<double>(step - warmup) / span, 0.0, 1.0);
  return lr * 0.5 * (1.0 + std::cos(M_PI * progress));
}

double coordinate_scale(bool native, double pixel, int width) {
  // Native: millimetres from the canvas centre / 100 (the same anatomy gets the same value in
  // every volume); a fixed grid: -1 .. 1 across the canvas.
  return native ? pixel / 100.0 : 2.0 / std::max(1, width);
}

torch::Tensor pixel_coordinates(int canvas_width, int canvas_height, int x0, int y0, int width, int height, double scale) {
  auto xs = (torch::arange(x0, x0 + width, torch::kFloat) + 0.5 - canvas_width / 2.0) * scale;
  auto ys = (torch::arange(y0, y0 + height, torch::kFloat) + 0.5 - canvas_height / 2.0) * scale;
  return torch::stack({xs.view({1, width}).expand({height, width}), ys.view({height, 1}).expand({height, width})});
}

modules::Batch make_batch(const SliceDataset& data, const std::vector<std::size_t>& indices,
                          const modules::ModelConfig& model, torch::Device device, const std::vector<PatchOffset>& patches) {
  const auto B = static_cast<std::int64_t>(indices.size());
  const int W = data.width(), H = data.height();
  const bool crop = !patches.empty();
  if (crop && patches.size() != indices.size()) throw medsynth::Error("make_batch: one patch offset per slice", ExitCode::kRuntime);
  const int pw = crop ? model.image_size : W, ph = crop ? model.image_size : H;
  const std::size_t P = static_cast<std::size_t>(pw) * static_cast<std::size_t>(ph);
  const int k = model.context, K = modules::context_slices(model);
  // Copies slice i's patch n (offset of row n) into dst.
  auto copy = [&](auto* dst, const auto* src, std::size_t n, auto convert) {
    const int x0 = crop ? patches[n].x : 0, y0 = crop ? patches[n].y : 0;
    for (int y = 0; y < ph; ++y) {
      const auto* row = src + static_cast<std::size_t>(y0 + y) * static_cast<std::size_t>(W) + static_cast<std::size_t>(x0);
      for (int x = 0; x < pw; ++x) dst[static_cast<std::size_t>(y) * static_cast<std::size_t>(pw) + static_cast<std::size_t>(x)] = convert(row[x]);
    }
  };
  auto same = [](auto v) { return v; };
  modules::Batch b;
  auto images = torch::empty({B, 1, ph, pw}, torch::kFloat);
  float* dst = images.data_ptr<float>();
  for (std::size_t n = 0; n < indices.size(); ++n) copy(dst + n * P, data.image(indices[n]), n, same);
  b.image = images.to(device);
  if (model.label_classes > 0) {
    auto ids = torch::empty({B, K, ph, pw}, torch::kLong);
    auto* p = ids.data_ptr<std::int64_t>();
    for (std::size_t n = 0; n < indices.size(); ++n) {
      for (int d = -k; d <= k; ++d) {
        const std::size_t j = d == 0 ? indices[n] : data.neighbour(indices[n], d);
        copy(p + (n * static_cast<std::size_t>(K) + static_cast<std::size_t>(d + k)) * P, data.labels(j), n,
             [](std::uint8_t v) { return static_cast<std::int64_t>(v); });
      }
    }
    // [B, K, H, W] ids -> [B, K * classes, H, W]: slice-major, each slice's one-hot classes together.
    b.labels = torch::one_hot(ids, model.label_classes).permute({0, 1, 4, 2, 3}).reshape({B, K * model.label_classes, ph, pw})
                   .to(torch::kFloat).contiguous().to(device);
  }
  if (model.source_image) {
    auto src = torch::empty({B, K, ph, pw}, torch::kFloat);
    float* s = src.data_ptr<float>();
    for (std::size_t n = 0; n < indices.size(); ++n) {
      for (int d = -k; d <= k; ++d) {
        const std::size_t j = d == 0 ? indices[n] : data.neighbour(indices[n], d);
        copy(s + (n * static_cast<std::size_t>(K) + static_cast<std::size_t>(d + k)) * P, data.source(j), n, same);
      }
    }
    b.source = src.to(device);
  }
  if (model.num_classes > 0) {
    std::vector<std::int64_t> cls;
    for (auto i : indices) cls.push_back(data.record(i).class_id);  // checked at the start of training
    b.class_id = torch::tensor(cls).to(device);
  }
  if (model.slice_position) {
    std::vector<float> pos;
    for (auto i : indices) pos.push_back(data.record(i).position);
    b.position = torch::tensor(pos).to(device);
  }
  if (model.acquisition_width > 0) {
    const auto enc = AcquisitionEncoding::parse(model.acquisition_encoding);
    auto values = torch::zeros({B, model.acquisition_width}, torch::kFloat);
    auto mask = torch::zeros({B, model.acquisition_width}, torch::kFloat);
    for (std::size_t n = 0; n < indices.size(); ++n) {
      enc.encode(data.attributes(indices[n]), values.data_ptr<float>() + n * static_cast<std::size_t>(model.acquisition_width),
                 mask.data_ptr<float>() + n * static_cast<std::size_t>(model.acquisition_width));
    }
    b.acquisition = values.to(device);
    b.acquisition_mask = mask.to(device);
  }
  if (model.coordinates) {
    const double scale = coordinate_scale(data.native(), data.pixel(), W);
    std::vector<torch::Tensor> c;
    for (std::size_t n = 0; n < indices.size(); ++n) {
      c.push_back(pixel_coordinates(W, H, crop ? patches[n].x : 0, crop ? patches[n].y : 0, pw, ph, scale));
    }
    b.coords = torch::stack(c).to(device);
  }
  return b;
}

std::uint64_t batch_bytes(const modules::ModelConfig& model, std::int64_t slices, int width, int height) {
  const double K = modules::context_slices(model), C = model.label_classes;
  double per_pixel = 4;                                     // the images
  if (model.label_classes > 0) per_pixel += 8 * K + 20 * K * C;  // ids, one-hot, its reshaped copy, as float
  if (model.source_image) per_pixel += 4 * K;
  if (model.coordinates) per_pixel += 2 * 4 * 2;            // the slices' planes and their stack
  const double bytes = per_pixel * static_cast<double>(slices) * width * height;
  return bytes >= 1.8e19 ? UINT64_MAX : static_cast<std::uint64_t>(bytes);
}

namespace {

std::string checkpoint_name(std::int64_t step) {
  std::ostringstream os;
  os << "ckpt-" << std::setw(8) << std::setfill('0') << step << ".pt";
  return os.str();
}

// Keeps the loss log consistent with a resumed run: lines of the steps it redoes are dropped, and
// so is a line the kill cut short (a row has all five fields or it is not kept).
constexpr const char* kLogHeader = "step,loss,lr,grad_norm,seconds";

void truncate_log(const fs::path& log, std::int64_t done_steps) {
  std::ifstream in(log);
  if (!in) {
    std::ofstream(log) << kLogHeader << "\n";
    return;
  }
  std::vector<std::string> keep;
  std::string line;
  while (std::getline(in, line)) {
    if (keep.empty()) {
      keep.push_back(line);  // the header
      continue;
    }
    if (std::count(line.begin(), line.end(), ',') != 4) continue;
    try {
      if (std::stoll(line.substr(0, line.find(','))) <= done_steps) keep.push_back(line);
    } catch (const std::exception&) {
      // not a row: dropped
    }
  }
  in.close();
  // Rewritten beside and renamed, so a kill here never loses the log.
  const fs::path tmp = log.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& l : keep) out << l << "\n";
  }
  fs::rename(tmp, log);
}

}  // namespace

std::string resolve_checkpoint(const std::string& path, const std::string& key, const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec)) throw io::Error(path, key + ": no such checkpoint or run folder (train the " + what + " first)");
    return path;
  }
  // A run folder: `medsynth train`'s (checkpoints/) or `medsynth run`'s (train/checkpoints/).
  for (const fs::path& sub : {fs::path("."), fs::path("checkpoints"), fs::path("train") / "checkpoints"}) {
    const auto all = list_checkpoints((fs::path(path) / sub).string());
    if (!all.empty()) return fs::path(all.back()).lexically_normal().string();
  }
  throw io::Error(path, key + ": this folder holds no checkpoint (train the " + what + " first)");
}

std::string resolve_autoencoder(const std::string& path) {
  if (path.empty()) throw ConfigError("model.family = ldm needs model.autoencoder: a vae checkpoint or its run folder");
  return resolve_checkpoint(path, "model.autoencoder", "vae");
}

TrainResult train(const RunConfig& cfg, bool resume, DataParallel* group) {
  const auto t0 = std::chrono::steady_clock::now();
  const TrainConfig& tc = cfg.train;
  if (tc.steps <= 0 || tc.batch <= 0) throw ConfigError("train.steps and train.batch must be positive");
  if (tc.checkpoint_every <= 0 || tc.keep_checkpoints <= 0 || tc.log_every <= 0) {
    throw ConfigError("train.checkpoint_every, train.keep_checkpoints and train.log_every must be positive");
  }
  modules::configure_threads(tc.threads);
  const torch::Device device = modules::parse_device(tc.device);
  const fs::path out(tc.out);
  const fs::path ckpt_dir = out / "checkpoints";
  fs::create_directories(ckpt_dir);

  // Data-parallel when launched as several ranks (torchrun / Slurm / --nproc): rank 0 alone
  // ingests, logs and writes checkpoints; gradients are averaged over ranks every step.
  const WorldInfo world = world_from_environment();
  std::unique_ptr<DataParallel> own_group;
  DataParallel* dp = group;
  if (!dp && world.world > 1) {
    own_group = std::make_unique<DataParallel>(world, std::chrono::seconds(tc.dist_timeout), rank_fingerprint(cfg));
    dp = own_group.get();
  }
  const bool lead = world.rank == 0;

  if (dp && !lead) dp->barrier();  // wait for rank 0's ingest, then find its cache
  const IngestResult ing = ingest(cfg, (out / "cache").string());
  if (dp && lead) dp->barrier();
  const SliceDataset data = SliceDataset::open(ing.dir);
  const auto train_idx = data.indices(false);
  if (train_idx.empty()) throw io::Error(dataset_path(cfg.data), "no training slices after the hold-out split");

  modules::ModelConfig mc = cfg.model;
  const bool patches = mc.coordinates;  // apply_data_to_model: coordinates come with patches
  if (patches && (mc.image_size > data.width() || mc.image_size > data.height())) {
    throw ConfigError("data.patch " + std::to_string(mc.image_size) + " is larger than the slices (" +
                      std::to_string(data.width()) + "x" + std::to_string(data.height()) + ")");
  }
  if (!patches) mc.image_size = data.width();
  mc.label_classes = data.label_classes();
  if (mc.source_image && !data.has_source()) {
    throw io::Error(dataset_path(cfg.data), "model.source_image = true but the manifest has no source column");
  }
  if (mc.num_classes > 0) {
    for (std::size_t i = 0; i < data.size(); ++i) {
      const int cls = data.record(i).class_id;
      if (cls < 0 || cls >= mc.num_classes) {
        throw io::Error(dataset_path(cfg.data), "model.num_classes = " + std::to_string(mc.num_classes) + " but " +
                                               (cls < 0 ? std::string("a row has no class")
                                                        : "a row has class " + std::to_string(cls)) +
                                               " (every row needs a class 0.." + std::to_string(mc.num_classes - 1) + ")");
      }
    }
  }
  mc.acquisition_encoding.clear();
  mc.acquisition_width = 0;
  if (!mc.acquisition.empty()) {
    if (mc.family != "ddpm" && mc.family != "ldm") {
      throw ConfigError("model.acquisition: family " + mc.family + " has no acquisition embedding (ddpm and ldm have)");
    }
    const auto enc = fit_acquisition_encoding(mc.acquisition, scan_attributes(data, false), dataset_path(cfg.data));
    mc.acquisition_encoding = enc.text();
    mc.acquisition_width = enc.width();
  }
  // The batch every step assembles (train.batch slices per rank), before anything else is made.
  {
    const int bw = patches ? mc.image_size : data.width(), bh = patches ? mc.image_size : data.height();
    require_memory(batch_bytes(mc, tc.batch, bw, bh), "training batch of " + std::to_string(tc.batch) + " slices of " +
                                                          std::to_string(bw) + "x" + std::to_string(bh) + " (train.batch)");
  }
  const bool on_autoencoder = modules::family_can(mc.family, modules::Capability::kOnAutoencoder);
  if (on_autoencoder) mc.autoencoder = resolve_autoencoder(mc.autoencoder);
  auto model = modules::create_model(mc, device);
  if (on_autoencoder) {
    // The ldm is given its vae, built here from the checkpoint (a resumed ldm's own checkpoint
    // then brings the same vae's weights with it).
    CheckpointInfo vae_info;
    model->set_autoencoder(model_from_checkpoint(mc.autoencoder, device.str(), &vae_info));
  }
  model->configure_training(cfg.optim);

  CheckpointInfo info;
  info.family = mc.family;
  info.model = mc;
  info.run_config = to_ini(cfg);
  info.data_fingerprint = data.fingerprint();
  for (const auto& v : data.index()["label_values"]) info.label_values.push_back(v.get<std::int32_t>());
  const auto& window = data.index()["subjects"][0]["window"];
  info.window_lo = window[0].get<float>();
  info.window_hi = window[1].get<float>();
  info.world_size = world.world;
  info.empty_background = data.index().value("empty_background", false);
  info.pixel = data.native() ? data.pixel() : 0.0;

  std::int64_t start = 0;
  auto existing = list_checkpoints(ckpt_dir.string());
  if (resume && !existing.empty()) {
    // The newest intact checkpoint: a damaged newer one is set aside with a warning naming it.
    const std::string last = newest_intact_checkpoint(existing, lead);
    const auto saved = read_checkpoint_info(last);
    if (saved.world_size != world.world) {
      throw io::Error(last, "checkpoint was trained by " + std::to_string(saved.world_size) + " rank(s); resume it with "
                            "the same number (now " + std::to_string(world.world) + "): the batches would differ");
    }
    if (saved.data_fingerprint != info.data_fingerprint) {
      throw io::Error(last, "checkpoint was trained on other data (fingerprint " + saved.data_fingerprint + ", now " +
                                info.data_fingerprint + ")");
    }
    load_checkpoint(last, *model);
    start = saved.step;
    if (lead) std::cerr << "medsynth: resuming from " << last << " at step " << start << "\n";
  } else if (!resume && !existing.empty()) {
    throw io::Error(ckpt_dir.string(), "holds checkpoints of an earlier run: continue it with --resume, or choose "
                                       "another train.out");
  }
  if (dp) {
    dp->broadcast(model->weights());  // every rank starts from rank 0's weights
    model->gradient_hook = [&dp](std::vector<torch::Tensor>& grads) { dp->allreduce_mean(grads); };
    model->loss_hook = [&dp](double loss) { return dp->allreduce_mean(loss); };
  }
  if (lead) std::ofstream(out / "config.ini") << info.run_config;
  // The held-out slab of a one-subject dataset, as a mask on the subject's grid, beside the run.
  for (const auto& subject : data.index()["subjects"]) {
    const std::string mask = subject.value("heldout_mask", "");
    if (!mask.empty() && lead) {
      fs::copy_file(fs::path(data.dir()) / mask, out / "heldout-mask.nii.gz", fs::copy_options::overwrite_existing);
      break;
    }
  }

  const fs::path log_path = out / "loss.csv";
  if (lead && start > 0) {
    truncate_log(log_path, start);
  } else if (lead) {
    std::ofstream(log_path, std::ios::trunc) << kLogHeader << "\n";
  }
  std::ofstream log;
  if (lead) log.open(log_path, std::ios::app);

  TrainResult result;
  result.steps = start;
  const std::size_t local = static_cast<std::size_t>(tc.batch), ranks = static_cast<std::size_t>(world.world);
  std::vector<std::size_t> global_idx(local * ranks), batch_idx(local);
  std::vector<PatchOffset> global_patch(patches ? local * ranks : 0), batch_patch(patches ? local : 0);
  std::unique_ptr<Progress> bar;
  if (lead) bar = std::make_unique<Progress>("training", tc.steps, start, tc.log_every);
  double interval_loss = 0;
  int interval_n = 0;
  bool first_interval = true;
  // Writes the checkpoint of `steps_done` (rank 0) with its model card; prunes the oldest.
  auto write_checkpoint = [&](std::int64_t steps_done) {
    log.flush();  // every step a checkpoint holds is in the log before the checkpoint exists
    info.step = steps_done;
    const auto path = (ckpt_dir / checkpoint_name(steps_done)).string();
    save_checkpoint(path, *model, info);
    write_model_card(path, make_model_card({path, info.family, info.step, info.world_size, info.run_config,
                                            info.data_fingerprint, info.window_lo, info.window_hi}));
    result.checkpoint = path;
    auto all = list_checkpoints(ckpt_dir.string());
    for (std::size_t i = 0; i + static_cast<std::size_t>(std::max(1, tc.keep_checkpoints)) < all.size(); ++i) {
      fs::remove(all[i]);
      fs::remove(model_card_path(all[i], "json"));
      fs::remove(model_card_path(all[i], "md"));
    }
  };
  const StopSignals stop_signals;  // SIGTERM/SIGINT/SIGUSR1 end the run after a step, with a checkpoint
  for (std::int64_t step = start; step < tc.steps; ++step) {
    model->set_learning_rate(learning_rate(cfg.optim.lr, tc.warmup, tc.steps, step));
    // The batch of step s depends only on (seed, s): a resumed run sees the same batches.
    std::mt19937_64 rng(modules::derive_seed(static_cast<std::uint64_t>(tc.seed), static_cast<std::uint64_t>(step), 2));
    std::uniform_int_distribution<std::size_t> pick(0, train_idx.size() - 1);
    // The global batch of the step, of which this rank takes its rows.
    for (auto& i : global_idx) i = train_idx[pick(rng)];
    const std::size_t first = local * static_cast<std::size_t>(world.rank);
    std::copy_n(global_idx.begin() + static_cast<long>(first), local, batch_idx.begin());
    if (patches) {
      // Offsets for the global batch too, after the indices: one stream, any world size.
      std::uniform_int_distribution<int> px(0, data.width() - mc.image_size), py(0, data.height() - mc.image_size);
      for (auto& o : global_patch) {
        o.x = px(rng);
        o.y = py(rng);
      }
      std::copy_n(global_patch.begin() + static_cast<long>(first), local, batch_patch.begin());
    }
    auto batch = make_batch(data, batch_idx, mc, device, batch_patch);
    if (dp) {
      batch.global_offset = static_cast<std::int64_t>(local) * world.rank;
      batch.global_size = static_cast<std::int64_t>(local * ranks);
    }
    const auto stats = model->train_step(batch, modules::derive_seed(static_cast<std::uint64_t>(tc.seed),
                                                                    static_cast<std::uint64_t>(step), 3));
    if (!std::isfinite(stats.loss)) {
      const auto kept = list_checkpoints(ckpt_dir.string());
      throw medsynth::Error("training: the loss became " + std::to_string(stats.loss) + " at step " +
                                std::to_string(step) + "; stopped without updating the weights; last good checkpoint: " +
                                (kept.empty() ? std::string("none") : kept.back()) +
                                " (lower train.lr or check the data)",
                            ExitCode::kRuntime);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (lead) log << (step + 1) << "," << stats.loss << "," << learning_rate(cfg.optim.lr, tc.warmup, tc.steps, step) << ","
        << stats.grad_norm << "," << secs << "\n";
    interval_loss += stats.loss;
    ++interval_n;
    result.last_loss = stats.loss;
    result.steps = step + 1;
    if (interval_n == tc.log_every || step + 1 == tc.steps) {
      if (first_interval) result.first_loss = interval_loss / interval_n;
      first_interval = false;
      if (lead) log.flush();
      interval_loss = 0;
      interval_n = 0;
    }
    std::ostringstream text;
    text << "loss " << std::setprecision(4) << stats.loss;
    if (bar) bar->update(step + 1, text.str());
    const bool scheduled = (step + 1) % tc.checkpoint_every == 0 || step + 1 == tc.steps;
    if (lead && scheduled) write_checkpoint(step + 1);
    // A stop signal (Slurm's warning, Ctrl-C): every rank agrees to stop after this same step, the
    // state is saved as a checkpoint of this step, and resuming continues exactly from it.
    bool stop = step + 1 < tc.steps && stop_requested();
    if (dp && step + 1 < tc.steps) stop = dp->allreduce_mean(stop ? 1.0 : 0.0) > 0;
    if (stop) {
      if (lead && !scheduled) write_checkpoint(step + 1);
      bar.reset();
      if (dp) dp->barrier();  // rank 0's checkpoint exists before any rank leaves
      const std::string by = stop_signal_name().empty() ? "a signal to another rank" : stop_signal_name();
      throw Stopped("training: stopped by " + by + " after step " + std::to_string(step + 1) + " of " +
                    std::to_string(tc.steps) + "; saved in " + (ckpt_dir / checkpoint_name(step + 1)).string() +
                    "; continue with --resume ('medsynth run' resumes by itself)");
    }
  }
  bar.reset();
  if (dp) dp->barrier();  // no rank leaves before rank 0's last checkpoint exists
  if (result.checkpoint.empty()) {
    auto all = list_checkpoints(ckpt_dir.string());
    if (!all.empty()) result.checkpoint = all.back();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace medsynth::pipeline
