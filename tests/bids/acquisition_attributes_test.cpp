// Acquisition attributes (pipeline/acquisition.h) from their three sources into the slice cache,
// units converted once: a real DICOM series (plastimatch's of ITK's KmeansTest) with the tags set by
// DCMTK's dcmodify, a BIDS dataset with sidecars (seconds) and participants.tsv, and manifest
// columns; and the structured prompt parser of `sample --prompt` (prompt.h) with its errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/io/error.h"
#include "medsynth/pipeline/acquisition.h"
#include "medsynth/pipeline/manifest.h"
#include "medsynth/pipeline/prompt.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "test_util.h"

namespace pl = medsynth::pipeline;
using namespace medsynth::test;
using nlohmann::json;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string kmeans() { return data_file(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "insighttoolkit5-examples"); }

// The attributes ingest stored for each manifest row / BIDS image.
std::vector<json> ingested_attributes(pl::RunConfig c, const std::string& cache) {
  c.data.grid = 32;
  c.data.labels = "none";
  c.data.holdout = 0;
  const auto d = pl::SliceDataset::open(pl::ingest(c, cache).dir);
  std::vector<json> out;
  for (const auto& s : d.index().at("subjects")) out.push_back(s.at("attributes"));
  return out;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(AcquisitionIngest, DicomTagsSetByDcmodifyOnARealSeriesReachTheCacheInMsDegTeslaAndYears) {
  TempDir tmp;
  const std::string series = tmp.str("series");
  copy_tree(plastimatch_series(kmeans(), "kmeans-dicom"), series);
  // An MPRAGE at 3 T: DICOM times are in ms already; PatientAge is DICOM's AS (070Y).
  auto r = run("dcmodify -nb -i '(0018,0080)=2300' -i '(0018,0081)=2.98' -i '(0018,0082)=900' -i '(0018,1314)=9' "
               "-i '(0018,0087)=3' -i '(0018,0020)=GR\\IR' -i '(0018,0021)=SP\\MP' -i '(0018,0023)=3D' "
               "-i '(0010,1010)=070Y' -i '(0010,0040)=F' " + series + "/*.dcm");
  ASSERT_EQ(r.exit_code, 0) << "dcmodify failed (install the Debian package 'dcmtk'): " << r.err;
  write(tmp.path() / "m.csv", "subject,image\nkm," + series + "\n");
  pl::RunConfig c;
  c.data.manifest = tmp.str("m.csv");
  const auto a = ingested_attributes(c, tmp.str("cache"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_DOUBLE_EQ(a[0].at("tr").get<double>(), 2300);
  EXPECT_DOUBLE_EQ(a[0].at("te").get<double>(), 2.98);
  EXPECT_DOUBLE_EQ(a[0].at("ti").get<double>(), 900);
  EXPECT_DOUBLE_EQ(a[0].at("flip").get<double>(), 9);
  EXPECT_DOUBLE_EQ(a[0].at("field").get<double>(), 3);
  EXPECT_DOUBLE_EQ(a[0].at("age").get<double>(), 70);
  EXPECT_DOUBLE_EQ(a[0].at("sex").get<double>(), 1);
  EXPECT_EQ(a[0].at("sequence").get<std::string>(), "mprage");
  // The manifest's columns win over the header's; `info --json` shows the tags but not age or sex.
  write(tmp.path() / "m2.csv", "subject,image,tr,sex\nkm," + series + ",2.5s,M\n");
  c.data.manifest = tmp.str("m2.csv");
  const auto b = ingested_attributes(c, tmp.str("cache"));
  EXPECT_DOUBLE_EQ(b[0].at("tr").get<double>(), 2500);
  EXPECT_DOUBLE_EQ(b[0].at("sex").get<double>(), 0);
  EXPECT_DOUBLE_EQ(b[0].at("te").get<double>(), 2.98);
  r = run_medsynth("info " + series + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dicom.RepetitionTime"), std::string::npos);
  EXPECT_EQ(r.out.find("PatientAge"), std::string::npos);
  EXPECT_EQ(r.out.find("070Y"), std::string::npos);
}

TEST(AcquisitionIngest, BidsSidecarSecondsAndParticipantsAgeAndSexBecomeAttributes) {
  TempDir tmp;
  const fs::path root = tmp.path() / "bids";
  write(root / "dataset_description.json", R"({"Name": "acquisition test", "BIDSVersion": "1.8.0", "DatasetType": "raw"})");
  write(root / "participants.tsv", "participant_id\tage\tsex\nsub-a\t70\tF\nsub-b\tn/a\tM\n");
  // Dataset-level sidecar (3 T, the sequence as dcm2niix writes it) and file-level ones (seconds).
  write(root / "T1w.json", R"({"MagneticFieldStrength": 3, "ScanningSequence": "GR\\IR", "SequenceVariant": ["SP", "MP"],
                                "MRAcquisitionType": "3D"})");
  for (const char* s : {"a", "b"}) {
    fs::create_directories(root / ("sub-" + std::string(s)) / "anat");
    fs::copy_file(kmeans(), root / ("sub-" + std::string(s)) / "anat" / ("sub-" + std::string(s) + "_T1w.nii.gz"));
  }
  write(root / "sub-a/anat/sub-a_T1w.json", R"({"RepetitionTime": 2.3, "EchoTime": 0.00298, "InversionTime": 0.9, "FlipAngle": 9})");
  write(root / "sub-b/anat/sub-b_T1w.json", R"({"RepetitionTime": 1.9, "MagneticFieldStrength": 1.5})");
  pl::RunConfig c;
  c.data.bids = root.string();
  const auto a = ingested_attributes(c, tmp.str("cache"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NEAR(a[0].at("tr").get<double>(), 2300, 1e-9);
  EXPECT_NEAR(a[0].at("te").get<double>(), 2.98, 1e-9);
  EXPECT_NEAR(a[0].at("ti").get<double>(), 900, 1e-9);
  EXPECT_DOUBLE_EQ(a[0].at("flip").get<double>(), 9);
  EXPECT_DOUBLE_EQ(a[0].at("field").get<double>(), 3);
  EXPECT_DOUBLE_EQ(a[0].at("age").get<double>(), 70);
  EXPECT_DOUBLE_EQ(a[0].at("sex").get<double>(), 1);
  EXPECT_EQ(a[0].at("sequence").get<std::string>(), "mprage");
  EXPECT_EQ(a[0].at("weighting").get<std::string>(), "t1w");
  EXPECT_NEAR(a[1].at("tr").get<double>(), 1900, 1e-9);
  EXPECT_DOUBLE_EQ(a[1].at("field").get<double>(), 1.5);  // the file's sidecar over the dataset's
  EXPECT_FALSE(a[1].contains("age"));                     // n/a: not given
  EXPECT_DOUBLE_EQ(a[1].at("sex").get<double>(), 0);
}

TEST(AcquisitionIngest, ManifestColumnsAreParsedWithUnitsAndBadValuesNameTheLineAndColumn) {
  std::istringstream ok("subject,image,tr,te,flip,field,age,sex,sequence,weighting\n"
                        "s,a.nii,2.3s,30ms,90,1.5T,006M,f,flash,T2\n");
  const auto rows = pl::parse_manifest(ok, "/data/m.csv");
  ASSERT_EQ(rows.size(), 1u);
  const json& a = rows[0].attributes;
  EXPECT_DOUBLE_EQ(a.at("tr").get<double>(), 2300);
  EXPECT_DOUBLE_EQ(a.at("te").get<double>(), 30);
  EXPECT_DOUBLE_EQ(a.at("flip").get<double>(), 90);
  EXPECT_DOUBLE_EQ(a.at("field").get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(a.at("age").get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(a.at("sex").get<double>(), 1);
  EXPECT_EQ(a.at("sequence").get<std::string>(), "spgr");
  EXPECT_EQ(a.at("weighting").get<std::string>(), "t2w");
  for (const auto& [text, expect] : std::vector<std::pair<std::string, std::string>>{
           {"subject,image,tr\ns,a.nii,fast\n", "line 2: tr 'fast' is not a number"},
           {"subject,image,te\ns,a.nii,30min\n", "unit 'min' is not ms or s"},
           {"subject,image,sequence\ns,a.nii,dance\n", "sequence 'dance' is not one of mprage"},
           {"subject,image,colour\ns,a.nii,red\n", "column 'colour' is unknown"}}) {
    std::istringstream in(text);
    const std::string m = message_of([&] { pl::parse_manifest(in, "/data/m.csv"); });
    EXPECT_NE(m.find("/data/m.csv"), std::string::npos) << m;
    EXPECT_NE(m.find(expect), std::string::npos) << m;
  }
}

TEST(Prompt, TheIssuesExampleBecomesAttributesInMedsynthsUnits) {
  const pl::StructuredPromptEncoder enc;
  const json a = enc.encode("T1w MPRAGE 3T TR=2300 TE=2.98 TI=900 age=70 sex=F");
  EXPECT_EQ(a.at("weighting"), "t1w");
  EXPECT_EQ(a.at("sequence"), "mprage");
  EXPECT_DOUBLE_EQ(a.at("field").get<double>(), 3);
  EXPECT_DOUBLE_EQ(a.at("tr").get<double>(), 2300);
  EXPECT_DOUBLE_EQ(a.at("te").get<double>(), 2.98);
  EXPECT_DOUBLE_EQ(a.at("ti").get<double>(), 900);
  EXPECT_DOUBLE_EQ(a.at("age").get<double>(), 70);
  EXPECT_DOUBLE_EQ(a.at("sex").get<double>(), 1);
  EXPECT_EQ(a.size(), 8u);
  const json b = enc.encode("flair, 1.5t, tr=9s; fa=150deg B0=1.5");
  EXPECT_DOUBLE_EQ(b.at("tr").get<double>(), 9000);
  EXPECT_DOUBLE_EQ(b.at("flip").get<double>(), 150);
  EXPECT_EQ(b.at("weighting"), "flair");
}

TEST(Prompt, UnknownWordsKeysValuesAndAttributesTheModelLacksAreUsageErrors) {
  const pl::StructuredPromptEncoder enc;
  auto usage = [&](const std::string& prompt, const std::string& expect) {
    try {
      enc.encode(prompt);
      ADD_FAILURE() << prompt << ": no error";
    } catch (const medsynth::Error& e) {
      EXPECT_EQ(e.code(), medsynth::ExitCode::kUsage) << prompt;
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  };
  usage("T1w banana", "unknown word 'banana': it takes words ");
  usage("T1w banana", "mprage");  // lists the known words
  usage("colour=red", "unknown key 'colour'");
  usage("TR=fast", "tr 'fast' is not a number");
  usage("TR=2300 TR=3000", "gives tr twice");
  usage("T1w T2w", "gives weighting twice");
  usage("", "--prompt is empty");
  // A model trained on tr and te alone refuses a prompt with TI, naming what it has.
  const auto model = pl::AcquisitionEncoding::parse("tr:2000:1000;te:50:45");
  pl::check_prompt(enc.encode("TR=2300 TE=3"), model, "ckpt.pt");
  const std::string m = message_of([&] { pl::check_prompt(enc.encode("TR=2300 TI=900"), model, "ckpt.pt"); });
  EXPECT_NE(m.find("--prompt gives ti, but ckpt.pt was trained on the acquisition attributes tr, te only"), std::string::npos) << m;
}

TEST(Prompt, TheEncodingStandardisesNumbersOneHotsWordsAndMasksWhatIsNotGiven) {
  const auto fitted = pl::fit_acquisition_encoding(
      "tr, te, weighting", {json{{"tr", 18.0}, {"te", 10.0}, {"weighting", "t1w"}}, json{{"tr", 4000.0}, {"weighting", "t2w"}}}, "m.csv");
  const auto e = pl::AcquisitionEncoding::parse(fitted.text());  // what the checkpoint keeps
  ASSERT_EQ(e.width(), 4);
  EXPECT_NEAR(e.attributes[0].offset, 2009, 1e-9);
  EXPECT_NEAR(e.attributes[0].scale, 1991, 1e-9);  // population standard deviation of {18, 4000}
  EXPECT_NEAR(e.attributes[1].scale, 10, 1e-9);    // one value: scaled by its size
  float v[4], m[4];
  e.encode(json{{"tr", 4000.0}, {"weighting", "t2w"}}, v, m);
  EXPECT_NEAR(v[0], 1.0, 1e-6);
  EXPECT_EQ(m[1], 0.0f);  // te not given
  EXPECT_EQ(v[2], 0.0f);  // t1w slot
  EXPECT_EQ(v[3], 1.0f);  // t2w slot
  EXPECT_EQ(m[2], 1.0f);
  const std::string w = message_of([&] { e.encode(json{{"weighting", "flair"}}, v, m); });
  EXPECT_NE(w.find("weighting 'flair' was not among the model's training scans (it knows t1w, t2w)"), std::string::npos) << w;
  const std::string none = message_of([&] { pl::fit_acquisition_encoding("ti", {json{{"tr", 1.0}}}, "m.csv"); });
  EXPECT_NE(none.find("m.csv: model.acquisition names 'ti' but no training scan has it"), std::string::npos) << none;
  const std::string unknown = message_of([&] { pl::fit_acquisition_encoding("tr,colour", {json{{"tr", 1.0}}}, "m.csv"); });
  EXPECT_NE(unknown.find("'colour' is not an attribute"), std::string::npos) << unknown;
}
