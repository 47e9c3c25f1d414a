// Stage fingerprints: the settings a stage reads, its input files' content and the run ids of the
// stages upstream, hashed. Each stage names its own inputs (Stage::inputs, in its file).
#include <sstream>

#include "stage.h"

namespace medsynth::pipeline::run {

namespace {
// Bumped when stage.json or the meaning of a stage's outputs changes: every stage runs again.
constexpr int kStageFormat = 1;
}  // namespace

std::string section_text(const RunConfig& config, const std::string& section, const std::set<std::string>& skip) {
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

std::string upstream_ids(const Context& ctx, std::initializer_list<const char*> stages) {
  std::string s;
  for (const char* st : stages) s += std::string("upstream.") + st + " = " + ctx.records.at(st).value("run_id", "") + "\n";
  return s;
}

std::string fingerprint_text(const Context& ctx, const Stage& stage) {
  std::ostringstream key;
  key << "stage = " << stage.name << "\nformat = " << kStageFormat << "\n" << stage.inputs(ctx);
  return key.str();
}

}  // namespace medsynth::pipeline::run
