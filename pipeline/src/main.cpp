// The medsynth executable: dispatches to one command, owns the outermost catch and exit codes.
#include <dlfcn.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <iostream>
#include <new>

#include "medsynth/error.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/torch_commands.h"
#include "medsynth/version.h"

namespace {

// The LibTorch commands live in libmedsynth_torch.so beside the executable (or where
// MEDSYNTH_TORCH_MODULE points); it is loaded only when one of them runs.
const std::vector<medsynth::pipeline::Command>& torch_module_commands() {
  namespace fs = std::filesystem;
  std::string path;
  if (const char* env = std::getenv("MEDSYNTH_TORCH_MODULE")) {
    path = env;
  } else {
    std::error_code ec;
    path = (fs::read_symlink("/proc/self/exe", ec).parent_path() / "libmedsynth_torch.so").string();
  }
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    throw medsynth::Error(path + ": cannot load the LibTorch module (" + std::string(::dlerror()) +
                          "); build the medsynth_torch target");
  }
  using Entry = const std::vector<medsynth::pipeline::Command>* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, "medsynth_torch_commands"));
  if (!entry) throw medsynth::Error(path + ": not a medsynth module (no medsynth_torch_commands)");
  return *entry();
}

void print_main_help() {
  std::cout << "usage: medsynth <command> [options]\n\n"
               "Synthetic medical images: read DICOM/NIfTI, train conditional generative models,\n"
               "write synthetic scans and prove their quality.\n\ncommands:\n";
  for (const auto& c : medsynth::pipeline::all_commands()) {
    std::string name = c.name;
    name.resize(12, ' ');
    std::cout << "  " << name << c.summary << "\n";
  }
  for (const auto& c : medsynth::pipeline::kTorchCommands) {
    std::string name = c.name;
    name.resize(12, ' ');
    std::cout << "  " << name << c.summary << "\n";
  }
  std::cout << "\n'medsynth <command> --help' shows a command's options.\n"
               "exit codes: 0 done, 1 usage, 2 bad input, 3 failure while running, 75 stopped by a signal\n"
               "(SIGTERM, SIGINT, SIGUSR1) after saving the work: run it again to continue.\n";
}

}  // namespace

int main(int argc, char** argv) {
  using medsynth::ExitCode;
  namespace pl = medsynth::pipeline;
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty()) {
      print_main_help();
      return static_cast<int>(ExitCode::kUsage);
    }
    const std::string& first = args.front();
    if (first == "--help" || first == "-h" || first == "help") {
      print_main_help();
      return 0;
    }
    if (first == "--version") {
      std::cout << "medsynth " << medsynth::kVersion << " (" << medsynth::kGitDescribe << ")\n";
      return 0;
    }
    std::vector<std::string> names;
    for (const auto& c : pl::all_commands()) {
      names.push_back(c.name);
      if (c.name == first) {
        return pl::run_command(c, std::vector<std::string>(args.begin() + 1, args.end()));
      }
    }
    for (const auto& lazy : pl::kTorchCommands) {
      names.push_back(lazy.name);
      if (first == lazy.name) {
        for (const auto& c : torch_module_commands()) {
          if (c.name == first) return pl::run_command(c, std::vector<std::string>(args.begin() + 1, args.end()));
        }
        throw medsynth::Error("the LibTorch module lacks the command '" + first + "'");
      }
    }
    std::string hint = pl::nearest(first, names);
    throw medsynth::UsageError("unknown command '" + first + "'" +
                               (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                               "; see 'medsynth --help'");
  } catch (const medsynth::Error& e) {
    std::cerr << "medsynth: error: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::cerr << "medsynth: error: out of memory\n";
    return static_cast<int>(ExitCode::kRuntime);
  } catch (const std::exception& e) {
    std::cerr << "medsynth: error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::kRuntime);
  }
}
