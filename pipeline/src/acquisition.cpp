#include "medsynth/pipeline/acquisition.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/io/error.h"

namespace medsynth::pipeline {

using json = nlohmann::json;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  return s;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Splits "2300ms" into 2300 and "ms"; false when it does not start with a number.
bool number_and_unit(const std::string& text, double* value, std::string* unit) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  *value = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || !std::isfinite(*value)) return false;
  *unit = lower(trim(std::string(end)));
  return true;
}

const std::map<std::string, std::string>& word_aliases() {
  static const std::map<std::string, std::string> m = {
      {"mp-rage", "mprage"}, {"mp2rage", "mprage"}, {"flash", "spgr"}, {"spoiled-gre", "spgr"}, {"fl3d", "spgr"},
      {"gradient-echo", "gre"}, {"t1w-se", "se"}, {"t2w-se", "se"}, {"pdw-se", "se"}, {"spin-echo", "se"},
      {"fse", "tse"}, {"t2-flair", "flair"}, {"t1", "t1w"}, {"t2", "t2w"}, {"pd", "pdw"}, {"t2star", "t2starw"},
      {"t2*", "t2starw"}, {"t2*w", "t2starw"}};
  return m;
}

}  // namespace

const std::vector<AttributeSpec>& attribute_specs() {
  static const std::vector<AttributeSpec> specs = {
      {"tr", "ms", "repetition time", {}},
      {"te", "ms", "echo time", {}},
      {"ti", "ms", "inversion time", {}},
      {"flip", "deg", "flip angle", {}},
      {"field", "T", "magnetic field strength", {}},
      {"age", "years", "age of the person scanned (patient data)", {}},
      {"sex", "0 male, 1 female", "sex of the person scanned (patient data)", {}},
      {"sequence", "", "sequence", {"mprage", "spgr", "gre", "se", "tse", "ir", "flair", "epi"}},
      {"weighting", "", "contrast weighting", {"t1w", "t2w", "pdw", "t2starw", "flair"}},
  };
  return specs;
}

const AttributeSpec* find_attribute(const std::string& name) {
  for (const auto& s : attribute_specs())
    if (s.name == name) return &s;
  return nullptr;
}

std::string attribute_names() {
  std::vector<std::string> n;
  for (const auto& s : attribute_specs()) n.push_back(s.name);
  return join(n);
}

json parse_attribute(const std::string& name, const std::string& text, const std::string& where) {
  const AttributeSpec* spec = find_attribute(name);
  if (!spec) throw io::Error(where, "'" + name + "' is not an acquisition attribute (" + attribute_names() + ")");
  const std::string t = lower(trim(text));
  if (!spec->words.empty()) {
    std::string w = t;
    if (auto it = word_aliases().find(w); it != word_aliases().end()) w = it->second;
    if (std::find(spec->words.begin(), spec->words.end(), w) == spec->words.end()) {
      throw io::Error(where, name + " '" + text + "' is not one of " + join(spec->words));
    }
    return w;
  }
  if (name == "sex") {
    if (t == "f" || t == "female" || t == "1") return 1.0;
    if (t == "m" || t == "male" || t == "0") return 0.0;
    throw io::Error(where, "sex '" + text + "' is not M or F (other values are not a condition medsynth takes)");
  }
  double v = 0;
  std::string unit;
  if (!number_and_unit(t, &v, &unit)) throw io::Error(where, name + " '" + text + "' is not a number");
  auto bad_unit = [&](const std::string& takes) {
    return io::Error(where, name + " '" + text + "': unit '" + unit + "' is not " + takes);
  };
  if (name == "tr" || name == "te" || name == "ti") {
    if (unit == "s") v *= 1000.0;
    else if (!unit.empty() && unit != "ms") throw bad_unit("ms or s");
  } else if (name == "flip") {
    if (!unit.empty() && unit != "deg" && unit != "°") throw bad_unit("deg");
  } else if (name == "field") {
    if (!unit.empty() && unit != "t") throw bad_unit("T");
  } else if (name == "age") {
    // DICOM AS: nnnD, nnnW, nnnM, nnnY.
    if (unit == "m") v /= 12.0;
    else if (unit == "w") v *= 7.0 / 365.25;
    else if (unit == "d") v /= 365.25;
    else if (!unit.empty() && unit != "y" && unit != "years") throw bad_unit("years (y), or DICOM's D, W, M or Y");
  }
  if (v < 0 || (name == "field" && v > 20) || (name == "flip" && v > 180)) {
    throw io::Error(where, name + " " + text + " is out of range");
  }
  return v;
}

