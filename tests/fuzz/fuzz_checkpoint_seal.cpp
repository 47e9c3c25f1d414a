// libFuzzer harness for the checkpoint seal (pipeline/src/checkpoint_seal.cpp), the first thing
// that reads a checkpoint: its search for the zip end record and the content checksum. Every
// input is accepted (sealed and intact, or without a seal) or refused with medsynth::Error; and
// any zip end record without a comment, once sealed, verifies.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "medsynth/error.h"
#include "medsynth/pipeline/checkpoint_seal.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace pl = medsynth::pipeline;
  const medsynth::fuzz::InputFile file(data, size, ".pt");
  try {
    pl::verify_seal(file.path());
  } catch (const medsynth::Error&) {
  }
  bool sealed = false;
  try {
    pl::seal_archive(file.path(), file.path());
    sealed = true;
  } catch (const medsynth::Error&) {
    // no zip end record without a comment: nothing to seal
  }
  if (sealed) {
    try {
      if (!pl::verify_seal(file.path())) __builtin_trap();  // a seal just written is found
    } catch (const medsynth::Error&) {
      __builtin_trap();  // ... and matches
    }
  }
  return 0;
}
