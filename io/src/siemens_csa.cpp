// The CSA layout, as SPM's spm_dicom_headers and nibabel's csareader document it: an optional
// "SV10" + 4 bytes (CSA2), n_tags and a check word, then per tag a 64-byte name, VM, a 4-byte VR,
// SyngoDT, the item count and a check word, then per item four int32 (the length is the second
// in CSA2; in CSA1 the first minus tag 1's item count) and the value padded to 4 bytes.
#include "siemens_csa.h"

#include <cstdlib>
#include <cstring>

#include "medsynth/error.h"

namespace medsynth::io::detail {
namespace {

class Cursor {
 public:
  Cursor(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  std::int32_t i32() {
    need(4);
    std::int32_t v = static_cast<std::int32_t>(static_cast<std::uint32_t>(d_[p_]) |
                                               (static_cast<std::uint32_t>(d_[p_ + 1]) << 8) |
                                               (static_cast<std::uint32_t>(d_[p_ + 2]) << 16) |
                                               (static_cast<std::uint32_t>(d_[p_ + 3]) << 24));
    p_ += 4;
    return v;
  }
  std::string text(std::size_t len) {
    need(len);
    std::string s(reinterpret_cast<const char*>(d_ + p_), len);
    p_ += len;
    const auto nul = s.find('\0');
    if (nul != std::string::npos) s.resize(nul);
    while (!s.empty() && (s.back() == ' ')) s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    return s;
  }
  void skip(std::size_t len) { need(len), p_ += len; }
  std::size_t left() const { return n_ - p_; }

 private:
  void need(std::size_t len) const {
    if (len > n_ - p_) throw medsynth::Error("CSA header: an item runs past the end of the element");
  }
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t p_ = 0;
};

}  // namespace

CsaHeader parse_csa_header(const std::uint8_t* data, std::size_t size) {
  Cursor c(data, size);
  const bool csa2 = size >= 4 && std::memcmp(data, "SV10", 4) == 0;
  if (csa2) c.skip(8);
  const std::int32_t n_tags = c.i32();
  c.i32();  // check word (77)
  if (n_tags <= 0 || n_tags > 1000) throw medsynth::Error("CSA header: " + std::to_string(n_tags) + " tags is not a CSA header");
  CsaHeader h;
  std::int32_t tag1_items = 0;
  for (std::int32_t t = 0; t < n_tags; ++t) {
    const std::string name = c.text(64);
    const std::int32_t vm = c.i32();
    c.skip(4);  // VR
    c.i32();    // SyngoDT
    const std::int32_t n_items = c.i32();
    c.i32();    // check word
    if (n_items < 0 || n_items > 1000) throw medsynth::Error("CSA header: tag '" + name + "' claims " + std::to_string(n_items) + " items");
    if (t == 1) tag1_items = n_items;
    std::vector<std::string> items;
    for (std::int32_t k = 0; k < n_items; ++k) {
      const std::int32_t x0 = c.i32(), x1 = c.i32();
      c.i32(), c.i32();
      const std::int32_t len = csa2 || t == 0 ? x1 : x0 - tag1_items;
      if (len < 0 || static_cast<std::size_t>(len) > c.left()) {
        if (csa2) throw medsynth::Error("CSA header: item of '" + name + "' runs past the end of the element");
        break;  // CSA1's odd lengths: nibabel stops here too
      }
      std::string value = c.text(static_cast<std::size_t>(len));
      if (len % 4) c.skip(std::min<std::size_t>(static_cast<std::size_t>(4 - len % 4), c.left()));
      // Items past VM are padding (VM 0 means "as many as there are").
      if ((vm == 0 || k < vm) && !value.empty()) items.push_back(value);
    }
    h[name] = items;
  }
  return h;
}

bool csa_numbers(const CsaHeader& h, const std::string& name, double* out, std::size_t n) {
  auto it = h.find(name);
  if (it == h.end() || it->second.size() < n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const char* s = it->second[i].c_str();
    char* end = nullptr;
    out[i] = std::strtod(s, &end);
    if (end == s) return false;
  }
  return true;
}

bool csa_number(const CsaHeader& h, const std::string& name, double* out) { return csa_numbers(h, name, out, 1); }

}  // namespace medsynth::io::detail