std::string normalise_sequence(const std::string& scanning, const std::string& variant, const std::string& type, double ti) {
  const std::string s = lower(scanning), var = lower(variant), ty = lower(type);
  auto has = [](const std::string& text, const char* token) {
    std::istringstream in(text);
    std::string tok;
    // DICOM multi-values are split by backslashes; BIDS writes them as arrays, joined by the caller.
    while (std::getline(in, tok, '\\')) {
      if (trim(tok) == token) return true;
    }
    return false;
  };
  const bool gr = has(s, "gr"), se = has(s, "se"), ir = has(s, "ir"), ep = has(s, "ep");
  if (ep) return "epi";
  if (gr && (ir || has(var, "mp")) && (ty.empty() || ty == "3d")) return "mprage";
  if (gr) return has(var, "sp") ? "spgr" : "gre";
  if (ir) return ti >= 1500 ? "flair" : "ir";
  if (se) return has(var, "sk") || has(var, "ss") ? "tse" : "se";
  return "";
}

json merge_attributes(const json& under, const json& over) {
  json out = under.is_object() ? under : json::object();
  if (over.is_object())
    for (const auto& [k, v] : over.items()) out[k] = v;
  return out;
}

json attributes_from_dicom(const std::map<std::string, std::string>& m) {
  json a = json::object();
  auto get = [&](const std::string& k) {
    auto it = m.find("dicom." + k);
    return it == m.end() ? std::string() : trim(it->second);
  };
  const std::string where = m.count("source") ? m.at("source") : "DICOM series";
  const std::pair<const char*, const char*> numbers[] = {{"tr", "RepetitionTime"},         {"te", "EchoTime"},
                                                         {"ti", "InversionTime"},          {"flip", "FlipAngle"},
                                                         {"field", "MagneticFieldStrength"}, {"age", "PatientAge"},
                                                         {"sex", "PatientSex"}};
  for (const auto& [name, key] : numbers) {
    const std::string v = get(key);
    if (v.empty()) continue;
    if (std::string(name) == "sex" && lower(v) != "m" && lower(v) != "f") continue;  // O: not a condition
    a[name] = parse_attribute(name, v, where + " (" + key + ")");
  }
  const std::string seq = normalise_sequence(get("ScanningSequence"), get("SequenceVariant"), get("MRAcquisitionType"),
                                             a.contains("ti") ? a["ti"].get<double>() : 0.0);
  if (!seq.empty()) a["sequence"] = seq;
  return a;
}

json attributes_from_bids(const json& sidecar, const std::map<std::string, std::string>& participant,
                          const std::string& suffix, const std::string& where) {
  json a = json::object();
  auto number = [&](const char* key, const char* name, double factor) {
    if (!sidecar.contains(key)) return;
    const json& v = sidecar[key];
    if (!v.is_number()) throw io::Error(where, std::string(key) + " is not a number");
    a[name] = v.get<double>() * factor;
  };
  number("RepetitionTime", "tr", 1000.0);  // BIDS: seconds
  number("EchoTime", "te", 1000.0);
  number("InversionTime", "ti", 1000.0);
  number("FlipAngle", "flip", 1.0);        // degrees
  number("MagneticFieldStrength", "field", 1.0);
  auto text = [&](const char* key) {
    if (!sidecar.contains(key)) return std::string();
    const json& v = sidecar[key];
    if (v.is_string()) return v.get<std::string>();
    std::string joined;
    if (v.is_array())
      for (const auto& x : v)
        if (x.is_string()) joined += (joined.empty() ? "" : "\\") + x.get<std::string>();
    return joined;
  };
  const std::string seq = normalise_sequence(text("ScanningSequence"), text("SequenceVariant"), text("MRAcquisitionType"),
                                             a.contains("ti") ? a["ti"].get<double>() : 0.0);
  if (!seq.empty()) a["sequence"] = seq;
  const std::string w = lower(suffix);
  const auto& words = find_attribute("weighting")->words;
  if (std::find(words.begin(), words.end(), w) != words.end()) a["weighting"] = w;
  for (const char* col : {"age", "sex"}) {
    auto it = participant.find(col);
    if (it == participant.end() || it->second.empty() || it->second == "n/a") continue;
    if (std::string(col) == "sex" && lower(it->second) != "m" && lower(it->second) != "f" &&
        lower(it->second) != "male" && lower(it->second) != "female") {
      continue;
    }
    a[col] = parse_attribute(col, it->second, where + " (participants.tsv " + col + ")");
  }
  return a;
}

int AcquisitionEncoding::width() const {
  int n = 0;
  for (const auto& s : attributes) n += s.words.empty() ? 1 : static_cast<int>(s.words.size());
  return n;
}

std::vector<std::string> AcquisitionEncoding::names() const {
  std::vector<std::string> n;
  for (const auto& s : attributes) n.push_back(s.name);
  return n;
}

