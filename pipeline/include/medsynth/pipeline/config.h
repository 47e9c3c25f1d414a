#pragma once
// The run configuration: INI sections [data] [model] [train] [sample] [export], every key also a
// command-line option (--train.steps 500). Defaults live in the structs' initialisers only.
#include <boost/program_options.hpp>

#include <iosfwd>
#include <string>
#include <vector>

#include "medsynth/error.h"
#include "medsynth/modules/model_config.h"

namespace medsynth::pipeline {

class ConfigError : public medsynth::Error {
 public:
  explicit ConfigError(const std::string& what) : medsynth::Error(what, ExitCode::kUsage) {}
};

// data.grid: "native" (the volume's own in-plane grid, stored as 0) or a size N (N x N slices).
struct GridSize {
  int value = 64;
  GridSize(int v = 64) : value(v) {}  // NOLINT: an int is a size
  operator int() const { return value; }  // NOLINT
  bool native() const { return value == 0; }
};
std::ostream& operator<<(std::ostream& os, const GridSize& g);
void validate(boost::any& out, const std::vector<std::string>& values, GridSize*, int);

struct DataConfig {
  std::string manifest;          // CSV: subject,image[,labels][,source][,class]
  std::string bids;              // or a BIDS dataset folder (bids.h; docs/bids.md)
  std::string bids_suffix = "T1w";  // the images' BIDS suffix
  std::string bids_labels;       // derivatives/<pipeline> holding the _dseg label maps ("" = the only one)
  std::string bids_label_desc;   // the label maps' desc- entity when there are several ("" = any)
  std::string bids_source;       // suffix of each image's source image (e.g. T2w; "" = none)
  GridSize grid = 64;            // native, or slices resampled in-plane to grid x grid
  int patch = 0;                 // training patches of patch x patch pixels (0: whole slices;
                                 // data.grid = native needs patches: default 64 there)
  int context = 0;               // 2.5-D: conditions carry slices z-context .. z+context
  double clip_low = 0.0;         // intensity percentiles (of foreground voxels) mapped to -1 and 1;
                                 // clip_low = 0: the volume's minimum (the background) is -1
  double clip_high = 99.5;
  double holdout = 0.2;          // fraction held out: whole subjects, or a contiguous slab of one
  double min_foreground = 0.05;  // a slice is kept when this fraction of it is foreground
  std::string labels = "file";   // file (the manifest's labels column) | tissue (multi-Otsu of the
                                 // image: background, CSF, grey, white matter) | none
  int tissue_classes = 3;        // classes of the multi-Otsu tissue map (plus background)
  std::string cache = "";        // slice cache folder ("" = <train.out>/cache)
  // The source image of every row simulated from its label map (physics/simulation_spec.h:
  // "mprage", "flair:field=1.5"): the physics rendering as a ddpm's source; "" = the manifest's.
  std::string simulate_source;
};

struct TrainConfig {
  std::string out = "medsynth-run";  // run folder: checkpoints, loss log, cache
  int steps = 1000;
  int batch = 16;
  int warmup = 100;               // linear learning-rate warm-up steps, then cosine decay to 0
  int seed = 1;
  int threads = 0;                // LibTorch intra-op threads; 0 = all cores
  int checkpoint_every = 100;
  int keep_checkpoints = 3;
  int log_every = 10;
  std::string device = "cpu";     // auto | cpu | cuda | cuda:K
  int dist_timeout = 120;         // seconds a collective may wait for the other ranks
};

struct SampleConfig {
  std::string sampler = "ddim";   // ddim | ddpm (eps, v); euler | heun | ddim (flow)
  int steps = 50;
  double eta = 0.0;
  double guidance = 1.0;
  int seed = 7;
  int batch = 16;
  // Start noise across the slices of a volume: independent (each slice its own), smooth (noise
  // anchors every noise_span slices, each slice a spherical blend of its two anchors), shared.
  std::string noise = "independent";
  int noise_span = 8;
  // Pixel-space diffusion on a label map: sample only the box around the tissue, the rest empty.
  // auto: when label 0 was always empty image in training; on: always; off: never.
  std::string crop = "auto";
  // Pixels the label map calls background (label 0) set to empty image after sampling, as they
  // are in the training scans: auto (when label 0 was always empty image in training) | on | off.
  std::string background = "auto";
  // Acquisition attributes to sample with (a model trained with model.acquisition; prompt.h), as
  // sample --prompt takes them; empty: not given. --prompt replaces it.
  std::string prompt;
  // Stage runner (medsynth run): which whole volumes the sample stage makes, and how many
  // synthetic image/label pairs (data augmentation).
  std::string volumes = "heldout"; // heldout | all | none
  int pairs = 0;
  // The synthetic mark in the voxels of every sampled volume (medsynth detect; docs/ethics.md).
  bool mark = true;
};

// The export stage of `medsynth run`: synthetic DICOM of the sampled volumes, and a C-STORE push
// when a PACS host is named.
struct ExportConfig {
  bool dicom = true;
  bool enhanced = false;           // one Enhanced MR file per volume, not one file per slice
  bool bids = false;               // the sampled volumes as a BIDS derivatives dataset in export/bids
  std::string uid_root;            // "" = 2.25.<UUID> UIDs
  std::string host;                // "" = no push
  int port = 4242;
  std::string aet = "MEDSYNTH";    // calling AE title
  std::string aec = "ORTHANC";     // called AE title
  int timeout = 30;
};

// `medsynth utility` and the runner's [utility] stage: does synthetic data help a segmenter?
// Every regime trains the same segmenter for the same steps, batch and seed (docs/metrics.md).
struct UtilityConfig {
  bool enabled = false;              // medsynth run: run the utility stage
  std::string generator;             // generator checkpoint or run folder ("" = train.out's newest)
  std::string out;                   // "" = <train.out>/utility
  int steps = 300;
  int batch = 16;
  int seed = 1;
  double lr = 1e-3;
  std::string channels = "16,32,64"; // segmenter U-Net width per level
  int checkpoint_every = 100;
  std::string fractions = "0.1,0.25,0.5,1";  // the scarcity curve: fractions of the real training slices
  int synthetic_per_real = 1;        // synthetic pairs made from each real training slice's label map
  std::string sources = "labels,elastic";  // label maps of the synthetic pairs: labels (as they are) | elastic
                                           // | physics (the simulator's image of an elastic deformation)
  std::string physics = "mprage";    // the simulation of the physics pairs (physics/simulation_spec.h)
  double elastic_amplitude = 3.0;    // RMS displacement of the elastic deformation, in slice pixels
  double elastic_smoothness = 4.0;   // Gaussian sigma of the displacement field, in slice pixels
  int bootstrap = 1000;              // resamples of the test slices for the 95% intervals
};

// The runner's [augment] stage: physics-simulated image/label pairs from the label maps of the
// training subjects, acquisition parameters drawn from these ranges (docs/physics.md).
struct AugmentConfig {
  bool enabled = false;
  int count = 4;                          // pairs to write
  std::string sequences = "mprage,se,flair";  // taken in turn: se, gre, ir, flair, mprage
  std::string fields = "1.5,3";           // field strengths drawn from (tesla; the tissue table's)
  std::string tr = "0.8,1.2";             // TR, TE, TI, flip: LOW,HIGH multiples of the sequence's default
  std::string te = "0.8,1.2";
  std::string ti = "0.9,1.1";
  std::string flip = "0.8,1.2";
  std::string snr = "20,80";              // LOW,HIGH Rician SNR (0,0: no noise)
  std::string bias = "0,0.3";             // LOW,HIGH bias field strength
  std::string label_table;                // label,tissue CSV ("" = the tissue map's 0..3)
  int seed = 1;
};

struct RunConfig {
  DataConfig data;
  modules::ModelConfig model;
  modules::OptimConfig optim;     // keys live in [train]: train.lr, train.grad_clip, ...
  TrainConfig train;
  SampleConfig sample;
  ExportConfig exporting;         // [export] (export is a C++ keyword)
  UtilityConfig utility;
  AugmentConfig augment;
};

// Declares every key bound to `config`'s fields (defaults = their current values).
boost::program_options::options_description config_options(RunConfig& config, std::string& channels_text);

// Reads an INI file (may be "") and then command-line overrides ("--section.key value" tokens).
// Overrides win. Unknown keys are refused with the nearest valid key suggested.
RunConfig load_config(const std::string& ini_path, const std::vector<std::string>& overrides);

// Fills the model fields that follow from [data] (image_size: the patch or grid; context;
// coordinates with patches); load_config and config_from_ini_text call it.
void apply_data_to_model(RunConfig& config);

// The configuration as INI text (what a run actually used; stored with checkpoints).
std::string to_ini(const RunConfig& config);

// Markdown table of every key: section, key, default, meaning (docs/config.md).
std::string config_reference();

}  // namespace medsynth::pipeline

namespace medsynth::pipeline {
// A configuration from INI text (as stored in checkpoints).
RunConfig config_from_ini_text(const std::string& text);
}  // namespace medsynth::pipeline
