// The stage runner: medsynth run CONFIG / medsynth demo (docs/pipeline.md).
#include "medsynth/pipeline/run.h"

#include <c10/util/Exception.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#define XXH_INLINE_ALL

#include "medsynth/text.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/io/dicom_series_writer.h"
#include "medsynth/io/error.h"
#include "medsynth/io/pacs_client.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/synthesis.h"
#include "medsynth/pipeline/torch_commands.h"
#include "command_util.h"
#include "medsynth/pipeline/trainer.h"
#include "medsynth/validation/evaluation.h"
#include "medsynth/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medsynth::pipeline {

nlohmann::json library_versions();  // run_versions.cpp

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = {"ingest", "train", "sample", "evaluate", "export", "report"};
  return names;
}

namespace {

constexpr int kStageFormat = 1;


// The lines "key = value" of one section of to_ini(config), without the keys in `skip`: the
// settings a stage reads, as text for its fingerprint.
std::string section_text(const RunConfig& config, const std::string& section, const std::set<std::string>& skip = {}) {
  std::istringstream in(to_ini(config));
  std::string line, current, out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') {
      current = line.substr(1, line.find(']') - 1);
      continue;
    }
    if (current != section || line.empty()) continue;
    const std::string k = line.substr(0, line.find(" = "));
    if (skip.count(k) == 0) out += section + "." + line + "\n";
  }
  return out;
}

// File names made from subject names: letters, digits, '-', '_', '.' kept, the rest '_'.
std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (out.empty() || out[0] == '.') out = "subject" + out;
  return out;
}

// Writes `text` to `path` atomically (temporary folder beside it, fsync, rename).
using io::write_text_atomically;

// One run at a time per run folder: an exclusive flock on <run>/run.lock, which the kernel
// releases when the process ends, however it ends. The file keeps the holder's pid for the message.
class RunLock {
 public:
  explicit RunLock(const fs::path& dir) {
    const std::string path = (dir / "run.lock").string();
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) throw io::Error(path, std::string("cannot open the lock file: ") + std::strerror(errno), ExitCode::kRuntime);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char buf[64] = {0};
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      ::close(fd_);
      if (err == EWOULDBLOCK) {
        throw medsynth::Error(dir.string() + ": another medsynth run (pid " + pid +
                                  ") is using this run folder; wait for it to finish, or give this run another "
                                  "train.out",
                              ExitCode::kBadInput);
      }
      throw io::Error(path, std::string("cannot lock: ") + std::strerror(err), ExitCode::kRuntime);
    }
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
      // The pid is only for the message of a second run; the lock itself holds.
    }
  }
  ~RunLock() { ::close(fd_); }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Everything the stages share.
struct Context {
  RunConfig config;
  RunOptions options;
  fs::path run;                       // the run folder
  std::map<std::string, json> records;  // stage -> its stage.json (done or in progress)
  // The volumes a sample or evaluate stage has finished: name -> {"entry", "artefacts"}. Saved in
  // stage.json as "partial" after each one, so a stopped stage started again keeps them.
  json partial = json::object();
  std::function<void()> save_partial = [] {};

  fs::path dir(const std::string& stage) const { return run / stage; }
  // A path stored in stage.json: relative to the run folder when inside it.
  std::string rel(const fs::path& p) const {
    const fs::path a = fs::absolute(p).lexically_normal();
    const fs::path r = a.lexically_relative(fs::absolute(run).lexically_normal());
    return (!r.empty() && r.native().rfind("..", 0) != 0) ? r.string() : a.string();
  }
  fs::path resolve(const std::string& stored) const {
    const fs::path p(stored);
    return p.is_absolute() ? p : run / p;
  }
  std::string rerun_hint(const std::string& stage) const {
    return "'" + options.command_hint + " --from " + stage + "'";
  }
  const json& outputs(const std::string& stage) const { return records.at(stage).at("outputs"); }
};

// A missing artefact of a finished stage, or "" when every artefact exists.
std::string missing_artefact(const Context& ctx, const json& record) {
  if (!record.contains("artefacts")) return "";
  for (const auto& a : record["artefacts"]) {
    const fs::path p = ctx.resolve(a.get<std::string>());
    if (!fs::exists(p)) return p.string();
  }
  return "";
}

// A volume that this stage finished before it was stopped (same settings and upstream runs, and
// its files are all there): its stage.json entry, with its artefacts added back; else false.
bool reuse_done(const Context& ctx, const std::string& name, json* entry, json& artefacts) {
  if (!ctx.partial.contains(name) || !missing_artefact(ctx, ctx.partial.at(name)).empty()) return false;
  *entry = ctx.partial.at(name).at("entry");
  for (const auto& a : ctx.partial.at(name).at("artefacts")) artefacts.push_back(a);
  std::cout << "  " << name << ": made before the stop (kept)\n";
  return true;
}

// Records a finished volume (its entry and the artefacts added since `first`) in stage.json.
void record_done(Context& ctx, const std::string& name, const json& entry, const json& artefacts, std::size_t first) {
  json mine = json::array();
  for (std::size_t i = first; i < artefacts.size(); ++i) mine.push_back(artefacts[i]);
  ctx.partial[name] = {{"entry", entry}, {"artefacts", mine}};
  ctx.save_partial();
}

// ---- fingerprints: the settings a stage reads, its input files' content, its upstream runs ----

std::string upstream_ids(const Context& ctx, std::initializer_list<const char*> stages) {
  std::string s;
  for (const char* st : stages) s += std::string("upstream.") + st + " = " + ctx.records.at(st).value("run_id", "") + "\n";
  return s;
}

