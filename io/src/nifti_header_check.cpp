#include "nifti_header_check.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "medsynth/io/error.h"

namespace fs = std::filesystem;

namespace medsynth::io::detail {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

template <typename T>
T get(const unsigned char* p, bool swap) {
  T v;
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (swap) {
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  }
  std::memcpy(&v, b, sizeof(T));
  return v;
}

int bytes_per_voxel(int datatype) {
  switch (datatype) {
    case 2: case 256: return 1;            // uint8, int8
    case 4: case 512: return 2;            // int16, uint16
    case 8: case 16: case 768: return 4;   // int32, float32, uint32
    case 64: case 1024: case 1280: return 8;  // float64, int64, uint64
    case 32: return 8;                     // complex64
    case 128: return 3;                    // RGB24
    case 2304: return 4;                   // RGBA32
    case 1536: return 16;                  // float128
    case 1792: return 16;                  // complex128
    default: return 0;
  }
}

// Reads up to `want` bytes of the (possibly gzipped) file; returns the header bytes and, through
// `total`, how many bytes the whole (decompressed) stream holds. Throws on a corrupt gzip stream.
std::vector<unsigned char> read_stream(const std::string& path, std::size_t want, std::uint64_t* total) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path, "cannot open file");
  std::vector<unsigned char> head;
  std::vector<unsigned char> buf(1 << 20);
  std::uint64_t n = 0;
  for (;;) {
    int got = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (got < 0) {
      int errnum = 0;
      std::string msg = gzerror(f, &errnum);
      gzclose(f);
      throw Error(path, "corrupt or truncated compressed data (" + msg + ")");
    }
    if (got == 0) break;
    if (head.size() < want) {
      std::size_t take = std::min<std::size_t>(want - head.size(), static_cast<std::size_t>(got));
      head.insert(head.end(), buf.begin(), buf.begin() + static_cast<long>(take));
    }
    n += static_cast<std::uint64_t>(got);
  }
  // gzread reports a stream that ends without its gzip trailer as EOF with Z_BUF_ERROR.
  int errnum = 0;
  const char* msg = gzerror(f, &errnum);
  std::string err = msg ? msg : "";
  gzclose(f);
  if (errnum != Z_OK && errnum != Z_STREAM_END) {
    throw Error(path, "corrupt or truncated compressed data (" + err + ")");
  }
  *total = n;
  return head;
}

}  // namespace

void check_nifti_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path, "no such file");
  if (fs::file_size(path, ec) == 0) throw Error(path, "file is empty");

  std::uint64_t total = 0;
  std::vector<unsigned char> h = read_stream(path, 540, &total);
  if (h.size() < 348) throw Error(path, "too short for a NIfTI header (" + std::to_string(h.size()) + " bytes)");

  std::int32_t sizeof_hdr = get<std::int32_t>(h.data(), false);
  bool swap = false;
  if (sizeof_hdr != 348 && sizeof_hdr != 540) {
    swap = true;
    sizeof_hdr = get<std::int32_t>(h.data(), true);
  }
  if (sizeof_hdr != 348 && sizeof_hdr != 540) {
    throw Error(path, "not a NIfTI or Analyze header (sizeof_hdr is neither 348 nor 540)");
  }
  const bool nifti2 = sizeof_hdr == 540;
  if (nifti2 && h.size() < 540) throw Error(path, "truncated NIfTI-2 header");

  std::int64_t dim[8];
  double pixdim[8];
  int datatype, bitpix;
  double vox_offset;
  bool single_file;
  if (nifti2) {
    datatype = get<std::int16_t>(&h[12], swap);
    bitpix = get<std::int16_t>(&h[14], swap);
    for (int i = 0; i < 8; ++i) dim[i] = get<std::int64_t>(&h[16 + 8 * i], swap);
    for (int i = 0; i < 8; ++i) pixdim[i] = get<double>(&h[104 + 8 * i], swap);
    vox_offset = static_cast<double>(get<std::int64_t>(&h[168], swap));
    single_file = std::memcmp(&h[4], "n+2", 3) == 0;
  } else {
    for (int i = 0; i < 8; ++i) dim[i] = get<std::int16_t>(&h[40 + 2 * i], swap);
    datatype = get<std::int16_t>(&h[70], swap);
    bitpix = get<std::int16_t>(&h[72], swap);
    for (int i = 0; i < 8; ++i) pixdim[i] = get<float>(&h[76 + 4 * i], swap);
    vox_offset = get<float>(&h[108], swap);
    single_file = std::memcmp(&h[344], "n+1", 3) == 0;
  }

  if (dim[0] < 1 || dim[0] > 7) {
    throw Error(path, "NIfTI header: dim[0] = " + std::to_string(dim[0]) + " (must be 1..7)");
  }
  std::uint64_t nvox = 1;
  for (int i = 1; i <= dim[0]; ++i) {
    if (dim[i] < 1) {
      throw Error(path, "NIfTI header: dim[" + std::to_string(i) + "] = " + std::to_string(dim[i]) +
                            " (every dimension must be at least 1)");
    }
    if (nvox > (std::uint64_t{1} << 40) / static_cast<std::uint64_t>(dim[i])) {
      throw Error(path, "NIfTI header: dimensions describe more than 2^40 voxels");
    }
    nvox *= static_cast<std::uint64_t>(dim[i]);
  }
  for (int i = 1; i <= std::min<std::int64_t>(dim[0], 3); ++i) {
    if (!std::isfinite(pixdim[i]) || pixdim[i] == 0.0) {
      throw Error(path, "NIfTI header: pixdim[" + std::to_string(i) + "] = " +
                            std::to_string(pixdim[i]) + " (voxel size must be finite and non-zero)");
    }
  }
  const int bpv = bytes_per_voxel(datatype);
  if (bpv == 0) throw Error(path, "NIfTI header: unknown datatype code " + std::to_string(datatype));
  if (bitpix != 8 * bpv) {
    throw Error(path, "NIfTI header: bitpix " + std::to_string(bitpix) + " does not match datatype " +
                          std::to_string(datatype));
  }
  const std::uint64_t data_bytes = nvox * static_cast<std::uint64_t>(bpv);

  if (single_file || (!ends_with(path, ".hdr") && !ends_with(path, ".hdr.gz"))) {
    if (!std::isfinite(vox_offset) || vox_offset < sizeof_hdr) {
      throw Error(path, "NIfTI header: vox_offset " + std::to_string(vox_offset) +
                            " lies inside the header");
    }
    const std::uint64_t need = static_cast<std::uint64_t>(vox_offset) + data_bytes;
    if (total < need) {
      throw Error(path, "file holds " + std::to_string(total) + " bytes but its header describes " +
                            std::to_string(need) + " (truncated file or wrong dimensions)");
    }
  } else {
    // Two-file pair: the data lives in the .img beside the .hdr.
    std::string img = path.substr(0, path.size() - (ends_with(path, ".gz") ? 7 : 4)) + ".img";
    if (ends_with(path, ".gz")) img += ".gz";
    if (!fs::exists(img, ec)) throw Error(path, "its data file " + img + " is missing");
    std::uint64_t img_total = 0;
    read_stream(img, 0, &img_total);
    const std::uint64_t off = std::isfinite(vox_offset) && vox_offset > 0 ? static_cast<std::uint64_t>(vox_offset) : 0;
    if (img_total < off + data_bytes) {
      throw Error(img, "holds " + std::to_string(img_total) + " bytes but the header describes " +
                           std::to_string(off + data_bytes));
    }
  }
}

}  // namespace medsynth::io::detail
