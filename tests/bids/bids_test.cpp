// BIDS in and out (docs/bids.md) on real Debian-shipped NIfTI files laid out as a BIDS dataset:
// subjects, sessions, label maps from derivatives/, sidecar inheritance, malformed datasets refused
// naming the file and the rule, the ingest with no manifest, and synthetic volumes written as a
// derivatives dataset that the BIDS validator (npm bids-validator) accepts.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "bids/bids_checks.h"
#include "test_util.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;
using nlohmann::json;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

void copy(const std::string& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// Two subjects from two real scans: Colin27 (skull-stripped) with the AAL atlas on its grid as its
// label map, and ITK's KmeansTest subject in a session with its k-means segmentation. Sidecars
// at the dataset level (3 T, Siemens, and an InstitutionName that must not be carried) and at the
// file level (Kmeans: 1.5 T overrides the dataset's 3 T).
fs::path make_dataset(const fs::path& root) {
  const std::string ch2 = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  const std::string aal = data_file(kTemplates + "aal.nii.gz", "mricron-data");
  const std::string km = data_file(kItkData + "KmeansTest_T1RawSkullStrip.nii.gz", "insighttoolkit5-examples");
  const std::string km_seg = data_file(kItkData + "KmeansTest_T1KmeansPrelimSegmentation.nii.gz", "insighttoolkit5-examples");
  write(root / "dataset_description.json",
        R"({"Name": "medsynth test dataset", "BIDSVersion": "1.8.0", "DatasetType": "raw", "Authors": ["medsynth tests"]})");
  write(root / "README", "Two Debian-shipped T1 scans laid out as BIDS for medsynth's tests.\n");
  write(root / "participants.tsv", "participant_id\nsub-colin\nsub-kmeans\n");
  write(root / "T1w.json",
        R"({"MagneticFieldStrength": 3, "Manufacturer": "Siemens", "InstitutionName": "St Elsewhere Hospital"})");
  copy(ch2, root / "sub-colin/anat/sub-colin_T1w.nii.gz");
  write(root / "sub-colin/anat/sub-colin_T1w.json", R"({"EchoTime": 0.0029, "RepetitionTime": 2.3})");
  copy(km, root / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T1w.nii.gz");
  write(root / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T1w.json", R"({"MagneticFieldStrength": 1.5})");
  const fs::path seg = root / "derivatives/atlas";
  write(seg / "dataset_description.json",
        R"({"Name": "label maps", "BIDSVersion": "1.8.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "manual"}]})");
  copy(aal, seg / "sub-colin/anat/sub-colin_desc-aal_dseg.nii.gz");
  copy(km_seg, seg / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-kmeans_dseg.nii.gz");
  return root;
}

pl::DataConfig bids_config(const fs::path& root, const std::string& labels = "file") {
  pl::DataConfig d;
  d.bids = root.string();
  d.labels = labels;
  return d;
}

}  // namespace

