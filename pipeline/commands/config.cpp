// medsynth config: the configuration reference, and the effective configuration of a file.
#include <iostream>
#include <nlohmann/json.hpp>

#include "medsynth/pipeline/bids.h"
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
  const RunConfig config = load_config(vm["file"].as<std::string>(), overrides);
  if (vm.count("data")) {
    // The dataset as the ingest will read it: checked now, before any training.
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : read_dataset(config.data)) {
      nlohmann::json j{{"subject", r.subject}, {"image", r.image}, {"labels", r.labels}, {"source", r.source}};
      if (r.class_id >= 0) j["class"] = r.class_id;
      if (r.line > 0) j["line"] = r.line;
      if (!config.data.bids.empty()) {
        j["session"] = r.session;
        j["entities"] = r.entities;
        j["acquisition"] = r.acquisition.is_null() ? nlohmann::json::object() : r.acquisition;
      }
      rows.push_back(j);
    }
    std::cout << rows.dump(2) << "\n";
    return 0;
  }
  std::cout << to_ini(config);
  return 0;
}

}  // namespace

Command make_config_command() {
  Command c;
  c.name = "config";
  c.summary = "print the configuration reference, or the effective configuration of a file";
  c.usage = "medsynth config [FILE.ini] [--section.key value ...] [--data] | medsynth config --reference";
  c.details =
      "Without --reference: reads FILE.ini (if given), applies the overrides and prints every key\n"
      "with its effective value, as INI; unknown keys are refused with the nearest valid one.\n"
      "--data reads the dataset instead (data.manifest or data.bids: every file named, the BIDS\n"
      "rules of docs/bids.md) and prints its rows as JSON; a malformed dataset is refused naming\n"
      "the file and the rule, as training would, but before any work.\n"
      "--reference prints the Markdown table of docs/config.md.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("file", po::value<std::string>()->default_value(""), "INI file")
        ("data", "check the dataset and print its rows (subject, image, labels, ...) as JSON")
        ("reference", "print the reference of every key (Markdown)");
    p.add("file", 1);
  };
  c.run = run_config;
  return c;
}

}  // namespace medsynth::pipeline