std::string AcquisitionEncoding::text() const {
  std::ostringstream os;
  os.precision(17);
  for (std::size_t i = 0; i < attributes.size(); ++i) {
    const auto& s = attributes[i];
    os << (i ? ";" : "") << s.name;
    if (s.words.empty()) os << ":" << s.offset << ":" << s.scale;
    else os << "=" << join(s.words, "|");
  }
  return os.str();
}

AcquisitionEncoding AcquisitionEncoding::parse(const std::string& text) {
  AcquisitionEncoding e;
  std::istringstream in(text);
  std::string item;
  auto bad = [&](const std::string& why) {
    return medsynth::Error("checkpoint's acquisition encoding '" + text + "' is malformed: " + why, ExitCode::kBadInput);
  };
  while (std::getline(in, item, ';')) {
    if (item.empty()) continue;
    AcquisitionSlot s;
    const auto eq = item.find('=');
    if (eq != std::string::npos) {
      s.name = item.substr(0, eq);
      std::istringstream w(item.substr(eq + 1));
      std::string word;
      while (std::getline(w, word, '|')) s.words.push_back(word);
      if (s.words.empty()) throw bad(s.name + " has no words");
    } else {
      const auto c1 = item.find(':'), c2 = item.find(':', c1 == std::string::npos ? c1 : c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos) throw bad(item);
      s.name = item.substr(0, c1);
      char* end = nullptr;
      s.offset = std::strtod(item.c_str() + c1 + 1, &end);
      s.scale = std::strtod(item.c_str() + c2 + 1, &end);
      if (!(s.scale > 0)) throw bad(item + " has no positive scale");
    }
    if (!find_attribute(s.name)) throw bad("'" + s.name + "' is not an attribute");
    e.attributes.push_back(std::move(s));
  }
  return e;
}

void AcquisitionEncoding::encode(const json& a, float* values, float* mask) const {
  int at = 0;
  for (const auto& s : attributes) {
    const bool has = a.is_object() && a.contains(s.name) && !a[s.name].is_null();
    if (s.words.empty()) {
      values[at] = has ? static_cast<float>((a[s.name].get<double>() - s.offset) / s.scale) : 0.0f;
      mask[at] = has ? 1.0f : 0.0f;
      ++at;
      continue;
    }
    const std::string w = has ? a[s.name].get<std::string>() : "";
    if (has && std::find(s.words.begin(), s.words.end(), w) == s.words.end()) {
      throw UsageError(s.name + " '" + w + "' was not among the model's training scans (it knows " + join(s.words) + ")");
    }
    for (const auto& word : s.words) {
      values[at] = has && word == w ? 1.0f : 0.0f;
      mask[at] = has ? 1.0f : 0.0f;
      ++at;
    }
  }
}

AcquisitionEncoding fit_acquisition_encoding(const std::string& names, const std::vector<json>& scans,
                                             const std::string& dataset) {
  AcquisitionEncoding e;
  std::istringstream in(names);
  std::string name;
  std::set<std::string> seen;
  while (std::getline(in, name, ',')) {
    name = lower(trim(name));
    if (name.empty()) continue;
    const AttributeSpec* spec = find_attribute(name);
    if (!spec) throw medsynth::Error("model.acquisition: '" + name + "' is not an attribute (" + attribute_names() + ")", ExitCode::kUsage);
    if (!seen.insert(name).second) throw medsynth::Error("model.acquisition names '" + name + "' twice", ExitCode::kUsage);
    AcquisitionSlot s;
    s.name = name;
    std::vector<double> v;
    std::set<std::string> words;
    for (const auto& a : scans) {
      if (!a.is_object() || !a.contains(name)) continue;
      if (spec->words.empty()) v.push_back(a[name].get<double>());
      else words.insert(a[name].get<std::string>());
    }
    if (v.empty() && words.empty()) {
      throw io::Error(dataset, "model.acquisition names '" + name + "' but no training scan has it (from its DICOM "
                               "header, BIDS sidecar or participants.tsv, or the manifest's " + name + " column)");
    }
    if (spec->words.empty()) {
      double mean = 0, var = 0;
      for (double x : v) mean += x;
      mean /= static_cast<double>(v.size());
      for (double x : v) var += (x - mean) * (x - mean);
      const double sd = std::sqrt(var / static_cast<double>(v.size()));
      s.offset = mean;
      // One value in training: scale by its size, so another value in a prompt still moves the input.
      s.scale = sd > 1e-9 ? sd : std::max(std::abs(mean), 1.0);
    } else {
      s.words.assign(words.begin(), words.end());
    }
    e.attributes.push_back(std::move(s));
  }
  if (e.attributes.empty()) throw medsynth::Error("model.acquisition names no attribute (" + attribute_names() + ")", ExitCode::kUsage);
  return e;
}

}  // namespace medsynth::pipeline