TEST(Bids, ReadsSubjectsSessionsLabelMapsAndSidecars) {
  TempDir tmp;
  const fs::path root = make_dataset(tmp.path() / "ds");
  const auto rows = pl::read_bids(bids_config(root));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].subject, "colin");
  EXPECT_EQ(rows[0].session, "");
  EXPECT_EQ(rows[0].entities, "");
  EXPECT_EQ(rows[0].image, (root / "sub-colin/anat/sub-colin_T1w.nii.gz").string());
  EXPECT_EQ(rows[0].labels, (root / "derivatives/atlas/sub-colin/anat/sub-colin_desc-aal_dseg.nii.gz").string());
  EXPECT_EQ(rows[1].subject, "kmeans");
  EXPECT_EQ(rows[1].session, "a");
  EXPECT_EQ(rows[1].entities, "ses-a");
  EXPECT_EQ(rows[1].labels,
            (root / "derivatives/atlas/sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-kmeans_dseg.nii.gz").string());
  // Inheritance: the dataset's T1w.json, then the file's own sidecar, which wins.
  EXPECT_EQ(rows[0].acquisition.value("MagneticFieldStrength", 0.0), 3.0) << rows[0].acquisition.dump();
  EXPECT_EQ(rows[0].acquisition.value("Manufacturer", ""), "Siemens");
  EXPECT_DOUBLE_EQ(rows[0].acquisition.value("EchoTime", 0.0), 0.0029);
  EXPECT_EQ(rows[1].acquisition.value("MagneticFieldStrength", 0.0), 1.5) << rows[1].acquisition.dump();
  EXPECT_FALSE(rows[1].acquisition.contains("EchoTime")) << "colin's file-level sidecar applied to kmeans";
  for (const auto& r : rows) {
    EXPECT_FALSE(r.acquisition.contains("InstitutionName")) << "a sidecar key that names a place was carried";
    EXPECT_EQ(r.line, 0);
  }
  // Tissue maps need no label files: derivatives/ is not even looked at.
  fs::remove_all(root / "derivatives");
  const auto tissue = pl::read_bids(bids_config(root, "tissue"));
  ASSERT_EQ(tissue.size(), 2u);
  EXPECT_TRUE(tissue[0].labels.empty());
  // Another suffix chosen in the config; and a source image beside each image.
  copy(data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"),
       root / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T2w.nii.gz");
  pl::DataConfig t2 = bids_config(root, "none");
  t2.bids_suffix = "T2w";
  const auto t2rows = pl::read_bids(t2);
  ASSERT_EQ(t2rows.size(), 1u);
  EXPECT_EQ(t2rows[0].subject, "kmeans");
  pl::DataConfig src = bids_config(root, "none");
  src.bids_source = "T2w";
  try {
    pl::read_bids(src);
    FAIL() << "sub-colin has no T2w source image, yet the dataset was read";
  } catch (const medsynth::io::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sub-colin_T1w.nii.gz: has no source image"), std::string::npos) << e.what();
  }
}

