// libFuzzer harness for the stage runner's stage.json reader (read_stage_record): a damaged or
// hand-edited record is null (the stage runs again), never an exception, and whatever it returns
// has the shape the runner reads.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "medsynth/pipeline/run.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  static const fs::path run = "/dev/shm/medsynth-fuzz-run-" + std::to_string(::getpid());
  fs::create_directories(run / "train");
  {
    std::ofstream out(run / "train" / "stage.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const nlohmann::json r = medsynth::pipeline::read_stage_record(run.string(), "train");  // must not throw
  if (!r.is_null() && !medsynth::pipeline::is_stage_record(r)) __builtin_trap();
  if (r.is_object()) {
    // What the runner does with a record: these must not throw on any record it was given.
    (void)r.value("status", "");
    (void)r.value("fingerprint", "");
    if (r.contains("artefacts")) {
      for (const auto& a : r["artefacts"]) (void)a.get<std::string>();
    }
  }
  return 0;
}
