#pragma once
// One JPEG 2000 codestream (raw J2K or a JP2 file) decoded with OpenJPEG. Debian's DCMTK has no
// JPEG 2000 codec, so the DICOM reader hands each frame's bytes here (dicom_jpeg2000.cpp).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace medsynth::io::detail {

struct Jpeg2000Image {
  long width = 0, height = 0, components = 0;
  int precision = 0;       // bits per sample, as the codestream says
  bool is_signed = false;  // as the codestream says
  std::vector<std::int32_t> samples;  // first component, row after row
};

// Decodes a whole codestream. Truncated or corrupt data is an error (OpenJPEG's strict mode:
// no partial image), thrown as medsynth::Error with OpenJPEG's reason.
Jpeg2000Image decode_jpeg2000(const std::uint8_t* data, std::size_t size);

}  // namespace medsynth::io::detail
