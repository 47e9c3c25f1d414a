#include "medsynth/pipeline/config.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/int_list.h"

namespace medsynth::pipeline {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

// Defaults shown as people write them (0.2, not 0.20000000000000001), and parsed back exactly.
std::string shown(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
std::string shown(int v) { return std::to_string(v); }
std::string shown(bool v) { return v ? "true" : "false"; }
std::string shown(const std::string& v) { return v; }
std::string shown(const GridSize& g) { return g.native() ? "native" : std::to_string(g.value); }

template <typename T>
po::typed_value<T>* key(T* field) {
  return po::value(field)->default_value(*field, shown(*field));
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const GridSize& g) { return os << shown(g); }

void validate(boost::any& out, const std::vector<std::string>& values, GridSize*, int) {
  po::validators::check_first_occurrence(out);
  const std::string& v = po::validators::get_single_string(values);
  if (v == "native") {
    out = GridSize(0);
    return;
  }
  try {
    std::size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used == v.size() && n > 0) {
      out = GridSize(n);
      return;
    }
  } catch (const std::exception&) {
  }
  throw po::invalid_option_value(v);  // "the argument ('nativ') for option '--data.grid' is invalid"
}

po::options_description config_options(RunConfig& c, std::string& channels) {
  po::options_description d("Configuration keys (INI [section] key = value, or --section.key value)");
  std::string ch;
  for (int v : c.model.channels) ch += (ch.empty() ? "" : ",") + std::to_string(v);
  channels = ch;
  d.add_options()
      ("data.manifest", key(&c.data.manifest),
       "CSV of the dataset: subject,image[,labels][,source][,class]; paths relative to the CSV")
      ("data.bids", key(&c.data.bids),
       "a BIDS dataset folder instead of a manifest: sub-<label>/[ses-<label>/]anat/*_<bids_suffix>.nii[.gz], "
       "label maps from derivatives/<pipeline>/ (_dseg), acquisition keys from the JSON sidecars (docs/bids.md)")
      ("data.bids_suffix", key(&c.data.bids_suffix), "data.bids: the images' suffix (T1w, T2w, FLAIR, PDw, ...)")
      ("data.bids_labels", key(&c.data.bids_labels),
       "data.bids: the derivatives/<pipeline> folder whose _dseg files are the label maps (empty: the only one that holds any)")
      ("data.bids_label_desc", key(&c.data.bids_label_desc),
       "data.bids: the label maps' desc- entity, when an image has several (empty: any)")
      ("data.bids_source", key(&c.data.bids_source),
       "data.bids: suffix of each image's source image with the same entities (e.g. T2w; empty: none)")
      ("data.grid", key(&c.data.grid),
       "in-plane grid of the slices: native (the volumes' own, voxel for voxel) or N (N x N over the larger extent)")
      ("data.patch", key(&c.data.patch),
       "train on random patch x patch crops of the slices (0: whole slices; native grids: 0 means 64); "
       "sampling makes whole slices")
      ("data.context", key(&c.data.context),
       "2.5-D context: the label map / source of slices z-k .. z+k condition slice z (0: the slice alone)")
      ("data.clip_low", key(&c.data.clip_low),
       "lower intensity percentile of the foreground, mapped to -1 (0: the volume's minimum, i.e. the background)")
      ("data.clip_high", key(&c.data.clip_high),
       "upper intensity percentile of the foreground, mapped to 1")
      ("data.holdout", key(&c.data.holdout),
       "fraction held out for evaluation: whole subjects, or a contiguous slab when there is one subject")
      ("data.min_foreground", key(&c.data.min_foreground),
       "keep a slice when at least this fraction of it is foreground")
      ("data.labels", key(&c.data.labels),
       "label maps: file (manifest column) | tissue (multi-Otsu tissue map of the image) | tissue+file (the "
       "tissue map with the file's label L drawn over it as 1000 + L, e.g. an atlas parcellation) | none")
      ("data.tissue_classes", key(&c.data.tissue_classes),
       "classes of the tissue map (without background)")
      ("data.cache", key(&c.data.cache),
       "slice cache folder (empty: <train.out>/cache)")
      ("data.simulate_source", key(&c.data.simulate_source),
       "each row's source image simulated from its label map, SEQUENCE[:key=value,...] as utility.physics "
       "(with model.source_image: the physics rendering as the ddpm's source; empty: the manifest's source column)")
      ("model.family", key(&c.model.family),
       "model family: ddpm (diffusion) | vae (conditional VAE) | gan (pix2pix / SPADE) | ldm (diffusion on a vae's latents)")
      ("model.channels", key(&channels), "U-Net width per level, comma-separated")
      ("model.stem", key(&c.model.stem),
       "ddpm U-Net: fold stem x stem pixels into channels at the input (2: about 4x cheaper a step at "
       "native resolution; the output unfolds again)")
      ("model.res_blocks", key(&c.model.res_blocks), "ResBlocks per level")
      ("model.attention_levels", key(&c.model.attention_levels),
       "self-attention on the last N (lowest-resolution) levels")
      ("model.groups", key(&c.model.groups), "GroupNorm groups")
      ("model.dropout", key(&c.model.dropout), "dropout in ResBlocks")
      ("model.label_mode", key(&c.model.label_mode),
       "label-map conditioning: concat | spade")
      ("model.source_image", key(&c.model.source_image),
       "condition on the manifest's source image (contrast translation, sketch to image)")
      ("model.num_classes", key(&c.model.num_classes),
       "number of classes of the manifest's class column (0: none)")
      ("model.slice_position", key(&c.model.slice_position),
       "condition on the normalised slice position")
      ("model.acquisition", key(&c.model.acquisition),
       "ddpm, ldm: condition on these acquisition attributes of each scan, comma-separated: tr, te, ti (ms), "
       "flip (deg), field (T), age (years), sex, sequence, weighting (from DICOM headers, BIDS sidecars and "
       "participants.tsv, or manifest columns; docs/models.md); sample --prompt then chooses them (empty: none)")
      ("model.condition_dropout", key(&c.model.condition_dropout),
       "probability of dropping the condition in training (classifier-free guidance)")
      ("model.parametrization", key(&c.model.parametrization),
       "what the network predicts: eps | v | flow (rectified flow: samples with euler or heun in few steps)")
      ("model.predict", key(&c.model.predict),
       "ddpm, ldm: what the network outputs: target (the parametrization's own: eps, v or velocity) | image "
       "(the clean image, turned into the target for the loss and the sampler; at native resolution it "
       "spares the network copying the noise through, which leaves a grain) | edm (Karras et al.'s "
       "preconditioning: the image at high noise, a correction to the input at low noise)")
      ("model.time_sampling", key(&c.model.time_sampling),
       "ddpm, ldm: training noise levels: uniform | logit_normal (the middle levels weighted, as SD3 trains flows)")
      ("model.precision", key(&c.model.precision),
       "ddpm, ldm: U-Net arithmetic: fp32 | bf16 (convolutions and products in bfloat16, the rest in "
       "float32) | auto (bf16 where the CPU has AVX512-BF16 or on a CUDA GPU, else fp32)")
      ("model.schedule", key(&c.model.schedule), "noise schedule: linear | cosine")
      ("model.timesteps", key(&c.model.timesteps), "diffusion timesteps")
      ("model.latent_channels", key(&c.model.latent_channels),
       "vae: channels of the latent (its size is grid / 2^(levels-1))")
      ("model.kl_weight", key(&c.model.kl_weight), "vae: beta, the weight of the KL term")
      ("model.kl_warmup", key(&c.model.kl_warmup),
       "vae: steps over which the KL weight rises linearly from 0 to beta")
      ("model.adv_weight", key(&c.model.adv_weight),
       "vae: weight of a PatchGAN adversarial term (VAE-GAN; 0: off)")
      ("model.perceptual_weight", key(&c.model.perceptual_weight),
       "vae: weight of the distance in the discriminator's features (VAE-GAN; needs adv_weight > 0)")
      ("model.generator", key(&c.model.generator),
       "gan: pix2pix (U-Net, image to image) | spade (label map to image) | auto (spade with label maps)")
      ("model.gan_loss", key(&c.model.gan_loss), "gan and VAE-GAN: adversarial loss, lsgan | hinge")
      ("model.l1_weight", key(&c.model.l1_weight), "gan: weight of the L1 distance to the target image")
      ("model.feature_matching", key(&c.model.feature_matching),
       "gan: weight of the discriminator feature-matching loss (0: off)")
      ("model.disc_scales", key(&c.model.disc_scales),
       "gan: PatchGAN discriminators at 1, 1/2, ... resolution (0: 1 for pix2pix, 2 for spade)")
      ("model.disc_channels", key(&c.model.disc_channels), "gan: width of the discriminator's first layer")
      ("model.disc_layers", key(&c.model.disc_layers),
       "gan: strided discriminator layers (3: the 70x70 PatchGAN)")
      ("model.autoencoder", key(&c.model.autoencoder),
       "ldm: checkpoint of the trained vae whose latents the diffusion models")
      ("train.out", key(&c.train.out), "run folder")
      ("train.steps", key(&c.train.steps), "optimisation steps")
      ("train.batch", key(&c.train.batch), "slices per step")
      ("train.lr", key(&c.optim.lr), "peak learning rate (AdamW)")
      ("train.warmup", key(&c.train.warmup),
       "linear warm-up steps, then cosine decay to zero")
      ("train.weight_decay", key(&c.optim.weight_decay), "AdamW weight decay")
      ("train.grad_clip", key(&c.optim.grad_clip),
       "clip the global gradient norm to this (0: off)")
      ("train.ema_decay", key(&c.optim.ema_decay),
       "EMA decay of the weights used for sampling")
      ("train.seed", key(&c.train.seed), "seed of every random choice")
      ("train.threads", key(&c.train.threads),
       "LibTorch intra-op threads (0: all cores)")
      ("train.checkpoint_every", key(&c.train.checkpoint_every),
       "steps between checkpoints")
      ("train.keep_checkpoints", key(&c.train.keep_checkpoints),
       "checkpoints kept (older ones are removed)")
      ("train.log_every", key(&c.train.log_every),
       "steps between progress lines when not on a terminal")
      ("train.device", key(&c.train.device), "auto | cpu | cuda | cuda:K")
      ("train.dist_timeout", key(&c.train.dist_timeout),
       "data-parallel training: seconds a rank waits for the others before it stops with an error")
      ("sample.sampler", key(&c.sample.sampler), "ddim | ddpm (eps, v models); euler | heun | ddim (flow models)")
      ("sample.steps", key(&c.sample.steps), "sampler steps (ddpm: every training timestep)")
      ("sample.eta", key(&c.sample.eta), "DDIM eta (0: deterministic)")
      ("sample.guidance", key(&c.sample.guidance),
       "classifier-free guidance scale (0: unconditional, 1: conditional)")
      ("sample.seed", key(&c.sample.seed), "seed; slice i uses (seed, i)")
      ("sample.batch", key(&c.sample.batch), "slices per sampling batch")
      ("sample.noise", key(&c.sample.noise),
       "start noise across a volume's slices: independent | smooth (blends of anchors every noise_span slices, "
       "so neighbouring slices start alike) | shared (one noise for every slice)")
      ("sample.noise_span", key(&c.sample.noise_span), "sample.noise = smooth: slices between noise anchors")
      ("sample.crop", key(&c.sample.crop),
       "ddpm with a label map: sample only the box around the tissue (label 0 beyond 16 pixels stays empty): "
       "auto (when label 0 was always empty image in training) | on | off")
      ("sample.prompt", key(&c.sample.prompt),
       "ddpm, ldm trained with model.acquisition: the acquisition to sample, as sample --prompt takes it "
       "(\"T2w SE 3T TR=4000 TE=100\"; empty: not given)")
      ("sample.background", key(&c.sample.background),
       "with a label map: pixels of label 0 set to empty image after sampling, as in the training scans "
       "(a skull-stripped scan's background): auto (when label 0 was always empty image in training) | on | off")
      ("sample.volumes", key(&c.sample.volumes),
       "medsynth run: whole volumes to synthesise: heldout (each held-out subject; with one subject, "
       "that subject, whose held-out slab is inside it) | all | none")
      ("sample.pairs", key(&c.sample.pairs),
       "medsynth run: synthetic image/label pairs to write (label maps of the training subjects in turn, "
       "a new seed each; 0: none)")
      ("sample.mark", key(&c.sample.mark),
       "add the invisible synthetic mark (medsynth detect reads it) to every sampled volume; false leaves "
       "them unmarked, with a warning in the run's report")
      ("export.dicom", key(&c.exporting.dicom), "medsynth run: write the sampled volumes as synthetic DICOM series")
      ("export.enhanced", key(&c.exporting.enhanced),
       "write each volume as one Enhanced MR Image file of N frames (false: N MR Image files, one per slice)")
      ("export.bids", key(&c.exporting.bids),
       "medsynth run: write the sampled volumes as a BIDS derivatives dataset in export/bids "
       "(sub-<label>_desc-synthetic_<suffix>.nii.gz with JSON sidecars; docs/bids.md)")
      ("export.uid_root", key(&c.exporting.uid_root),
       "DICOM UID root of your organisation (empty: 2.25.<UUID> UIDs)")
      ("export.host", key(&c.exporting.host), "PACS to push the DICOM series to (empty: no push)")
      ("export.port", key(&c.exporting.port), "the PACS's DICOM port")
      ("export.aet", key(&c.exporting.aet), "this client's (calling) AE title")
      ("export.aec", key(&c.exporting.aec), "the PACS's (called) AE title")
      ("export.timeout", key(&c.exporting.timeout), "seconds to wait to connect and for each message")
      ("utility.enabled", key(&c.utility.enabled),
       "medsynth run: train a segmenter on real, synthetic and mixed slices and score it on the held-out real slices")
      ("utility.generator", key(&c.utility.generator),
       "generator checkpoint or run folder for the synthetic pairs (empty: the newest in train.out)")
      ("utility.out", key(&c.utility.out), "medsynth utility: output folder (empty: <train.out>/utility)")
      ("utility.steps", key(&c.utility.steps), "segmenter training steps, the same for every regime")
      ("utility.batch", key(&c.utility.batch), "segmenter batch, the same for every regime")
      ("utility.seed", key(&c.utility.seed), "seed of the segmenter's batches, deformations and bootstrap")
      ("utility.lr", key(&c.utility.lr), "segmenter AdamW learning rate (warm-up, cosine decay)")
      ("utility.channels", key(&c.utility.channels), "segmenter U-Net width per level")
      ("utility.checkpoint_every", key(&c.utility.checkpoint_every), "segmenter checkpoint interval in steps")
      ("utility.fractions", key(&c.utility.fractions),
       "the scarcity curve: fractions of the real training slices, each with and without synthetic pairs")
      ("utility.synthetic_per_real", key(&c.utility.synthetic_per_real),
       "synthetic pairs sampled from each real training slice's label map")
      ("utility.sources", key(&c.utility.sources),
       "label maps of the synthetic pairs, taken in turn: labels (the training maps) | elastic (smooth random "
       "deformations of them: new anatomy) | physics (deformed maps imaged by the simulator at utility.physics)")
      ("utility.elastic_amplitude", key(&c.utility.elastic_amplitude),
       "RMS displacement of the elastic deformations, in slice pixels")
      ("utility.elastic_smoothness", key(&c.utility.elastic_smoothness),
       "Gaussian sigma of the deformations' displacement field, in slice pixels")
      ("utility.bootstrap", key(&c.utility.bootstrap), "resamples of the test slices for the 95% intervals")
      ("utility.physics", key(&c.utility.physics),
       "utility.sources physics: the simulation, SEQUENCE[:key=value,...] (keys tr, te, ti, flip, etl, esp, "
       "field, table, labels; docs/physics.md), e.g. mprage or flair:field=1.5")
      ("augment.enabled", key(&c.augment.enabled),
       "medsynth run: write physics-simulated image/label pairs of the training label maps (augment/)")
      ("augment.count", key(&c.augment.count), "image/label pairs to write")
      ("augment.sequences", key(&c.augment.sequences), "sequences of the pairs, taken in turn: se, gre, ir, flair, mprage")
      ("augment.fields", key(&c.augment.fields), "field strengths drawn from, tesla (1.5, 3, 7)")
      ("augment.tr", key(&c.augment.tr), "TR range LOW,HIGH as multiples of the sequence's default TR")
      ("augment.te", key(&c.augment.te), "TE range LOW,HIGH as multiples of the sequence's default TE")
      ("augment.ti", key(&c.augment.ti),
       "TI range LOW,HIGH as multiples of the sequence's default TI (ir, flair: the CSF null at the drawn TR)")
      ("augment.flip", key(&c.augment.flip), "flip angle range LOW,HIGH as multiples of the default (gre, mprage)")
      ("augment.snr", key(&c.augment.snr), "Rician SNR range LOW,HIGH (0,0: no noise)")
      ("augment.bias", key(&c.augment.bias), "bias field strength range LOW,HIGH (each in [0, 1))")
      ("augment.label_table", key(&c.augment.label_table),
       "label,tissue CSV naming each label's tissue (empty: the tissue map's 0 background, 1 csf, 2 grey, 3 white)")
      ("augment.seed", key(&c.augment.seed), "seed of the drawn parameters, bias fields and noise");
  return d;
}

namespace {

// Keys renamed since they were first shipped: still read (saved configs, checkpoints' stored run
// configs), with a warning naming the new key when a user's file or command line has them.
struct RenamedKey {
  const char* old_name;
  const char* new_name;
};
constexpr RenamedKey kRenamedKeys[] = {
    {"model.class_conditioning", "model.num_classes"},  // it fills ModelConfig::num_classes
};

// Gives an option under a renamed key its new name; true when it was renamed.
bool rename_old_key(po::option& o) {
  std::string k = o.string_key;
  while (!k.empty() && k[0] == '-') k.erase(0, 1);
  for (const auto& r : kRenamedKeys) {
    if (k == r.old_name) {
      o.string_key = r.new_name;
      o.unregistered = false;
      return true;
    }
  }
  return false;
}

void rename_old_keys(po::parsed_options& parsed, const std::string& where, bool warn) {
  for (auto& o : parsed.options) {
    const std::string before = o.string_key;
    if (rename_old_key(o) && warn) {
      std::cerr << "medsynth: warning: " << where << ": '" << before << "' is now '" << o.string_key
                << "' (read as that; rename it)\n";
    }
  }
}

// --old.key value and --old.key=value on the command line, under their new names (with the warning).
std::vector<std::string> renamed_overrides(std::vector<std::string> args) {
  for (auto& a : args) {
    for (const auto& r : kRenamedKeys) {
      const std::string old = std::string("--") + r.old_name;
      if (a == old || a.rfind(old + "=", 0) == 0) {
        std::cerr << "medsynth: warning: command line: '" << r.old_name << "' is now '" << r.new_name
                  << "' (read as that; rename it)\n";
        a = std::string("--") + r.new_name + a.substr(old.size());
      }
    }
  }
  return args;
}

[[noreturn]] void refuse_unknown(const std::string& key, const po::options_description& d, const std::string& where) {
  std::vector<std::string> names;
  for (const auto& o : d.options()) names.push_back(o->long_name());
  std::string k = key;
  while (!k.empty() && k[0] == '-') k.erase(0, 1);
  const std::string hint = nearest(k, names);
  throw ConfigError(where + ": unknown key '" + k + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
}

}  // namespace

void apply_data_to_model(RunConfig& c) {
  if (c.data.patch < 0) throw ConfigError("data.patch must be 0 (whole slices) or a size");
  if (c.data.context < 0) throw ConfigError("data.context must be 0 or more");
  const int patch = c.data.patch > 0 ? c.data.patch : (c.data.grid.native() ? 64 : 0);
  c.model.image_size = patch > 0 ? patch : c.data.grid.value;
  c.model.context = c.data.context;
  // Patches need to know where they are: two channels of each pixel's in-plane position.
  c.model.coordinates = patch > 0;
}

RunConfig load_config(const std::string& ini_path, const std::vector<std::string>& overrides) {
  RunConfig c;
  std::string channels;
  auto desc = config_options(c, channels);
  po::variables_map vm;
  try {
    auto parsed = po::command_line_parser(renamed_overrides(overrides)).options(desc).allow_unregistered().run();
    for (const auto& o : parsed.options) {
      if (o.unregistered) refuse_unknown(o.string_key, desc, "command line");
    }
    po::store(parsed, vm);
    if (!ini_path.empty()) {
      std::ifstream in(ini_path);
      if (!in) throw medsynth::Error(ini_path + ": cannot open config file", ExitCode::kBadInput);
      auto file = po::parse_config_file(in, desc, true);
      rename_old_keys(file, ini_path, true);
      for (const auto& o : file.options) {
        if (o.unregistered) refuse_unknown(o.string_key, desc, ini_path);
      }
      po::store(file, vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string("config: ") + e.what());
  }
  c.model.channels = parse_int_list("model.channels", channels);
  apply_data_to_model(c);
  // A relative manifest in a config file is relative to that file (configs/ ship with theirs);
  // one given on the command line is relative to the working folder, as any argument.
  // The same for a BIDS folder.
  for (auto [field, option] : {std::pair<std::string*, const char*>{&c.data.manifest, "--data.manifest"},
                               std::pair<std::string*, const char*>{&c.data.bids, "--data.bids"}}) {
    bool on_command_line = false;
    for (const auto& o : overrides) on_command_line |= o == option || o.rfind(std::string(option) + "=", 0) == 0;
    if (!ini_path.empty() && !on_command_line && !field->empty() && fs::path(*field).is_relative()) {
      const fs::path beside = fs::path(ini_path).parent_path() / *field;
      if (fs::exists(beside)) *field = beside.lexically_normal().string();
    }
  }
  return c;
}

RunConfig config_from_ini_text(const std::string& text) {
  RunConfig c;
  std::string channels;
  auto desc = config_options(c, channels);
  std::istringstream in(text);
  po::variables_map vm;
  try {
    auto stored = po::parse_config_file(in, desc, true);
    rename_old_keys(stored, "stored config", false);  // a checkpoint of an earlier release: silently
    po::store(stored, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string("stored config: ") + e.what());
  }
  c.model.channels = parse_int_list("model.channels", channels);
  apply_data_to_model(c);
  return c;
}

std::string to_ini(const RunConfig& c) {
  RunConfig copy = c;
  std::string channels;
  auto desc = config_options(copy, channels);
  std::ostringstream os;
  std::string section;
  for (const auto& o : desc.options()) {
    const std::string name = o->long_name();
    const auto dot = name.find('.');
    const std::string sec = name.substr(0, dot);
    if (sec != section) {
      os << (section.empty() ? "" : "\n") << "[" << sec << "]\n";
      section = sec;
    }
    // Each option's default was bound to the current value of `copy`: its text is the value.
    std::string text = o->format_parameter();
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    std::string value = open != std::string::npos && close != std::string::npos ? text.substr(open + 2, close - open - 2) : "";
    os << name.substr(dot + 1) << " = " << value << "\n";
  }
  return os.str();
}

std::string config_reference() {
  RunConfig c;
  std::string channels;
  auto desc = config_options(c, channels);
  std::ostringstream os;
  os << "| key | default | meaning |\n| --- | --- | --- |\n";
  for (const auto& o : desc.options()) {
    std::string text = o->format_parameter();
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    std::string def = open != std::string::npos && close != std::string::npos ? text.substr(open + 2, close - open - 2) : "";
    os << "| `" << o->long_name() << "` | `" << def << "` | " << o->description() << " |\n";
  }
  return os.str();
}

std::vector<int> parse_int_list(const std::string& key, const std::string& text) {
  std::vector<int> out;
  std::istringstream in(text);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    try {
      out.push_back(std::stoi(tok));
    } catch (const std::exception&) {
      throw ConfigError(key + ": '" + text + "' is not a comma-separated list of integers");
    }
  }
  if (out.empty()) throw ConfigError(key + " is empty");
  return out;
}

}  // namespace medsynth::pipeline
