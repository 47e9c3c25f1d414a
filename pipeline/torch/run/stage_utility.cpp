// The utility stage (utility.enabled): a segmenter trained on real, synthetic and mixed slices
// under one budget and scored on the held-out real slices (utility.h), with the run's own
// generator checkpoint unless utility.generator names another. Resumes its regimes' checkpoints.
#include <iomanip>
#include <iostream>

#include "medsynth/pipeline/utility.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

json run_utility_stage(Context& ctx, json& artefacts) {
  if (!ctx.config.utility.enabled) return json{{"enabled", false}};
  RunConfig c = ctx.config;
  c.utility.out = ctx.dir("utility").string();
  if (c.utility.generator.empty()) c.utility.generator = ctx.checkpoint();
  const std::string cache_root = ctx.resolve(ctx.outputs("ingest").at("cache_root").get<std::string>()).string();
  const auto r = run_utility(c, true, cache_root);
  std::cout << "utility:" << std::fixed << std::setprecision(3);
  json regimes = json::object();
  for (const auto& g : r.figures["regimes"]) {
    regimes[g["name"].get<std::string>()] = g["mean_dice"];
    std::cout << "  " << g["name"].get<std::string>() << " " << g["mean_dice"].dump();
    artefacts.push_back(ctx.rel(ctx.dir("utility") / g["prediction"].get<std::string>()));
  }
  std::cout << " (mean Dice on the held-out real slices)\n";
  artefacts.push_back(ctx.rel(r.report));
  artefacts.push_back(ctx.rel(r.html));
  return json{{"enabled", true},
              {"report", ctx.rel(r.report)},
              {"html", ctx.rel(r.html)},
              {"mean_dice", regimes},
              {"chance_mean_dice", r.figures["chance_mean_dice"]},
              {"synthetic_over_real", r.figures.value("synthetic_over_real", json())},
              {"provenance", r.figures["provenance"]}};
}

}  // namespace

Stage utility_stage() {
  Stage s;
  s.name = "utility";
  s.inputs = [](const Context& ctx) {
    if (!ctx.config.utility.enabled) return std::string("utility.enabled = false\n");
    return section_text(ctx.config, "utility", {"out"}) + section_text(ctx.config, "sample", {"batch", "volumes", "pairs", "mark"}) +
           "train.device = " + ctx.config.train.device + "\n" + upstream_ids(ctx, {"ingest", "train"});
  };
  s.run = run_utility_stage;
  s.resumes = true;
  return s;
}

}  // namespace medsynth::pipeline::run
