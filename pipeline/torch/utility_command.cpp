// `medsynth utility CONFIG`: does synthetic data help a segmentation model? (utility.h)
#include <iomanip>
#include <iostream>

#include "command_util.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/torch_commands.h"
#include "medsynth/pipeline/utility.h"

namespace medsynth::pipeline {

Command make_utility_command() {
  Command c;
  c.name = "utility";
  c.summary = "train a segmenter on real, synthetic and mixed slices; Dice on held-out real slices";
  c.usage = "medsynth utility CONFIG [--resume] [--section.key value ...]";
  c.details =
      "Ingests the config's dataset and trains a 2-D U-Net segmenter under one budget (utility.steps,\n"
      "utility.batch, utility.seed) on (a) the real training slices, (b) synthetic pairs only: the\n"
      "generator's images (utility.generator, by sample.*) of the training label maps and of smooth\n"
      "random elastic deformations of them (utility.sources), (c) both, and (d) utility.fractions of the\n"
      "real slices with and without their synthetic pairs. Each is scored on the held-out real slices\n"
      "with their real labels: Dice per class and mean with bootstrap 95% intervals over the slices.\n"
      "Writes utility.out (default <train.out>/utility): report.json, report.html (the scarcity curve as\n"
      "SVG), predictions/*.nii.gz and each regime's checkpoints. --resume continues a stopped run.\n"
      "docs/metrics.md explains the figures.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("config", po::value<std::string>()->required(), "INI file with [data] [sample] [utility]")
        ("resume", "continue the regimes from their newest checkpoints in utility.out");
    p.add("config", 1);
  };
  c.run = [](const po::variables_map& vm) {
    return without_backtraces([&] {
      const RunConfig cfg = load_config(vm["config"].as<std::string>(), overrides_of(vm));
      const auto result = run_utility(cfg, vm.count("resume") > 0);
      std::cout << "utility: " << result.report << "\n" << std::fixed << std::setprecision(3);
      for (const auto& r : result.figures["regimes"]) {
        std::cout << "  " << std::left << std::setw(14) << r["name"].get<std::string>() << " mean Dice "
                  << (r["mean_dice"].is_number() ? r["mean_dice"].get<double>() : 0.0) << "\n";
      }
      return 0;
    });
  };
  return c;
}

}  // namespace medsynth::pipeline
