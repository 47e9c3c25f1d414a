// medsynth demo: the built-in demo config (equal to configs/colin27-tissue-ddpm.ini; a test checks
// it) run by the stage runner.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../command_util.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/run.h"
#include "medsynth/pipeline/torch_commands.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {

int finish_run(const RunSummary& s);  // run_command.cpp

const char* demo_config_text() {
  return R"INI(# The demo: Colin27 T1 synthesised from a 4-class tissue map (background, CSF, grey, white matter
# by multi-Otsu of the skull-stripped T1) at the scan's own 1 mm grid (181x217 axial slices), a
# 20% contiguous slab held out.
# Note: the tissue map is derived from the same image, which makes this easier than synthesis from
# an independent segmentation: say so when you report its figures.
# Native resolution on 2 cores: the model trains on random 128x128 patches of the native slices
# (with coordinate channels) and samples whole slices; model.stem = 2 folds 2x2 pixels into
# channels so every level runs at half resolution. Each slice sees the tissue map of its
# neighbours (data.context = 1). Rectified flow with the network predicting the clean image
# (model.predict = image: a velocity network has to copy the start noise through and leaves a
# grain) at logit-normal training times; it samples in 8 Euler steps from start noise that is
# smooth along the volume (sample.noise = smooth), so sagittal and coronal cuts do not stripe.
# The U-Net computes in bfloat16 where the CPU has AVX512-BF16 (model.precision = auto: about 3x
# faster than float32, same figures): 1000 steps took 650 s on 2 such cores shared with two
# compilers, so 2000 steps take 15-22 minutes (about 3x that in float32); sampling the 181-slice
# volume under a minute. Label 0 (background) stays empty image (sample.background = auto).

[data]
manifest = colin27.csv
grid = native
patch = 128
context = 1
labels = tissue
tissue_classes = 3
holdout = 0.2

[model]
family = ddpm
channels = 32,64,128
stem = 2
res_blocks = 1
attention_levels = 0
label_mode = concat
parametrization = flow
predict = image
time_sampling = logit_normal
precision = auto
schedule = cosine
condition_dropout = 0.1

[train]
out = runs/colin27-tissue-ddpm
steps = 2000
batch = 16
lr = 0.0002
warmup = 50
grad_clip = 1
ema_decay = 0.999
checkpoint_every = 100
log_every = 25

[sample]
sampler = euler
steps = 8
guidance = 1
seed = 7
noise = smooth
noise_span = 8
)INI";
}

const char* demo_manifest_text() {
  return "subject,image\n"
         "colin27,/usr/share/mricron/templates/ch2bet.nii.gz\n";
}

namespace {

using io::write_text_atomically;

// Writes `text` to `path` unless it already holds exactly that.
void write_if_different(const fs::path& path, const std::string& text) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  if (in) ss << in.rdbuf();
  if (in && ss.str() == text) return;
  write_text_atomically(path.string(), text);
}

int run_demo(const po::variables_map& vm) {
  std::string out = vm["out"].as<std::string>();
  const int steps = vm["steps"].as<int>();
  if (steps < 0) throw UsageError("demo: --steps must be positive");
  if (out.empty()) out = config_from_ini_text(demo_config_text()).train.out;
  // The built-in config and its manifest are written into the run folder (the manifest path in
  // the config is relative to the config file), then run like any config.
  fs::create_directories(out);
  const fs::path ini = fs::path(out) / "demo.ini";
  write_if_different(ini, demo_config_text());
  write_if_different(fs::path(out) / "colin27.csv", demo_manifest_text());
  std::vector<std::string> overrides = {"--train.out", out};
  if (steps > 0) overrides.insert(overrides.end(), {"--train.steps", std::to_string(steps)});
  const auto more = overrides_of(vm);
  overrides.insert(overrides.end(), more.begin(), more.end());
  const RunConfig cfg = load_config(ini.string(), overrides);
  RunOptions o;
  o.config_path = ini.string();
  o.command_hint = "medsynth run " + ini.string() + " --train.out " + out;
  return finish_run(run_pipeline(cfg, o));
}

}  // namespace

Command make_demo_command() {
  Command c;
  c.name = "demo";
  c.summary = "the demo: train on Colin27's tissue map, synthesise the T1, evaluate, export (built-in config)";
  c.usage = "medsynth demo [--out DIR] [--steps N] [--section.key value ...]";
  c.details =
      "Runs the built-in demo configuration (equal to configs/colin27-tissue-ddpm.ini) with 'medsynth\n"
      "run' into DIR: ingest Colin27 (mricron-data) with its tissue map, train a conditional\n"
      "flow-matching model on patches of the native 1 mm slices, synthesise the T1 volume from the\n"
      "map at 1 mm, evaluate it on the held-out slab, write synthetic DICOM and print the path of\n"
      "report.html. Started again, it skips what is done. The config and manifest are written into\n"
      "DIR as demo.ini and colin27.csv.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()
        ("out", po::value<std::string>()->default_value("", "runs/colin27-tissue-ddpm"), "run folder")
        ("steps", po::value<int>()->default_value(0, "the config's 2000"), "training steps");
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_demo(vm); }); };
  return c;
}

}  // namespace medsynth::pipeline
