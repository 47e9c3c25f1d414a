// medsynth config: the configuration reference, and the effective configuration of a file.
#include <iostream>

#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {
namespace {

int run_config(const po::variables_map& vm) {
  if (vm.count("reference")) {
    std::cout << config_reference();
    return 0;
  }
  const std::vector<std::string> overrides =
      vm.count(kOverridesKey) ? vm[kOverridesKey].as<std::vector<std::string>>() : std::vector<std::string>{};
  std::cout << to_ini(load_config(vm["file"].as<std::string>(), overrides));
  return 0;
}

}  // namespace

Command make_config_command() {
  Command c;
  c.name = "config";
  c.summary = "print the configuration reference, or the effective configuration of a file";
  c.usage = "medsynth config [FILE.ini] [--section.key value ...] | medsynth config --reference";
  c.details =
      "Without --reference: reads FILE.ini (if given), applies the overrides and prints every key\n"
      "with its effective value, as INI; unknown keys are refused with the nearest valid one.\n"
      "--reference prints the Markdown table of docs/config.md.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("file", po::value<std::string>()->default_value(""), "INI file")
        ("reference", "print the reference of every key (Markdown)");
    p.add("file", 1);
  };
  c.run = run_config;
  return c;
}

}  // namespace medsynth::pipeline
