// Encapsulated JPEG 2000 pixel data → frames → OpenJPEG.
#include "dicom_jpeg2000.h"

#include <algorithm>
#include <cstring>

#include <dcmtk/dcmdata/dcpxitem.h>

#include "jpeg2000_decoder.h"
#include "medsynth/io/error.h"

namespace medsynth::io::detail {
namespace {

struct Fragment {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

bool starts_codestream(const Fragment& f) {
  static const std::uint8_t kJp2[] = {0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20};
  return (f.size >= 4 && f.data[0] == 0xff && f.data[1] == 0x4f && f.data[2] == 0xff && f.data[3] == 0x51) ||
         (f.size >= sizeof kJp2 && std::memcmp(f.data, kJp2, sizeof kJp2) == 0);
}

// The first fragment of each frame (PS3.5 A.4): from the Basic Offset Table when it has one
// entry per frame; else one fragment per frame when the counts agree; else where a fragment
// starts a new codestream. A single frame is every fragment.
std::vector<std::size_t> frame_starts(const std::string& path, const Fragment& bot, const std::vector<Fragment>& fragments,
                                      long frames) {
  const std::size_t n = static_cast<std::size_t>(frames);
  if (fragments.empty()) throw Error(path, "JPEG 2000 Pixel Data holds no fragments");
  if (frames == 1) return {0};
  std::vector<std::size_t> starts;
  if (bot.size == 4 * n) {
    // Offsets count from the first fragment's item tag; each item is 8 bytes of tag and length.
    std::size_t at = 0, k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t offset;
      std::memcpy(&offset, bot.data + 4 * i, 4);  // little endian (encapsulated syntaxes are)
      while (k < fragments.size() && at < offset) at += 8 + fragments[k++].size;
      if (at != offset || k >= fragments.size() || (!starts.empty() && k <= starts.back())) {
        throw Error(path, "JPEG 2000 Basic Offset Table entry " + std::to_string(i + 1) + " (" + std::to_string(offset) +
                              ") is not the start of a fragment after the previous frame");
      }
      starts.push_back(k);
    }
    return starts;
  }
  if (fragments.size() == n) {
    for (std::size_t i = 0; i < n; ++i) starts.push_back(i);
    return starts;
  }
  for (std::size_t i = 0; i < fragments.size(); ++i) {
    if (starts_codestream(fragments[i])) starts.push_back(i);
  }
  if (starts.size() != n || starts.front() != 0) {
    throw Error(path, "JPEG 2000 Pixel Data: " + std::to_string(fragments.size()) + " fragments hold " +
                          std::to_string(starts.size()) + " codestreams for NumberOfFrames " + std::to_string(frames) +
                          " (frames missing?)");
  }
  return starts;
}

}  // namespace

bool is_jpeg2000_syntax(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000;
}

Jpeg2000Frames decode_jpeg2000_frames(const std::string& path, DcmDataset* ds, long rows, long columns, long frames) {
  DcmElement* element = nullptr;
  if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element) throw Error(path, "no Pixel Data");
  auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
  DcmPixelSequence* sequence = nullptr;
  if (!pixel_data || pixel_data->getEncapsulatedRepresentation(ds->getOriginalXfer(), nullptr, sequence).bad() ||
      !sequence) {
    throw Error(path, "JPEG 2000 transfer syntax but the Pixel Data is not encapsulated");
  }
  // Item 0 is the Basic Offset Table (maybe empty); the fragments follow.
  std::vector<Fragment> items;
  for (unsigned long i = 0; i < sequence->card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* p = nullptr;
    if (sequence->getItem(item, i).bad() || !item) throw Error(path, "cannot read JPEG 2000 fragment " + std::to_string(i));
    const std::size_t length = item->getLength();
    if (length > 0 && (item->getUint8Array(p).bad() || !p)) {
      throw Error(path, "cannot read JPEG 2000 fragment " + std::to_string(i) + " of " + std::to_string(length) +
                            " bytes (truncated file?)");
    }
    items.push_back({p, length});
  }
  if (items.empty()) throw Error(path, "JPEG 2000 Pixel Data has no Basic Offset Table item");
  const std::vector<Fragment> fragments(items.begin() + 1, items.end());
  const std::vector<std::size_t> starts = frame_starts(path, items.front(), fragments, frames);

  const std::size_t frame_size = static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns);
  Jpeg2000Frames out;
  out.samples.resize(frame_size * static_cast<std::size_t>(frames));
  std::vector<std::uint8_t> joined;
  for (std::size_t f = 0; f < starts.size(); ++f) {
    const std::size_t end = f + 1 < starts.size() ? starts[f + 1] : fragments.size();
    const std::uint8_t* data = fragments[starts[f]].data;
    std::size_t size = fragments[starts[f]].size;
    if (end - starts[f] > 1) {  // a frame in several fragments is decoded from their concatenation
      joined.clear();
      for (std::size_t k = starts[f]; k < end; ++k) joined.insert(joined.end(), fragments[k].data, fragments[k].data + fragments[k].size);
      data = joined.data(), size = joined.size();
    }
    const std::string where = frames > 1 ? "frame " + std::to_string(f + 1) + " of " + std::to_string(frames) + ": " : "";
    Jpeg2000Image image;
    try {
      image = decode_jpeg2000(data, size);
    } catch (const medsynth::Error& e) {
      throw Error(path, where + e.what());
    }
    if (image.components != 1) {
      throw Error(path, where + "JPEG 2000 codestream holds " + std::to_string(image.components) +
                            " components (colour); medsynth reads greyscale images");
    }
    if (image.width != columns || image.height != rows) {
      throw Error(path, where + "JPEG 2000 codestream is " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                            " but the header says " + std::to_string(columns) + "x" + std::to_string(rows));
    }
    if (f > 0 && image.is_signed != out.is_signed) throw Error(path, where + "JPEG 2000 frames differ in signedness");
    out.is_signed = image.is_signed;
    out.precision = std::max(out.precision, image.precision);
    std::copy(image.samples.begin(), image.samples.end(), out.samples.begin() + static_cast<std::ptrdiff_t>(f * frame_size));
  }
  return out;
}

}  // namespace medsynth::io::detail
