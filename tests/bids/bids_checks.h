#pragma once
// Checks of a BIDS derivatives dataset that medsynth wrote (write_bids_derivatives, the runner's
// export.bids), shared by the BIDS tests and the runner's test: file names by the derivatives
// rule, the npm BIDS validator on the dataset and on a raw view of the same files.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace medsynth::test {

// The BIDS validator from the npm registry (scripts/setup.sh installs it); a missing one fails.
inline RunResult bids_validator(const fs::path& dir) {
  const RunResult which = run("command -v bids-validator");
  EXPECT_EQ(which.exit_code, 0) << "bids-validator is missing: install the npm package 'bids-validator' (scripts/setup.sh)";
  return run("bids-validator --json " + dir.string(), 300);
}

// The validator's errors (not its warnings) from its --json report.
inline std::vector<std::string> validator_errors(const RunResult& r) {
  std::vector<std::string> errors;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception&) {
    errors.push_back("validator printed no JSON: " + r.out + r.err);
    return errors;
  }
  for (const auto& e : j["issues"]["errors"]) {
    std::string files;
    for (const auto& f : e.value("files", nlohmann::json::array()))
      if (f.contains("file") && f["file"].is_object()) files += " " + f["file"].value("relativePath", "");
    errors.push_back(e.value("key", "") + ": " + e.value("reason", "") + files);
  }
  return errors;
}

// `out` is a derivatives dataset of `files` (paths inside it, as write_bids_derivatives returns):
// every image and sidecar named by the rule, its description a derivative's, and the validator
// finding nothing but its raw-only complaints; copied to `raw_view` as raw data (desc- dropped,
// DatasetType raw), the same files pass the validator whole.
inline void expect_valid_bids_derivatives(const fs::path& out, const std::vector<std::string>& files, const fs::path& raw_view) {
  // The names follow BIDS derivatives' rule for anatomical images (BIDS 1.8, "Derivatives":
  // raw entities in their order, then space, res, den, desc; the suffix; .nii.gz or .json).
  const std::regex derivative_name(
      R"(^sub-([a-zA-Z0-9]+)(/ses-([a-zA-Z0-9]+))?/anat/sub-\1(_ses-\3)?(_acq-[a-zA-Z0-9]+)?(_ce-[a-zA-Z0-9]+)?)"
      R"((_rec-[a-zA-Z0-9]+)?(_run-[0-9]+)?(_space-[a-zA-Z0-9]+)?(_res-[a-zA-Z0-9]+)?(_den-[a-zA-Z0-9]+)?)"
      R"(_desc-synthetic_(T1w|T2w|PDw|T2starw|FLAIR|PD)\.(nii\.gz|json)$)");
  std::size_t images = 0;
  for (const auto& f : files) {
    if (f == "dataset_description.json" || f == "README") continue;
    EXPECT_TRUE(std::regex_match(f, derivative_name)) << f;
    images += f.size() > 7 && f.compare(f.size() - 7, 7, ".nii.gz") == 0 ? 1 : 0;
  }
  EXPECT_GT(images, 0u) << "no image in " << out;
  std::ifstream in(out / "dataset_description.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json desc = nlohmann::json::parse(text.str());
  EXPECT_EQ(desc["DatasetType"], "derivative");
  EXPECT_EQ(desc["GeneratedBy"][0]["Name"], "medsynth");
  // bids-validator 1.15 (the npm registry's) knows raw datasets only: it checks the derivative's
  // dataset_description.json (DatasetType derivative needs GeneratedBy), but calls every desc-
  // file NOT_INCLUDED. Nothing else may be an error there...
  const auto r = bids_validator(out);
  for (const auto& e : validator_errors(r)) {
    const bool desc_only = e.rfind("NOT_INCLUDED: ", 0) == 0 || e.rfind("NO_VALID_DATA_FOUND_FOR_SUBJECT: ", 0) == 0;
    EXPECT_TRUE(desc_only) << e;
    if (e.rfind("NOT_INCLUDED: ", 0) == 0) {
      for (const auto& f : files) {
        if (f.find("_desc-synthetic_") != std::string::npos) {
          EXPECT_NE(e.find("/" + f), std::string::npos) << f << " " << e;
        }
      }
    }
  }
  // ...and the same files seen as raw data (desc- dropped, DatasetType raw) pass it whole: NIfTI
  // headers, sidecars, layout and the description.
  copy_tree(out.string(), raw_view.string());
  for (const auto& f : files) {
    const auto at = f.find("_desc-synthetic");
    if (at != std::string::npos) fs::rename(raw_view / f, raw_view / (f.substr(0, at) + f.substr(at + 15)));
  }
  desc["DatasetType"] = "raw";
  std::ofstream(raw_view / "dataset_description.json") << desc.dump();
  const auto rv = bids_validator(raw_view);
  const auto errors = validator_errors(rv);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(rv.exit_code, 0) << rv.out.substr(0, 2000) << rv.err;
}

}  // namespace medsynth::test
