// The commands of libmedsynth_torch.so, which the medsynth executable loads only when one of them
// runs (LibTorch's start-up costs ~0.4 s). One verb per file: train_command.cpp, sample_command.cpp,
// edit.cpp, utility_command.cpp, run/run_command.cpp, run/demo_command.cpp.
#include "medsynth/pipeline/torch_commands.h"

namespace medsynth::pipeline {

const std::vector<Command>& torch_commands() {
  static const std::vector<Command> commands = {make_train_command(), make_sample_command(), make_edit_command(),
                                                make_run_command(), make_demo_command(), make_utility_command()};
  return commands;
}

}  // namespace medsynth::pipeline

extern "C" const std::vector<medsynth::pipeline::Command>* medsynth_torch_commands() {
  return &medsynth::pipeline::torch_commands();
}