TEST(Bids, MalformedDatasetsAreRefusedNamingTheFileAndTheRule) {
  struct Case {
    std::string name;
    std::function<void(const fs::path&, pl::DataConfig&)> breaks;
    std::string file;  // relative to the dataset
    std::string rule;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"no dataset_description.json", [](const fs::path& r, pl::DataConfig&) { fs::remove(r / "dataset_description.json"); },
       "dataset_description.json", "missing: a BIDS dataset has a dataset_description.json"},
      {"no BIDSVersion",
       [](const fs::path& r, pl::DataConfig&) { write(r / "dataset_description.json", R"({"Name": "x"})"); },
       "dataset_description.json", "has no BIDSVersion string"},
      {"not JSON", [](const fs::path& r, pl::DataConfig&) { write(r / "dataset_description.json", "{\"Name\": "); },
       "dataset_description.json", "is not valid JSON"},
      {"subject label with an underscore",
       [](const fs::path& r, pl::DataConfig&) { fs::create_directories(r / "sub-col_in/anat"); }, "sub-col_in",
       "sub-<label> with a label of letters and digits only"},
      {"file in another subject's folder",
       [](const fs::path& r, pl::DataConfig&) {
         fs::rename(r / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T1w.json", r / "sub-kmeans/ses-a/anat/sub-colin_ses-a_T1w.json");
       },
       "sub-kmeans/ses-a/anat/sub-colin_ses-a_T1w.json", "is not the folder's sub-kmeans"},
      {"session entity without its folder",
       [](const fs::path& r, pl::DataConfig&) {
         fs::rename(r / "sub-colin/anat/sub-colin_T1w.json", r / "sub-colin/anat/sub-colin_ses-b_T1w.json");
       },
       "sub-colin/anat/sub-colin_ses-b_T1w.json", "has a ses- entity but is in no ses- folder"},
      {"entity without a label",
       [](const fs::path& r, pl::DataConfig&) { write(r / "sub-colin/anat/sub-colin_acq_T1w.json", "{}"); },
       "sub-colin/anat/sub-colin_acq_T1w.json", "BIDS file names are sub-<label>[_<key>-<label>...]_<suffix>"},
      {"image that is not NIfTI",
       [](const fs::path& r, pl::DataConfig&) { write(r / "sub-colin/anat/sub-colin_run-2_T1w.mha", "x"); },
       "sub-colin/anat/sub-colin_run-2_T1w.mha", "BIDS anatomical images are .nii or .nii.gz"},
      {"participants.tsv without a subject",
       [](const fs::path& r, pl::DataConfig&) { write(r / "participants.tsv", "participant_id\nsub-colin\n"); },
       "participants.tsv", "does not list sub-kmeans"},
      {"derivatives without their description",
       [](const fs::path& r, pl::DataConfig&) { fs::remove(r / "derivatives/atlas/dataset_description.json"); },
       "derivatives/atlas/dataset_description.json", "is a dataset of its own"},
      {"image without a label map",
       [](const fs::path& r, pl::DataConfig&) {
         fs::remove(r / "derivatives/atlas/sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-kmeans_dseg.nii.gz");
       },
       "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T1w.nii.gz", "has no label map: data.labels = file needs"},
      {"two label maps for one image",
       [](const fs::path& r, pl::DataConfig&) {
         fs::copy_file(r / "derivatives/atlas/sub-colin/anat/sub-colin_desc-aal_dseg.nii.gz",
                       r / "derivatives/atlas/sub-colin/anat/sub-colin_desc-other_dseg.nii.gz");
       },
       "sub-colin/anat/sub-colin_T1w.nii.gz", "choose one by its desc- entity with data.bids_label_desc"},
      {"sidecar that is not JSON",
       [](const fs::path& r, pl::DataConfig&) { write(r / "sub-colin/anat/sub-colin_T1w.json", "[1, 2"); },
       "sub-colin/anat/sub-colin_T1w.json", "is not valid JSON"},
      {"no image of the suffix",
       [](const fs::path&, pl::DataConfig& d) { d.bids_suffix = "FLAIR"; }, "", "holds no image"},
      {"labels pipeline that is not there",
       [](const fs::path&, pl::DataConfig& d) { d.bids_labels = "freesurfer"; }, "derivatives/freesurfer",
       "no such folder: data.bids_labels names a pipeline folder"},
  };
  for (const auto& c : cases) {
    TempDir tmp;
    const fs::path root = make_dataset(tmp.path() / "ds");
    pl::DataConfig d = bids_config(root);
    c.breaks(root, d);
    try {
      pl::read_bids(d);
      ADD_FAILURE() << c.name << ": the malformed dataset was read";
    } catch (const medsynth::io::Error& e) {
      const std::string what = e.what();
      const std::string path = c.file.empty() ? root.string() : (root / c.file).string();
      EXPECT_EQ(what.rfind(path + ": ", 0), 0u) << c.name << ": the message does not start with " << path << ": " << what;
      EXPECT_NE(what.find(c.rule), std::string::npos) << c.name << ": " << what;
      EXPECT_EQ(e.code(), medsynth::ExitCode::kBadInput) << c.name;
    }
  }
  // The repaired choice of label map: data.bids_label_desc picks one of the two.
  TempDir tmp;
  const fs::path root = make_dataset(tmp.path() / "ds");
  fs::copy_file(root / "derivatives/atlas/sub-colin/anat/sub-colin_desc-aal_dseg.nii.gz",
                root / "derivatives/atlas/sub-colin/anat/sub-colin_desc-other_dseg.nii.gz");
  fs::copy_file(root / "derivatives/atlas/sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-kmeans_dseg.nii.gz",
                root / "derivatives/atlas/sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-other_dseg.nii.gz");
  pl::DataConfig d = bids_config(root);
  d.bids_label_desc = "other";
  const auto rows = pl::read_bids(d);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[0].labels.find("desc-other"), std::string::npos) << rows[0].labels;
  // One source of the dataset, not two.
  d.manifest = (tmp.path() / "m.csv").string();
  EXPECT_THROW(pl::read_dataset(d), pl::ConfigError);
}

