#pragma once
// One CLI command = one file in pipeline/commands/ that fills a Command: its usage text and
// options (declared next to each other, so --help and docs/cli.md never drift) and its run().
#include <boost/program_options.hpp>

#include <functional>
#include <string>
#include <vector>

namespace medsynth::pipeline {

namespace po = boost::program_options;

struct Command {
  std::string name;
  std::string summary;  // one line for `medsynth --help`
  std::string usage;    // "medsynth info PATH [options]"
  std::string details;  // a paragraph after the usage line
  // Declares named options and positional arguments.
  std::function<void(po::options_description&, po::positional_options_description&)> declare;
  // Runs with parsed options; returns the exit code (0). Errors are thrown (medsynth::Error).
  std::function<int(const po::variables_map&)> run;
  // When true, options the command does not declare are config keys (--section.key value); they
  // reach run() as a vector<string> under kOverridesKey.
  bool accepts_config_overrides = false;
};

inline constexpr const char* kOverridesKey = "__config_overrides";
// Every command also finds its own argument list (vector<string>) under this key.
inline constexpr const char* kArgsKey = "__args";

// Every command, in the order `medsynth --help` lists them.
const std::vector<Command>& all_commands();

// Per-command factories, one per file in pipeline/commands/.
Command make_info_command();
Command make_convert_command();
Command make_evaluate_command();
Command make_config_command();
Command make_merge_command();
Command make_detect_command();
Command make_tissue_map_command();
Command make_simulate_command();
Command make_deidentify_command();
Command make_pacs_command();

// The closest name to `word` among `candidates` (edit distance), or "" when none is near.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

// Parses argv for one command and runs it; owns --help for that command.
int run_command(const Command& cmd, const std::vector<std::string>& args);

// Help text for a command (usage, details, options): the same text docs/cli.md embeds.
std::string command_help(const Command& cmd);

}  // namespace medsynth::pipeline
