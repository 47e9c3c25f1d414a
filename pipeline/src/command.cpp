#include "medsynth/pipeline/command.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "medsynth/error.h"

namespace medsynth::pipeline {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> commands = {make_info_command(), make_convert_command(), make_evaluate_command(),
                                                make_deidentify_command(), make_pacs_command(), make_config_command(),
                                                make_merge_command(), make_detect_command(), make_tissue_map_command(),
                                                make_simulate_command()};
  return commands;
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_d = std::max<std::size_t>(3, word.size() / 2) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

namespace {

po::options_description declared_options(const Command& cmd, po::positional_options_description* pos) {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help and exit");
  po::positional_options_description unused;
  cmd.declare(desc, pos ? *pos : unused);
  return desc;
}

}  // namespace

std::string command_help(const Command& cmd) {
  std::ostringstream os;
  po::positional_options_description pos;
  os << "usage: " << cmd.usage << "\n\n" << cmd.summary << "\n";
  if (!cmd.details.empty()) os << "\n" << cmd.details << "\n";
  os << "\n" << declared_options(cmd, &pos);
  return os.str();
}

int run_command(const Command& cmd, const std::vector<std::string>& args) {
  po::positional_options_description pos;
  po::options_description desc = declared_options(cmd, &pos);
  po::variables_map vm;
  try {
    // Config keys (--section.key value, or --section.key=value) are split off first: they are
    // not the command's own options, and their values must not be taken for positionals.
    std::vector<std::string> own, overrides;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      const bool config_key = cmd.accepts_config_overrides && a.rfind("--", 0) == 0 &&
                              a.find('.') != std::string::npos && a.find('.') < a.find('=');
      if (!config_key) {
        own.push_back(a);
        continue;
      }
      overrides.push_back(a);
      if (a.find('=') == std::string::npos && i + 1 < args.size()) overrides.push_back(args[++i]);
    }
    po::store(po::command_line_parser(own).options(desc).positional(pos).run(), vm);
    if (cmd.accepts_config_overrides) vm.insert({kOverridesKey, po::variable_value(boost::any(overrides), false)});
    vm.insert({kArgsKey, po::variable_value(boost::any(args), false)});
    if (vm.count("help")) {
      std::cout << command_help(cmd);
      return 0;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::vector<std::string> names;
    for (const auto& o : desc.options()) names.push_back("--" + o->long_name());
    std::string opt = e.get_option_name();
    std::string hint = nearest(opt, names);
    throw UsageError(cmd.name + ": unknown option " + opt + (hint.empty() ? "" : " (did you mean " + hint + "?)") +
                     "; see 'medsynth " + cmd.name + " --help'");
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError(cmd.name + ": too many arguments; usage: " + cmd.usage);
  } catch (const po::required_option& e) {
    throw UsageError(cmd.name + ": missing " + e.get_option_name() + "; usage: " + cmd.usage);
  } catch (const po::error& e) {
    throw UsageError(cmd.name + ": " + e.what() + "; see 'medsynth " + cmd.name + " --help'");
  }
  return cmd.run(vm);
}

}  // namespace medsynth::pipeline
