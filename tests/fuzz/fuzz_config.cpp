// libFuzzer harness for the INI config reader (load_config: every key, typed values, the
// unknown-key refusal with its nearest-key hint) and the stored config read back from checkpoints
// (config_from_ini_text). Every input must be read or refused with medsynth::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "medsynth/error.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/config.h"

namespace medsynth::pipeline {
// The other commands are not linked into this harness (all_commands() lists them; nothing here
// calls it).
#define MEDSYNTH_FUZZ_NO_COMMAND(name) \
  Command name() { __builtin_trap(); }
MEDSYNTH_FUZZ_NO_COMMAND(make_info_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_convert_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_evaluate_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_config_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_merge_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_detect_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_tissue_map_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_simulate_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_deidentify_command)
MEDSYNTH_FUZZ_NO_COMMAND(make_pacs_command)
}  // namespace medsynth::pipeline

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const medsynth::fuzz::InputFile file(data, size, ".ini");
  try {
    const auto c = medsynth::pipeline::load_config(file.path(), {});
    // What a checkpoint stores is read back the same way.
    medsynth::pipeline::config_from_ini_text(medsynth::pipeline::to_ini(c));
  } catch (const medsynth::Error&) {
    // a clear refusal
  }
  try {
    medsynth::pipeline::config_from_ini_text(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const medsynth::Error&) {
  }
  return 0;
}
