#include "medsynth/pipeline/model_card.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "medsynth/io/atomic_output.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/io/error.h"
#include "medsynth/mark/synthetic_mark.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/text.h"
#include "medsynth/version.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medsynth::pipeline {
namespace {

constexpr int kCardFormat = 1;

// Licences of the public data Debian ships (../shared/docs/DATA.md), as their packages'
// copyright files state them; anything else is "unknown" (the data owner's terms apply).
struct KnownSource {
  const char* folder;
  const char* source;
  const char* licence;
};
const KnownSource kKnownSources[] = {
    {"/usr/share/mricron/templates/", "Debian package mricron-data (MRIcron templates: Colin27 T1 and atlases)",
     "BSD-3-clause, as /usr/share/doc/mricron-data/copyright states for all its files (Files: *, Copyright "
     "2006-2010 Chris Rorden); the file does not list the templates one by one, so check an atlas's original "
     "terms (AAL, Harvard-Oxford, JHU, ...) before redistributing"},
    {"/usr/share/doc/insighttoolkit5-examples/", "Debian package insighttoolkit5-examples (ITK example data)",
     "Apache-2.0 (/usr/share/doc/insighttoolkit5-examples/copyright, Files: *)"},
    {"/usr/lib/python3/dist-packages/pydicom/", "Debian package python3-pydicom (test files)",
     "Expat (/usr/share/doc/python3-pydicom/copyright, Files: *)"},
    {"/usr/lib/python3/dist-packages/nibabel/", "Debian package python3-nibabel (test files)",
     "Expat (/usr/share/doc/python3-nibabel/copyright, Files: *)"},
};

// A file of the training data: only its name (its folders may name a patient or a person), its
// content hash, and, for public data, where it comes from and its licence.
json file_entry(const std::string& path, const std::string& subject, const std::string& role) {
  json j{{"subject", subject}, {"role", role}, {"file", fs::path(path).filename().string()}};
  try {
    j["xxh3"] = hash_file(path);
  } catch (const medsynth::Error&) {
    j["xxh3"] = nullptr;  // moved or deleted since training
  }
  const std::string abs = fs::absolute(path).lexically_normal().string();
  j["licence"] = "unknown (not public data medsynth knows: the data owner's terms apply)";
  for (const auto& k : kKnownSources) {
    if (abs.rfind(k.folder, 0) == 0) {
      j["file"] = abs;  // a public file: its full path says which one
      j["source"] = k.source;
      j["licence"] = k.licence;
    }
  }
  return j;
}

// The run's settings without what may identify people or hosts: paths shortened to file names,
// the [export] section (PACS host and AE titles) left out.
std::string shareable_settings(const RunConfig& c) {
  std::istringstream in(to_ini(c));
  std::ostringstream out;
  std::string line, section;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[export]") continue;
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) {
      const std::string k = line.substr(0, eq), v = line.substr(eq + 3);
      if ((k == "manifest" || k == "bids" || k == "cache" || k == "out" || k == "autoencoder") && !v.empty()) {
        line = k + " = " + fs::path(v).filename().string();
      }
    }
    out << line << "\n";
  }
  return out.str();
}

json task_of(const RunConfig& c, const ModelCardInputs& in) {
  json conditions = json::array();
  if (c.data.labels == "tissue" || c.data.labels == "tissue+file") {
    conditions.push_back("tissue map (multi-Otsu of the image itself, " + std::to_string(c.data.tissue_classes) +
                         " classes" + (c.data.labels == "tissue+file" ? ", with the manifest's label map" : "") + ")");
  } else if (c.model.label_classes > 0 || c.data.labels == "file") {
    conditions.push_back("label map (the manifest's labels column)");
  }
  if (c.model.source_image) conditions.push_back("source image (the manifest's source column): image translation");
  if (c.model.num_classes > 0) conditions.push_back("class id (" + std::to_string(c.model.num_classes) + " classes)");
  if (conditions.empty()) conditions.push_back("none (unconditional)");
  return {{"description", "2-D slice synthesis of MRI volumes (axial slices, stacked into a volume)"},
          {"family", in.family},
          {"parametrization", c.model.parametrization},
          {"conditions", conditions},
          {"grid", c.data.grid.native() ? std::string("native (the scans' own in-plane pixel)")
                                        : std::to_string(c.data.grid.value) + " x " + std::to_string(c.data.grid.value)},
          {"context_slices", c.data.context},
          {"intensity_window", {in.window_lo, in.window_hi}}};
}

