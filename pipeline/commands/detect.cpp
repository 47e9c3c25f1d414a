// medsynth detect FILE|FOLDER: is a volume synthetic? Looks for the synthetic mark in the voxels
// alone (never the header, which is the first thing lost), per volume.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "medsynth/pipeline/command.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

// Exit codes for scripts (beside 1 usage, 2 bad input, 3 failure).
constexpr int kNoneMarked = 4;  // no mark in any volume checked
constexpr int kMixed = 5;         // a mark in some volumes, not in others

struct Item {
  std::string name;  // what the line names: a file, or a folder with the series
  std::string path;
  io::ReadOptions options;
};

// The volumes under a folder: each DICOM series (volume 0 of a 4-D one), and every other file
// a reader knows (NIfTI, Analyze, MetaImage, NRRD, PNG), in name order.
std::vector<Item> items_of(const std::string& path, std::vector<std::string>* skipped) {
  std::vector<Item> items;
  if (!fs::is_directory(path)) {
    Item it{path, path, {}};
    if (io::detect_read_format(path) == io::Format::kDicom) {
      const auto series = io::list_dicom_series(path);
      if (!series.empty() && series[0].volumes > 1) it.options.volume = 0;
    }
    return {it};
  }
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string name = fs::path(f).filename().string();
    // A MetaImage or NRRD data file is read through its header; Analyze through its .hdr.
    const bool companion = name.size() > 4 && (name.rfind(".raw") == name.size() - 4 || name.rfind(".zraw") == name.size() - 5 ||
                                               name.rfind(".img") == name.size() - 4);
    if (companion) continue;
    try {
      if (io::detect_read_format(f) != io::Format::kDicom) items.push_back({f, f, {}});
    } catch (const medsynth::Error&) {
      // neither a known suffix nor DICOM: listed by list_dicom_series' skipped, or ignored
    }
  }
  const auto series = io::list_dicom_series(path, skipped);
  for (std::size_t i = 0; i < series.size(); ++i) {
    Item it;
    it.path = path;
    it.options.series = series.size() > 1 ? std::to_string(i + 1) : "";
    if (series[i].volumes > 1) it.options.volume = 0;
    it.name = path + (series.size() > 1 ? " [series " + std::to_string(i + 1) + " " + series[i].series_uid +
                                              (series[i].part.empty() ? "" : ", " + series[i].part) + "]"
                                        : " [DICOM series]");
    items.push_back(it);
  }
  return items;
}

std::string confidence_text(double false_alarm) {
  if (false_alarm < 1e-6) return "confidence > 0.999999";
  char buf[48];
  std::snprintf(buf, sizeof buf, "confidence %.6f", 1.0 - false_alarm);
  return buf;
}

int run_detect(const po::variables_map& vm) {
  const std::string path = vm["path"].as<std::string>();
  const bool as_json = vm.count("json") > 0;
  if (!fs::exists(path)) throw io::Error(path, "does not exist");
  std::vector<std::string> skipped;
  const std::vector<Item> items = items_of(path, &skipped);
  if (items.empty()) throw io::Error(path, "holds no volume, image or DICOM series that medsynth reads");
  nlohmann::json out = nlohmann::json::array();
  std::size_t marked = 0, checked = 0;
  for (const Item& it : items) {
    nlohmann::json j{{"path", it.name}};
    io::Volume v;
    try {
      v = io::read_volume(it.path, it.options);
    } catch (const medsynth::Error& e) {
      if (!fs::is_directory(path)) throw;  // the one file asked about: its error is the answer
      std::cerr << "medsynth: warning: skipped " << it.name << ": " << e.what() << "\n";
      continue;
    }
    const mark::Detection d = mark::detect_mark(v);
    ++checked;
    marked += d.found;
    char score[32];
    std::snprintf(score, sizeof score, "score %.1f", d.score);
    std::string line;
    if (d.found && d.payload_valid) {
      line = "synthetic, made by medsynth " + mark::version_text(d.payload) + ", run " +
             mark::run_id_text(d.payload.run_id) + " (" + confidence_text(d.false_alarm) + ", " + score + ")";
    } else if (d.found) {
      line = "synthetic, made by medsynth (version and run unreadable) (" + confidence_text(d.false_alarm) + ", " +
             score + ")";
    } else {
      line = std::string("no mark found (") + score + ")";
    }
    j["synthetic"] = d.found;
    j["score"] = d.score;
    j["false_alarm"] = d.false_alarm;
    j["confidence"] = 1.0 - d.false_alarm;
    if (d.found) {
      j["payload_valid"] = d.payload_valid;
      j["payload_score"] = d.payload_score;
      if (d.payload_valid) {
        j["version"] = mark::version_text(d.payload);
        j["run_id"] = mark::run_id_text(d.payload.run_id);
      }
      j["scale"] = d.scale;
      j["slice_axis"] = d.axis;
      j["orientation"] = d.orientation;
    }
    j["slices"] = d.planes;
    out.push_back(j);
    if (!as_json) std::cout << it.name << ": " << line << "\n";
  }
  if (as_json) std::cout << out.dump(2) << "\n";
  if (checked == 0) throw io::Error(path, "no volume under it could be read");
  if (marked == checked) return 0;
  return marked == 0 ? kNoneMarked : kMixed;
}

}  // namespace

Command make_detect_command() {
  Command c;
  c.name = "detect";
  c.summary = "is it synthetic? look for medsynth's mark in the pixels of a file or folder";
  c.usage = "medsynth detect FILE|FOLDER [--json]";
  c.details =
      "Looks for the invisible mark that medsynth adds to the voxels of every synthetic volume it\n"
      "writes (sample, run, edit) and prints, per volume, 'synthetic, made by medsynth VERSION, run\n"
      "ID' with a confidence, or 'no mark found'. Only the pixels are read, never the header, so the\n"
      "mark is found after a header was stripped or rewritten, and in PNG slices, cropped, rescaled,\n"
      "resampled or noisy copies (docs/ethics.md gives the measured rates and what the mark cannot\n"
      "do). FILE is any format medsynth reads; a FOLDER is searched recursively: each DICOM series\n"
      "in it and each other volume or image file is checked on its own. The score is the mark's\n"
      "correlation peak in standard deviations: found when the chance that an unmarked volume scores\n"
      "as high is below 1e-6 (a score of 6.5 to 7.4, by how much was searched; real scans score 3.7-5.6).\n"
      "Exit codes: 0 every volume checked carries the mark; 4 none does; 5 some do and some do not;\n"
      "1 usage; 2 unreadable input; 3 failure.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("path", po::value<std::string>()->required(), "file or folder to check")
        ("json", "print JSON (one object per volume) instead of text");
    p.add("path", 1);
  };
  c.run = run_detect;
  return c;
}

}  // namespace medsynth::pipeline
