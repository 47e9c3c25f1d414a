#pragma once
// `medsynth evaluate`: every figure that applies to the inputs given, gathered in one JSON
// report, and the report folder (report.json, report.html, images/) written atomically.
// docs/metrics.md defines the figures; docs/report.md explains how to read the report.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace medsynth::validation {

struct ViewerVolumes;  // report_viewer.h

struct EvaluationInputs {
  std::string real;        // required: the real volume (also the held-out set for the baselines)
  std::string synthetic;   // required: the synthetic volume of the same condition
  std::string train;       // optional: training volume for the memorisation check
  std::string mask;        // optional: mask volume on the real grid (non-zero = inside)
  std::string labels;      // optional: the label map the synthetic volume was conditioned on
  std::string log;         // optional: training log CSV (header step,loss,...)
  double data_range = 0;   // <= 0: max - min of the real volume (inside the mask)
  bool resample = false;   // resample synthetic/mask/labels into the real grid instead of refusing
  unsigned threads = 0;    // 0: all cores
  std::vector<std::string> command_line;  // recorded in the provenance
  // optional: what making the synthetic volume cost (the "cost" object of medsynth/cost_json.h),
  // copied into report["synthesis_cost"] and shown on the page
  nlohmann::json synthesis_cost;
};

// Computes the report. Throws medsynth::Error (exit code 2) for bad input: unreadable files,
// different grids without resample, an empty mask, a constant real volume without data range.
// Writes PNG montages into images_dir (which must exist); the JSON names them relative to the
// report folder ("images/..."). With viewer, also fills it with both volumes for the page's
// viewer (and report["images"]["viewer"] says what it holds).
nlohmann::json evaluate(const EvaluationInputs& inputs, const std::string& images_dir, ViewerVolumes* viewer = nullptr);

// The self-contained HTML page for a report made by evaluate(); with viewer, the page embeds
// the interactive three-plane viewer (inline script and data, no network).
std::string render_report_html(const nlohmann::json& report, const ViewerVolumes* viewer = nullptr);

// evaluate() + report.json + report.html into out_dir, built in a temporary folder beside it
// and renamed into place (an existing out_dir is refused unless force). Returns the report.
nlohmann::json write_evaluation_report(const EvaluationInputs& inputs, const std::string& out_dir, bool force);

}  // namespace medsynth::validation