TEST(Bids, IngestBuildsTheSliceCacheFromTheDatasetWithNoManifest) {
  TempDir tmp;
  const fs::path root = make_dataset(tmp.path() / "ds");
  pl::RunConfig c;
  c.data = bids_config(root);
  c.data.grid = 32;
  c.data.holdout = 0.5;  // one of the two subjects held out, whole
  const auto r = pl::ingest(c, tmp.str("cache"));
  EXPECT_GT(r.train_slices, 10u);
  EXPECT_GT(r.heldout_slices, 10u);
  const auto d = pl::SliceDataset::open(r.dir);
  EXPECT_GT(d.label_classes(), 4) << "the AAL and k-means label maps were not read";
  const json index = d.index();
  EXPECT_EQ(index.value("bids", ""), root.string());
  EXPECT_EQ(index.value("split", ""), "by subject");
  ASSERT_EQ(index["subjects"].size(), 2u);
  EXPECT_EQ(index["subjects"][1]["subject"], "kmeans");
  EXPECT_EQ(index["subjects"][1]["session"], "a");
  EXPECT_EQ(index["subjects"][1]["acquisition"].value("MagneticFieldStrength", 0.0), 1.5);
  EXPECT_EQ(read_text(fs::path(r.dir) / "index.json").find("St Elsewhere"), std::string::npos)
      << "a sidecar's InstitutionName reached the slice cache";
  // A changed sidecar is a changed input: another cache.
  write(root / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T1w.json", R"({"MagneticFieldStrength": 7})");
  const auto again = pl::ingest(c, tmp.str("cache"));
  EXPECT_FALSE(again.reused);
  EXPECT_NE(again.dir, r.dir);
}

TEST(Bids, ConfigDataListsTheRowsAndRefusesAMalformedDatasetInOneLine) {
  TempDir tmp;
  const fs::path root = make_dataset(tmp.path() / "ds");
  // A relative data.bids in a config file is relative to that file.
  std::ofstream(tmp.str("run.ini")) << "[data]\nbids = ds\nlabels = file\n";
  auto r = run_medsynth("config " + tmp.str("run.ini") + " --data");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json rows = json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[1]["subject"], "kmeans");
  EXPECT_EQ(rows[1]["session"], "a");
  EXPECT_EQ(rows[1]["image"], (root / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_T1w.nii.gz").string());
  EXPECT_EQ(rows[0]["acquisition"]["Manufacturer"], "Siemens");
  EXPECT_EQ(r.out.find("St Elsewhere"), std::string::npos) << r.out;

  fs::remove(root / "derivatives/atlas/sub-colin/anat/sub-colin_desc-aal_dseg.nii.gz");
  r = run_medsynth("config --data --data.bids " + root.string() + " --data.labels file");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("medsynth: error: " + (root / "sub-colin/anat/sub-colin_T1w.nii.gz").string() + ": has no label map", 0), 0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  // Both sources of a dataset: a usage error.
  r = run_medsynth("config --data --data.bids " + root.string() + " --data.manifest " + tmp.str("m.csv"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

TEST(Bids, TheTestDatasetPassesTheBidsValidator) {
  TempDir tmp;
  const fs::path root = make_dataset(tmp.path() / "ds");
  const auto r = bids_validator(root);
  const auto errors = validator_errors(r);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(r.exit_code, 0) << r.out.substr(0, 2000) << r.err;
}

TEST(Bids, SyntheticVolumesAreADerivativesDatasetTheValidatorAccepts) {
  TempDir tmp;
  // A "synthetic" volume: KmeansTest with the synthetic mark in its voxels, as medsynth sample writes.
  medsynth::io::Volume v = medsynth::io::read_volume(data_file(kItkData + "KmeansTest_T1RawSkullStrip.nii.gz",
                                                               "insighttoolkit5-examples"));
  const auto range = medsynth::io::intensity_range(v);
  medsynth::mark::embed_mark(v, medsynth::mark::current_payload(0x1234abcd),
                             20 * medsynth::mark::kDefaultStrength * (range.second - range.first));
  v.stored_type = medsynth::io::PixelType::kFloat32;
  medsynth::io::write_volume(v, tmp.str("synthetic.nii.gz"));

  pl::BidsDerivativeDataset ds;
  ds.name = "medsynth synthetic T1w volumes (test)";
  ds.generated_by = "Sampled from checkpoint ckpt-00000020.pt (xxh3 0123456789abcdef).";
  pl::BidsDerivativeVolume a;
  a.subject = "kmeans";
  a.entities = "ses-a";
  a.volume = tmp.str("synthetic.nii.gz");
  a.sidecar = {{"Provenance", {{"Checkpoint", "ckpt-00000020.pt"}}},
               {"SyntheticMark", {{"Embedded", true}, {"RunId", "1234abcd"}}}};
  pl::BidsDerivativeVolume b = a;
  b.subject = "colin";
  b.entities = "";
  ds.volumes = {a, b};
  const fs::path out = tmp.path() / "derivatives";
  const auto files = pl::write_bids_derivatives(ds, out.string(), false);
  EXPECT_EQ(files.size(), 6u);

  const json desc = json::parse(read_text(out / "dataset_description.json"));
  EXPECT_EQ(desc["DatasetType"], "derivative");
  EXPECT_EQ(desc["GeneratedBy"][0]["Name"], "medsynth");
  EXPECT_FALSE(desc["GeneratedBy"][0].value("Version", "").empty());
  EXPECT_NE(desc["GeneratedBy"][0].value("Description", "").find("ckpt-00000020.pt"), std::string::npos);
  const fs::path image = out / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-synthetic_T1w.nii.gz";
  ASSERT_TRUE(fs::exists(image));
  ASSERT_TRUE(fs::exists(out / "sub-colin/anat/sub-colin_desc-synthetic_T1w.nii.gz"));
  EXPECT_EQ(read_text(image), read_text(tmp.str("synthetic.nii.gz"))) << "the voxels were not kept as sampled";
  const json sidecar = json::parse(read_text(out / "sub-kmeans/ses-a/anat/sub-kmeans_ses-a_desc-synthetic_T1w.json"));
  EXPECT_EQ(sidecar["Synthetic"], true);
  EXPECT_EQ(sidecar["Provenance"]["Checkpoint"], "ckpt-00000020.pt");
  // The mark is in the voxels of the derivative: medsynth detect reads its run id.
  const auto detect = run_medsynth("detect --json " + image.string());
  EXPECT_EQ(detect.exit_code, 0) << detect.err;
  EXPECT_NE(detect.out.find("1234abcd"), std::string::npos) << detect.out;

  expect_valid_bids_derivatives(out, files, tmp.path() / "raw-view");

  // Atomic: an existing dataset is refused without force, and a failed write leaves nothing.
  EXPECT_THROW(pl::write_bids_derivatives(ds, out.string(), false), medsynth::io::Error);
  ds.volumes[1].volume = tmp.str("missing.nii.gz");
  const fs::path failed = tmp.path() / "failed";
  EXPECT_ANY_THROW(pl::write_bids_derivatives(ds, failed.string(), false));
  EXPECT_FALSE(fs::exists(failed));
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".medsynth-tmp"), std::string::npos) << e.path();
  // A subject label that BIDS does not allow is refused, not mangled.
  ds.volumes = {a};
  ds.volumes[0].subject = "kmeans_1";
  EXPECT_THROW(pl::write_bids_derivatives(ds, (tmp.path() / "bad").string(), false), medsynth::io::Error);
}