json limits_of(const RunConfig& c, std::size_t subjects) {
  json l = json::array();
  if (subjects == 1) {
    l.push_back("Trained on one subject: it has seen one anatomy, one scanner and one contrast, and does not "
                "generalise to other people, scanners or sequences.");
    l.push_back("Held-out data is a contiguous slab of the same subject's slices, not an unseen subject: "
                "figures measured on it are optimistic.");
  }
  if (c.data.labels == "tissue" || c.data.labels == "tissue+file") {
    l.push_back("The tissue map is derived from the same image it conditions, which makes synthesis easier than "
                "from an independent segmentation.");
  }
  l.push_back("Slices are synthesised one at a time (with the conditions of " + std::to_string(c.data.context) +
              " neighbouring slices each side); consistency across slices is limited.");
  l.push_back("Intensities are in the training window, not calibrated to any physical quantity.");
  l.push_back("It can hallucinate or leave out anatomy, lesions included, and images can look convincing while "
              "being anatomically wrong.");
  l.push_back("The weights are derived from the training images and may reproduce them (docs/ethics.md, the "
              "memorisation check): treat the checkpoint as the training data is treated.");
  return l;
}

std::string figure(const json& j) {
  if (j.is_number()) {
    std::ostringstream s;
    s.precision(4);
    s << j.get<double>();
    return s.str();
  }
  return j.is_null() ? "-" : j.dump();
}

}  // namespace

std::uint32_t mark_run_id(const std::string& run_config, const std::string& data_fingerprint) {
  const std::string h = hash_text("mark-run-id\n" + run_config + "\n" + data_fingerprint);
  return static_cast<std::uint32_t>(std::stoul(h.substr(0, 8), nullptr, 16));
}

std::string model_card_path(const std::string& checkpoint, const std::string& extension) {
  fs::path p(checkpoint);
  return (p.parent_path() / (p.stem().string() + ".model-card." + extension)).string();
}

json make_model_card(const ModelCardInputs& in) {
  const RunConfig c = config_from_ini_text(in.run_config);
  json files = json::array();
  std::size_t subjects = 0;
  try {
    for (const auto& r : read_dataset(c.data)) {
      ++subjects;
      files.push_back(file_entry(r.image, r.subject, "image"));
      if (!r.labels.empty()) files.push_back(file_entry(r.labels, r.subject, "labels"));
      if (!r.source.empty()) files.push_back(file_entry(r.source, r.subject, "source"));
    }
  } catch (const medsynth::Error& e) {
    files = json::array();  // the manifest moved since training: the data fingerprint still says what it was
  }
  json card;
  card["model_card_format"] = kCardFormat;
  card["created"] = utc_now();
  card["medsynth"] = {{"version", kVersion}, {"git", kGitDescribe}};
  card["checkpoint"] = {{"file", fs::path(in.checkpoint).filename().string()},
                        {"xxh3", hash_file(in.checkpoint)},
                        {"step", in.step},
                        {"data_parallel_ranks", in.world_size}};
  card["mark"] = {{"run_id", mark::run_id_text(mark_run_id(in.run_config, in.data_fingerprint))},
                  {"note", "volumes sampled from this model carry this run id in their synthetic mark "
                           "('medsynth detect FILE' reads it)"}};
  card["task"] = task_of(c, in);
  card["training_data"] = {{c.data.bids.empty() ? "manifest" : "bids", fs::path(dataset_path(c.data)).filename().string()},
                           {"fingerprint", in.data_fingerprint},
                           {"subjects", subjects},
                           {"holdout", c.data.holdout},
                           {"split", subjects == 1 ? "one subject: a contiguous slab of its slices held out"
                                                   : "whole subjects held out"},
                           {"files", files}};
  card["intended_use"] = "Research on synthetic MRI and its methods (data augmentation, method development, "
                         "teaching), on data its owners allow for this. Research, not diagnosis.";
  card["not_intended_for"] = json::array({"diagnosis, treatment or any clinical decision",
                                          "clinical archives (PACS) or reports, under any patient's name",
                                          "evidence of a patient's condition (insurance, legal, compensation)",
                                          "release as anonymous data without a privacy assessment"});
  card["known_limits"] = limits_of(c, subjects);
  card["measured"] = json::array();
  card["settings"] = shareable_settings(c);
  return card;
}

