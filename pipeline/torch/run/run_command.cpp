// medsynth run CONFIG: the stage runner (runner.cpp) on a config file.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "../command_util.h"
#include "../local_ranks.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/run.h"
#include "medsynth/pipeline/torch_commands.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {

int finish_run(const RunSummary& s) {
  if (s.rank > 0) {
    std::cout << "rank " << s.rank << ": done (rank 0 evaluates, exports and reports)\n";
    return 0;
  }
  std::cout << "\nrun folder: " << fs::absolute(s.run_dir).lexically_normal().string() << "\n";
  if (!s.index.empty()) std::cout << "run index: " << s.index << "\n";
  if (!s.report.empty()) std::cout << "report: " << s.report << "\n";
  return 0;
}

namespace {

int run_run(const po::variables_map& vm) {
  // Across ranks (torchrun, srun, --nproc) every rank runs this; run_pipeline shares the work.
  const int nproc = vm["nproc"].as<int>();
  if (nproc < 1) throw UsageError("run: --nproc must be at least 1");
  if (nproc > 1 && !std::getenv("WORLD_SIZE")) return launch_local_ranks("run", nproc, vm);
  const std::string path = vm["config"].as<std::string>();
  const RunConfig cfg = load_config(path, overrides_of(vm));
  RunOptions o;
  o.config_path = path;
  o.from = vm["from"].as<std::string>();
  o.only = vm["only"].as<std::string>();
  if (vm.count("force")) o.force = vm["force"].as<std::vector<std::string>>();
  o.command_hint = "medsynth run " + path;
  return finish_run(run_pipeline(cfg, o));
}

}  // namespace

Command make_run_command() {
  Command c;
  c.name = "run";
  c.summary = "run a config's stages: ingest, augment, train, sample, evaluate, export, utility, report";
  c.usage = "medsynth run CONFIG.ini [--from STAGE | --only STAGE] [--force STAGE ...] [--nproc N] [--section.key value ...]";
  c.details =
      "Runs ingest -> augment (when augment.enabled) -> train -> sample -> evaluate -> export ->\n"
      "utility (when utility.enabled) -> report into the run folder train.out, one sub-folder per\n"
      "stage with its artefacts and\n"
      "stage.json (fingerprint of the settings and inputs it reads, versions, seeds, timings,\n"
      "status). A stage whose fingerprint is unchanged and whose artefacts exist is skipped; a\n"
      "killed run started again finishes what is left (training resumes from its newest\n"
      "checkpoint). --from S reruns S and every later stage;\n"
      "--only S runs S alone (when out of date; add --force S to redo it); --force S redoes S even\n"
      "when up to date (later stages follow). A second run into a folder in use is refused (exit 2).\n"
      "Any config key can be given as --section.key value. Ends by printing the report's path.\n"
      "Launched by torchrun or srun on N ranks (or --nproc N on this machine), rank 0 ingests, every\n"
      "rank trains (train.batch per rank), each volume is sampled as N shards merged by rank 0 (the\n"
      "same voxels as one process with the same weights), and rank 0 evaluates, exports and reports.\n"
      "docs/pipeline.md and docs/distributed.md have the details.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("config", po::value<std::string>()->required(), "INI file of the run (medsynth config --reference)")
        ("from", po::value<std::string>()->default_value(""), "run this stage (forced) and every later one")
        ("only", po::value<std::string>()->default_value(""), "run this stage alone")
        ("force", po::value<std::vector<std::string>>(), "rerun this stage even when up to date (repeatable)")
        ("nproc", po::value<int>()->default_value(1),
         "start N local ranks (c10d/Gloo on 127.0.0.1)");
    p.add("config", 1);
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_run(vm); }); };
  return c;
}

}  // namespace medsynth::pipeline
