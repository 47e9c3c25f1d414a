#pragma once
#include <string>

namespace medsynth::io::detail {

// Validates a NIfTI-1/NIfTI-2/Analyze header and the size of its data before ITK sees the file:
// ITK's reader trusts dim[] and vox_offset, so a hostile header could make it allocate or read
// past the data. Throws io::Error naming the file and the field.
void check_nifti_file(const std::string& path);

}  // namespace medsynth::io::detail
