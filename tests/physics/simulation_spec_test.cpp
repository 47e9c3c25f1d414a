// The one-value simulation settings of utility.physics and data.simulate_source.
#include <gtest/gtest.h>

#include "medsynth/error.h"
#include "medsynth/physics/simulation_spec.h"

namespace medsynth::physics {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_simulation_spec(text, "utility.physics");
  } catch (const medsynth::Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage) << e.what();
    return e.what();
  }
  return "";
}

TEST(SimulationSpec, NamesASequenceItsFieldAndTimingAndRendersLabelsAsTheEquations) {
  const SimulationSpec m = parse_simulation_spec("mprage", "k");
  EXPECT_EQ(m.sequence.type, SequenceType::kMprage);
  EXPECT_EQ(m.table.field_tesla, 3.0);
  const SimulationSpec f = parse_simulation_spec("flair:field=1.5,tr=9500,te=110", "k");
  EXPECT_EQ(f.sequence.type, SequenceType::kFlair);
  EXPECT_EQ(f.table.field_tesla, 1.5);
  EXPECT_EQ(f.sequence.tr, 9500);
  EXPECT_EQ(f.sequence.te, 110);
  // TI not given: the CSF null at the TR and TE given.
  EXPECT_DOUBLE_EQ(f.sequence.ti, null_inversion_time(literature_table(1.5).at("csf").t1, 9500, 110));
  const auto s = label_signals(f, {0, 1, 2, 3}, "here");
  EXPECT_EQ(s.at(0), 0.0);
  EXPECT_LT(s.at(1), 0.01 * s.at(3)) << "CSF nulled";
  EXPECT_DOUBLE_EQ(s.at(2), signal(f.sequence, f.table.at("grey_matter")));
  EXPECT_DOUBLE_EQ(s.at(3), signal(f.sequence, f.table.at("white_matter")));
  EXPECT_EQ(parse_simulation_spec("gre:table=brainweb,flip=20", "k").table.name, brainweb_table().name);
}

TEST(SimulationSpec, RefusesBadSettingsNamingTheKey) {
  EXPECT_NE(error_of("tse").find("utility.physics 'tse': unknown sequence 'tse'"), std::string::npos) << error_of("tse");
  EXPECT_NE(error_of("se:tr=x").find("tr 'x' is not a number"), std::string::npos);
  EXPECT_NE(error_of("se:echo=3").find("unknown key 'echo'"), std::string::npos);
  EXPECT_NE(error_of("se:tr").find("'tr' is not key=value"), std::string::npos);
  EXPECT_NE(error_of("se:tr=80,te=100").find("TE 100 ms must be shorter than TR 80 ms"), std::string::npos)
      << error_of("se:tr=80,te=100");
  EXPECT_NE(error_of("se:field=2").find("1.5, 3 and 7 T"), std::string::npos) << error_of("se:field=2");
  const SimulationSpec m = parse_simulation_spec("mprage", "k");
  try {
    label_signals(m, {0, 7}, "labels.nii.gz");
    ADD_FAILURE() << "label 7 has no tissue";
  } catch (const medsynth::Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("labels.nii.gz: labels without a tissue in the simulation 'mprage': 7"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace medsynth::physics
