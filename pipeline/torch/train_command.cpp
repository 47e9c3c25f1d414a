// `medsynth train`: a generative model from the slices of a dataset (trainer.h).
#include <cstdlib>
#include <iostream>

#include "command_util.h"
#include "local_ranks.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/torch_commands.h"
#include "medsynth/pipeline/trainer.h"

namespace medsynth::pipeline {
namespace {

int run_train(const po::variables_map& vm) {
  const int nproc = vm["nproc"].as<int>();
  if (nproc < 1) throw UsageError("train: --nproc must be at least 1");
  if (nproc > 1 && !std::getenv("WORLD_SIZE")) return launch_local_ranks("train", nproc, vm);
  const RunConfig cfg = load_config(vm["config"].as<std::string>(), overrides_of(vm));
  const TrainResult r = train(cfg, vm.count("resume") > 0);
  std::cout << "trained " << r.steps << " steps in " << r.seconds << " s; loss " << r.first_loss << " -> "
            << r.last_loss << "\ncheckpoint: " << r.checkpoint << "\n";
  return 0;
}

}  // namespace

Command make_train_command() {
  Command c;
  c.name = "train";
  c.summary = "train a generative model on the slices of a dataset";
  c.usage = "medsynth train --config F.ini [--resume] [--nproc N] [--section.key value ...]";
  c.details =
      "Ingests the manifest named by data.manifest into a slice cache (reused while inputs and\n"
      "settings are unchanged), then trains into train.out: checkpoints/ (model, EMA, optimiser,\n"
      "step), loss.csv and config.ini. Any config key can be given on the command line, e.g.\n"
      "--train.steps 500; 'medsynth config --reference' lists them. --resume continues a killed\n"
      "run from its newest checkpoint. Launched by torchrun or srun (RANK/WORLD_SIZE/MASTER_ADDR/\n"
      "MASTER_PORT or SLURM_PROCID/SLURM_NTASKS set), each process is one data-parallel rank;\n"
      "--nproc N starts N ranks on this machine. docs/distributed.md has the details.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()
        ("config", po::value<std::string>()->default_value(""), "INI file with [data] [model] [train] [sample]")
        ("resume", "continue from the newest checkpoint in train.out")
        ("nproc", po::value<int>()->default_value(1),
         "data-parallel: start N local processes (c10d/Gloo on 127.0.0.1); train.batch is per process");
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_train(vm); }); };
  return c;
}

}  // namespace medsynth::pipeline
