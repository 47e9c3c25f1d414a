// Training and sampling speed of every model family (issue 4), on real Colin27 slices at 64x64,
// in one process, as absolute figures and as ratios to the pixel-space ddpm measured in the same
// run (the machines are shared: ratios drift less than seconds):
//   (a) training images/s, batch 16 (warm-up steps, then timed steps);
//   (b) sampling seconds per slice, batch 16 (ddpm and ldm: DDIM 50 steps; vae and gan: one pass);
//       the SPADE ddpm also with its label-map branch on every step, as a ratio (issue 21, item 2);
//   (c) seconds per whole 181-slice volume, ldm vs ddpm, both DDIM 50, batches of 16.
// Model settings are the shipped configs' (configs/colin27-tissue-ddpm.ini,
// colin27-tissue-spade.ini, brainweb-pd-to-t1-pix2pix.ini); vae and ldm, which have no shipped
// config, use channels 32,64,128, one ResBlock a level, no attention, 4 latent channels. The ldm
// sits on the vae trained in (a) for a few steps (weights barely trained: the speed is the same).
// pix2pix takes the slice's tissue map as its 'sketch' source image (ids scaled to [-1, 1]).
// usage: bench_families [--warmup W] [--steps N] [--volume-slices S] [--threads T] [--json FILE]
//                       [--cache DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "medsynth/modules/device.h"
#include "medsynth/modules/generative_model.h"
#include "medsynth/modules/ldm/ldm_model.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/trainer.h"

namespace md = medsynth::modules;
namespace mp = medsynth::pipeline;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Family {
  std::string name;  // row label
  md::ModelConfig model;
  md::OptimConfig optim;
  bool diffusion = false;  // sampled with DDIM 50 (else one pass)
};

// The shipped configs' [model] keys (and [train] grad_clip), on top of ModelConfig's defaults.
std::vector<Family> families(int label_classes) {
  std::vector<Family> out;
  {
    Family f{"ddpm", {}, {}, true};  // configs/colin27-tissue-ddpm.ini
    f.model.family = "ddpm";
    f.model.channels = {32, 64, 128};
    f.model.res_blocks = 1;
    f.model.attention_levels = 0;
    f.model.label_classes = label_classes;
    f.model.label_mode = "concat";
    f.model.parametrization = "v";
    f.model.schedule = "cosine";
    f.model.condition_dropout = 0.1;
    f.optim.grad_clip = 1;
    out.push_back(f);
  }
  {
    Family f{"ddpm spade", {}, {}, true};  // configs/colin27-aal-ddpm.ini's network (tissue labels here)
    f.model = out.front().model;
    f.model.label_mode = "spade";
    f.optim.grad_clip = 1;
    out.push_back(f);
  }
  {
    Family f{"vae", {}, {}, false};  // no shipped config
    f.model.family = "vae";
    f.model.channels = {32, 64, 128};
    f.model.res_blocks = 1;
    f.model.attention_levels = 0;
    f.model.latent_channels = 4;
    f.model.label_classes = label_classes;
    out.push_back(f);
  }
  {
    Family f{"gan pix2pix", {}, {}, false};  // configs/brainweb-pd-to-t1-pix2pix.ini
    f.model.family = "gan";
    f.model.generator = "pix2pix";
    f.model.source_image = true;
    f.model.channels = {32, 64, 128};
    f.model.dropout = 0.5;
    f.model.gan_loss = "lsgan";
    f.model.l1_weight = 100;
    f.model.feature_matching = 0;
    f.model.disc_scales = 1;
    f.model.disc_channels = 64;
    f.model.disc_layers = 3;
    f.optim.grad_clip = 0;
    out.push_back(f);
  }
  {
    Family f{"gan spade", {}, {}, false};  // configs/colin27-tissue-spade.ini
    f.model.family = "gan";
    f.model.generator = "spade";
    f.model.channels = {32, 64, 128};
    f.model.label_classes = label_classes;
    f.model.gan_loss = "hinge";
    f.model.l1_weight = 10;
    f.model.feature_matching = 10;
    f.model.disc_scales = 2;
    f.model.disc_channels = 64;
    f.model.disc_layers = 3;
    f.optim.grad_clip = 0;
    out.push_back(f);
  }
  {
    Family f{"ldm", {}, {}, true};  // no shipped config; the diffusion in latent space like ddpm's
    f.model.family = "ldm";
    f.model.channels = {32, 64, 128};
    f.model.res_blocks = 1;
    f.model.attention_levels = 0;
    f.model.latent_channels = 4;
    f.model.label_classes = label_classes;
    f.model.parametrization = "v";
    f.model.schedule = "cosine";
    f.optim.grad_clip = 1;
    out.push_back(f);
  }
  return out;
}

