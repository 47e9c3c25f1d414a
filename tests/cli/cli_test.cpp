// The medsynth binary as a user meets it: help, version, info, convert, usage errors, exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "test_util.h"

using namespace medsynth::test;

TEST(Cli, HelpListsCommandsAndExitCodes) {
  auto r = run_medsynth("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos);
  EXPECT_NE(r.out.find("convert"), std::string::npos);
  EXPECT_NE(r.out.find("exit codes"), std::string::npos);
  for (const char* cmd : {"info", "convert", "deidentify", "pacs"}) {
    auto h = run_medsynth(std::string(cmd) + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.out.find("usage: medsynth " + std::string(cmd)), std::string::npos) << h.out;
  }
}

TEST(Cli, VersionPrintsVersion) {
  auto r = run_medsynth("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("medsynth ", 0), 0u) << r.out;
}

TEST(Cli, UnknownCommandAndOptionAreUsageErrorsWithSuggestion) {
  auto r = run_medsynth("infp x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("did you mean 'info'"), std::string::npos) << r.err;
  r = run_medsynth("info --jsn " + kTemplates + "ch2.nii.gz");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--json"), std::string::npos) << r.err;
  r = run_medsynth("convert only-one-arg.nii");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  r = run_medsynth("");
  EXPECT_EQ(r.exit_code, 1);
}

TEST(Cli, InfoJsonDescribesCh2) {
  auto r = run_medsynth("info --json " + data_file(kTemplates + "ch2.nii.gz", "mricron-data"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["volume"]["size"], nlohmann::json({181, 217, 181}));
  EXPECT_EQ(j["volume"]["orientation"], "RAS");
  EXPECT_EQ(j["volume"]["data_type"], "uint8");
  EXPECT_EQ(j["format"], "NIfTI");
  EXPECT_GT(j["volume"]["intensity_range"][1].get<double>(), 200.0);
}

TEST(Cli, InfoOnDicomFolderListsSeries) {
  const std::string series = plastimatch_series(kTemplates + "ch2.nii.gz", "ch2-dicom");
  auto r = run_medsynth("info --json " + series);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "DICOM");
  ASSERT_EQ(j["series"].size(), 1u);
  EXPECT_EQ(j["series"][0]["files"], 181);
  EXPECT_EQ(j["volume"]["size"][2], 181);
}

TEST(Cli, ConvertWritesReadableOutputAndRefusesOverwriteWithoutForce) {
  TempDir tmp;
  const std::string in = data_file(kTemplates + "ch2.nii.gz", "mricron-data");
  auto r = run_medsynth("convert " + in + " " + tmp.str("ch2.mha"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = run_medsynth("info --json " + in), b = run_medsynth("info --json " + tmp.str("ch2.mha"));
  auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["volume"]["size"], jb["volume"]["size"]);
  EXPECT_EQ(ja["volume"]["origin"], jb["volume"]["origin"]);
  EXPECT_EQ(ja["volume"]["intensity_range"], jb["volume"]["intensity_range"]);
  const auto size = fs::file_size(tmp.str("ch2.mha"));
  r = run_medsynth("convert " + in + " " + tmp.str("ch2.mha"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(fs::file_size(tmp.str("ch2.mha")), size);
  r = run_medsynth("convert --force --type float32 " + in + " " + tmp.str("ch2.mha"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(fs::file_size(tmp.str("ch2.mha")), size);
}

TEST(Cli, ConvertFailureLeavesNothingBehind) {
  TempDir tmp;
  auto r = run_medsynth("convert " + kTemplates + "ch2.nii.gz " + tmp.str("slice.png"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_medsynth("convert " + kTemplates + "does-not-exist.nii.gz " + tmp.str("x.nii.gz"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_medsynth("convert " + kTemplates + "ch2.nii.gz " + tmp.str("x.unknown"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

TEST(Cli, ConvertDicomSeriesToNiftiMatchesDcm2niixGeometry) {
  TempDir tmp;
  const std::string series = plastimatch_series(kTemplates + "ch2.nii.gz", "ch2-dicom");
  auto r = run_medsynth("convert " + series + " " + tmp.str("ms.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run("dcm2niix -z y -b n -f ref -o " + tmp.str() + " " + series);
  ASSERT_EQ(r.exit_code, 0) << "dcm2niix (package dcm2niix): " << r.err;
  // nibabel reads both: same shape after reorienting to RAS, same voxels, same affine.
  auto p = python(
      "import nibabel as nib, numpy as np\n"
      "a = nib.as_closest_canonical(nib.load('" + tmp.str("ms.nii.gz") + "'))\n"
      "b = nib.as_closest_canonical(nib.load('" + tmp.str("ref.nii.gz") + "'))\n"
      "assert a.shape == b.shape, (a.shape, b.shape)\n"
      "assert np.allclose(a.affine, b.affine, atol=1e-3), (a.affine, b.affine)\n"
      "assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))\n"
      "print('ok')\n");
  EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
}

TEST(Cli, DocsMatchEveryCommandsHelp) {
  std::ifstream in(std::string(MEDSYNTH_SOURCE_DIR) + "/docs/cli.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  ASSERT_FALSE(doc.empty()) << "docs/cli.md is missing";
  auto main_help = run_medsynth("--help");
  EXPECT_NE(doc.find(main_help.out), std::string::npos) << "docs/cli.md is stale: run scripts/gen_cli_docs.sh";
  // Every command the main help lists (so a new command cannot go undocumented).
  std::vector<std::string> commands;
  std::istringstream lines(main_help.out);
  std::string line;
  bool in_list = false;
  while (std::getline(lines, line)) {
    if (line == "commands:") {
      in_list = true;
    } else if (in_list && line.rfind("  ", 0) == 0) {
      commands.push_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (in_list) {
      break;
    }
  }
  EXPECT_GE(commands.size(), 8u);
  for (const auto& cmd : commands) {
    auto h = run_medsynth(cmd + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(doc.find(h.out), std::string::npos)
        << "docs/cli.md does not hold the help of '" << cmd << "': run scripts/gen_cli_docs.sh";
  }
}

TEST(Cli, TwoSeriesFolderIsListedByInfoAndRefusedByConvertUntilOneIsChosen) {
  TempDir tmp;
  copy_tree(plastimatch_series(kItkData + "KmeansTest_T1UCharRaw.nii.gz", "kmeans-dicom"), tmp.str("study/s1"));
  copy_tree(plastimatch_series(kTemplates + "ch2.nii.gz", "ch2-dicom"), tmp.str("study/s2"));
  auto r = run_medsynth("info " + tmp.str("study"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("series:      2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("choose a series"), std::string::npos) << r.out;
  r = run_medsynth("convert " + tmp.str("study") + " " + tmp.str("out.nii.gz"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--series"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.str("out.nii.gz")));
  r = run_medsynth("convert --series 2 " + tmp.str("study") + " " + tmp.str("out.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth("info --json " + tmp.str("out.nii.gz"));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["volume"]["size"][2].get<int>() == 181 || j["volume"]["size"][2].get<int>() == 62, true);
  r = run_medsynth("convert --series 9 " + tmp.str("study") + " " + tmp.str("out2.nii.gz"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no series '9'"), std::string::npos) << r.err;
}

TEST(Cli, ConvertSliceWritesOnePngAtTheSlicePosition) {
  TempDir tmp;
  const std::string in = data_file(kTemplates + "ch2.nii.gz", "mricron-data");
  auto r = run_medsynth("convert --slice 90 " + in + " " + tmp.str("s.nii.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth("convert --slice 90 " + in + " " + tmp.str("s.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(run_medsynth("info --json " + tmp.str("s.nii.gz")).out);
  EXPECT_EQ(j["volume"]["size"], nlohmann::json({181, 217, 1}));
  // ch2: z origin -71 mm, 1 mm slices, so slice 90 sits at z = 19 mm.
  EXPECT_NEAR(j["volume"]["origin"][2].get<double>(), 19.0, 1e-4);
  auto p = python("import nibabel as nib, numpy as np\n"
                  "from skimage import io as skio\n"
                  "v = np.asarray(nib.load('" + in + "').dataobj)[:, :, 90]\n"
                  "png = skio.imread('" + tmp.str("s.png") + "')\n"
                  "assert np.array_equal(png.T, v), 'PNG differs from the NIfTI slice'\n");
  EXPECT_EQ(p.exit_code, 0) << p.err;
  r = run_medsynth("convert --slice 500 " + in + " " + tmp.str("t.png"));
  EXPECT_EQ(r.exit_code, 2);
}