std::string fingerprint_text(const Context& ctx, const std::string& stage) {
  const RunConfig& c = ctx.config;
  std::ostringstream key;
  key << "stage = " << stage << "\nformat = " << kStageFormat << "\n";
  if (stage == "ingest") {
    key << section_text(c, "data", {"manifest", "bids", "cache"}) << "train.seed = " << c.train.seed << "\n";
    for (const auto& r : read_dataset(c.data)) {
      key << "row = " << r.subject << "," << hash_file(r.image) << "," << (r.labels.empty() ? "" : hash_file(r.labels))
          << "," << (r.source.empty() ? "" : hash_file(r.source)) << "," << r.class_id;
      if (!r.entities.empty() || !r.acquisition.is_null()) key << "," << r.entities << "," << r.acquisition.dump();
      key << "\n";
    }
  } else if (stage == "train") {
    key << section_text(c, "model")
        << section_text(c, "train", {"out", "threads", "log_every", "device", "dist_timeout", "keep_checkpoints",
                                     "checkpoint_every"})
        << upstream_ids(ctx, {"ingest"});
    // An ldm trains on a vae: the checkpoint the folder resolves to, and its content, are inputs.
    if (c.model.family == "ldm") {
      const std::string vae = resolve_autoencoder(c.model.autoencoder);
      key << "autoencoder.file = " << vae << "\nautoencoder.content = " << hash_file(vae) << "\n";
    }
  } else if (stage == "sample") {
    key << section_text(c, "sample", {"batch"}) << upstream_ids(ctx, {"ingest", "train"});
  } else if (stage == "evaluate") {
    key << upstream_ids(ctx, {"ingest", "train", "sample"});
  } else if (stage == "export") {
    key << section_text(c, "export") << upstream_ids(ctx, {"train", "sample"});
  } else {
    key << upstream_ids(ctx, {"ingest", "train", "sample", "evaluate", "export"});
  }
  return key.str();
}

// ---- stage.json ----

void write_record(const Context& ctx, const std::string& stage, const json& record) {
  write_text_atomically((ctx.dir(stage) / "stage.json").string(), record.dump(2) + "\n");
}

// ---- the stages ----

struct SampledVolume {
  std::string name, subject, real, synthetic, labels, mask;
  int row = 0;
};

json run_ingest(Context& ctx, json& artefacts) {
  RunConfig c = ctx.config;
  const fs::path root = c.data.cache.empty() ? ctx.dir("ingest") / "cache" : fs::path(c.data.cache);
  const IngestResult r = ingest(c, root.string());
  std::cout << "ingest: " << r.train_slices << " training and " << r.heldout_slices << " held-out slices"
            << (r.reused ? " (slice cache reused)" : "") << "\n";
  artefacts.push_back(ctx.rel(fs::path(r.dir) / "index.json"));
  return json{{"cache", ctx.rel(r.dir)}, {"cache_root", ctx.rel(root)}, {"train_slices", r.train_slices},
              {"heldout_slices", r.heldout_slices}};
}

json run_train(Context& ctx, json& artefacts) {
  RunConfig c = ctx.config;
  c.train.out = ctx.dir("train").string();
  if (c.data.cache.empty()) c.data.cache = ctx.resolve(ctx.outputs("ingest").at("cache_root").get<std::string>()).string();
  // Resumes from the newest checkpoint in train/ when there is one (the folder was emptied
  // before when the settings changed or the stage is forced).
  const TrainResult r = train(c, true);
  std::cout << "train: " << r.steps << " steps, loss " << r.first_loss << " -> " << r.last_loss << "\n";
  if (r.checkpoint.empty()) throw medsynth::Error("train: no checkpoint was written in " + c.train.out);
  json out{{"checkpoint", ctx.rel(r.checkpoint)}, {"loss_log", ctx.rel(ctx.dir("train") / "loss.csv")},
           {"steps", r.steps}, {"first_loss", r.first_loss}, {"last_loss", r.last_loss}};
  artefacts.push_back(ctx.rel(r.checkpoint));
  artefacts.push_back(ctx.rel(ctx.dir("train") / "loss.csv"));
  const fs::path mask = ctx.dir("train") / "heldout-mask.nii.gz";
  if (fs::exists(mask)) out["heldout_mask"] = ctx.rel(mask);
  return out;
}

SynthesisRequest base_request(const Context& ctx, const std::string& checkpoint) {
  SynthesisRequest rq;
  rq.checkpoint = checkpoint;
  rq.sample = ctx.config.sample;
  rq.device = ctx.config.train.device;
  rq.threads = ctx.config.train.threads;
  rq.mark = ctx.config.sample.mark;
  return rq;
}