// Slices `idx` of the dataset as a batch for `model`; a pix2pix model gets the tissue map as its
// sketch source (label ids scaled to [-1, 1]).
md::Batch batch_for(const mp::SliceDataset& data, const std::vector<std::size_t>& idx, const md::ModelConfig& model) {
  md::ModelConfig no_source = model;
  no_source.source_image = false;
  md::Batch b = mp::make_batch(data, idx, no_source, torch::kCPU);
  if (model.source_image) {
    const auto B = static_cast<std::int64_t>(idx.size());
    const auto G = static_cast<std::int64_t>(data.width());
    auto ids = torch::empty({B, 1, G, G}, torch::kFloat);
    float* p = ids.data_ptr<float>();
    const std::size_t P = data.pixels();
    for (std::size_t n = 0; n < idx.size(); ++n) {
      const std::uint8_t* l = data.labels(idx[n]);
      for (std::size_t i = 0; i < P; ++i) p[n * P + i] = static_cast<float>(l[i]);
    }
    b.source = ids * (2.0f / static_cast<float>(std::max(1, data.label_classes() - 1))) - 1.0f;
  }
  return b;
}

md::Condition condition_of(const md::Batch& b) {
  md::Condition c = b;
  c.image = torch::Tensor();
  return c;
}

md::SampleOptions sample_options(std::int64_t n, std::uint64_t first_seed) {
  md::SampleOptions o;
  o.sampler = "ddim";
  o.steps = 50;
  o.eta = 0.0;
  o.guidance = 1.0;
  for (std::int64_t i = 0; i < n; ++i) o.seeds.push_back(first_seed + static_cast<std::uint64_t>(i));
  return o;
}

struct Row {
  std::string name;
  std::int64_t parameters = 0;
  double train_images_per_s = 0, sample_s_per_slice = 0;
  // SPADE diffusions: the same DDIM 50 with the label-map branch run on every step
  // (SampleOptions::reuse_conditions false: what sampling cost before it was computed once).
  double sample_every_step_s_per_slice = 0;
  int sample_batches = 0;
};