std::string model_card_markdown(const json& card) {
  std::ostringstream m;
  m << "# Model card: " << card["checkpoint"].value("file", "") << "\n\n";
  m << "Made by medsynth " << card["medsynth"].value("version", "") << " (" << card["medsynth"].value("git", "") << ") on "
    << card.value("created", "") << ". Checkpoint step " << card["checkpoint"].value("step", 0) << ", XXH3 "
    << card["checkpoint"].value("xxh3", "") << ".\n\n";
  m << "## Intended use\n\n" << card.value("intended_use", "") << "\n\nNot for:\n\n";
  for (const auto& x : card["not_intended_for"]) m << "- " << x.get<std::string>() << "\n";
  const json& t = card["task"];
  m << "\n## Task\n\n" << t.value("description", "") << ". Family " << t.value("family", "") << " ("
    << t.value("parametrization", "") << "), grid " << t.value("grid", "") << ", context slices "
    << t.value("context_slices", 0) << ".\n\nConditions:\n\n";
  for (const auto& x : t["conditions"]) m << "- " << x.get<std::string>() << "\n";
  const json& d = card["training_data"];
  m << "\n## Training data\n\n" << d.value("subjects", 0) << " subject(s) from manifest " << d.value("manifest", "")
    << " (data fingerprint " << d.value("fingerprint", "") << "); split: " << d.value("split", "") << ".\n\n"
    << "| subject | role | file | XXH3 | licence |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& f : d["files"]) {
    m << "| " << f.value("subject", "") << " | " << f.value("role", "") << " | " << f.value("file", "") << " | "
      << (f["xxh3"].is_string() ? f["xxh3"].get<std::string>() : "(missing)") << " | " << f.value("licence", "") << " |\n";
  }
  m << "\n## Measured\n\n";
  if (card["measured"].empty()) m << "Nothing measured yet: the run's evaluate stage (or 'medsynth evaluate') adds figures.\n";
  for (const auto& x : card["measured"]) {
    m << "- " << x.value("volume", "") << " (" << x.value("report", "") << "):";
    for (const auto& [k, v] : x["figures"].items()) m << " " << k << " " << figure(v) << ";";
    m << "\n";
  }
  m << "\n## Known limits\n\n";
  for (const auto& x : card["known_limits"]) m << "- " << x.get<std::string>() << "\n";
  m << "\n## Synthetic mark\n\nRun id **" << card["mark"].value("run_id", "") << "**: "
    << card["mark"].value("note", "") << ".\n\n## Settings\n\n```ini\n" << card.value("settings", "") << "```\n";
  return m.str();
}

void write_model_card(const std::string& checkpoint, const json& card) {
  io::write_text_atomically(model_card_path(checkpoint, "json"), card.dump(2) + "\n");
  io::write_text_atomically(model_card_path(checkpoint, "md"), model_card_markdown(card));
}

json read_model_card(const std::string& checkpoint) {
  std::ifstream in(model_card_path(checkpoint, "json"));
  if (!in) return nullptr;
  try {
    return json::parse(in);
  } catch (const json::exception&) {
    throw io::Error(model_card_path(checkpoint, "json"), "is not a readable model card (JSON)");
  }
}

void add_measured_figures(const std::string& checkpoint, const json& report, const std::string& volume,
                          const std::string& report_path) {
  json card = read_model_card(checkpoint);
  if (card.is_null()) return;  // a checkpoint from before model cards
  json figures;
  if (report.contains("paired")) {
    const json& v = report["paired"]["volume"];
    for (const char* k : {"psnr", "ssim", "ms_ssim", "mae"}) figures[k] = v.value(k, json(nullptr));
  }
  if (report.contains("distribution") && report["distribution"].is_object()) {
    for (const auto& [k, v] : report["distribution"].items()) {
      if (v.is_number()) figures["distribution." + k] = v;
    }
  }
  if (report.contains("through_plane")) figures["through_plane_ratio"] = report["through_plane"].value("ratio", json(nullptr));
  if (report.contains("sharpness")) figures["sharpness_ratio"] = report["sharpness"].value("ratio", json(nullptr));
  if (report.contains("privacy") && report["privacy"].is_object()) {
    figures["memorisation_flagged_slices"] = report["privacy"].value("flagged_count", json(nullptr));
    figures["memorisation_slices_checked"] = report["privacy"].value("synthetic_slices", json(nullptr));
  }
  json& measured = card["measured"];
  for (auto it = measured.begin(); it != measured.end();) {
    it = it->value("volume", "") == volume ? measured.erase(it) : it + 1;
  }
  measured.push_back({{"volume", volume}, {"report", report_path}, {"figures", figures},
                      {"note", report.contains("mask") && !report["mask"].is_null()
                                   ? "paired figures on the held-out mask"
                                   : "paired figures on the whole volume"}});
  write_model_card(checkpoint, card);
}

}  // namespace medsynth::pipeline
