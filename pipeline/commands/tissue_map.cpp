// medsynth tissue-map: a label map of tissue classes by multi-Otsu thresholds of an image (the
// condition the demo's models are trained on: background, CSF, grey matter, white matter on T1).
#include <iostream>

#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/slice_dataset.h"

namespace medsynth::pipeline {
namespace {

int run_tissue_map(const po::variables_map& vm) {
  const std::string in = vm["input"].as<std::string>(), out = vm["output"].as<std::string>();
  io::detect_write_format(out);
  const int classes = vm["classes"].as<int>();
  if (classes < 2 || classes > 4) throw UsageError("tissue-map: --classes must be 2, 3 or 4");
  const io::Volume v = io::read_volume(in);
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  io::LabelVolume map = tissue_map(v, vm["classes"].as<int>());
  const std::string overlay = vm["overlay"].as<std::string>();
  if (!overlay.empty()) map = overlay_labels(std::move(map), io::read_label_volume(overlay), overlay);
  io::write_label_volume(map, out, wo);
  std::cout << out << "\n";
  return 0;
}

}  // namespace

Command make_tissue_map_command() {
  Command c;
  c.name = "tissue-map";
  c.summary = "make a tissue label map of an image (multi-Otsu thresholds of its foreground)";
  c.usage = "medsynth tissue-map IN OUT [--classes 3] [--overlay labels.nii.gz] [--force]";
  c.details =
      "Voxels above the image's minimum are split into --classes classes by the thresholds that\n"
      "maximise the between-class variance (multi-Otsu); labels 1..classes go from dark to bright,\n"
      "0 is background. On a skull-stripped T1: 1 CSF, 2 grey matter, 3 white matter. It is the same\n"
      "map as data.labels = tissue makes in training. --overlay draws a label map's non-zero labels\n"
      "over it as 1000 + label (an atlas parcellation, e.g. AAL): the map data.labels = tissue+file\n"
      "makes.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "image (any format 'medsynth info' reads)")
        ("output", po::value<std::string>()->required(), "label map to write")
        ("classes", po::value<int>()->default_value(3), "tissue classes without background (2..4)")
        ("overlay", po::value<std::string>()->default_value(""), "label map drawn over the tissue map (label L as 1000 + L)")
        ("force", "replace OUT if it exists");
    p.add("input", 1).add("output", 1);
  };
  c.run = run_tissue_map;
  return c;
}

}  // namespace medsynth::pipeline
