// The sample stage: a synthetic volume per held-out (or every) subject on its own grid from its
// condition, and image/label pairs from the training label maps (sample.pairs).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "medsynth/cost_json.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/physics/simulation_spec.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/synthesis.h"
#include "ranks.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

using io::write_text_atomically;

struct SampledVolume {
  std::string name, subject, real, synthetic, labels, mask;
  int row = 0;
};

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
  const std::string checkpoint = ctx.checkpoint();
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
    if (info.model.source_image && !c.data.simulate_source.empty()) {
      // The source the model was trained with: the physics rendering of the row's label map.
      const fs::path p = dir / (name + "-source.nii.gz");
      if (!fs::exists(p)) {
        io::WriteOptions wo;
        wo.force = true;
        const io::Volume image = io::read_volume(r.image);
        io::write_volume(physics::simulate_labels(physics::parse_simulation_spec(c.data.simulate_source, "data.simulate_source"),
                                                  condition_label_map(image, r.image, r.labels, c.data), r.image),
                         p.string(), wo);
      }
      rq.source = p.string();
    } else if (info.model.source_image) {
      rq.source = r.source;
    }
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
    const SynthesisResult r = synthesise_volume(ctx, rq);
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
                              {"seconds", r.seconds},
                              {"cost", r.cost}});
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
      const SynthesisResult r = synthesise_volume(ctx, rq);
      io::WriteOptions wo;
      wo.force = true;
      io::write_volume(r.volume, img.string(), wo);
      // Converted, not copied: the manifest's label map may be MHA, NRRD, PNG or a DICOM folder.
      io::write_label_volume(io::read_label_volume(rq.labels), lab.string(), wo);
      artefacts.push_back(ctx.rel(img));
      artefacts.push_back(ctx.rel(lab));
      pairs.push_back({{"image", ctx.rel(img)}, {"labels", ctx.rel(lab)}, {"from_subject", rows[i].subject},
                       {"seed", rq.sample.seed}, {"cost", r.cost}});
      record_done(ctx, stem, pairs.back(), artefacts, first_artefact);
    }
    write_text_atomically((pairs_dir / "pairs.csv").string(), manifest.str());
    artefacts.push_back(ctx.rel(pairs_dir / "pairs.csv"));
    out["pairs"] = pairs;
    out["pairs_manifest"] = ctx.rel(pairs_dir / "pairs.csv");
  }
  return out;
}

}  // namespace

Stage sample_stage() {
  Stage s;
  s.name = "sample";
  s.inputs = [](const Context& ctx) { return section_text(ctx.config, "sample", {"batch"}) + upstream_ids(ctx, {"ingest", "train"}); };
  s.run = run_sample;
  s.keeps_partial = true;
  s.on_ranks = OnRanks::kSharded;  // each volume sampled as one shard per rank, merged on rank 0
  return s;
}

}  // namespace medsynth::pipeline::run