json run_sample(Context& ctx, json& artefacts) {
  const RunConfig& c = ctx.config;
  const SampleConfig& sc = c.sample;
  if (sc.volumes != "heldout" && sc.volumes != "all" && sc.volumes != "none") {
    throw ConfigError("sample.volumes '" + sc.volumes + "' is not heldout, all or none");
  }
  if (sc.pairs < 0) throw ConfigError("sample.pairs must be 0 or more");
  const std::string checkpoint = ctx.resolve(ctx.outputs("train").at("checkpoint").get<std::string>()).string();
  const fs::path cache = ctx.resolve(ctx.outputs("ingest").at("cache").get<std::string>());
  json index;
  {
    std::ifstream in(cache / "index.json");
    if (!in) throw io::Error((cache / "index.json").string(), "missing; run " + ctx.rerun_hint("ingest"));
    index = json::parse(in);
  }
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  const bool with_labels = info.model.label_classes > 0;
  const auto rows = read_dataset(c.data);
  const auto& subjects = index.at("subjects");
  if (subjects.size() != rows.size()) {
    throw io::Error(dataset_path(c.data), "has changed since the ingest stage ran (" + std::to_string(rows.size()) +
                                         " rows, the slice cache has " + std::to_string(subjects.size()) + "); run " +
                                         ctx.rerun_hint("ingest"));
  }
  const fs::path dir = ctx.dir("sample");
  std::set<std::string> used_names;
  auto name_of = [&](std::size_t i) {
    // A BIDS row is named as its files are: sub-<label>[_ses-<label>...].
    std::string n = rows[i].line == 0 && !c.data.bids.empty()
                        ? "sub-" + rows[i].subject + (rows[i].entities.empty() ? "" : "_" + rows[i].entities)
                        : safe_name(rows[i].subject);
    if (used_names.count(n)) n += "-row" + std::to_string(i + 1);
    used_names.insert(n);
    return n;
  };
  // The condition of manifest row i: its label map (the manifest's, or the tissue map the
  // ingest made of its image, written here), source image, class; or its grid alone.
  std::map<std::size_t, std::string> tissue_written;
  auto condition = [&](std::size_t i, const std::string& name, SynthesisRequest& rq) {
    const auto& r = rows[i];
    if (with_labels) {
      if (c.data.labels == "tissue" || c.data.labels == "tissue+file") {
        if (!tissue_written.count(i)) {
          const fs::path p = dir / (name + "-labels.nii.gz");
          io::WriteOptions wo;
          wo.force = true;
          io::write_label_volume(condition_label_map(io::read_volume(r.image), r.image, r.labels, c.data), p.string(), wo);
          tissue_written[i] = p.string();
        }
        rq.labels = tissue_written[i];
      } else {
        rq.labels = r.labels;
      }
    }
    if (info.model.source_image) rq.source = r.source;
    if (info.model.num_classes > 0) rq.class_id = r.class_id;
    if (rq.labels.empty() && rq.source.empty()) rq.like = r.image;
  };

  json out;
  out["checkpoint"] = ctx.rel(checkpoint);
  out["mark"] = sc.mark;
  if (!sc.mark) {
    std::cerr << "medsynth: warning: sample.mark = false: the sampled volumes carry no synthetic mark; only "
              << "their headers (lost in any conversion) say that they are synthetic\n";
  }
  out["volumes"] = json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& sj = subjects[i];
    const bool slab = sj.at("heldout_slab").is_array();
    const bool heldout = slab || (sj.at("heldout_slab").is_boolean() && sj.at("heldout_slab").get<bool>());
    if (sc.volumes == "none" || (sc.volumes == "heldout" && !heldout)) continue;
    SampledVolume v;
    v.name = name_of(i);
    json kept;
    if (reuse_done(ctx, v.name, &kept, artefacts)) {
      out["volumes"].push_back(kept);
      continue;
    }
    throw_if_stop_requested("sample", "the volumes made so far are kept: run the same command again to finish");
    const std::size_t first_artefact = artefacts.size();
    v.subject = rows[i].subject;
    v.row = static_cast<int>(i);
    v.real = rows[i].image;
    SynthesisRequest rq = base_request(ctx, checkpoint);
    condition(i, v.name, rq);
    v.labels = rq.labels;
    if (!v.labels.empty() && fs::path(v.labels).parent_path() == dir) artefacts.push_back(ctx.rel(v.labels));
    const std::string mask = sj.value("heldout_mask", "");
    if (!mask.empty()) v.mask = (cache / mask).string();
    std::cout << "sample: " << v.name << " (whole volume on the grid of " << (rq.labels.empty() ? (rq.source.empty() ? rq.like : rq.source) : rq.labels)
              << ")\n";
    const SynthesisResult r = synthesise(rq);
    const fs::path synth = dir / (v.name + ".nii.gz");
    io::WriteOptions wo;
    wo.force = true;
    io::write_volume(r.volume, synth.string(), wo);
    v.synthetic = synth.string();
    artefacts.push_back(ctx.rel(synth));
    out["volumes"].push_back({{"name", v.name}, {"subject", v.subject}, {"row", v.row}, {"real", v.real},
                              {"synthetic", ctx.rel(v.synthetic)},
                              {"labels", v.labels.empty() ? "" : ctx.rel(v.labels)},
                              {"mask", v.mask.empty() ? "" : ctx.rel(v.mask)},
                              {"mark_run_id", r.mark_run_id},
                              {"seconds", r.seconds}});
    record_done(ctx, v.name, out["volumes"].back(), artefacts, first_artefact);
  }

  if (sc.pairs > 0) {
    if (!with_labels) {
      throw ConfigError("sample.pairs = " + std::to_string(sc.pairs) +
                        " needs a model conditioned on label maps (data.labels = file or tissue)");
    }
    // Label maps of the training subjects (all subjects when the split is a slab of one), in turn;
    // pair p is sampled with seed sample.seed + 1 + p, so pairs of one label map differ in
    // appearance only: the anatomy is the real label map's.
    std::vector<std::size_t> pool;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& h = subjects[i].at("heldout_slab");
      if (!(h.is_boolean() && h.get<bool>())) pool.push_back(i);
    }
    if (pool.empty()) throw ConfigError("sample.pairs: no training subject whose label map the pairs could use");
    const fs::path pairs_dir = dir / "pairs";
    fs::create_directories(pairs_dir);
    std::ostringstream manifest;
    manifest << "subject,image,labels\n";
    json pairs = json::array();
    for (int p = 0; p < sc.pairs; ++p) {
      const std::size_t i = pool[static_cast<std::size_t>(p) % pool.size()];
      char stem[32];
      std::snprintf(stem, sizeof stem, "pair-%04d", p + 1);
      const fs::path img = pairs_dir / (std::string(stem) + "-image.nii.gz");
      const fs::path lab = pairs_dir / (std::string(stem) + "-labels.nii.gz");
      manifest << stem << "," << img.filename().string() << "," << lab.filename().string() << "\n";
      json kept;
      if (reuse_done(ctx, stem, &kept, artefacts)) {
        pairs.push_back(kept);
        continue;
      }
      throw_if_stop_requested("sample", "the volumes made so far are kept: run the same command again to finish");
      const std::size_t first_artefact = artefacts.size();
      SynthesisRequest rq = base_request(ctx, checkpoint);
      rq.sample.seed = sc.seed + 1 + p;
      condition(i, safe_name(rows[i].subject), rq);
      std::cout << "sample: " << stem << " from the label map of " << rows[i].subject << " (seed " << rq.sample.seed << ")\n";
      const SynthesisResult r = synthesise(rq);
      io::WriteOptions wo;
      wo.force = true;
      io::write_volume(r.volume, img.string(), wo);
      // Converted, not copied: the manifest's label map may be MHA, NRRD, PNG or a DICOM folder.
      io::write_label_volume(io::read_label_volume(rq.labels), lab.string(), wo);
      artefacts.push_back(ctx.rel(img));
      artefacts.push_back(ctx.rel(lab));
      pairs.push_back({{"image", ctx.rel(img)}, {"labels", ctx.rel(lab)}, {"from_subject", rows[i].subject},
                       {"seed", rq.sample.seed}});
      record_done(ctx, stem, pairs.back(), artefacts, first_artefact);
    }
    write_text_atomically((pairs_dir / "pairs.csv").string(), manifest.str());
    artefacts.push_back(ctx.rel(pairs_dir / "pairs.csv"));
    out["pairs"] = pairs;
    out["pairs_manifest"] = ctx.rel(pairs_dir / "pairs.csv");
  }
  return out;
}

