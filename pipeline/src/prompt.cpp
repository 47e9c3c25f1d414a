#include "medsynth/pipeline/prompt.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include "medsynth/error.h"
#include "medsynth/io/error.h"

namespace medsynth::pipeline {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const std::map<std::string, std::string>& key_aliases() {
  static const std::map<std::string, std::string> m = {
      {"tr", "tr"},   {"te", "te"},       {"ti", "ti"},       {"fa", "flip"},          {"flip", "flip"},
      {"b0", "field"}, {"field", "field"}, {"age", "age"},    {"sex", "sex"},          {"sequence", "sequence"},
      {"weighting", "weighting"}};
  return m;
}

// Words a prompt may hold on their own, and the attribute each sets.
const std::map<std::string, std::pair<std::string, std::string>>& words() {
  static const std::map<std::string, std::pair<std::string, std::string>> m = {
      {"t1w", {"weighting", "t1w"}},   {"t2w", {"weighting", "t2w"}},     {"pdw", {"weighting", "pdw"}},
      {"pd", {"weighting", "pdw"}},    {"t2starw", {"weighting", "t2starw"}}, {"flair", {"weighting", "flair"}},
      {"mprage", {"sequence", "mprage"}}, {"mp-rage", {"sequence", "mprage"}}, {"spgr", {"sequence", "spgr"}},
      {"flash", {"sequence", "spgr"}}, {"gre", {"sequence", "gre"}},      {"se", {"sequence", "se"}},
      {"tse", {"sequence", "tse"}},    {"fse", {"sequence", "tse"}},      {"ir", {"sequence", "ir"}},
      {"epi", {"sequence", "epi"}}};
  return m;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::string StructuredPromptEncoder::known_words() {
  std::vector<std::string> w;
  for (const auto& [word, what] : words()) w.push_back(word);
  std::vector<std::string> k;
  for (const auto& [key, name] : key_aliases()) k.push_back(key);
  return "words " + join(w) + ", <n>T (field strength), and KEY=VALUE with KEY " + join(k);
}

nlohmann::json StructuredPromptEncoder::encode(const std::string& prompt) const {
  nlohmann::json a = nlohmann::json::object();
  std::vector<std::string> tokens;
  std::string cur;
  for (char ch : prompt + " ") {
    if (std::isspace(static_cast<unsigned char>(ch)) || ch == ',' || ch == ';') {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (tokens.empty()) throw UsageError("--prompt is empty: it takes " + known_words());
  auto set = [&](const std::string& name, nlohmann::json value, const std::string& token) {
    if (a.contains(name) && a[name] != value) {
      throw UsageError("--prompt gives " + name + " twice (the second time as '" + token + "')");
    }
    a[name] = std::move(value);
  };
  for (const auto& token : tokens) {
    const std::string t = lower(token);
    const auto eq = t.find('=');
    try {
      if (eq != std::string::npos) {
        const auto key = key_aliases().find(t.substr(0, eq));
        if (key == key_aliases().end()) {
          throw UsageError("--prompt: unknown key '" + token.substr(0, eq) + "' in '" + token + "': it takes " + known_words());
        }
        set(key->second, parse_attribute(key->second, token.substr(eq + 1), "--prompt"), token);
      } else if (auto w = words().find(t); w != words().end()) {
        set(w->second.first, w->second.second, token);
      } else if (t.size() > 1 && t.back() == 't' && (std::isdigit(static_cast<unsigned char>(t[0])) != 0)) {
        set("field", parse_attribute("field", t, "--prompt"), token);
      } else {
        throw UsageError("--prompt: unknown word '" + token + "': it takes " + known_words());
      }
    } catch (const io::Error& e) {
      throw UsageError(e.what());  // a value it cannot read: usage, not a bad file
    }
  }
  return a;
}

void check_prompt(const nlohmann::json& attributes, const AcquisitionEncoding& encoding, const std::string& model) {
  const auto names = encoding.names();
  for (const auto& [name, value] : attributes.items()) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      throw UsageError("--prompt gives " + name + ", but " + model + " was trained on " +
                       (names.empty() ? std::string("no acquisition attributes") : "the acquisition attributes " + join(names)) +
                       " only (model.acquisition)");
    }
  }
}

}  // namespace medsynth::pipeline
