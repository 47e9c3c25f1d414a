#include "dicom_common.h"

#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include "medsynth/error.h"

namespace medsynth::io::detail {

void init_dcmtk_quiet() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); });
  if (!dcmDataDict.isDictionaryLoaded()) {
    throw medsynth::Error("DCMTK's data dictionary is not loaded (install the libdcmtk package "
                          "or set DCMDICTPATH)");
  }
}

std::string format_ds(double v) {
  if (v == 0) return "0";
  char buf[64];
  // %.*g drops trailing zeros; fewer digits until the text fits DS's 16 characters.
  for (int digits = 15; digits > 0; --digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::string(buf).size() <= 16) return buf;
  }
  return "0";
}

std::string get_string(DcmItem& item, const DcmTagKey& key) {
  OFString s;
  if (item.findAndGetOFStringArray(key, s).bad()) return {};
  std::string r = s.c_str();
  while (!r.empty() && (r.back() == ' ' || r.back() == '\0')) r.pop_back();
  return r;
}

namespace {
std::string format_now(const char* fmt) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}
}  // namespace

std::string today_da() { return format_now("%Y%m%d"); }
std::string now_tm() { return format_now("%H%M%S"); }

}  // namespace medsynth::io::detail

namespace medsynth::io::detail {
std::string index_file_name(std::size_t index, std::size_t count) {
  const std::size_t width = std::max<std::size_t>(4, std::to_string(count).size());
  std::string digits = std::to_string(index);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return "IM" + digits + ".dcm";
}
}  // namespace medsynth::io::detail
