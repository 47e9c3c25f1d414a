#pragma once
// Tissue parameters: proton density (relative to water) and the relaxation times T1, T2, T2* (ms)
// of each tissue class at a field strength, with the literature source of every value
// (docs/physics.md prints the table). Users add or replace tissues with a CSV file.
#include <map>
#include <string>
#include <vector>

namespace medsynth::physics {

struct TissueParameters {
  double pd = 0;      // proton density, water = 1
  double t1 = 1;      // ms
  double t2 = 1;      // ms
  double t2star = 1;  // ms, <= t2
  std::string source; // where the values come from ("estimate" where no measurement is cited)
};

// Tissue name -> parameters at one field strength. Names: background, csf, grey_matter,
// white_matter, fat, muscle, bone, blood, lesion (built in), plus any a user table adds.
struct TissueTable {
  double field_tesla = 3;
  std::string name;  // "literature 3 T", "brainweb 1.5 T", plus " + file.csv" when merged
  std::map<std::string, TissueParameters> tissues;

  // Throws medsynth::Error (exit 2) naming the tissue and the known ones when it is absent.
  const TissueParameters& at(const std::string& tissue) const;
  std::vector<std::string> names() const;
};

// Field strengths the built-in literature table has values for.
inline constexpr double kTableFields[] = {1.5, 3.0, 7.0};

// The literature table at 1.5, 3 or 7 T (UsageError for another field: give a user table).
TissueTable literature_table(double field_tesla);
// BrainWeb's simulator parameters (Kwan, Evans and Pike 1999; 1.5 T), for comparison with
// BrainWeb-based work. Tissues it lacks (blood, lesion) come from the 1.5 T literature table.
TissueTable brainweb_table();

// Reads a CSV with the header `tissue,pd,t1,t2,t2star` (an optional sixth column `source`);
// '#' lines and blank lines are skipped. Each row adds or replaces a tissue of `base`. Bad input
// throws io::Error naming the file and line (exit 2).
TissueTable merge_tissue_csv(TissueTable base, const std::string& path);

// Checks one tissue's values (pd in [0, 10], t1, t2, t2star > 0, t2star <= t2); returns "" or
// the problem.
std::string check_parameters(const TissueParameters& p);

// The table as CSV (the format merge_tissue_csv reads, with sources).
std::string to_csv(const TissueTable& table);

// Label value -> tissue name. The default is medsynth tissue-map's 3-class map on a T1:
// 0 background, 1 csf, 2 grey_matter, 3 white_matter.
using LabelTissueMap = std::map<int, std::string>;
LabelTissueMap default_label_tissues();
// Reads a CSV with the header `label,tissue`; every tissue must be in `table`. Errors name the
// file and line.
LabelTissueMap read_label_tissue_csv(const std::string& path, const TissueTable& table);

}  // namespace medsynth::physics
