#pragma once
// JPEG 2000 pixel data of a DICOM file: its encapsulated fragments split into frames (PS3.5 A.4)
// and each frame decoded with OpenJPEG (jpeg2000_decoder.cpp). Debian's DCMTK has no JPEG 2000
// codec; this replaces it for the Part 1 syntaxes.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstdint>
#include <string>
#include <vector>

namespace medsynth::io::detail {

// JPEG 2000 Image Compression (Lossless Only), 1.2.840.10008.1.2.4.90, and JPEG 2000 Image
// Compression, 1.2.840.10008.1.2.4.91. The Part 2 multi-component syntaxes (.92, .93) are not.
bool is_jpeg2000_syntax(E_TransferSyntax xfer);

struct Jpeg2000Frames {
  std::vector<std::int32_t> samples;  // frame after frame, rows × columns each
  bool is_signed = false;             // as every frame's codestream says
  int precision = 0;                  // the largest of the frames' precisions
};

// Decodes `frames` frames of `rows` × `columns` from the Pixel Data of `ds`. Throws io::Error
// naming `path` and the problem: fragments that do not split into the frames, a frame that is
// truncated or corrupt, a codestream whose size or component count differs from the header.
Jpeg2000Frames decode_jpeg2000_frames(const std::string& path, DcmDataset* ds, long rows, long columns, long frames);

}  // namespace medsynth::io::detail
