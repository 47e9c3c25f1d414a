#pragma once
// Fresh DICOM UIDs for what medsynth writes (PS3.5 §9 and §B.2).
#include <string>

namespace medsynth::io {

// Without a root: "2.25." followed by the decimal value of a random (version 4) UUID, the
// registration-free form of PS3.5 §B.2. With a root (an organisation's registered prefix such as
// "1.2.826.0.1.3680043.10.999"): root + "." + a random decimal suffix, up to 64 characters in all.
// Throws medsynth::Error (usage) for a root that is not a valid UID prefix or leaves no room.
std::string make_dicom_uid(const std::string& root = "");

// True for a syntactically valid UID: digits and dots, no empty or leading-zero component,
// at most 64 characters.
bool is_valid_dicom_uid(const std::string& uid);

}  // namespace medsynth::io
