// libFuzzer harness for the CSV tables of medsynth simulate: tissue tables (--tissues,
// merge_tissue_csv) and label tables (--label-table, read_label_tissue_csv). The first byte picks
// which. Every input must be read or refused with medsynth::Error.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "medsynth/error.h"
#include "medsynth/physics/tissue_table.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  namespace ph = medsynth::physics;
  const medsynth::fuzz::InputFile file(data + 1, size - 1, ".csv");
  try {
    if (data[0] % 2 == 0) {
      const ph::TissueTable t = ph::merge_tissue_csv(ph::literature_table(3.0), file.path());
      // Every tissue read passed the checks merge_tissue_csv promises.
      for (const auto& name : t.names()) {
        if (!ph::check_parameters(t.at(name)).empty()) __builtin_trap();
      }
    } else {
      ph::read_label_tissue_csv(file.path(), ph::literature_table(3.0));
    }
  } catch (const medsynth::Error&) {
  }
  return 0;
}
