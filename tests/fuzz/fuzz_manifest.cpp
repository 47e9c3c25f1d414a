// libFuzzer harness for the manifest CSV (parse_manifest: the part of read_manifest before it
// checks the named files). Every input must be parsed or refused with medsynth::Error, and what
// is parsed has the shape the ingest relies on.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "medsynth/error.h"
#include "medsynth/pipeline/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace pl = medsynth::pipeline;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    const auto rows = pl::parse_manifest(in, "/data/study/manifest.csv");
    if (rows.empty()) __builtin_trap();
    int last = 1;
    for (const auto& r : rows) {
      // Lines counted from the header (line 1), rising; subject and image never empty; relative
      // paths resolved against the manifest's folder.
      if (r.line <= last || r.subject.empty() || r.image.empty()) __builtin_trap();
      for (const std::string* p : {&r.image, &r.labels, &r.source}) {
        if (!p->empty() && (*p)[0] != '/') __builtin_trap();
      }
      last = r.line;
    }
  } catch (const medsynth::Error&) {
  }
  return 0;
}
