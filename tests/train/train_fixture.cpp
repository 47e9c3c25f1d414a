#include "train/train_fixture.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "medsynth/io/volume_io.h"
#include "medsynth/modules/generative_model.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/slice_dataset.h"

namespace medsynth::test {

std::string write_ch2_manifest(const std::string& dir) {
  const std::string path = dir + "/manifest.csv";
  std::ofstream(path) << "subject,image\ncolin27," << data_file(kTemplates + "ch2bet.nii.gz", "mricron-data") << "\n";
  return path;
}

std::string tiny_config(const std::string& manifest, const std::string& out, int steps) {
  return "[data]\nmanifest = " + manifest + "\ngrid = 32\nlabels = tissue\n\n"
         "[model]\nchannels = 16,32\nres_blocks = 1\nattention_levels = 1\n\n"
         "[train]\nout = " + out + "\nsteps = " + std::to_string(steps) +
         "\nbatch = 8\nlr = 0.001\nwarmup = 10\ncheckpoint_every = 50\nlog_every = 50\nthreads = 1\nseed = 3\n";
}

pipeline::SliceDataset ch2_slice_dataset(const std::string& dir, int grid) {
  pipeline::RunConfig c;
  c.data.manifest = write_ch2_manifest(dir);
  c.data.grid = grid;
  c.data.labels = "tissue";
  return pipeline::SliceDataset::open(pipeline::ingest(c, dir + "/cache").dir);
}

namespace {
// Runs `make` once per build under a lock; `done` marks completion.
template <typename Fn>
void once_per_build(const std::string& name, Fn make) {
  const fs::path cache = fs::path(MEDSYNTH_TEST_CACHE);
  fs::create_directories(cache);
  const std::string lock = (cache / (name + ".lock")).string();
  int fd = ::open(lock.c_str(), O_CREAT | O_RDWR, 0644);
  ::flock(fd, LOCK_EX);
  if (!fs::exists(cache / (name + ".done"))) {
    make(cache);
    std::ofstream(cache / (name + ".done")) << "ok\n";
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
}
}  // namespace

std::string trained_tiny_checkpoint() {
  const fs::path run = fs::path(MEDSYNTH_TEST_CACHE) / "tiny-run";
  once_per_build("tiny-run", [&](const fs::path& cache) {
    fs::remove_all(run);
    fs::create_directories(run);
    const std::string manifest = write_ch2_manifest(run.string());
    std::ofstream(run / "tiny.ini") << tiny_config(manifest, (run / "out").string(), 300);
    auto r = run_medsynth("train --config " + (run / "tiny.ini").string(), 900);
    if (r.exit_code != 0) ADD_FAILURE() << "training the tiny model failed: " << r.err;
    (void)cache;
  });
  return (run / "out" / "checkpoints" / "ckpt-00000300.pt").string();
}

std::string trained_family_checkpoint(const std::string& name, const std::string& model_lines, int steps) {
  const fs::path run = fs::path(MEDSYNTH_TEST_CACHE) / name;
  once_per_build(name, [&](const fs::path&) {
    fs::remove_all(run);
    fs::create_directories(run);
    const std::string manifest = write_ch2_manifest(run.string());
    std::string ini = tiny_config(manifest, (run / "out").string(), steps);
    ini.replace(ini.find("[model]\n"), 8, "[model]\n" + model_lines);
    std::ofstream(run / "tiny.ini") << ini;
    auto r = run_medsynth("train --config " + (run / "tiny.ini").string(), 900);
    if (r.exit_code != 0) ADD_FAILURE() << "training " << name << " failed: " << r.err;
  });
  char ckpt[32];
  std::snprintf(ckpt, sizeof ckpt, "ckpt-%08d.pt", steps);
  return (run / "out" / "checkpoints" / ckpt).string();
}

std::string trained_tiny_vae() {
  return trained_family_checkpoint("tiny-vae", "family = vae\nlatent_channels = 4\nkl_warmup = 50\n", 200);
}

std::string trained_tiny_ldm() {
  const std::string vae = trained_tiny_vae();
  return trained_family_checkpoint("tiny-ldm", "family = ldm\nautoencoder = " + vae + "\n", 200);
}

std::string ch2_tissue_map() {
  const fs::path path = fs::path(MEDSYNTH_TEST_CACHE) / "ch2-tissue.nii.gz";
  once_per_build("ch2-tissue", [&](const fs::path&) {
    const auto v = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
    io::WriteOptions wo;
    wo.force = true;
    io::write_label_volume(pipeline::tissue_map(v, 3), path.string(), wo);
  });
  return path.string();
}

std::vector<torch::Tensor> weights_of(const std::string& checkpoint) {
  pipeline::CheckpointInfo info;
  auto m = pipeline::model_from_checkpoint(checkpoint, "cpu", &info);
  std::vector<torch::Tensor> w;
  for (auto& t : m->weights()) w.push_back(t.detach().clone());
  return w;
}

bool same_weights(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

double largest_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double out = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].sizes().equals(b[i].sizes())) return std::numeric_limits<double>::infinity();
    out = std::max(out, (a[i] - b[i]).abs().max().item<double>());
  }
  return out;
}

std::vector<torch::Tensor> initial_weights(const std::string& checkpoint) {
  const auto info = pipeline::read_checkpoint_info(checkpoint);
  return modules::create_model(info.model, torch::kCPU)->weights();
}

}  // namespace medsynth::test
