#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/acquisition.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medsynth::pipeline {

bool is_bids_label(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

const std::vector<std::string>& bids_acquisition_keys() {
  static const std::vector<std::string> keys = {
      "MagneticFieldStrength", "Manufacturer",      "ManufacturersModelName", "MRAcquisitionType",
      "PulseSequenceType",     "ScanningSequence",  "SequenceVariant",        "RepetitionTime",
      "EchoTime",              "InversionTime",     "FlipAngle",              "SliceThickness",
      "ReceiveCoilName",       "ParallelReductionFactorInPlane"};
  return keys;
}

namespace {

// The rules quoted in messages (BIDS specification 1.8).
constexpr const char* kRuleName =
    "BIDS file names are sub-<label>[_<key>-<label>...]_<suffix><extension>, labels of letters and digits only";
constexpr const char* kRuleDescription =
    "a BIDS dataset has a dataset_description.json at its top, a JSON object with the strings Name and BIDSVersion";

struct BidsName {
  std::vector<std::pair<std::string, std::string>> entities;  // in file order, sub first
  std::string suffix, extension;                              // "T1w", ".nii.gz"
  std::string get(const std::string& key) const {
    for (const auto& [k, v] : entities)
      if (k == key) return v;
    return "";
  }
};

bool is_key(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) != 0 || std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// Parses a BIDS file name; `why` says which part breaks the naming rule. Top-level sidecars
// ("T1w.json") have no entities.
bool parse_name(const std::string& file, BidsName& out, std::string& why) {
  const auto dot = file.find('.');
  if (dot == std::string::npos || dot == 0) {
    why = "it has no extension";
    return false;
  }
  out = BidsName{};
  out.extension = file.substr(dot);
  const std::string stem = file.substr(0, dot);
  std::vector<std::string> parts;
  std::stringstream ss(stem);
  std::string p;
  while (std::getline(ss, p, '_')) parts.push_back(p);
  if (stem.empty() || stem.back() == '_' || parts.empty()) {
    why = "it has no suffix";
    return false;
  }
  out.suffix = parts.back();
  if (!is_bids_label(out.suffix)) {
    why = "its suffix '" + out.suffix + "' is not letters and digits";
    return false;
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const auto dash = parts[i].find('-');
    if (dash == std::string::npos) {
      why = "'" + parts[i] + "' is not a <key>-<label> entity";
      return false;
    }
    const std::string k = parts[i].substr(0, dash), v = parts[i].substr(dash + 1);
    if (!is_key(k) || !is_bids_label(v)) {
      why = "entity '" + parts[i] + "' is not <key>-<label> with a lower-case key and a label of letters and digits";
      return false;
    }
    for (const auto& e : out.entities) {
      if (e.first == k) {
        why = "entity '" + k + "' appears twice";
        return false;
      }
    }
    out.entities.emplace_back(k, v);
  }
  return true;
}

// The entities after sub- joined as in the file name ("ses-a_run-1"), without the keys in `skip`.
std::string entity_text(const BidsName& n, const std::set<std::string>& skip = {}) {
  std::string s;
  for (const auto& [k, v] : n.entities) {
    if (k == "sub" || skip.count(k)) continue;
    s += (s.empty() ? "" : "_") + k + "-" + v;
  }
  return s;
}

json read_json_object(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw io::Error(p.string(), "cannot be read");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw io::Error(p.string(), std::string("is not valid JSON (") + e.what() + "): BIDS metadata files are JSON objects");
  }
  if (!j.is_object()) throw io::Error(p.string(), "is not a JSON object: BIDS metadata files are JSON objects");
  return j;
}

void check_description(const fs::path& p, bool derivative) {
  if (!fs::is_regular_file(p)) {
    throw io::Error(p.string(), std::string("missing: ") +
                                    (derivative ? "a BIDS derivatives folder (derivatives/<pipeline>/) is a dataset of its own "
                                                  "with a dataset_description.json"
                                                : kRuleDescription));
  }
  const json j = read_json_object(p);
  for (const char* k : {"Name", "BIDSVersion"}) {
    if (!j.contains(k) || !j[k].is_string() || j[k].get<std::string>().empty()) {
      throw io::Error(p.string(), std::string("has no ") + k + " string: " + kRuleDescription);
    }
  }
  if (derivative && j.contains("DatasetType") && j["DatasetType"] != "derivative") {
    throw io::Error(p.string(), "DatasetType is " + j["DatasetType"].dump() +
                                    ": a derivatives folder's dataset_description.json says \"derivative\"");
  }
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.') v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

bool is_image_extension(const std::string& ext) { return ext == ".nii" || ext == ".nii.gz"; }

// One anat folder of a subject (and session): its files parsed and checked against the folder.
struct AnatFile {
  fs::path path;
  BidsName name;
};

std::vector<AnatFile> read_anat_folder(const fs::path& anat, const std::string& subject, const std::string& session) {
  std::vector<AnatFile> out;
  for (const auto& p : sorted_entries(anat)) {
    if (fs::is_directory(p)) continue;
    AnatFile f;
    f.path = p;
    std::string why;
    if (!parse_name(p.filename().string(), f.name, why)) throw io::Error(p.string(), std::string(kRuleName) + " (" + why + ")");
    if (f.name.entities.empty() || f.name.entities.front().first != "sub") {
      throw io::Error(p.string(), std::string(kRuleName) + " (the name does not start with sub-<label>)");
    }
    if (f.name.get("sub") != subject) {
      throw io::Error(p.string(), "its sub-" + f.name.get("sub") + " is not the folder's sub-" + subject +
                                      ": a file's sub- entity names the subject folder it is in");
    }
    if (f.name.get("ses") != session) {
      throw io::Error(p.string(), session.empty() ? "it has a ses- entity but is in no ses- folder: a file's ses- entity "
                                                    "names the session folder it is in"
                                                  : "its ses-" + f.name.get("ses") + " is not the folder's ses-" + session +
                                                        ": a file's ses- entity names the session folder it is in");
    }
    if (f.name.entities.size() > 1 && session.empty() == false && f.name.entities[1].first != "ses") {
      throw io::Error(p.string(), std::string(kRuleName) + " (ses- comes right after sub-)");
    }
    out.push_back(f);
  }
  return out;
}

// An image found in the raw dataset.
struct Image {
  fs::path path;
  BidsName name;
  std::string subject, session;
  std::vector<fs::path> sidecar_dirs;  // dataset, subject, session, anat: where sidecars may apply
};

// The sidecars of `img` merged by the inheritance principle: every <entities>_<suffix>.json in the
// dataset, subject, session and anat folders whose entities are all the image's, shallow first,
// fewer entities first; later keys replace earlier ones.
json merged_sidecar(const Image& img) {
  json merged = json::object();
  for (const auto& dir : img.sidecar_dirs) {
    if (!fs::is_directory(dir)) continue;
    std::vector<std::pair<std::size_t, fs::path>> applicable;
    for (const auto& p : sorted_entries(dir)) {
      if (fs::is_directory(p) || p.extension() != ".json") continue;
      BidsName n;
      std::string why;
      if (!parse_name(p.filename().string(), n, why) || n.extension != ".json" || n.suffix != img.name.suffix) continue;
      bool subset = true;
      for (const auto& [k, v] : n.entities) subset = subset && img.name.get(k) == v;
      if (subset) applicable.emplace_back(n.entities.size(), p);
    }
    std::stable_sort(applicable.begin(), applicable.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [count, p] : applicable) {
      (void)count;
      const json sidecar = read_json_object(p);
      for (const auto& [k, v] : sidecar.items()) merged[k] = v;
    }
  }
  return merged;
}

// participants.tsv: participant_id -> its other columns by header name (age, sex, ...).
std::map<std::string, std::map<std::string, std::string>> participants_listed(const fs::path& tsv) {
  std::ifstream in(tsv);
  if (!in) throw io::Error(tsv.string(), "cannot be read");
  auto fields = [](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> f;
    std::size_t at = 0;
    for (;;) {
      const auto tab = line.find('\t', at);
      f.push_back(line.substr(at, tab == std::string::npos ? std::string::npos : tab - at));
      if (tab == std::string::npos) break;
      at = tab + 1;
    }
    return f;
  };
  std::string line;
  std::getline(in, line);
  const auto header = fields(line);
  if (header.empty() || header[0] != "participant_id") {
    throw io::Error(tsv.string(), "its first column is not participant_id: participants.tsv is tab-separated with "
                                  "participant_id (sub-<label>) first");
  }
  std::map<std::string, std::map<std::string, std::string>> ids;
  while (std::getline(in, line)) {
    const auto f = fields(line);
    if (f.size() == 1 && f[0].empty()) continue;
    const std::string& id = f[0];
    if (id.rfind("sub-", 0) != 0 || !is_bids_label(id.substr(4))) {
      throw io::Error(tsv.string(), "participant_id '" + id + "' is not sub-<label> (letters and digits)");
    }
    auto& row = ids[id];
    for (std::size_t i = 1; i < header.size() && i < f.size(); ++i) row[header[i]] = f[i];
  }
  return ids;
}

// Entities that only derivatives carry: a label map matches an image when the other entities agree.
const std::set<std::string>& derivative_entities() {
  static const std::set<std::string> s = {"space", "res", "den", "label", "desc", "atlas", "seg"};
  return s;
}

// The derivatives pipeline folder whose _dseg files are the label maps.
fs::path label_pipeline(const fs::path& root, const DataConfig& d) {
  const fs::path derivatives = root / "derivatives";
  if (!d.bids_labels.empty()) {
    const fs::path p = derivatives / d.bids_labels;
    if (!fs::is_directory(p)) {
      throw io::Error(p.string(), "no such folder: data.bids_labels names a pipeline folder in derivatives/");
    }
    return p;
  }
  std::vector<fs::path> with_dseg;
  if (fs::is_directory(derivatives)) {
    for (const auto& p : sorted_entries(derivatives)) {
      if (!fs::is_directory(p)) continue;
      bool found = false;
      for (auto it = fs::recursive_directory_iterator(p); it != fs::recursive_directory_iterator() && !found; ++it) {
        const std::string n = it->path().filename().string();
        found = n.find("_dseg.nii") != std::string::npos;
      }
      if (found) with_dseg.push_back(p);
    }
  }
  if (with_dseg.empty()) {
    throw io::Error(derivatives.string(), "holds no label map (..._dseg.nii.gz under derivatives/<pipeline>/sub-<label>/"
                                          "anat/), which data.labels = " + d.labels +
                                          " needs; or train on tissue maps (data.labels = tissue)");
  }
  if (with_dseg.size() > 1) {
    std::string names;
    for (const auto& p : with_dseg) names += (names.empty() ? "" : ", ") + p.filename().string();
    throw io::Error(derivatives.string(), "several pipelines hold _dseg label maps (" + names +
                                              "): choose one with data.bids_labels");
  }
  return with_dseg.front();
}

}  // namespace

std::vector<ManifestRow> read_bids(const DataConfig& d) {
  const fs::path root = fs::path(d.bids).lexically_normal();
  if (!fs::is_directory(root)) throw io::Error(d.bids, "data.bids: no such folder");
  if (!is_bids_label(d.bids_suffix)) throw ConfigError("data.bids_suffix '" + d.bids_suffix + "' is not a BIDS suffix (letters and digits)");
  if (!d.bids_source.empty() && !is_bids_label(d.bids_source)) {
    throw ConfigError("data.bids_source '" + d.bids_source + "' is not a BIDS suffix (letters and digits)");
  }
  check_description(root / "dataset_description.json", false);

  // Subjects and sessions from the folder names; every file in their anat folders named by the rules.
  std::vector<Image> images;
  std::map<std::string, fs::path> sources;  // "<subject>|<entities>" -> source image
  std::set<std::string> subject_folders;
  for (const auto& sub : sorted_entries(root)) {
    const std::string folder = sub.filename().string();
    if (folder.rfind("sub-", 0) != 0) continue;
    if (!fs::is_directory(sub)) throw io::Error(sub.string(), "is a file: sub-<label> names a subject folder");
    const std::string subject = folder.substr(4);
    if (!is_bids_label(subject)) {
      throw io::Error(sub.string(), "subject folders are sub-<label> with a label of letters and digits only");
    }
    subject_folders.insert(folder);
    std::vector<std::pair<std::string, fs::path>> sessions;  // (label, folder)
    for (const auto& e : sorted_entries(sub)) {
      const std::string n = e.filename().string();
      if (fs::is_directory(e) && n.rfind("ses-", 0) == 0) {
        if (!is_bids_label(n.substr(4))) {
          throw io::Error(e.string(), "session folders are ses-<label> with a label of letters and digits only");
        }
        sessions.emplace_back(n.substr(4), e);
      }
    }
    if (sessions.empty()) sessions.emplace_back("", sub);
    for (const auto& [session, folder_path] : sessions) {
      const fs::path anat = folder_path / "anat";
      if (!fs::is_directory(anat)) continue;
      std::set<std::string> seen;  // one image per entity set (not both .nii and .nii.gz)
      for (const auto& f : read_anat_folder(anat, subject, session)) {
        const bool ours = f.name.suffix == d.bids_suffix, source = !d.bids_source.empty() && f.name.suffix == d.bids_source;
        if (!ours && !source) continue;
        if (f.name.extension == ".json") continue;
        if (!is_image_extension(f.name.extension)) {
          throw io::Error(f.path.string(), "BIDS anatomical images are .nii or .nii.gz (with a .json sidecar)");
        }
        const std::string key = f.name.suffix + "|" + entity_text(f.name);
        if (!seen.insert(key).second) {
          throw io::Error(f.path.string(), "a second image with the same entities and suffix in " + anat.string() +
                                               ": one file per entity set");
        }
        if (source) {
          sources[subject + "|" + entity_text(f.name)] = f.path;
          continue;
        }
        Image img;
        img.path = f.path;
        img.name = f.name;
        img.subject = subject;
        img.session = session;
        img.sidecar_dirs = {root, sub};
        if (!session.empty()) img.sidecar_dirs.push_back(folder_path);
        img.sidecar_dirs.push_back(anat);
        images.push_back(img);
      }
    }
  }
  if (images.empty()) {
    throw io::Error(root.string(), "holds no image sub-<label>/[ses-<label>/]anat/sub-<label>[_...]_" + d.bids_suffix +
                                       ".nii[.gz] (data.bids_suffix = " + d.bids_suffix + ")");
  }
  const fs::path participants = root / "participants.tsv";
  std::map<std::string, std::map<std::string, std::string>> listed;
  if (fs::exists(participants)) {
    listed = participants_listed(participants);
    for (const auto& s : subject_folders) {
      if (!listed.count(s)) throw io::Error(participants.string(), "does not list " + s + ", whose folder is in the dataset: participants.tsv lists every subject");
    }
    for (const auto& [s, columns] : listed) {
      if (!subject_folders.count(s)) throw io::Error(participants.string(), "lists " + s + ", which has no folder in the dataset");
    }
  }

  // Label maps: derivatives/<pipeline>/sub-<label>/[ses-<label>/]anat/..._dseg.nii[.gz].
  std::map<std::string, std::vector<fs::path>> dseg;  // "<subject>|<entities without derivative ones>"
  fs::path label_dir;
  const bool need_labels = d.labels == "file" || d.labels == "tissue+file";
  if (need_labels) {
    label_dir = label_pipeline(root, d);
    check_description(label_dir / "dataset_description.json", true);
    for (const auto& sub : sorted_entries(label_dir)) {
      const std::string folder = sub.filename().string();
      if (folder.rfind("sub-", 0) != 0 || !fs::is_directory(sub)) continue;
      const std::string subject = folder.substr(4);
      std::vector<std::pair<std::string, fs::path>> sessions;
      for (const auto& e : sorted_entries(sub))
        if (fs::is_directory(e) && e.filename().string().rfind("ses-", 0) == 0) sessions.emplace_back(e.filename().string().substr(4), e);
      if (sessions.empty()) sessions.emplace_back("", sub);
      for (const auto& [session, folder_path] : sessions) {
        const fs::path anat = folder_path / "anat";
        if (!fs::is_directory(anat)) continue;
        for (const auto& f : read_anat_folder(anat, subject, session)) {
          if (f.name.suffix != "dseg" || !is_image_extension(f.name.extension)) continue;
          if (!d.bids_label_desc.empty() && f.name.get("desc") != d.bids_label_desc) continue;
          dseg[subject + "|" + entity_text(f.name, derivative_entities())].push_back(f.path);
        }
      }
    }
  }

  std::vector<ManifestRow> rows;
  for (const auto& img : images) {
    ManifestRow r;
    r.subject = img.subject;
    r.session = img.session;
    r.entities = entity_text(img.name);
    r.image = img.path.string();
    const std::string key = img.subject + "|" + entity_text(img.name, derivative_entities());
    if (need_labels) {
      const auto it = dseg.find(key);
      if (it == dseg.end()) {
        const std::string stem = "sub-" + img.subject + (r.entities.empty() ? "" : "_" + r.entities);
        throw io::Error(r.image, "has no label map: data.labels = " + d.labels + " needs " +
                                     (label_dir / ("sub-" + img.subject)).string() + "/" +
                                     (img.session.empty() ? "" : "ses-" + img.session + "/") + "anat/" + stem +
                                     "[_desc-<label>]_dseg.nii.gz (a label map carries its image's entities)");
      }
      if (it->second.size() > 1) {
        throw io::Error(r.image, "has two label maps, " + it->second[0].string() + " and " + it->second[1].string() +
                                     ": choose one by its desc- entity with data.bids_label_desc");
      }
      r.labels = it->second.front().string();
    }
    if (!d.bids_source.empty()) {
      const auto it = sources.find(img.subject + "|" + r.entities);
      if (it == sources.end()) {
        throw io::Error(r.image, "has no source image with its entities and the suffix " + d.bids_source +
                                     " (data.bids_source) beside it");
      }
      r.source = it->second.string();
    }
    const json sidecar = merged_sidecar(img);
    r.acquisition = json::object();
    for (const auto& k : bids_acquisition_keys())
      if (sidecar.contains(k)) r.acquisition[k] = sidecar[k];
    const auto participant = listed.find("sub-" + img.subject);
    r.attributes = attributes_from_bids(sidecar, participant == listed.end() ? std::map<std::string, std::string>{}
                                                                            : participant->second,
                                        d.bids_suffix, r.image);
    for (const auto* p : {&r.image, &r.labels, &r.source}) {
      if (!p->empty()) io::detect_read_format(*p);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<ManifestRow> read_dataset(const DataConfig& d) {
  if (!d.manifest.empty() && !d.bids.empty()) {
    throw ConfigError("data.manifest and data.bids are both set: the dataset comes from one of them");
  }
  if (!d.bids.empty()) return read_bids(d);
  if (d.manifest.empty()) throw ConfigError("neither data.manifest nor data.bids is set: name the dataset");
  return read_manifest(d.manifest);
}

std::string dataset_path(const DataConfig& d) { return d.bids.empty() ? d.manifest : d.bids; }

std::vector<std::string> write_bids_derivatives(const BidsDerivativeDataset& ds, const std::string& out_dir, bool force) {
  io::AtomicFolder folder(out_dir, force);
  const fs::path tmp(folder.temp_dir());
  std::vector<std::string> written;
  json description = {
      {"Name", ds.name.empty() ? std::string("medsynth synthetic volumes") : ds.name},
      {"BIDSVersion", "1.8.0"},
      {"DatasetType", "derivative"},
      {"GeneratedBy", json::array({{{"Name", "medsynth"},
                                    {"Version", std::string(kVersion) + " (" + kGitDescribe + ")"},
                                    {"Description", ds.generated_by}}})}};
  io::write_text_atomically((tmp / "dataset_description.json").string(), description.dump(2) + "\n");
  written.push_back("dataset_description.json");
  io::write_text_atomically((tmp / "README").string(),
                            "Synthetic MRI volumes made by medsynth (" + std::string(kVersion) +
                                ").\n\nEvery image in this dataset is synthetic: made by a generative model, not "
                                "acquired from a person. Each sidecar says so (\"Synthetic\": true) and names the "
                                "model's checkpoint; the voxels carry medsynth's synthetic mark unless the sidecar "
                                "says otherwise (medsynth detect FILE reads it).\n\n" +
                                ds.generated_by + "\n");
  written.push_back("README");
  std::set<std::string> names;
  for (const auto& v : ds.volumes) {
    if (!is_bids_label(v.subject)) throw io::Error(out_dir, "subject label '" + v.subject + "' is not letters and digits");
    if (!is_bids_label(v.suffix)) throw io::Error(out_dir, "suffix '" + v.suffix + "' is not letters and digits");
    BidsName check;
    std::string why;
    const std::string stem = "sub-" + v.subject + (v.entities.empty() ? "" : "_" + v.entities) + "_desc-synthetic_" + v.suffix;
    if (!parse_name(stem + ".nii.gz", check, why) || check.get("desc") != "synthetic") {
      throw io::Error(out_dir, "cannot name a volume '" + stem + "': " + (why.empty() ? "entity desc given twice" : why));
    }
    if (!names.insert(stem).second) throw io::Error(out_dir, "two volumes would both be " + stem + ".nii.gz");
    fs::path rel = fs::path("sub-" + v.subject);
    const std::string session = check.get("ses");
    if (!session.empty()) rel /= "ses-" + session;
    rel /= "anat";
    fs::create_directories(tmp / rel);
    const fs::path image = rel / (stem + ".nii.gz");
    const std::string lower = fs::path(v.volume).filename().string();
    if (lower.size() > 7 && lower.compare(lower.size() - 7, 7, ".nii.gz") == 0) {
      io::AtomicOutput copy((tmp / image).string(), false);  // byte for byte: the voxels (and their mark) as sampled
      fs::copy_file(v.volume, copy.temp_path());
      copy.commit();
    } else {
      io::write_volume(io::read_volume(v.volume), (tmp / image).string());
    }
    json sidecar = v.sidecar.is_object() ? v.sidecar : json::object();
    sidecar["Synthetic"] = true;
    io::write_text_atomically((tmp / rel / (stem + ".json")).string(), sidecar.dump(2) + "\n");
    written.push_back(image.string());
    written.push_back((rel / (stem + ".json")).string());
  }
  folder.commit();
  return written;
}

}  // namespace medsynth::pipeline
