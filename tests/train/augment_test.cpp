// The runner's augment stage (augment.enabled): physics-simulated image/label pairs of Colin27's
// tissue map, parameters drawn from the [augment] ranges and written beside each pair; checked
// against the physics (tissue order of T2w and T1w), the label map's geometry and the ranges, and
// skipped when nothing it reads has changed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/physics/signal_equations.h"
#include "medsynth/physics/tissue_table.h"
#include "train/train_fixture.h"

namespace fs = std::filesystem;
using namespace medsynth;
using namespace medsynth::test;
using nlohmann::json;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// Mean intensity of labels 1 (csf), 2 (grey), 3 (white matter).
std::array<double, 4> class_means(const io::Volume& v, const io::LabelVolume& labels) {
  std::array<double, 4> sum{}, n{};
  for (std::size_t i = 0; i < labels.voxels.size(); ++i) {
    const auto l = static_cast<std::size_t>(labels.voxels[i]);
    sum[l] += v.voxels[i];
    n[l] += 1;
  }
  for (std::size_t k = 0; k < 4; ++k) sum[k] /= std::max(1.0, n[k]);
  return sum;
}

}  // namespace

TEST(Augment, WritesPhysicsPairsWithTheirParametersAndSkipsWhenUnchanged) {
  TempDir tmp;
  const std::string config = tmp.str("run.ini");
  std::ofstream(config) << tiny_config(write_ch2_manifest(tmp.str()), tmp.str("run"), 2)
                        << "\n[augment]\nenabled = true\ncount = 4\nsequences = se,mprage\nfields = 3\n"
                           "tr = 0.9,1.1\nte = 0.8,1.2\nflip = 0.8,1.2\nsnr = 30,60\nbias = 0,0.1\nseed = 5\n";
  auto r = run_medsynth("run " + config + " --only ingest", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_medsynth("run " + config + " --only augment", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json st = read_json(tmp.str("run/augment/stage.json"));
  ASSERT_EQ(st["status"], "done");
  ASSERT_EQ(st["outputs"]["pairs"].size(), 4u);
  const io::Volume real = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  std::set<std::string> sequences;
  for (const auto& p : st["outputs"]["pairs"]) {
    const std::string image = tmp.str("run/" + p["image"].get<std::string>());
    const io::Volume v = io::read_volume(image);
    const io::LabelVolume l = io::read_label_volume(tmp.str("run/" + p["labels"].get<std::string>()));
    EXPECT_TRUE(v.geometry.same_grid(real.geometry)) << image;
    EXPECT_TRUE(l.geometry.same_grid(real.geometry)) << image;
    const json side = read_json(tmp.str("run/" + p["sidecar"].get<std::string>()));
    const json& m = side["medsynth"];
    const std::string seq = m["sequence"];
    sequences.insert(seq);
    // BIDS-like names and units (seconds), parameters inside the configured ranges.
    EXPECT_NE(image.find("sub-colin27_acq-" + seq), std::string::npos) << image;
    EXPECT_NE(image.find(seq == "se" ? "_T2w.nii.gz" : "_T1w.nii.gz"), std::string::npos) << image;
    const double field = m["field_t"];
    EXPECT_EQ(field, 3.0);
    EXPECT_DOUBLE_EQ(side["MagneticFieldStrength"].get<double>(), field);
    const auto def = physics::default_sequence(physics::sequence_type_from_string(seq), physics::literature_table(field));
    EXPECT_GE(m["tr_ms"].get<double>(), 0.9 * def.tr - 1e-9);
    EXPECT_LE(m["tr_ms"].get<double>(), 1.1 * def.tr + 1e-9);
    EXPECT_NEAR(side["RepetitionTime"].get<double>(), m["tr_ms"].get<double>() / 1000, 1e-12);
    EXPECT_GE(m["te_ms"].get<double>(), 0.8 * def.te - 1e-9);
    EXPECT_LE(m["te_ms"].get<double>(), 1.2 * def.te + 1e-9);
    EXPECT_GE(m["snr"].get<double>(), 30.0);
    EXPECT_LE(m["snr"].get<double>(), 60.0);
    EXPECT_LE(m["bias"].get<double>(), 0.1);
    // The physics: T2w orders CSF > grey > white matter, T1w (MPRAGE) the reverse.
    const auto mean = class_means(v, l);
    if (seq == "se") {
      EXPECT_GT(mean[1], mean[2]) << image;
      EXPECT_GT(mean[2], mean[3]) << image;
    } else {
      EXPECT_LT(mean[1], mean[2]) << image;
      EXPECT_LT(mean[2], mean[3]) << image;
    }
  }
  EXPECT_EQ(sequences.size(), 2u) << "4 pairs, se and mprage in turn";
  std::ifstream csv(tmp.str("run/augment/pairs.csv"));
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 5) << "header and 4 pairs";
  // Unchanged: skipped. Another seed: drawn again.
  r = run_medsynth("run " + config + " --only augment", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("augment: up to date (skipped)"), std::string::npos) << r.out;
  r = run_medsynth("run " + config + " --only augment --augment.seed 6 --augment.count 1", 300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("augment: running"), std::string::npos) << r.out;
  EXPECT_EQ(read_json(tmp.str("run/augment/stage.json"))["outputs"]["pairs"].size(), 1u);
  // A bad range names the key.
  r = run_medsynth("run " + config + " --only augment --augment.snr 60,30", 300);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("augment.snr '60,30'"), std::string::npos) << r.err;
}
