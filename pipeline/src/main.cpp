// The medsynth executable: dispatches to one command, owns the outermost catch and exit codes.
#include <exception>
#include <iostream>
#include <new>

#include "medsynth/error.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/version.h"

namespace {

void print_main_help() {
  std::cout << "usage: medsynth <command> [options]\n\n"
               "Synthetic medical images: read DICOM/NIfTI, train conditional generative models,\n"
               "write synthetic scans and prove their quality.\n\ncommands:\n";
  for (const auto& c : medsynth::pipeline::all_commands()) {
    std::string name = c.name;
    name.resize(12, ' ');
    std::cout << "  " << name << c.summary << "\n";
  }
  std::cout << "\n'medsynth <command> --help' shows a command's options.\n"
               "exit codes: 0 done, 1 usage, 2 bad input, 3 failure while running.\n";
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
