// Context paths and the bookkeeping of volumes finished before a stop.
#include <cctype>
#include <iostream>

#include "stage.h"

namespace medsynth::pipeline::run {

std::string Context::rel(const fs::path& p) const {
  const fs::path a = fs::absolute(p).lexically_normal();
  const fs::path r = a.lexically_relative(fs::absolute(run).lexically_normal());
  return (!r.empty() && r.native().rfind("..", 0) != 0) ? r.string() : a.string();
}

fs::path Context::resolve(const std::string& stored) const {
  const fs::path p(stored);
  return p.is_absolute() ? p : run / p;
}

std::string Context::rerun_hint(const std::string& stage) const {
  return "'" + options.command_hint + " --from " + stage + "'";
}

std::string Context::checkpoint() const {
  return resolve(outputs("train").at("checkpoint").get<std::string>()).string();
}

std::string missing_artefact(const Context& ctx, const json& record) {
  if (!record.contains("artefacts")) return "";
  for (const auto& a : record["artefacts"]) {
    const fs::path p = ctx.resolve(a.get<std::string>());
    if (!fs::exists(p)) return p.string();
  }
  return "";
}

bool reuse_done(const Context& ctx, const std::string& name, json* entry, json& artefacts) {
  if (!ctx.partial.contains(name) || !missing_artefact(ctx, ctx.partial.at(name)).empty()) return false;
  *entry = ctx.partial.at(name).at("entry");
  for (const auto& a : ctx.partial.at(name).at("artefacts")) artefacts.push_back(a);
  std::cout << "  " << name << ": made before the stop (kept)\n";
  return true;
}

void record_done(Context& ctx, const std::string& name, const json& entry, const json& artefacts, std::size_t first) {
  json mine = json::array();
  for (std::size_t i = first; i < artefacts.size(); ++i) mine.push_back(artefacts[i]);
  ctx.partial[name] = {{"entry", entry}, {"artefacts", mine}};
  ctx.save_partial();
}

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (out.empty() || out[0] == '.') out = "subject" + out;
  return out;
}

}  // namespace medsynth::pipeline::run
