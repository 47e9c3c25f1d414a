#pragma once
// cost::ResourceUse as the "cost" object of stage.json, report.json and the sampled volumes'
// entries (nlohmann-json, header-only, which every library that writes JSON links already).
#include <nlohmann/json.hpp>

#include "medsynth/cost.h"

namespace medsynth::cost {

inline void to_json(nlohmann::json& j, const ResourceUse& u) {
  j = nlohmann::json{{"wall_seconds", u.wall_seconds},
                     {"cpu_seconds", u.cpu_seconds},
                     {"cpu_seconds_children", u.cpu_seconds_children},
                     {"peak_rss_mib", u.peak_rss_bytes / (1024.0 * 1024.0)},
                     {"peak_rss_scope", u.peak_rss_of_process ? "process since start" : "this run"},
                     {"energy_joules", u.energy_joules},
                     {"estimated", u.energy_estimated},
                     {"energy_source", u.energy_source},
                     {"summary", describe(u)}};
  if (u.gflop >= 0) j["gflop"] = u.gflop;
  if (u.items > 0 && !u.item.empty()) {
    const double n = static_cast<double>(u.items);
    j[u.item + "s"] = u.items;
    nlohmann::json per{{"wall_seconds", u.wall_seconds / n}, {"energy_joules", u.energy_joules / n}};
    if (u.gflop >= 0) per["gflop"] = u.gflop / n;
    j["per_" + u.item] = per;
  }
}

inline void from_json(const nlohmann::json& j, ResourceUse& u) {
  u = ResourceUse{};
  u.wall_seconds = j.value("wall_seconds", 0.0);
  u.cpu_seconds = j.value("cpu_seconds", 0.0);
  u.cpu_seconds_children = j.value("cpu_seconds_children", 0.0);
  u.peak_rss_bytes = j.value("peak_rss_mib", 0.0) * 1024.0 * 1024.0;
  u.peak_rss_of_process = j.value("peak_rss_scope", "") == "process since start";
  u.energy_joules = j.value("energy_joules", 0.0);
  u.energy_estimated = j.value("estimated", true);
  u.energy_source = j.value("energy_source", "");
  u.gflop = j.value("gflop", -1.0);
}

}  // namespace medsynth::cost