// Samples every slice of `volume` (in order) in batches of `batch`; returns seconds.
double sample_volume(md::GenerativeModel& m, const mp::SliceDataset& data, const std::vector<std::size_t>& volume,
                     int batch) {
  const auto t0 = Clock::now();
  for (std::size_t k = 0; k < volume.size(); k += static_cast<std::size_t>(batch)) {
    const std::vector<std::size_t> idx(volume.begin() + static_cast<std::ptrdiff_t>(k),
                                       volume.begin() + static_cast<std::ptrdiff_t>(std::min(volume.size(), k + batch)));
    auto c = condition_of(batch_for(data, idx, m.config()));
    m.sample(c, sample_options(static_cast<std::int64_t>(idx.size()), 1000 + k));
  }
  return since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  int warmup = 2, steps = 3, volume_slices = 181, threads = 0, batch = 16;
  std::string json_path, cache = (fs::temp_directory_path() / "medsynth-bench-families").string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bench_families: " << a << " needs a value\n";
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--warmup") warmup = std::atoi(next().c_str());
    else if (a == "--steps") steps = std::atoi(next().c_str());
    else if (a == "--volume-slices") volume_slices = std::atoi(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--json") json_path = next();
    else if (a == "--cache") cache = next();
    else {
      std::cerr << "usage: bench_families [--warmup W] [--steps N] [--volume-slices S] [--threads T] [--json FILE] "
                   "[--cache DIR]\n";
      return 1;
    }
  }
  if (steps < 1 || warmup < 0 || volume_slices < 0) {
    std::cerr << "bench_families: --steps must be >= 1, --warmup and --volume-slices >= 0\n";
    return 1;
  }
  const int used_threads = md::configure_threads(threads);
  const std::string load_start = loadavg();
  const auto t_all = Clock::now();
  std::printf("%s\n", md::runtime_summary().c_str());
  std::printf("cores %u, LibTorch threads %d, load average at start %s\n", std::thread::hardware_concurrency(),
              used_threads, load_start.c_str());
  std::printf("batch %d; training: %d warm-up + %d timed steps per family\n", batch, warmup, steps);

  // Colin27 (configs/colin27.csv), 64x64, tissue labels; every axial slice kept (min_foreground 0),
  // so the whole volume is there for (c). Ingest is cached under `cache`.
  mp::RunConfig rc;
  rc.data.manifest = std::string(MEDSYNTH_SOURCE_DIR) + "/configs/colin27.csv";
  rc.data.grid = 64;
  rc.data.labels = "tissue";
  rc.data.tissue_classes = 3;
  rc.data.holdout = 0.2;
  rc.data.min_foreground = 0.0;
  fs::create_directories(cache);
  auto t0 = Clock::now();
  const auto ingested = mp::ingest(rc, cache + "/slices");
  auto data = mp::SliceDataset::open(ingested.dir);
  std::printf("Colin27: %zu slices of %dx%d, %d label classes (ingest %.1f s%s)\n", data.size(), data.width(),
              data.width(), data.label_classes(), since(t0), ingested.reused ? ", cached" : "");
  const auto train_idx = data.indices(false);
  std::vector<std::size_t> all(data.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::sort(all.begin(), all.end(), [&](std::size_t a, std::size_t b) { return data.record(a).z < data.record(b).z; });
  // Batches of consecutive training slices, cycling through the training set.
  std::size_t cursor = 0;
  auto next_batch_idx = [&]() {
    std::vector<std::size_t> idx;
    for (int i = 0; i < batch; ++i) idx.push_back(train_idx[(cursor++) % train_idx.size()]);
    return idx;
  };
  // (b) conditions: the middle 16 slices of the volume.
  std::vector<std::size_t> sample_idx(all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2 - batch / 2),
                                      all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2 - batch / 2 + batch));

  const std::string vae_ckpt = cache + "/vae-untrained.pt";
  std::vector<Row> rows;
  std::unique_ptr<md::GenerativeModel> ddpm_model, ldm_model;
  for (auto& f : families(data.label_classes())) {
    f.model.image_size = data.width();
    if (f.model.family == "ldm") f.model.autoencoder = vae_ckpt;
    auto m = md::create_model(f.model, torch::kCPU);
    if (f.model.family == "ldm") {
      mp::CheckpointInfo vae_info;
      dynamic_cast<md::LdmModel&>(*m).set_autoencoder(mp::model_from_checkpoint(vae_ckpt, "cpu", &vae_info));
    }
    m->configure_training(f.optim);
    Row r;
    r.name = f.name;
    std::uint64_t seed = 1;
    for (int s = 0; s < warmup; ++s) m->train_step(batch_for(data, next_batch_idx(), f.model), seed++);
    std::vector<md::Batch> batches;
    for (int s = 0; s < steps; ++s) batches.push_back(batch_for(data, next_batch_idx(), f.model));
    t0 = Clock::now();
    for (int s = 0; s < steps; ++s) m->train_step(batches[static_cast<std::size_t>(s)], seed++);
    r.train_images_per_s = steps * batch / since(t0);
    r.parameters = m->parameter_count();

    // (b): one batch of 16 for the diffusions (50 network passes); one-pass families repeat the
    // batch for at least 2 s.
    auto cond = condition_of(batch_for(data, sample_idx, f.model));
    const auto opts = sample_options(batch, 7);
    auto warm = opts;  // warm-up (allocator, first passes): the diffusions with 2 DDIM steps
    warm.steps = 2;
    m->sample(cond, warm);
    t0 = Clock::now();
    int n = 0;
    do {
      m->sample(cond, opts);
      ++n;
    } while (!f.diffusion && since(t0) < 2.0);
    r.sample_s_per_slice = since(t0) / (n * batch);
    r.sample_batches = n;
    std::printf("  %-12s %9lld parameters  train %6.2f images/s  sample %.4f s/slice\n", r.name.c_str(),
                static_cast<long long>(r.parameters), r.train_images_per_s, r.sample_s_per_slice);
    if (f.diffusion && f.model.label_mode == "spade") {
      auto every_step = opts;
      every_step.reuse_conditions = false;
      t0 = Clock::now();
      m->sample(cond, every_step);
      r.sample_every_step_s_per_slice = since(t0) / batch;
      std::printf("  %-12s SPADE branch on every step: %.4f s/slice (computed once: %.2fx the time)\n", "",
                  r.sample_every_step_s_per_slice, r.sample_s_per_slice / r.sample_every_step_s_per_slice);
    }
    std::fflush(stdout);
    rows.push_back(r);

    if (f.model.family == "vae") {
      mp::CheckpointInfo info;
      info.family = "vae";
      info.model = f.model;
      info.data_fingerprint = data.fingerprint();
      info.step = warmup + steps;
      mp::save_checkpoint(vae_ckpt, *m, info);
    }
    if (f.name == "ddpm") ddpm_model = std::move(m);
    if (f.model.family == "ldm") ldm_model = std::move(m);
  }

  // (c): the whole volume, ldm then ddpm, DDIM 50, batches of 16.
  std::vector<std::size_t> volume;
  for (int i = 0; i < volume_slices; ++i) volume.push_back(all[static_cast<std::size_t>(i) % all.size()]);
  double ldm_volume = 0, ddpm_volume = 0;
  if (volume_slices > 0) {
    ldm_volume = sample_volume(*ldm_model, data, volume, batch);
    std::printf("  ldm  %d-slice volume: %.1f s\n", volume_slices, ldm_volume);
    std::fflush(stdout);
    ddpm_volume = sample_volume(*ddpm_model, data, volume, batch);
    std::printf("  ddpm %d-slice volume: %.1f s\n", volume_slices, ddpm_volume);
  }
  const std::string load_end = loadavg();

  const Row& ref = rows.front();
  std::printf("\n| family | parameters | train images/s | ratio to ddpm | sample s/slice | ratio to ddpm |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (const auto& r : rows) {
    std::printf("| %s | %.2f M | %.2f | %.2f | %.4f | %.4f |\n", r.name.c_str(), r.parameters / 1e6,
                r.train_images_per_s, r.train_images_per_s / ref.train_images_per_s, r.sample_s_per_slice,
                r.sample_s_per_slice / ref.sample_s_per_slice);
  }
  if (volume_slices > 0) {
    std::printf("\n%d-slice volume, DDIM 50, batch %d: ldm %.1f s, ddpm %.1f s; ldm/ddpm %.3f (ldm %.1fx faster)\n",
                volume_slices, batch, ldm_volume, ddpm_volume, ldm_volume / ddpm_volume, ddpm_volume / ldm_volume);
  }
  const double total = since(t_all);
  std::printf("load average at end %s; whole run %.0f s\n", load_end.c_str(), total);

  if (!json_path.empty()) {
    nlohmann::json j;
    j["threads"] = used_threads;
    j["cores"] = std::thread::hardware_concurrency();
    j["loadavg_start"] = load_start;
    j["loadavg_end"] = load_end;
    j["batch"] = batch;
    j["warmup_steps"] = warmup;
    j["timed_steps"] = steps;
    j["slices"] = data.size();
    j["grid"] = data.width();
    j["seconds_total"] = total;
    for (const auto& r : rows) {
      j["families"].push_back({{"family", r.name},
                               {"parameters", r.parameters},
                               {"train_images_per_s", r.train_images_per_s},
                               {"train_ratio_to_ddpm", r.train_images_per_s / ref.train_images_per_s},
                               {"sample_s_per_slice", r.sample_s_per_slice},
                               {"sample_batches_timed", r.sample_batches},
                               {"sample_ratio_to_ddpm", r.sample_s_per_slice / ref.sample_s_per_slice}});
      if (r.sample_every_step_s_per_slice > 0) {
        j["families"].back()["sample_every_step_s_per_slice"] = r.sample_every_step_s_per_slice;
        j["families"].back()["reuse_over_every_step"] = r.sample_s_per_slice / r.sample_every_step_s_per_slice;
      }
    }
    if (volume_slices > 0) {
      j["volume"] = {{"slices", volume_slices},
                     {"sampler", "ddim"},
                     {"steps", 50},
                     {"ldm_s", ldm_volume},
                     {"ddpm_s", ddpm_volume},
                     {"ldm_over_ddpm", ldm_volume / ddpm_volume}};
    }
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}
