#pragma once
// Prompts for acquisition-conditioned sampling (sample --prompt): text → acquisition attributes
// (acquisition.h). The structured encoder reads words and KEY=VALUE tokens; a free-text encoder (a
// language model) would implement PromptEncoder too, but needs pretrained weights that cannot be
// fetched here (docs/models.md).
#include <nlohmann/json.hpp>

#include <string>

#include "medsynth/pipeline/acquisition.h"

namespace medsynth::pipeline {

class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;
  // The attributes the prompt names, in medsynth's units; throws UsageError (exit 1) for a
  // prompt it cannot read.
  virtual nlohmann::json encode(const std::string& prompt) const = 0;
};

// "T1w MPRAGE 3T TR=2300 TE=2.98 TI=900 FA=9 age=70 sex=F": tokens split at white space and commas,
// case ignored. Words: weightings (T1w, T2w, PDw, T2starw, FLAIR), sequences (MPRAGE, SPGR, FLASH,
// GRE, SE, TSE, FSE, IR, EPI), a field strength "<n>T". KEY=VALUE with KEY one of the attributes or
// an alias (TR, TE, TI, FA / flip, B0 / field, age, sex, sequence, weighting) and VALUE in the
// units parse_attribute() takes (ms default; "2.3s" is read as 2300 ms). An unknown word or key
// is an error listing the known ones; an attribute given twice is an error.
class StructuredPromptEncoder : public PromptEncoder {
 public:
  nlohmann::json encode(const std::string& prompt) const override;
  static std::string known_words();
};

// Refuses (UsageError) a prompt naming an attribute the model was not trained on, naming the
// model's attributes; `model` names the checkpoint.
void check_prompt(const nlohmann::json& attributes, const AcquisitionEncoding& encoding, const std::string& model);

}  // namespace medsynth::pipeline
