// Audit of what medsynth prints and records: a study with a patient's name and ID moves to and
// from a real Orthanc over DICOMweb with basic authentication and over DIMSE, and trains, samples,
// evaluates and exports through `medsynth run`; neither the credentials nor the patient's name or
// ID appear in any command's output, in any stage.json, or in any text file of the run folder.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/run.h"
#include "pacs/orthanc_server.h"
#include "train/train_fixture.h"

using namespace medsynth::test;

namespace {

std::string token(const std::string& prefix) {
  std::random_device rd;
  return prefix + std::to_string(rd() % 100000000u) + std::to_string(rd() % 100000000u);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Audit, NoCredentialOrPatientIdentifierInOutputsStageRecordsOrRunFiles) {
  TempDir tmp;
  const std::string user = token("auditor"), password = token("pw");
  const std::string family = token("Family"), given = token("Given"), patient_id = token("MRN");
  const std::vector<std::string> secrets = {user, password, family, given, patient_id};
  OrthancServer::Options options;
  options.dicomweb = true;
  options.user = user;
  options.password = password;
  OrthancServer pacs(options);
  std::ofstream(tmp.str("auth")) << user << ":" << password << "\n";
  const std::string web = " --dicomweb " + pacs.http_url() + " --auth-file " + tmp.str("auth");
  const std::string dimse = " --host 127.0.0.1 --port " + std::to_string(pacs.dicom_port()) + " --aec ORTHANC --aet MEDSYNTH --timeout 10";

  std::vector<std::pair<std::string, RunResult>> runs;
  auto medsynth = [&](const std::string& args, int timeout = 300) {
    runs.emplace_back(args, run_medsynth(args, timeout));
    EXPECT_EQ(runs.back().second.exit_code, 0) << args << "\n" << runs.back().second.err;
    return runs.back().second;
  };
  // Colin27 as a DICOM series that names the patient.
  medsynth("convert " + data_file(kTemplates + "ch2bet.nii.gz", "mricron-data") + " " + tmp.str("study") +
           " --to dicom --patient-name " + family + "^" + given + " --patient-id " + patient_id);
  const auto series = medsynth::io::list_dicom_series(tmp.str("study"));
  ASSERT_EQ(series.size(), 1u);
  const std::string uid = series.front().series_uid;
  ASSERT_NE(run("dcmdump +P PatientName +P PatientID " + series.front().files.front()).out.find(family + "^" + given),
            std::string::npos)
      << "the series does not carry the name, so the audit would prove nothing";
  // DICOMweb with credentials, and DIMSE: echo, push, pull (the pulled files keep the name).
  medsynth("pacs echo" + web);
  medsynth("pacs push " + tmp.str("study") + web);
  medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("web-pull") + web);
  medsynth("pacs push " + tmp.str("study") + dimse);
  medsynth("pacs pull --series-uid " + uid + " --out " + tmp.str("dimse-pull") + dimse);
  ASSERT_NE(run("dcmdump +P PatientID " + medsynth::io::list_dicom_series(tmp.str("web-pull")).front().files.front()).out.find(patient_id),
            std::string::npos);
  // The pulled study trains, samples, evaluates and is exported to the PACS by the runner.
  std::ofstream(tmp.str("manifest.csv")) << "subject,image\ncase1," << tmp.str("web-pull") << "\n";
  std::ofstream(tmp.str("run.ini")) << tiny_config(tmp.str("manifest.csv"), tmp.str("run"), 20)
                                    << "\n[sample]\nsteps = 5\nbatch = 32\n\n[export]\nhost = 127.0.0.1\nport = "
                                    << pacs.dicom_port() << "\ntimeout = 10\n";
  medsynth("run " + tmp.str("run.ini"), 900);
  ASSERT_TRUE(fs::exists(tmp.str("run/export/stage.json")));

  for (const auto& [args, r] : runs) {
    for (const auto& s : secrets) {
      EXPECT_EQ(r.out.find(s), std::string::npos) << "medsynth " << args << " printed " << s << " on stdout:\n" << r.out;
      EXPECT_EQ(r.err.find(s), std::string::npos) << "medsynth " << args << " printed " << s << " on stderr:\n" << r.err;
    }
  }
  // Every text file of the run: the stage records, configs, logs, model cards, reports.
  std::size_t records = 0, texts = 0;
  for (const auto& e : fs::recursive_directory_iterator(tmp.str("run"))) {
    const std::string ext = e.path().extension().string();
    if (!e.is_regular_file() || (ext != ".json" && ext != ".ini" && ext != ".csv" && ext != ".md" && ext != ".txt" && ext != ".html")) {
      continue;
    }
    ++texts;
    records += e.path().filename() == "stage.json" ? 1 : 0;
    const std::string text = read_text(e.path());
    for (const auto& s : secrets) EXPECT_EQ(text.find(s), std::string::npos) << e.path() << " holds " << s;
  }
  EXPECT_EQ(records, medsynth::pipeline::stage_names().size()) << "one stage.json per stage";
  EXPECT_GT(texts, records);
}
