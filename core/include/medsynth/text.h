#pragma once
// Small text helpers every layer uses: the UTC time stamp of reports and stage files, and HTML
// escaping of text put into a page. Header-only, standard library only.
#include <ctime>
#include <string>

namespace medsynth {

// Now as ISO 8601 UTC, e.g. 2026-12-01T18:51:15Z.
inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Text made safe for HTML element content and double-quoted attributes.
inline std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

}  // namespace medsynth