std::vector<std::string> command_line(const Context& ctx) {
  std::vector<std::string> cl = {"medsynth", "run"};
  if (!ctx.options.config_path.empty()) cl.push_back(ctx.options.config_path);
  return cl;
}

json run_evaluate(Context& ctx, json& artefacts) {
  json out;
  out["reports"] = json::array();
  const std::string log = ctx.resolve(ctx.outputs("train").at("loss_log").get<std::string>()).string();
  for (const auto& v : ctx.outputs("sample").at("volumes")) {
    json kept;
    if (reuse_done(ctx, v.at("name").get<std::string>(), &kept, artefacts)) {
      out["reports"].push_back(kept);
      continue;
    }
    throw_if_stop_requested("evaluate", "the reports written so far are kept: run the same command again to finish");
    const std::size_t first_artefact = artefacts.size();
    validation::EvaluationInputs in;
    in.real = v.at("real").get<std::string>();
    in.synthetic = ctx.resolve(v.at("synthetic").get<std::string>()).string();
    if (!v.at("mask").get<std::string>().empty()) in.mask = ctx.resolve(v.at("mask").get<std::string>()).string();
    if (!v.at("labels").get<std::string>().empty()) in.labels = ctx.resolve(v.at("labels").get<std::string>()).string();
    in.log = log;
    if (!in.mask.empty()) {
      // One subject split by slab: its slices outside the held-out slab are the training slices
      // the memorisation check compares the synthetic slab against.
      const fs::path train = ctx.dir("evaluate") / (v.at("name").get<std::string>() + "-training-slices.nii.gz");
      io::Volume t = io::read_volume(in.real);
      const io::Volume m = io::read_volume(in.mask);
      if (m.geometry.same_grid(t.geometry, 1e-3)) {
        const float low = io::intensity_range(t).first;
        const std::size_t n = t.geometry.size[0] * t.geometry.size[1];
        std::size_t held_slices = 0;
        for (std::size_t k = 0; k < t.geometry.size[2]; ++k) {
          const bool held = std::any_of(m.voxels.begin() + static_cast<long>(k * n), m.voxels.begin() + static_cast<long>((k + 1) * n),
                                        [](float x) { return x != 0.0f; });
          if (held) std::fill(t.voxels.begin() + static_cast<long>(k * n), t.voxels.begin() + static_cast<long>((k + 1) * n), low);
          held_slices += held;
        }
        // A slab across the file's slices (another orientation) leaves no whole training slice.
        if (held_slices < t.geometry.size[2]) {
          io::WriteOptions wo;
          wo.force = true;
          io::write_volume(t, train.string(), wo);
          in.train = train.string();
          artefacts.push_back(ctx.rel(train));
        }
      }
    }
    in.threads = static_cast<unsigned>(std::max(0, ctx.config.train.threads));
    in.command_line = command_line(ctx);
    const fs::path dir = ctx.dir("evaluate") / v.at("name").get<std::string>();
    const json report = validation::write_evaluation_report(in, dir.string(), true);
    const auto& p = report["paired"]["volume"];
    std::cout << "evaluate: " << v.at("name").get<std::string>() << ": SSIM " << p["ssim"].dump() << "  PSNR "
              << p["psnr"].dump() << " dB  MAE " << p["mae"].dump() << (in.mask.empty() ? "" : " (held-out mask)");
    // Figures across slices (synthetic / real; 1 is real-like) and FD beside its real-vs-real baseline.
    const json through = report["through_plane"]["ratio"], sharp = report["sharpness"]["ratio"];
    std::cout << "  through-plane x" << through.dump() << "  sharpness x" << sharp.dump();
    const json& d = report["distribution"];
    if (d.contains("frechet_distance")) {
      std::cout << "  FD " << d["frechet_distance"].dump();
      if (d.contains("baseline") && d["baseline"].contains("frechet_distance"))
        std::cout << " (real-vs-real " << d["baseline"]["frechet_distance"].dump() << ")";
    }
    if (report.contains("privacy")) {
      std::cout << "  memorisation: " << report["privacy"]["flagged_count"].dump() << " of "
                << report["privacy"]["synthetic_slices"].dump() << " slices flagged";
    }
    std::cout << "\n";
    artefacts.push_back(ctx.rel(dir / "report.html"));
    artefacts.push_back(ctx.rel(dir / "report.json"));
    out["reports"].push_back({{"name", v.at("name")}, {"html", ctx.rel(dir / "report.html")},
                              {"json", ctx.rel(dir / "report.json")}, {"ssim", p["ssim"]}, {"psnr", p["psnr"]},
                              {"mae", p["mae"]}, {"masked", !in.mask.empty()}, {"through_plane_ratio", through},
                              {"sharpness_ratio", sharp}, {"sagittal_ssim", report["reslices"]["sagittal"].value("ssim", json())},
                              {"coronal_ssim", report["reslices"]["coronal"].value("ssim", json())}});
    record_done(ctx, v.at("name").get<std::string>(), out["reports"].back(), artefacts, first_artefact);
  }
  return out;
}

