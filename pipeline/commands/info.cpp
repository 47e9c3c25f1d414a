// medsynth info PATH: what a file or folder holds (geometry, type, range; DICOM series list).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/io/error.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/volume_json.h"

namespace medsynth::pipeline {
namespace {

// A checkpoint: its model card (written beside it by the trainer), checked against its content.
int show_model_card(const std::string& path, bool as_json) {
  if (!std::filesystem::exists(path)) throw io::Error(path, "no such checkpoint");
  const nlohmann::json card = read_model_card(path);
  if (card.is_null()) {
    throw io::Error(path, "has no model card beside it (" + model_card_path(path, "json") +
                              "): checkpoints written before medsynth wrote model cards have none");
  }
  const std::string hash = hash_file(path);
  const bool matches = card.contains("checkpoint") && card["checkpoint"].value("xxh3", "") == hash;
  if (as_json) {
    nlohmann::json j = card;
    j["checkpoint_matches_card"] = matches;
    std::cout << j.dump(2) << "\n";
  } else {
    if (!matches) std::cout << "WARNING: the checkpoint's content (XXH3 " << hash << ") is not the one this card describes\n\n";
    std::cout << model_card_markdown(card);
  }
  return 0;
}

int run_info(const po::variables_map& vm) {
  const std::string path = vm["path"].as<std::string>();
  io::ReadOptions ro;
  ro.series = vm["series"].as<std::string>();
  ro.volume = vm["volume"].as<long>();
  const bool as_json = vm.count("json") > 0;
  if (std::filesystem::path(path).extension() == ".pt") return show_model_card(path, as_json);

  nlohmann::json j;
  j["path"] = path;
  const io::Format format = io::detect_read_format(path);
  j["format"] = io::to_string(format);
  bool read_one = true;
  if (format == io::Format::kDicom) {
    std::vector<std::string> skipped;
    auto series = io::list_dicom_series(path, &skipped);
    j["series"] = series_json(series);
    j["skipped_files"] = skipped;
    // With several series and none chosen, listing them is the answer.
    read_one = !series.empty() && (series.size() == 1 || !ro.series.empty());
    if (series.empty()) {
      io::read_volume(path, ro);  // throws the reason no image was found
    }
    // A 4-D series is described by one volume (the first unless --volume says otherwise).
    for (std::size_t i = 0; i < series.size() && read_one && ro.volume < 0; ++i) {
      const bool chosen = ro.series.empty() || ro.series == std::to_string(i + 1) || ro.series == series[i].series_uid;
      if (chosen && series[i].volumes > 1) ro.volume = 0;
    }
  }
  if (read_one) j["volume"] = volume_json(io::read_volume(path, ro));

  if (as_json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << format_info_text(j);
  }
  return 0;
}

}  // namespace

Command make_info_command() {
  Command c;
  c.name = "info";
  c.summary = "show what a volume, DICOM file or DICOM folder holds";
  c.usage = "medsynth info PATH|CHECKPOINT [--series UID|N] [--volume N] [--json]";
  c.details =
      "PATH is a NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr) or PNG file,\n"
      "a DICOM file, or a folder (searched recursively) of DICOM files. Prints size, spacing,\n"
      "origin, direction and orientation code (LPS frame; letters say where each axis points),\n"
      "stored data type, intensity range and modality. For a DICOM folder it lists the series (a\n"
      "stack or echo of an enhanced or multi-echo series is listed as a series of its own) with\n"
      "the number of volumes along a 4th dimension and what varies along it (time, b-value, ...);\n"
      "a 4-D series is described by its volume 0, or the one --volume N chooses. For a checkpoint\n"
      "(.pt) it shows the model card beside it: training data with hashes and licences, task,\n"
      "measured figures, intended use, known limits, and whether the checkpoint is the one described.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("path", po::value<std::string>()->required(), "file or folder to describe")
        ("series", po::value<std::string>()->default_value(""),
         "DICOM: the series to describe, by SeriesInstanceUID or its number in the list")
        ("volume", po::value<long>()->default_value(-1),
         "DICOM: the volume (0-based) of a 4-D series to describe (default: volume 0)")
        ("json", "print JSON instead of text");
    p.add("path", 1);
  };
  c.run = run_info;
  return c;
}

}  // namespace medsynth::pipeline
