#include "medsynth/pipeline/volume_json.h"

#include <iomanip>
#include <sstream>

namespace medsynth::pipeline {

nlohmann::json volume_json(const io::Volume& v) {
  const auto& g = v.geometry;
  nlohmann::json j;
  j["size"] = g.size;
  j["spacing"] = g.spacing;
  j["origin"] = g.origin;
  auto direction = g.direction;
  for (auto& d : direction) d += 0.0;  // print -0 as 0
  j["direction"] = direction;
  j["orientation"] = g.orientation_code();
  j["data_type"] = io::to_string(v.stored_type);
  auto [lo, hi] = io::intensity_range(v);
  j["intensity_range"] = {lo, hi};
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [k, val] : v.metadata) {
    if (k.rfind("dicom.Patient", 0) == 0) continue;  // age, sex: patient data, a condition for the ingest only
    meta[k] = val;
  }
  j["metadata"] = meta;
  j["modality"] = v.metadata.count("modality") ? v.metadata.at("modality") : "";
  return j;
}

nlohmann::json series_json(const std::vector<io::DicomSeriesInfo>& series) {
  nlohmann::json arr = nlohmann::json::array();
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    arr.push_back({{"index", i + 1},
                   {"series_uid", s.series_uid},
                   {"series_number", s.series_number},
                   {"description", s.series_description},
                   {"modality", s.modality},
                   {"study_uid", s.study_uid},
                   {"rows", s.rows},
                   {"columns", s.columns},
                   {"files", s.files.size()},
                   {"part", s.part},
                   {"frames", s.frames},
                   {"volumes", s.volumes},
                   {"varies", s.varies},
                   {"problem", s.problem}});
  }
  return arr;
}

std::string format_info_text(const nlohmann::json& info) {
  std::ostringstream os;
  os << std::setprecision(6);
  os << "path:        " << info["path"].get<std::string>() << "\n";
  os << "format:      " << info["format"].get<std::string>() << "\n";
  if (info.contains("series")) {
    os << "series:      " << info["series"].size() << "\n";
    for (const auto& s : info["series"]) {
      const std::string part = s.value("part", "");
      os << "  " << s["index"] << ": " << s["series_uid"].get<std::string>()
         << (part.empty() ? "" : " (" + part + ")") << "  #"
         << s["series_number"].get<std::string>() << " " << s["modality"].get<std::string>() << " '"
         << s["description"].get<std::string>() << "' " << s["columns"] << "x" << s["rows"] << ", "
         << s["files"] << " file(s)";
      if (s.value("frames", 0) != s["files"].get<int>()) os << ", " << s["frames"] << " frame(s)";
      if (s.value("volumes", 1) > 1) os << ", " << s["volumes"] << " volumes";
      os << "\n";
      if (s.value("volumes", 1) > 1) {
        for (const auto& v : s["varies"]) os << "     varies: " << v.get<std::string>() << "\n";
      }
      if (!s.value("problem", "").empty()) os << "     cannot be read: " << s["problem"].get<std::string>() << "\n";
    }
    if (!info["skipped_files"].empty()) {
      os << "skipped:     " << info["skipped_files"].size() << " file(s) that are not DICOM images\n";
    }
    if (!info.contains("volume") && info["series"].size() > 1) {
      os << "choose a series with --series UID|N to describe its volume\n";
    }
  }
  if (info.contains("volume")) {
    const auto& v = info["volume"];
    auto triple = [](const nlohmann::json& a) {
      std::ostringstream t;
      t << std::setprecision(6) << a[0].get<double>() << " " << a[1].get<double>() << " " << a[2].get<double>();
      return t.str();
    };
    os << "size:        " << v["size"][0] << " x " << v["size"][1] << " x " << v["size"][2];
    const auto& meta = v["metadata"];
    if (meta.contains("volumes")) {
      os << " x " << meta["volumes"].get<std::string>() << " (4-D: showing volume " << meta["volume"].get<std::string>()
         << ", choose with --volume N)";
    }
    os << "\n";
    if (meta.contains("varies")) os << "4th axis:    " << meta["varies"].get<std::string>() << "\n";
    os << "spacing:     " << triple(v["spacing"]) << " mm\n";
    os << "origin:      " << triple(v["origin"]) << " mm (LPS)\n";
    const auto& d = v["direction"];
    os << "direction:   [" << d[0].get<double>() << " " << d[1].get<double>() << " " << d[2].get<double>() << "; "
       << d[3].get<double>() << " " << d[4].get<double>() << " " << d[5].get<double>() << "; "
       << d[6].get<double>() << " " << d[7].get<double>() << " " << d[8].get<double>() << "]\n";
    os << "orientation: " << v["orientation"].get<std::string>() << "\n";
    os << "data type:   " << v["data_type"].get<std::string>() << "\n";
    os << "intensity:   " << v["intensity_range"][0].get<double>() << " .. "
       << v["intensity_range"][1].get<double>() << "\n";
    const std::string modality = v["modality"].get<std::string>();
    os << "modality:    " << (modality.empty() ? "(not recorded)" : modality) << "\n";
  }
  return os.str();
}

}  // namespace medsynth::pipeline
