#include "medsynth/physics/tissue_table.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/io/error.h"

namespace medsynth::physics {
namespace {

// One row of the literature table: values and the source of each (docs/physics.md lists the
// papers). "est." marks an estimate where no measurement is cited: keep them visible.
struct Row {
  const char* tissue;
  double pd, t1, t2, t2star;
  const char* source;
};

// PD is taken as field-independent: CSF is water (1), grey and white matter from water-content
// mapping (Neeb 2006: ~0.80 and ~0.69); the others are estimates.
constexpr const char* kPdSource = "PD: Neeb 2006 (gm, wm), water = 1 (csf), est. (others)";

constexpr Row kRows15[] = {
    {"csf", 1.00, 4000, 2200, 1000, "T1 est.; T2 Atlas tab. 2.1; T2* est."},
    {"grey_matter", 0.80, 1124, 95, 84.0, "T1, T2 Stanisz 2005; T2* Peters 2007"},
    {"white_matter", 0.69, 884, 72, 66.2, "T1, T2 Stanisz 2005; T2* Peters 2007"},
    {"fat", 0.90, 343, 58, 35, "T1, T2 Gold 2004 (subcutaneous); T2* est."},
    {"muscle", 0.80, 1008, 44, 30, "T1, T2 Stanisz 2005 (skeletal); T2* est."},
    {"bone", 0.05, 200, 0.5, 0.45, "T1, T2 est.; T2* Reichert 2005 (cortical)"},
    {"blood", 0.87, 1350, 150, 50, "T1 Alsop 2015; T2 Atlas tab. 2.1 (venous); T2* est."},
    {"lesion", 0.80, 1200, 130, 90, "est. (MS white-matter lesion)"},
};
constexpr Row kRows3[] = {
    {"csf", 1.00, 4300, 2200, 800, "T1 est.; T2 Atlas tab. 2.1; T2* est."},
    {"grey_matter", 0.80, 1820, 99, 66.0, "T1, T2 Stanisz 2005; T2* Peters 2007"},
    {"white_matter", 0.69, 1084, 69, 53.2, "T1, T2 Stanisz 2005; T2* Peters 2007"},
    {"fat", 0.90, 382, 68, 30, "T1, T2 Gold 2004 (subcutaneous); T2* est."},
    {"muscle", 0.80, 1412, 50, 28, "T1, T2 Stanisz 2005 (skeletal); T2* est."},
    {"bone", 0.05, 250, 0.5, 0.45, "T1, T2 est.; T2* Reichert 2005 (cortical)"},
    {"blood", 0.87, 1650, 80, 25, "T1 Alsop 2015; T2 Atlas tab. 2.1 (venous); T2* est."},
    {"lesion", 0.80, 1500, 120, 70, "est. (MS white-matter lesion)"},
};
constexpr Row kRows7[] = {
    {"csf", 1.00, 4400, 1000, 500, "T1, T2, T2* est."},
    {"grey_matter", 0.80, 1920, 55, 33.2, "T1 Marques 2010; T2 est.; T2* Peters 2007"},
    {"white_matter", 0.69, 1150, 45, 26.8, "T1 Marques 2010; T2 est.; T2* Peters 2007"},
    {"fat", 0.90, 580, 50, 20, "T1, T2, T2* est."},
    {"muscle", 0.80, 1550, 30, 20, "T1, T2, T2* est."},
    {"bone", 0.05, 300, 0.5, 0.4, "T1, T2, T2* est."},
    {"blood", 0.87, 2100, 30, 7.4, "T1, T2 est.; T2* Koopmans 2008 (venous)"},
    {"lesion", 0.80, 1900, 70, 40, "est. (MS white-matter lesion)"},
};

// BrainWeb's tissue parameters (Kwan, Evans, Pike 1999), as its simulator uses them.
constexpr Row kBrainWeb[] = {
    {"csf", 1.00, 2569, 329, 58, "BrainWeb (Kwan 1999)"},
    {"grey_matter", 0.86, 833, 83, 69, "BrainWeb (Kwan 1999)"},
    {"white_matter", 0.77, 500, 70, 61, "BrainWeb (Kwan 1999)"},
    {"fat", 1.00, 350, 70, 58, "BrainWeb (Kwan 1999)"},
    {"muscle", 1.00, 900, 47, 30, "BrainWeb (Kwan 1999, muscle/skin)"},
};

TissueParameters background() { return {0.0, 1.0, 1.0, 1.0, "no signal"}; }

template <std::size_t N>
TissueTable make_table(double field, const std::string& name, const Row (&rows)[N], bool pd_note) {
  TissueTable t;
  t.field_tesla = field;
  t.name = name;
  t.tissues["background"] = background();
  for (const Row& r : rows) {
    std::string src = r.source;
    if (pd_note) src = std::string(kPdSource) + "; " + src;
    t.tissues[r.tissue] = {r.pd, r.t1, r.t2, r.t2star, src};
  }
  return t;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream is(line);
  while (std::getline(is, cell, ',')) {
    const auto a = cell.find_first_not_of(" \t\r"), b = cell.find_last_not_of(" \t\r");
    out.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
  }
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

// Lines of a CSV file with their 1-based numbers, comments and blank lines skipped.
std::vector<std::pair<int, std::string>> csv_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io::Error(path, "cannot open the file");
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    lines.emplace_back(n, line);
  }
  if (lines.empty()) throw io::Error(path, "no rows (expected a header line and one row per entry)");
  return lines;
}

double parse_number(const std::string& cell, const std::string& what, const std::string& where) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(cell, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (cell.empty() || used != cell.size() || !std::isfinite(v)) {
    throw medsynth::Error(where + ": " + what + " '" + cell + "' is not a number", ExitCode::kBadInput);
  }
  return v;
}

}  // namespace

