#include "medsynth/pipeline/manifest.h"

#include <cctype>
#include <filesystem>
#include <map>

#include "medsynth/io/error.h"
#include "medsynth/pipeline/acquisition.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char ch : line) {
    if (ch == '"') {
      quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else if (ch != '\r') {
      cur += ch;
    }
  }
  out.push_back(cur);
  for (auto& s : out) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  }
  return out;
}

std::vector<ManifestRow> parse_manifest(std::istream& in, const std::string& path) {
  std::string line;
  if (!std::getline(in, line)) throw io::Error(path, "manifest is empty");
  const auto header = split_csv_line(line);
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (!col.emplace(header[i], i).second) throw io::Error(path, "manifest column '" + header[i] + "' appears twice");
  }
  for (const char* required : {"subject", "image"}) {
    if (!col.count(required)) {
      throw io::Error(path, std::string("manifest header lacks the '") + required +
                                "' column (expected subject,image[,labels][,source][,class][,attributes])");
    }
  }
  for (const auto& [name, i] : col) {
    if (name != "subject" && name != "image" && name != "labels" && name != "source" && name != "class" &&
        !find_attribute(name)) {
      throw io::Error(path, "manifest column '" + name + "' is unknown (subject, image, labels, source, class, or an "
                            "acquisition attribute: " + attribute_names() + ")");
    }
  }
  const fs::path base = fs::path(path).parent_path();
  auto resolve = [&](const std::string& p) {
    if (p.empty()) return p;
    fs::path fp(p);
    return (fp.is_absolute() ? fp : base / fp).lexically_normal().string();
  };
  std::vector<ManifestRow> rows;
  int number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const auto f = split_csv_line(line);
    auto get = [&](const char* name) -> std::string {
      auto it = col.find(name);
      return it != col.end() && it->second < f.size() ? f[it->second] : "";
    };
    ManifestRow r;
    r.line = number;
    r.subject = get("subject");
    r.image = resolve(get("image"));
    r.labels = resolve(get("labels"));
    r.source = resolve(get("source"));
    const std::string cls = get("class");
    if (!cls.empty()) {
      std::size_t used = 0;
      try {
        r.class_id = std::stoi(cls, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != cls.size()) {
        throw io::Error(path, "line " + std::to_string(number) + ": class '" + cls + "' is not an integer");
      }
    }
    r.attributes = nlohmann::json::object();
    for (const auto& spec : attribute_specs()) {
      const std::string v = get(spec.name.c_str());
      if (!v.empty()) r.attributes[spec.name] = parse_attribute(spec.name, v, path + ": line " + std::to_string(number));
    }
    if (r.subject.empty() || r.image.empty()) {
      throw io::Error(path, "line " + std::to_string(number) + ": subject and image are required");
    }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) throw io::Error(path, "manifest lists no volumes");
  return rows;
}

}  // namespace medsynth::pipeline