// export.bids: the sampled volumes as a BIDS derivatives dataset in export/bids. Subject labels and
// entities are the BIDS dataset's own (data.bids), or made of a manifest's subject names (letters and
// digits kept). The sidecars name real files only by their path inside a BIDS dataset: a manifest's
// file names may name people.
json export_bids(Context& ctx, json& artefacts) {
  const RunConfig& c = ctx.config;
  const std::string checkpoint = ctx.resolve(ctx.outputs("train").at("checkpoint").get<std::string>()).string();
  const auto rows = read_dataset(c.data);
  const bool from_bids = !c.data.bids.empty();
  const fs::path bids_root = from_bids ? fs::path(c.data.bids).lexically_normal() : fs::path();
  auto inside_bids = [&](const std::string& p) {
    return from_bids ? fs::path(p).lexically_normal().lexically_relative(bids_root).generic_string() : std::string();
  };
  BidsDerivativeDataset ds;
  ds.name = "medsynth synthetic " + (from_bids ? c.data.bids_suffix : std::string("MRI")) + " volumes (" + c.model.family + ")";
  ds.generated_by = "Sampled by medsynth's " + c.model.family + " model from checkpoint " +
                    fs::path(checkpoint).filename().string() + " (xxh3 " + hash_file(checkpoint) + "), " +
                    c.sample.sampler + " sampler, " + std::to_string(c.sample.steps) + " steps, seed " +
                    std::to_string(c.sample.seed) + ".";
  const bool marked = ctx.outputs("sample").value("mark", true);
  std::set<std::string> used;
  for (const auto& v : ctx.outputs("sample").at("volumes")) {
    const auto row = static_cast<std::size_t>(v.at("row").get<int>());
    if (row >= rows.size()) throw io::Error(dataset_path(c.data), "has changed since the sample stage ran; run " + ctx.rerun_hint("ingest"));
    const ManifestRow& r = rows[row];
    BidsDerivativeVolume bv;
    bv.suffix = from_bids ? c.data.bids_suffix : "T1w";
    if (from_bids) {
      bv.subject = r.subject;
      bv.entities = r.entities;
    } else {
      for (char ch : r.subject)
        if (std::isalnum(static_cast<unsigned char>(ch))) bv.subject += ch;
      if (bv.subject.empty()) bv.subject = "subject" + std::to_string(row + 1);
    }
    if (!used.insert(bv.subject + "_" + bv.entities).second) {
      bv.entities += (bv.entities.empty() ? "" : "_") + std::string("run-") + std::to_string(row + 1);
    }
    bv.volume = ctx.resolve(v.at("synthetic").get<std::string>()).string();
    json condition;
    const std::string labels = v.value("labels", "");
    if (c.data.labels == "tissue" || c.data.labels == "tissue+file") {
      condition = {{"Type", "tissue map"}, {"Description", "multi-Otsu tissue map (" + std::to_string(c.data.tissue_classes) +
                                                                " classes) of the real image" +
                                                                (c.data.labels == "tissue+file" ? " under its label map" : "")}};
    } else if (!labels.empty()) {
      condition = {{"Type", "label map"}};
    } else {
      condition = {{"Type", "none"}};
    }
    if (from_bids) {
      // Paths inside the BIDS dataset the model was trained on (data.bids).
      condition["RealImage"] = inside_bids(r.image);
      if (!r.labels.empty() && c.data.labels != "tissue") condition["LabelMap"] = inside_bids(r.labels);
    }
    bv.sidecar = {
        {"Description", "Synthetic " + bv.suffix + " volume made by a generative model (medsynth " + c.model.family +
                            "); not acquired from a person"},
        {"SyntheticMark", {{"Embedded", marked},
                           {"RunId", v.value("mark_run_id", "")},
                           {"Reader", "medsynth detect FILE reads the mark in the voxels"}}},
        {"Provenance", {{"Software", "medsynth"},
                        {"Version", std::string(kVersion) + " (" + kGitDescribe + ")"},
                        {"Checkpoint", fs::path(checkpoint).filename().string()},
                        {"CheckpointXXH3", hash_file(checkpoint)},
                        {"ModelFamily", c.model.family},
                        {"Parametrization", c.model.parametrization},
                        {"Sampler", c.sample.sampler},
                        {"Steps", c.sample.steps},
                        {"Seed", c.sample.seed},
                        {"Guidance", c.sample.guidance},
                        {"Condition", condition},
                        {"Created", utc_now()}}}};
    if (from_bids && !r.acquisition.is_null() && !r.acquisition.empty()) {
      bv.sidecar["TrainingAcquisition"] = r.acquisition;  // the acquisition the model learnt this contrast from
    }
    ds.volumes.push_back(bv);
  }
  const fs::path dir = ctx.dir("export") / "bids";
  const auto files = write_bids_derivatives(ds, dir.string(), true);
  std::cout << "export: " << dir.string() << " (BIDS derivatives, " << ds.volumes.size() << " volume(s))\n";
  artefacts.push_back(ctx.rel(dir / "dataset_description.json"));
  for (const auto& f : files) {
    if (f.size() > 7 && f.compare(f.size() - 7, 7, ".nii.gz") == 0) artefacts.push_back(ctx.rel(dir / f));
  }
  return json{{"folder", ctx.rel(dir)}, {"files", files}};
}

