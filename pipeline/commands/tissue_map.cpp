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
  const io::Volume v = io::read_volume(in);
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  io::write_label_volume(tissue_map(v, vm["classes"].as<int>()), out, wo);
  std::cout << out << "\n";
  return 0;
}

}  // namespace

Command make_tissue_map_command() {
  Command c;
  c.name = "tissue-map";
  c.summary = "make a tissue label map of an image (multi-Otsu thresholds of its foreground)";
  c.usage = "medsynth tissue-map IN OUT [--classes 3] [--force]";
  c.details =
      "Voxels above the image's minimum are split into --classes classes by the thresholds that\n"
      "maximise the between-class variance (multi-Otsu); labels 1..classes go from dark to bright,\n"
      "0 is background. On a skull-stripped T1: 1 CSF, 2 grey matter, 3 white matter. It is the same\n"
      "map as data.labels = tissue makes in training.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "image (any format 'medsynth info' reads)")
        ("output", po::value<std::string>()->required(), "label map to write")
        ("classes", po::value<int>()->default_value(3), "tissue classes without background (2..4)")
        ("force", "replace OUT if it exists");
    p.add("input", 1).add("output", 1);
  };
  c.run = run_tissue_map;
  return c;
}

}  // namespace medsynth::pipeline
