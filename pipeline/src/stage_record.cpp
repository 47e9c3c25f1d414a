// Reading a stage's stage.json for the runner (pipeline/torch/run/runner.cpp), without LibTorch: the fuzz harness
// (tests/fuzz/fuzz_stage_record.cpp) links it alone.
#include <filesystem>
#include <fstream>

#include "medsynth/pipeline/run.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medsynth::pipeline {
namespace {

bool strings(const json& a) {
  if (!a.is_array()) return false;
  for (const auto& x : a) {
    if (!x.is_string()) return false;
  }
  return true;
}

}  // namespace

bool is_stage_record(const json& r) {
  if (!r.is_object()) return false;
  for (const char* key : {"stage", "status", "fingerprint", "run_id", "error"}) {
    if (r.contains(key) && !r.at(key).is_string()) return false;
  }
  if (r.contains("artefacts") && !strings(r.at("artefacts"))) return false;
  if (r.contains("outputs") && !r.at("outputs").is_object()) return false;
  if (r.contains("partial")) {
    if (!r.at("partial").is_object()) return false;
    for (const auto& done : r.at("partial")) {
      if (!done.is_object() || !done.contains("entry") || !done.at("entry").is_object() || !done.contains("artefacts") ||
          !strings(done.at("artefacts"))) {
        return false;
      }
    }
  }
  return true;
}

json read_stage_record(const std::string& run_dir, const std::string& stage) {
  std::ifstream in(fs::path(run_dir) / stage / "stage.json");
  if (!in) return nullptr;
  try {
    json r = json::parse(in);
    return is_stage_record(r) ? r : json(nullptr);  // unreadable or of another shape: never run
  } catch (const json::exception&) {
    return nullptr;
  }
}

}  // namespace medsynth::pipeline
