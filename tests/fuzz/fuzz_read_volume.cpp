// libFuzzer harness for medsynth's own NIfTI and DICOM readers: the first byte picks the
// format, the rest is the file.
// Every input must be read or refused with medsynth::Error — never a crash, leak or hang.
// Build: see tests/fuzz/README.md (clang, -DMEDSYNTH_FUZZ=ON).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "dicom_series_reader.h"
#include "medsynth/error.h"
#include "nifti_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* kSuffix[] = {".nii", ".dcm", ".nii.gz"};
  const int format = data[0] % 3;
  const std::string path = "/dev/shm/medsynth-fuzz-" + std::to_string(::getpid()) + kSuffix[format];
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    if (format == 1) {
      medsynth::io::detail::read_dicom_series(path, {});
    } else {
      medsynth::io::detail::read_nifti_volume(path);
    }
  } catch (const medsynth::Error&) {
    // A clear refusal is the expected outcome for most inputs.
  }
  ::unlink(path.c_str());
  return 0;
}
