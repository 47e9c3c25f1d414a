// medsynth evaluate: paired, distribution, conditioning and privacy figures in one report.
#include <iostream>

#include "medsynth/error.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/validation/evaluation.h"

namespace medsynth::pipeline {
namespace {

int run_evaluate(const po::variables_map& vm) {
  validation::EvaluationInputs in;
  in.real = vm["real"].as<std::string>();
  in.synthetic = vm["synthetic"].as<std::string>();
  in.train = vm["train"].as<std::string>();
  in.mask = vm["mask"].as<std::string>();
  in.labels = vm["labels"].as<std::string>();
  in.log = vm["log"].as<std::string>();
  in.data_range = vm["data-range"].as<double>();
  if (vm["data-range"].defaulted() == false && !(in.data_range > 0)) {
    throw UsageError("evaluate: --data-range must be > 0 (leave it out to use max - min of the real volume)");
  }
  in.resample = vm.count("resample") > 0;
  in.threads = vm["threads"].as<unsigned>();
  // Provenance: the command line exactly as given.
  in.command_line = {"medsynth", "evaluate"};
  if (vm.count(kArgsKey)) {
    for (const auto& a : vm[kArgsKey].as<std::vector<std::string>>()) in.command_line.push_back(a);
  }
  const std::string out = vm["out"].as<std::string>();
  const auto report = validation::write_evaluation_report(in, out, vm.count("force") > 0);
  const auto& v = report["paired"]["volume"];
  std::cout << out << "/report.html\n"
            << "SSIM " << v["ssim"].dump() << "  MS-SSIM " << v["ms_ssim"].dump() << "  PSNR " << v["psnr"].dump()
            << " dB  MAE " << v["mae"].dump() << "  (data range " << report["data_range"]["value"].dump() << ")\n";
  if (report.contains("privacy")) {
    std::cout << "memorisation: " << report["privacy"]["flagged_count"].dump() << " of "
              << report["privacy"]["synthetic_slices"].dump() << " synthetic slices above the held-out baseline\n";
  }
  return 0;
}

}  // namespace

Command make_evaluate_command() {
  Command c;
  c.name = "evaluate";
  c.summary = "compare synthetic with real volumes: image, distribution, conditioning and privacy figures";
  c.usage =
      "medsynth evaluate --real R --synthetic S [--train T] [--mask M] [--labels L] [--log CSV]\n"
      "                  [--data-range X] [--resample] [--force] --out DIR";
  c.details =
      "Writes DIR/report.json (every figure, the data range, mask, provenance of the inputs) and\n"
      "DIR/report.html (summary, per-slice charts, real/synthetic/difference montages in\n"
      "DIR/images/, distribution and privacy tables). R and S are volumes on one grid (anything\n"
      "'medsynth info' reads); metrics are 2-D, per slice along the third index axis, and per\n"
      "volume. --train adds the memorisation check (R serves as the held-out baseline, so it must\n"
      "share no slice with T); --labels adds Dice per label against the condition S was made from.\n"
      "The folder is built beside DIR and renamed into place. Figures: docs/metrics.md; reading the\n"
      "report: docs/report.md.";
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()
        ("real", po::value<std::string>()->required(), "real volume (NIfTI, MHA, NRRD, DICOM folder, ...)")
        ("synthetic", po::value<std::string>()->required(), "synthetic volume of the same condition")
        ("out", po::value<std::string>()->required(), "report folder to create")
        ("train", po::value<std::string>()->default_value(""), "training volume: enables the memorisation check")
        ("mask", po::value<std::string>()->default_value(""), "mask volume on the real grid; paired metrics inside it")
        ("labels", po::value<std::string>()->default_value(""),
         "label map S was conditioned on: Dice per label of a multi-Otsu segmentation of S")
        ("log", po::value<std::string>()->default_value(""), "training log CSV (header step,loss,...) to plot")
        ("data-range", po::value<double>()->default_value(0.0, "max - min of R"),
         "data range L for PSNR and SSIM")
        ("resample", "resample S (trilinear), the mask and labels (nearest) into R's grid instead of refusing")
        ("threads", po::value<unsigned>()->default_value(0, "all cores"), "worker threads")
        ("force", "replace DIR if it exists");
  };
  c.run = run_evaluate;
  return c;
}

}  // namespace medsynth::pipeline
