// JPEG 2000 decoding with OpenJPEG from a memory buffer.
#include "jpeg2000_decoder.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "medsynth/error.h"

namespace medsynth::io::detail {
namespace {

struct MemoryStream {
  const std::uint8_t* data;
  std::size_t size, pos;
};

OPJ_SIZE_T stream_read(void* buffer, OPJ_SIZE_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->pos >= s->size) return static_cast<OPJ_SIZE_T>(-1);  // OpenJPEG's end-of-stream
  const std::size_t k = std::min<std::size_t>(n, s->size - s->pos);
  std::memcpy(buffer, s->data + s->pos, k);
  s->pos += k;
  return k;
}

OPJ_OFF_T stream_skip(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  const OPJ_OFF_T from = static_cast<OPJ_OFF_T>(s->pos);
  const OPJ_OFF_T to = std::clamp<OPJ_OFF_T>(from + n, 0, static_cast<OPJ_OFF_T>(s->size));
  s->pos = static_cast<std::size_t>(to);
  return to - from;
}

OPJ_BOOL stream_seek(OPJ_OFF_T n, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (n < 0 || static_cast<std::size_t>(n) > s->size) return OPJ_FALSE;
  s->pos = static_cast<std::size_t>(n);
  return OPJ_TRUE;
}

// OpenJPEG reports through callbacks; the first error is the reason given to the user.
void on_error(const char* msg, void* user) {
  auto* reason = static_cast<std::string*>(user);
  if (!reason->empty()) return;
  *reason = msg;
  while (!reason->empty() && (reason->back() == '\n' || reason->back() == ' ')) reason->pop_back();
}
void on_quiet(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

}  // namespace

Jpeg2000Image decode_jpeg2000(const std::uint8_t* data, std::size_t size) {
  // A raw codestream starts with SOC + SIZ (FF4F FF51); a JP2 file with its signature box.
  static const std::uint8_t kJp2[] = {0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20};
  OPJ_CODEC_FORMAT format;
  if (size >= 4 && data[0] == 0xff && data[1] == 0x4f && data[2] == 0xff && data[3] == 0x51) {
    format = OPJ_CODEC_J2K;
  } else if (size >= sizeof kJp2 && std::memcmp(data, kJp2, sizeof kJp2) == 0) {
    format = OPJ_CODEC_JP2;
  } else {
    throw medsynth::Error("JPEG 2000 frame does not start with a codestream (SOC marker) or a JP2 signature");
  }
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(opj_create_decompress(format));
  if (!codec) throw medsynth::Error("OpenJPEG could not create a decoder");
  std::string reason;
  opj_set_error_handler(codec.get(), on_error, &reason);
  opj_set_warning_handler(codec.get(), on_quiet, nullptr);
  opj_set_info_handler(codec.get(), on_quiet, nullptr);
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  if (!opj_setup_decoder(codec.get(), &params)) throw medsynth::Error("OpenJPEG could not set up the decoder");
  // Without strict mode OpenJPEG returns what it decoded of a truncated codestream as success.
  opj_decoder_set_strict_mode(codec.get(), OPJ_TRUE);

  MemoryStream mem{data, size, 0};
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE));
  if (!stream) throw medsynth::Error("OpenJPEG could not create a stream");
  opj_stream_set_user_data(stream.get(), &mem, nullptr);
  opj_stream_set_user_data_length(stream.get(), size);
  opj_stream_set_read_function(stream.get(), stream_read);
  opj_stream_set_skip_function(stream.get(), stream_skip);
  opj_stream_set_seek_function(stream.get(), stream_seek);

  auto fail = [&](const char* what) {
    return medsynth::Error(std::string("JPEG 2000 data ") + what + (reason.empty() ? "" : " (OpenJPEG: " + reason + ")"));
  };
  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    std::unique_ptr<opj_image_t, ImageDeleter> drop(raw);
    throw fail("has an unreadable header");
  }
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get())) {
    throw fail("cannot be decoded: truncated or corrupt");
  }
  if (image->numcomps < 1 || !image->comps[0].data) throw fail("decoded to no samples");
  const opj_image_comp_t& c = image->comps[0];
  Jpeg2000Image out;
  out.width = static_cast<long>(c.w);
  out.height = static_cast<long>(c.h);
  out.components = static_cast<long>(image->numcomps);
  out.precision = static_cast<int>(c.prec);
  out.is_signed = c.sgnd != 0;
  out.samples.assign(c.data, c.data + static_cast<std::size_t>(c.w) * c.h);
  return out;
}

}  // namespace medsynth::io::detail
