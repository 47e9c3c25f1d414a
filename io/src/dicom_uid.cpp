#include "medsynth/io/dicom_uid.h"

#include <array>
#include <cstdint>
#include <random>

#include "medsynth/error.h"

namespace medsynth::io {
namespace {

// Decimal digits of a 128-bit number held as four 32-bit words (most significant first).
std::string to_decimal(std::array<std::uint32_t, 4> words) {
  std::string digits;
  auto is_zero = [&] { return words[0] == 0 && words[1] == 0 && words[2] == 0 && words[3] == 0; };
  do {
    std::uint64_t remainder = 0;
    for (auto& w : words) {
      const std::uint64_t cur = (remainder << 32) | w;
      w = static_cast<std::uint32_t>(cur / 10);
      remainder = cur % 10;
    }
    digits.insert(digits.begin(), static_cast<char>('0' + remainder));
  } while (!is_zero());
  return digits;
}

std::array<std::uint32_t, 4> random_words() {
  // std::random_device reads the kernel's entropy source on Linux (not a seeded PRNG), so UIDs
  // from two processes started in the same microsecond still differ.
  std::random_device rd;
  return {rd(), rd(), rd(), rd()};
}

}  // namespace

bool is_valid_dicom_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = uid.find('.', start);
    const std::string part = uid.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || (part.size() > 1 && part[0] == '0')) return false;
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

std::string make_dicom_uid(const std::string& root) {
  auto w = random_words();
  if (root.empty()) {
    // UUID version 4 (random) and RFC 4122 variant bits, as PS3.5 §B.2 asks for 2.25 UIDs.
    w[1] = (w[1] & 0xFFFF0FFFu) | 0x00004000u;
    w[2] = (w[2] & 0x3FFFFFFFu) | 0x80000000u;
    return "2.25." + to_decimal(w);
  }
  if (!is_valid_dicom_uid(root) || root.size() > 64 - 2 - 16) {
    throw UsageError("--uid-root '" + root + "' is not a valid UID prefix of at most 46 characters "
                     "(digits and dots, no leading zeros)");
  }
  std::string suffix = to_decimal(w);
  // Keep as many random digits as fit; 16 or more digits leave a collision chance below 1e-16.
  const std::size_t room = 64 - root.size() - 1;
  if (suffix.size() > room) suffix = suffix.substr(0, room);
  while (suffix.size() > 1 && suffix[0] == '0') suffix.erase(suffix.begin());
  return root + "." + suffix;
}

}  // namespace medsynth::io
