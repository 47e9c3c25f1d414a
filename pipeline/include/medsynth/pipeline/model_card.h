#pragma once
// The model card beside every checkpoint (<ckpt>.model-card.json and .md): what the model was
// trained on (files with hashes, subjects, licences where known), the task and conditions, the
// figures a run measured, intended use and known limits. No LibTorch: `medsynth info` reads it.
// docs/ethics.md lists the fields.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace medsynth::pipeline {

// What the card says about a checkpoint (the checkpoint's own metadata, without LibTorch).
struct ModelCardInputs {
  std::string checkpoint;        // path of the checkpoint file (it must exist: its hash is recorded)
  std::string family;
  std::int64_t step = 0;
  int world_size = 1;
  std::string run_config;        // INI text of the run
  std::string data_fingerprint;
  double window_lo = 0, window_hi = 1;
};

// The id the synthetic mark carries for volumes sampled from this training run (the same for
// every checkpoint of one run config and data): 32 bits of XXH3 of both.
std::uint32_t mark_run_id(const std::string& run_config, const std::string& data_fingerprint);

// <dir>/<stem>.model-card.json or .md for a checkpoint <dir>/<stem>.pt.
std::string model_card_path(const std::string& checkpoint, const std::string& extension);

nlohmann::json make_model_card(const ModelCardInputs& inputs);
std::string model_card_markdown(const nlohmann::json& card);
// Writes both files atomically (temporary beside, fsync, rename); replaces an older card.
void write_model_card(const std::string& checkpoint, const nlohmann::json& card);
// The card beside a checkpoint; null when there is none.
nlohmann::json read_model_card(const std::string& checkpoint);
// The figures of an evaluation report (report.json) in the card's "measured" list, rewritten.
void add_measured_figures(const std::string& checkpoint, const nlohmann::json& report, const std::string& volume,
                          const std::string& report_path);

}  // namespace medsynth::pipeline