json run_export(Context& ctx, json& artefacts) {
  const ExportConfig& e = ctx.config.exporting;
  json out;
  out["series"] = json::array();
  std::vector<std::string> folders;
  if (e.dicom) {
    const std::string checkpoint = ctx.resolve(ctx.outputs("train").at("checkpoint").get<std::string>()).string();
    fs::create_directories(ctx.dir("export") / "dicom");
    for (const auto& v : ctx.outputs("sample").at("volumes")) {
      const std::string name = v.at("name").get<std::string>();
      io::DicomWriteOptions o;
      o.force = true;
      o.uid_root = e.uid_root;
      o.model_family = ctx.config.model.family;
      o.checkpoint = fs::path(checkpoint).filename().string();
      o.series_description = "medsynth " + ctx.config.model.family + " " + name;
      o.enhanced = e.enhanced;
      const io::Volume vol = io::read_volume(ctx.resolve(v.at("synthetic").get<std::string>()).string());
      const auto r = io::write_dicom_series(vol, (ctx.dir("export") / "dicom" / name).string(), o);
      std::cout << "export: " << r.folder << " (" << r.files.size() << " DICOM files, series " << r.series_uid << ")\n";
      folders.push_back(r.folder);
      artefacts.push_back(ctx.rel(r.folder));
      out["series"].push_back({{"name", name}, {"folder", ctx.rel(r.folder)}, {"files", r.files.size()},
                               {"series_uid", r.series_uid}, {"study_uid", r.study_uid}});
    }
  }
  if (e.bids) out["bids"] = export_bids(ctx, artefacts);
  if (!e.host.empty()) {
    if (!e.dicom) throw ConfigError("export.host is set but export.dicom = false: there is nothing to push");
    io::PacsPeer peer;
    peer.host = e.host;
    peer.port = e.port;
    peer.calling_aet = e.aet;
    peer.called_aet = e.aec;
    peer.timeout_s = e.timeout;
    if (folders.empty()) {
      std::cout << "export: no sampled volume to push\n";
    } else {
      const auto r = io::pacs_push(peer, folders);
      for (const auto& s : r.skipped) std::cerr << "medsynth: warning: skipped " << s << "\n";
      std::cout << "export: sent " << r.sent << " file(s) to " << peer.describe() << "\n";
      out["pushed"] = {{"peer", peer.describe()}, {"sent", r.sent}};
    }
  }
  return out;
}


json run_report(Context& ctx, json& artefacts) {
  const fs::path index = ctx.dir("report") / "index.html";
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>medsynth run " << html_escape(ctx.run.filename().string())
    << "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;border-bottom:1px solid #ccc;"
       "text-align:left}</style></head><body>\n<h1>medsynth run</h1>\n<p>Run folder <code>"
    << html_escape(fs::absolute(ctx.run).string()) << "</code>"
    << (ctx.options.config_path.empty() ? "" : ", config <code>" + html_escape(ctx.options.config_path) + "</code>")
    << ", medsynth " << kVersion << " (" << html_escape(kGitDescribe) << ").</p>\n";
  const json& sampled = ctx.outputs("sample");
  if (!sampled.value("mark", true)) {
    h << "<p style=\"color:#a00;font-weight:bold\">Warning: sample.mark = false. The synthetic volumes of this "
         "run carry no synthetic mark: once their headers are lost, nothing shows that they are synthetic.</p>\n";
  }
  // The measured figures go into the model card beside the checkpoint the volumes came from.
  const std::string checkpoint = ctx.resolve(ctx.outputs("train").at("checkpoint").get<std::string>()).string();
  for (const auto& r : ctx.outputs("evaluate").at("reports")) {
    std::ifstream in(ctx.resolve(r.at("json").get<std::string>()));
    if (in) add_measured_figures(checkpoint, json::parse(in), r.at("name").get<std::string>(), r.at("json").get<std::string>());
  }
  if (fs::exists(model_card_path(checkpoint, "md"))) {
    h << "<p>Model card: <a href=\"../" << html_escape(ctx.rel(model_card_path(checkpoint, "md"))) << "\">"
      << html_escape(ctx.rel(model_card_path(checkpoint, "md"))) << "</a> (and .json).</p>\n";
  }
  h << "<h2>Reports</h2>\n<table><tr><th>volume</th><th>SSIM</th><th>PSNR (dB)</th><th>MAE</th><th>region</th></tr>\n";
  for (const auto& r : ctx.outputs("evaluate").at("reports")) {
    h << "<tr><td><a href=\"../" << html_escape(r.at("html").get<std::string>()) << "\">"
      << html_escape(r.at("name").get<std::string>()) << "</a></td><td>" << r["ssim"].dump() << "</td><td>"
      << r["psnr"].dump() << "</td><td>" << r["mae"].dump() << "</td><td>"
      << (r.value("masked", false) ? "held-out slab" : "whole volume") << "</td></tr>\n";
  }
  h << "</table>\n<h2>Stages</h2>\n<table><tr><th>stage</th><th>status</th><th>seconds</th><th>finished</th>"
       "<th>fingerprint</th></tr>\n";
  for (const auto& s : stage_names()) {
    if (s == "report" || !ctx.records.count(s)) continue;
    const json& r = ctx.records.at(s);
    h << "<tr><td><a href=\"../" << s << "/stage.json\">" << s << "</a></td><td>" << html_escape(r.value("status", ""))
      << "</td><td>" << r.value("seconds", 0.0) << "</td><td>" << html_escape(r.value("finished", "")) << "</td><td><code>"
      << html_escape(r.value("fingerprint", "")) << "</code></td></tr>\n";
  }
  h << "</table>\n<h2>Synthetic outputs</h2>\n<ul>\n";
  for (const auto& v : ctx.outputs("sample").at("volumes")) {
    h << "<li><a href=\"../" << html_escape(v.at("synthetic").get<std::string>()) << "\">"
      << html_escape(v.at("synthetic").get<std::string>()) << "</a></li>\n";
  }
  if (ctx.outputs("sample").contains("pairs_manifest")) {
    h << "<li>" << ctx.outputs("sample")["pairs"].size() << " image/label pairs: <a href=\"../"
      << html_escape(ctx.outputs("sample")["pairs_manifest"].get<std::string>()) << "\">pairs.csv</a></li>\n";
  }
  if (ctx.outputs("export").contains("bids")) {
    h << "<li>BIDS derivatives: <code>" << html_escape(ctx.outputs("export")["bids"].at("folder").get<std::string>())
      << "</code></li>\n";
  }
  for (const auto& s : ctx.outputs("export").at("series")) {
    h << "<li>DICOM: <code>" << html_escape(s.at("folder").get<std::string>()) << "</code> (" << s.at("files").dump()
      << " files)</li>\n";
  }
  h << "</ul>\n<p>Every volume here is synthetic: made by a generative model, not acquired from a patient.</p>\n"
       "</body></html>\n";
  write_text_atomically(index.string(), h.str());
  artefacts.push_back(ctx.rel(index));
  const auto& reports = ctx.outputs("evaluate").at("reports");
  const std::string main = reports.empty() ? index.string()
                                           : ctx.resolve(reports[0].at("html").get<std::string>()).string();
  return json{{"index", ctx.rel(index)}, {"report", ctx.rel(main)}};
}

