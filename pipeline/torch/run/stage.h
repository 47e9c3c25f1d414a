#pragma once
// What the stages of the runner share (runner.cpp runs them; one file per stage beside this one).
// Adding a stage: a file with its run function and its fingerprint inputs, and a line in the
// table of stages in stages.cpp.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "medsynth/modules/mac_counter.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/run.h"

namespace medsynth::pipeline::run {

namespace fs = std::filesystem;
using nlohmann::json;

class RunRanks;  // ranks.h: the run on several ranks

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
  // Launched as several ranks (torchrun, srun, --nproc): the group, and its size (1 otherwise).
  RunRanks* ranks = nullptr;
  int world = 1;

  fs::path dir(const std::string& stage) const { return run / stage; }
  // A path stored in stage.json: relative to the run folder when inside it.
  std::string rel(const fs::path& p) const;
  fs::path resolve(const std::string& stored) const;
  std::string rerun_hint(const std::string& stage) const;
  const json& outputs(const std::string& stage) const { return records.at(stage).at("outputs"); }
  // The training stage's checkpoint, as a path.
  std::string checkpoint() const;
};

// Where a stage runs when the run has several ranks (ranks.h): on rank 0 alone (the others wait
// or have left), on every rank (training), or on rank 0 handing each volume it samples to all
// ranks, which sample a shard each (synthesise_volume).
enum class OnRanks { kRank0, kEvery, kSharded };

// A stage: what it reads (the text hashed into its fingerprint) and what it does (returns its
// "outputs" for stage.json and appends the paths it wrote to `artefacts`).
struct Stage {
  std::string name;
  std::function<std::string(const Context&)> inputs;
  std::function<json(Context&, json& artefacts)> run;
  // Started again with unchanged settings after a stop, failure or kill: keeps the volumes it
  // finished (their entries in stage.json's "partial") instead of starting from an empty folder.
  bool keeps_partial = false;
  // Started again with unchanged settings: keeps its folder (training resumes from checkpoints).
  bool resumes = false;
  // A folder entry kept unless the stage is forced (the slice cache, keyed by its own content).
  std::string keep_unless_forced;
  OnRanks on_ranks = OnRanks::kRank0;
};

// The stages in the order they run (stages.cpp).
const std::vector<Stage>& stages();

// The stages, one per file.
Stage ingest_stage();
Stage augment_stage();  // stage_augment.cpp: augment.enabled (physics-simulated pairs; after ingest)
Stage train_stage();
Stage sample_stage();
Stage evaluate_stage();
Stage export_stage();
Stage utility_stage();  // stage_utility.cpp: utility.enabled
Stage report_stage();

// ---- fingerprints (fingerprint.cpp) ----
// The stage's name, the record format and its inputs: the text whose hash is its fingerprint.
std::string fingerprint_text(const Context& ctx, const Stage& stage);
// The lines "key = value" of one section of to_ini(config), without the keys in `skip`.
std::string section_text(const RunConfig& config, const std::string& section, const std::set<std::string>& skip = {});
// "upstream.<stage> = <run id>" for each stage named.
std::string upstream_ids(const Context& ctx, std::initializer_list<const char*> stages);

// ---- volumes finished before a stop (stage_context.cpp) ----
// A missing artefact of a finished stage, or "" when every artefact exists.
std::string missing_artefact(const Context& ctx, const json& record);
// A volume that this stage finished before it was stopped (same settings and upstream runs, and
// its files are all there): its stage.json entry, with its artefacts added back; else false.
bool reuse_done(const Context& ctx, const std::string& name, json* entry, json& artefacts);
// Records a finished volume (its entry and the artefacts added since `first`) in stage.json.
void record_done(Context& ctx, const std::string& name, const json& entry, const json& artefacts, std::size_t first);

// File names made from subject names: letters, digits, '-', '_', '.' kept, the rest '_'.
std::string safe_name(const std::string& s);

// The "cost" object of stage.json (stage_cost.cpp): the meter started before the stage ran, per
// step (outputs "steps") or per volume (outputs "volumes") where the outputs say how many.
json stage_cost(const modules::CostMeter& meter, const json& outputs);

// The BIDS derivatives of the sampled volumes (export_bids.cpp), for the export stage.
json export_bids(Context& ctx, json& artefacts);

}  // namespace medsynth::pipeline::run