const TissueParameters& TissueTable::at(const std::string& tissue) const {
  auto it = tissues.find(tissue);
  if (it == tissues.end()) {
    throw medsynth::Error("tissue '" + tissue + "' is not in the table " + name + " (it has " + join(names()) + ")",
                          ExitCode::kBadInput);
  }
  return it->second;
}

std::vector<std::string> TissueTable::names() const {
  std::vector<std::string> v;
  for (const auto& [k, p] : tissues) v.push_back(k);
  return v;
}

TissueTable literature_table(double field_tesla) {
  auto near = [&](double f) { return std::abs(field_tesla - f) < 0.05; };
  if (near(1.5)) return make_table(1.5, "literature 1.5 T", kRows15, true);
  if (near(3.0)) return make_table(3.0, "literature 3 T", kRows3, true);
  if (near(7.0)) return make_table(7.0, "literature 7 T", kRows7, true);
  std::ostringstream os;
  os << "field " << field_tesla << " T: the built-in table has 1.5, 3 and 7 T; give the tissues at this field with "
     << "--tissue-table FILE.csv";
  throw UsageError(os.str());
}

TissueTable brainweb_table() {
  TissueTable t = make_table(1.5, "brainweb 1.5 T", kBrainWeb, false);
  const TissueTable lit = literature_table(1.5);
  for (const char* missing : {"bone", "blood", "lesion"}) t.tissues[missing] = lit.at(missing);
  return t;
}

std::string check_parameters(const TissueParameters& p) {
  if (!(p.pd >= 0 && p.pd <= 10)) return "pd must be in 0..10 (water = 1)";
  if (!(p.t1 > 0)) return "t1 must be > 0 ms";
  if (!(p.t2 > 0)) return "t2 must be > 0 ms";
  if (!(p.t2star > 0)) return "t2star must be > 0 ms";
  if (p.t2star > p.t2 * (1 + 1e-9)) return "t2star must not exceed t2";
  return "";
}

TissueTable merge_tissue_csv(TissueTable base, const std::string& path) {
  const auto lines = csv_lines(path);
  const std::vector<std::string> header = split_csv(lines[0].second);
  const std::vector<std::string> expected = {"tissue", "pd", "t1", "t2", "t2star"};
  const bool with_source = header.size() == 6 && header[5] == "source";
  if (!(header.size() == 5 || with_source) || !std::equal(expected.begin(), expected.end(), header.begin())) {
    throw io::Error(path, "line " + std::to_string(lines[0].first) + ": the header must be tissue,pd,t1,t2,t2star " +
                              "(optionally ,source), not '" + lines[0].second + "'");
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& [n, line] = lines[i];
    const std::string where = path + ": line " + std::to_string(n);
    const std::vector<std::string> c = split_csv(line);
    if (c.size() != header.size()) {
      throw io::Error(path, "line " + std::to_string(n) + ": " + std::to_string(c.size()) + " fields, expected " +
                                std::to_string(header.size()));
    }
    if (c[0].empty()) throw io::Error(path, "line " + std::to_string(n) + ": empty tissue name");
    TissueParameters p{parse_number(c[1], "pd", where), parse_number(c[2], "t1", where),
                       parse_number(c[3], "t2", where), parse_number(c[4], "t2star", where),
                       with_source && !c[5].empty() ? c[5] : path};
    const std::string problem = check_parameters(p);
    if (!problem.empty()) throw io::Error(path, "line " + std::to_string(n) + " (" + c[0] + "): " + problem);
    base.tissues[c[0]] = p;
  }
  base.name += " + " + path;
  return base;
}

std::string to_csv(const TissueTable& table) {
  std::ostringstream os;
  os << "# " << table.name << "\ntissue,pd,t1,t2,t2star,source\n";
  for (const auto& [name, p] : table.tissues) {
    os << name << "," << p.pd << "," << p.t1 << "," << p.t2 << "," << p.t2star << "," << p.source << "\n";
  }
  return os.str();
}

LabelTissueMap default_label_tissues() {
  return {{0, "background"}, {1, "csf"}, {2, "grey_matter"}, {3, "white_matter"}};
}

LabelTissueMap read_label_tissue_csv(const std::string& path, const TissueTable& table) {
  const auto lines = csv_lines(path);
  if (split_csv(lines[0].second) != std::vector<std::string>{"label", "tissue"}) {
    throw io::Error(path, "line " + std::to_string(lines[0].first) + ": the header must be label,tissue, not '" +
                              lines[0].second + "'");
  }
  LabelTissueMap map;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& [n, line] = lines[i];
    const std::string where = path + ": line " + std::to_string(n);
    const std::vector<std::string> c = split_csv(line);
    if (c.size() != 2) throw io::Error(path, "line " + std::to_string(n) + ": expected label,tissue");
    const double label = parse_number(c[0], "label", where);
    if (label != std::floor(label) || std::abs(label) > 2e9) {
      throw io::Error(path, "line " + std::to_string(n) + ": label '" + c[0] + "' is not an integer");
    }
    if (!table.tissues.count(c[1])) {
      throw io::Error(path, "line " + std::to_string(n) + ": tissue '" + c[1] + "' is not in the table (it has " +
                                join(table.names()) + ")");
    }
    if (!map.emplace(static_cast<int>(label), c[1]).second) {
      throw io::Error(path, "line " + std::to_string(n) + ": label " + c[0] + " given twice");
    }
  }
  return map;
}

}  // namespace medsynth::physics
