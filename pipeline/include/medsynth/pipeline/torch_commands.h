#pragma once
// Commands that need LibTorch, built into the loadable module libmedsynth_torch.so.
#include <vector>

#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {

Command make_train_command();
Command make_sample_command();
Command make_edit_command();  // edit.cpp
Command make_run_command();   // run/run_command.cpp
Command make_demo_command();  // run/demo_command.cpp
Command make_utility_command();  // utility_command.cpp
const std::vector<Command>& torch_commands();

// Names and one-line summaries of the module's commands, known to the executable without
// loading the module (so `medsynth --help` stays fast). A test checks they match.
struct LazyCommand {
  const char* name;
  const char* summary;
};
inline const LazyCommand kTorchCommands[] = {
    {"train", "train a generative model on the slices of a dataset"},
    {"sample", "synthesise a volume from a checkpoint and a condition"},
    {"edit", "edit scans with a trained model: interpolate, inpaint, sketch"},
    {"run", "run a config's stages: ingest, augment, train, sample, evaluate, export, utility, report"},
    {"demo", "the demo: train on Colin27's tissue map, synthesise the T1, evaluate, export (built-in config)"},
    {"utility", "train a segmenter on real, synthetic and mixed slices; Dice on held-out real slices"},
};

}  // namespace medsynth::pipeline

// The module's entry point (C linkage, found with dlsym).
extern "C" const std::vector<medsynth::pipeline::Command>* medsynth_torch_commands();