using StageFn = std::function<json(Context&, json&)>;

StageFn stage_fn(const std::string& s) {
  if (s == "ingest") return run_ingest;
  if (s == "train") return run_train;
  if (s == "sample") return run_sample;
  if (s == "evaluate") return run_evaluate;
  if (s == "export") return run_export;
  return run_report;
}

void check_stage_name(const std::string& option, const std::string& s) {
  if (s.empty()) return;
  const auto& names = stage_names();
  if (std::find(names.begin(), names.end(), s) != names.end()) return;
  const std::string hint = nearest(s, names);
  throw UsageError("run: " + option + " '" + s + "' is not a stage" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                   "; stages: ingest, train, sample, evaluate, export, report");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

RunSummary run_pipeline(const RunConfig& config, const RunOptions& options) {
  check_stage_name("--from", options.from);
  check_stage_name("--only", options.only);
  for (const auto& f : options.force) check_stage_name("--force", f);
  if (!options.from.empty() && !options.only.empty()) throw UsageError("run: give --from or --only, not both");
  if (config.train.out.empty()) throw ConfigError("train.out (the run folder) is empty");

  Context ctx;
  ctx.config = config;
  ctx.options = options;
  if (ctx.options.command_hint.empty()) ctx.options.command_hint = "medsynth run CONFIG";
  ctx.run = fs::path(config.train.out);
  fs::create_directories(ctx.run);
  RunLock lock(ctx.run);
  // SIGTERM/SIGINT/SIGUSR1: training stops after a step with a checkpoint, sampling and evaluation
  // after the volume in progress (keeping those done), otherwise before the next stage; exit 75.
  const StopSignals stop_signals;
  write_text_atomically((ctx.run / "config.ini").string(), to_ini(config));

  const auto& names = stage_names();
  auto index_of = [&](const std::string& s) { return std::find(names.begin(), names.end(), s) - names.begin(); };
  const std::string target = !options.only.empty() ? options.only : options.from;
  RunSummary summary;
  summary.run_dir = ctx.run.string();
  const json versions = library_versions();

  for (const auto& stage : names) {
    const auto i = index_of(stage);
    if (!options.only.empty() && i > index_of(options.only)) break;
    const bool selected = target.empty() || (!options.only.empty() ? stage == options.only : i >= index_of(options.from));
    const bool forced = std::count(options.force.begin(), options.force.end(), stage) > 0 || stage == options.from;
    const json previous = read_stage_record(ctx.run.string(), stage);
    const std::string status = previous.is_object() ? previous.value("status", "") : "";

    if (!selected) {
      // An upstream stage that this invocation does not run: it must have finished.
      const std::string missing = status == "done" ? missing_artefact(ctx, previous) : "";
      if (status != "done" || !missing.empty()) {
        throw medsynth::Error(
            target + " needs the " + stage + " stage, which " +
                (status.empty() ? std::string("has not run") : status != "done" ? "is " + status : "lost " + missing) +
                " in " + ctx.run.string() + "; run " + ctx.rerun_hint(stage),
            ExitCode::kBadInput);
      }
      ctx.records[stage] = previous;
      if (previous.value("fingerprint", "") != hash_text(fingerprint_text(ctx, stage))) {
        std::cerr << "medsynth: warning: " << stage << " is out of date with the config (used as it is; "
                  << ctx.rerun_hint(stage) << " redoes it)\n";
      }
      continue;
    }

    const std::string inputs = fingerprint_text(ctx, stage);
    const std::string fingerprint = hash_text(inputs);
    const bool same = status.size() && previous.value("fingerprint", "") == fingerprint;
    if (!forced && same && status == "done") {
      const std::string missing = missing_artefact(ctx, previous);
      if (missing.empty()) {
        std::cout << stage << ": up to date (skipped)\n";
        ctx.records[stage] = previous;
        summary.skipped.push_back(stage);
        continue;
      }
      std::cout << stage << ": " << missing << " is missing; running it again\n";
    }
    // Start from an empty stage folder, except: training with unchanged settings resumes from its
    // checkpoints, and the slice cache (keyed by its own content fingerprint) is kept unless forced.
    const fs::path dir = ctx.dir(stage);
    const bool resume_train = stage == "train" && same && !forced;
    // A sample or evaluate stage that was stopped, failed (a full disk) or killed keeps the volumes
    // it finished: each was written atomically and recorded after it was complete.
    const bool resume_partial = (stage == "sample" || stage == "evaluate") && same && !forced && status != "done" &&
                                previous.contains("partial") && previous["partial"].is_object() &&
                                !previous["partial"].empty();
    ctx.partial = resume_partial ? previous["partial"] : json::object();
    if (!resume_train && !resume_partial && fs::exists(dir)) {
      for (const auto& e : fs::directory_iterator(dir)) {
        if (stage == "ingest" && !forced && e.path().filename() == "cache") continue;
        fs::remove_all(e.path());
      }
    }
    fs::create_directories(dir);

    json record;
    record["stage"] = stage;
    record["status"] = "running";
    record["fingerprint"] = fingerprint;
    record["inputs"] = inputs;
    record["medsynth_version"] = std::string(kVersion) + " (" + kGitDescribe + ")";
    record["libraries"] = versions;
    record["seeds"] = {{"train.seed", config.train.seed}, {"sample.seed", config.sample.seed}};
    record["pid"] = static_cast<long>(::getpid());
    record["started"] = utc_now();
    record["artefacts"] = json::array();
    write_record(ctx, stage, record);
    std::cout << stage << ": running" << (forced ? " (forced)" : "")
              << ((resume_train && status.size()) || resume_partial ? " (resuming)" : "") << "\n" << std::flush;
    ctx.save_partial = [&] {
      record["partial"] = ctx.partial;
      write_record(ctx, stage, record);
    };
    const auto t0 = std::chrono::steady_clock::now();
    json artefacts = json::array();
    try {
      ctx.records[stage] = record;
      record["outputs"] = stage_fn(stage)(ctx, artefacts);
    } catch (const std::exception& e) {
      const auto* stopped = dynamic_cast<const medsynth::Error*>(&e);
      record["status"] = stopped && stopped->code() == ExitCode::kStopped ? "stopped" : "failed";
      record["error"] = e.what();
      record["finished"] = utc_now();
      record["seconds"] = seconds_since(t0);
      try {
        write_record(ctx, stage, record);
      } catch (const std::exception&) {
        // the stage's own error is the one to report
      }
      if (const auto* me = dynamic_cast<const medsynth::Error*>(&e)) throw medsynth::Error(*me, stage);
      throw;
    }
    record["artefacts"] = artefacts;
    record.erase("partial");
    record["status"] = "done";
    record["finished"] = utc_now();
    record["seconds"] = seconds_since(t0);
    std::random_device rd;
    record["run_id"] = hash_text(fingerprint + record["finished"].get<std::string>() + std::to_string(rd()) +
                                 std::to_string(::getpid()));
    write_record(ctx, stage, record);
    ctx.records[stage] = record;
    summary.ran.push_back(stage);
    std::cout << stage << ": done in " << std::fixed;
    std::cout.precision(1);
    std::cout << record["seconds"].get<double>() << " s\n";
    std::cout.unsetf(std::ios::fixed);
    std::cout.precision(6);
    if (stage != names.back()) {
      throw_if_stop_requested("run", "the stages up to " + stage + " are done: run the same command again to continue");
    }
  }
  if (ctx.records.count("report") && ctx.records["report"].contains("outputs")) {
    summary.report = fs::absolute(ctx.resolve(ctx.records["report"]["outputs"].value("report", ""))).string();
    summary.index = fs::absolute(ctx.resolve(ctx.records["report"]["outputs"].value("index", ""))).string();
  }
  return summary;
}

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


int finish(const RunSummary& s) {
  std::cout << "\nrun folder: " << fs::absolute(s.run_dir).lexically_normal().string() << "\n";
  if (!s.index.empty()) std::cout << "run index: " << s.index << "\n";
  if (!s.report.empty()) std::cout << "report: " << s.report << "\n";
  return 0;
}

int run_run(const po::variables_map& vm) {
  const std::string path = vm["config"].as<std::string>();
  const RunConfig cfg = load_config(path, overrides_of(vm));
  RunOptions o;
  o.config_path = path;
  o.from = vm["from"].as<std::string>();
  o.only = vm["only"].as<std::string>();
  if (vm.count("force")) o.force = vm["force"].as<std::vector<std::string>>();
  o.command_hint = "medsynth run " + path;
  return finish(run_pipeline(cfg, o));
}

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
  return finish(run_pipeline(cfg, o));
}

}  // namespace

