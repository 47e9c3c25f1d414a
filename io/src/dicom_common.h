#pragma once
// Small DCMTK helpers shared by the DICOM writer, the de-identifier and the PACS client.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <string>

namespace medsynth::io::detail {

// Silences DCMTK's own logging (medsynth prints its own one-line errors) and checks that the data
// dictionary is loaded; throws medsynth::Error naming the package otherwise.
void init_dcmtk_quiet();

// A value of VR DS: at most 16 characters, as many significant digits as fit.
std::string format_ds(double v);

// Trimmed string value of an attribute ("" when absent).
std::string get_string(DcmItem& item, const DcmTagKey& key);

// "YYYYMMDD" and "HHMMSS" of the current local time.
std::string today_da();
std::string now_tm();

}  // namespace medsynth::io::detail

namespace medsynth::io::detail {
// "IM0001.dcm": file names come from a counter (never from values in a file, which may name a
// patient), zero-padded to at least 4 digits so they sort in slice order.
std::string index_file_name(std::size_t index, std::size_t count);
}  // namespace medsynth::io::detail
