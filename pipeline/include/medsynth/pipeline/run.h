#pragma once
// The stage runner behind `medsynth run CONFIG` and `medsynth demo`: ingest -> train -> sample ->
// evaluate -> export -> utility -> report, each stage in its own folder of the run folder (train.out) with a
// stage.json recording its fingerprint, versions, seeds, timings, status and artefacts. A stage
// whose fingerprint is unchanged and whose artefacts exist is skipped; a killed run started again
// finishes without redoing finished stages (training resumes from its newest checkpoint). One run
// at a time per folder (flock on <run>/run.lock). Needs LibTorch. docs/pipeline.md has the details.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {

// The stages in the order they run.
const std::vector<std::string>& stage_names();

struct RunOptions {
  std::string config_path;             // shown in the "run ... --from STAGE" hints ("" for the demo)
  std::string from;                    // run this stage (forced) and every later one
  std::string only;                    // run this stage alone (skipped when up to date)
  std::vector<std::string> force;      // rerun these stages even when up to date
  std::string command_hint;            // how to rerun, e.g. "medsynth run configs/x.ini"
};

struct RunSummary {
  std::string run_dir;
  std::string report;                  // report.html of the first sampled volume, or the run's index.html
  std::string index;                   // <run>/report/index.html
  std::vector<std::string> ran, skipped;
  int rank = 0;                        // this process's rank (the others' part ends after sampling)
};

// Runs the stages of `config` per `options`. Throws UsageError (unknown stage name, --from with
// --only), medsynth::Error with exit code 2 when the run folder is locked by another process or
// an upstream stage has not finished, and whatever a stage throws (its stage.json then says
// "failed").
RunSummary run_pipeline(const RunConfig& config, const RunOptions& options);

// Reads <run>/<stage>/stage.json (stage_record.cpp): null json when absent, unreadable, or not
// of the shape the runner reads (an object; status, fingerprint, run_id strings; artefacts an array
// of strings; outputs an object; partial an object of {entry: object, artefacts: strings}), so a
// damaged or hand-edited record makes its stage run again instead of failing the run.
nlohmann::json read_stage_record(const std::string& run_dir, const std::string& stage);
// The same check on a parsed record.
bool is_stage_record(const nlohmann::json& record);

// The demo's configuration and manifest, compiled in (equal to configs/colin27-tissue-ddpm.ini
// and configs/colin27.csv; a test checks it).
const char* demo_config_text();
const char* demo_manifest_text();

}  // namespace medsynth::pipeline