Command make_run_command() {
  Command c;
  c.name = "run";
  c.summary = "run a config's stages: ingest, train, sample, evaluate, export, report";
  c.usage = "medsynth run CONFIG.ini [--from STAGE | --only STAGE] [--force STAGE ...] [--section.key value ...]";
  c.details =
      "Runs ingest -> train -> sample -> evaluate -> export -> report into the run folder train.out,\n"
      "one sub-folder per stage with its artefacts and stage.json (fingerprint of the settings and\n"
      "inputs it reads, versions, seeds, timings, status). A stage whose fingerprint is unchanged\n"
      "and whose artefacts exist is skipped; a killed run started again finishes what is left\n"
      "(training resumes from its newest checkpoint). --from S reruns S and every later stage;\n"
      "--only S runs S alone (when out of date; add --force S to redo it); --force S redoes S even\n"
      "when up to date (later stages follow). A second run into a folder in use is refused (exit 2).\n"
      "Any config key can be given as --section.key value. Ends by printing the report's path.\n"
      "docs/pipeline.md has the details.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("config", po::value<std::string>()->required(), "INI file of the run (medsynth config --reference)")
        ("from", po::value<std::string>()->default_value(""), "run this stage (forced) and every later one")
        ("only", po::value<std::string>()->default_value(""), "run this stage alone")
        ("force", po::value<std::vector<std::string>>(), "rerun this stage even when up to date (repeatable)");
    p.add("config", 1);
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_run(vm); }); };
  return c;
}

Command make_demo_command() {
  Command c;
  c.name = "demo";
  c.summary = "the demo: train on Colin27's tissue map, synthesise the T1, evaluate, export (built-in config)";
  c.usage = "medsynth demo [--out DIR] [--steps N] [--section.key value ...]";
  c.details =
      "Runs the built-in demo configuration (equal to configs/colin27-tissue-ddpm.ini) with 'medsynth\n"
      "run' into DIR: ingest Colin27 (mricron-data) with its tissue map, train a conditional\n"
      "diffusion model on 64x64 slices, synthesise the T1 from the map, evaluate it on the held-out\n"
      "slab, write synthetic DICOM and print the path of report.html. Started again, it skips what\n"
      "is done. The config and manifest are written into DIR as demo.ini and colin27.csv.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()
        ("out", po::value<std::string>()->default_value("", "runs/colin27-tissue-ddpm"), "run folder")
        ("steps", po::value<int>()->default_value(0, "600"), "training steps");
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_demo(vm); }); };
  return c;
}

}  // namespace medsynth::pipeline
