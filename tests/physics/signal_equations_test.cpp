// The closed-form signal equations against an event-by-event Bloch simulation in numpy
// (signal_reference.py), and against the limits every textbook states.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/physics/signal_equations.h"
#include "test_util.h"

namespace medsynth::physics {
namespace {

using test::TempDir;

constexpr double kPi = 3.14159265358979323846;

Sequence seq(SequenceType type, double tr, double te, double ti = 0, double flip = 90, int etl = 1, double esp = 5) {
  Sequence s;
  s.type = type, s.tr = tr, s.te = te, s.ti = ti, s.flip = flip, s.echo_train_length = etl, s.echo_spacing = esp;
  return s;
}

TEST(PhysicsSignal, MatchesEventSimulationInNumpy) {
  const TissueTable table = literature_table(3.0);
  const std::vector<Sequence> sequences = {
      seq(SequenceType::kSpinEcho, 4000, 100), seq(SequenceType::kSpinEcho, 500, 15),
      seq(SequenceType::kGradientEcho, 18, 10, 0, 30), seq(SequenceType::kGradientEcho, 30, 4, 0, 5),
      seq(SequenceType::kInversionRecovery, 3000, 10, 400), seq(SequenceType::kFlair, 9000, 120, 2500),
      seq(SequenceType::kMprage, 2300, 2.98, 900, 9, 176, 7.1), seq(SequenceType::kMprage, 2000, 3, 1100, 12, 64, 8),
      seq(SequenceType::kMprage, 5000, 2, 700, 5, 1, 5)};
  std::vector<std::pair<const Sequence*, const TissueParameters*>> cases;
  std::ostringstream lines;
  for (const Sequence& s : sequences) {
    ASSERT_EQ(check_sequence(s), "") << to_string(s.type);
    for (const char* t : {"csf", "grey_matter", "white_matter", "fat", "blood", "lesion"}) {
      const TissueParameters& p = table.at(t);
      cases.emplace_back(&s, &p);
      lines << to_string(s.type) << " " << s.tr << " " << s.te << " " << s.ti << " " << s.flip << " "
            << s.echo_train_length << " " << s.echo_spacing << " " << p.pd << " " << p.t1 << " " << p.t2 << " "
            << p.t2star << "\n";
    }
  }
  TempDir tmp;
  std::ofstream(tmp.str("cases.txt")) << lines.str();
  const auto r = test::run(test::kPython + " " + MEDSYNTH_SOURCE_DIR "/tests/physics/signal_reference.py < " +
                           tmp.str("cases.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  for (const auto& [s, p] : cases) {
    double expected = 0;
    ASSERT_TRUE(out >> expected) << "numpy gave fewer values than cases";
    const double got = signal(*s, *p);
    EXPECT_NEAR(got, expected, 1e-9 + 1e-7 * std::abs(expected))
        << to_string(s->type) << " TR " << s->tr << " TE " << s->te << " TI " << s->ti << " T1 " << p->t1;
  }
}

TEST(PhysicsSignal, SpinEchoLimits) {
  const TissueParameters p{0.8, 1350, 99, 66, ""};
  // TE -> 0: saturation recovery PD (1 - e^-TR/T1).
  EXPECT_NEAR(signal(seq(SequenceType::kSpinEcho, 500, 1e-9), p), 0.8 * (1 - std::exp(-500 / 1350.0)), 1e-9);
  // TR -> infinity: pure T2 decay PD e^-TE/T2.
  EXPECT_NEAR(signal(seq(SequenceType::kSpinEcho, 1e7, 80), p), 0.8 * std::exp(-80 / 99.0), 1e-9);
  // TE -> 0 and TR -> infinity: PD.
  EXPECT_NEAR(signal(seq(SequenceType::kSpinEcho, 1e7, 1e-9), p), 0.8, 1e-9);
}

TEST(PhysicsSignal, GradientEchoLimitsAndErnstAngle) {
  const TissueParameters p{0.69, 810, 69, 53.2, ""};
  // TR -> infinity: PD sin(a) e^-TE/T2* (T2*, not T2).
  EXPECT_NEAR(signal(seq(SequenceType::kGradientEcho, 1e7, 10, 0, 30), p), 0.69 * 0.5 * std::exp(-10 / 53.2), 1e-9);
  // The signal peaks at the Ernst angle acos(e^-TR/T1).
  const double ernst = std::acos(std::exp(-18 / 810.0)) * 180 / kPi;
  const double at = signal(seq(SequenceType::kGradientEcho, 18, 1e-9, 0, ernst), p);
  EXPECT_GT(at, signal(seq(SequenceType::kGradientEcho, 18, 1e-9, 0, ernst - 2), p));
  EXPECT_GT(at, signal(seq(SequenceType::kGradientEcho, 18, 1e-9, 0, ernst + 2), p));
  // Small flip: proton-density weighted, PD sin(a) whatever T1.
  const TissueParameters long_t1{0.69, 4000, 69, 53.2, ""};
  EXPECT_NEAR(signal(seq(SequenceType::kGradientEcho, 18, 1e-9, 0, 0.01), long_t1) /
                  signal(seq(SequenceType::kGradientEcho, 18, 1e-9, 0, 0.01), p),
              1.0, 1e-3);
}

TEST(PhysicsSignal, InversionRecoveryLimitsAndNull) {
  const TissueParameters p{1.0, 4300, 2200, 800, ""};
  // TR -> infinity, TE -> 0: |1 - 2 e^-TI/T1|; TI -> 0: full inversion, magnitude PD.
  EXPECT_NEAR(signal(seq(SequenceType::kInversionRecovery, 1e7, 1e-9, 1000), p), std::abs(1 - 2 * std::exp(-1000 / 4300.0)),
              1e-9);
  EXPECT_NEAR(signal(seq(SequenceType::kInversionRecovery, 1e7, 1e-9, 1e-9), p), 1.0, 1e-9);
  // The null time nulls the tissue; TI ln 2 when TR -> infinity.
  const double ti = null_inversion_time(4300, 9000, 120);
  EXPECT_NEAR(signal(seq(SequenceType::kFlair, 9000, 120, ti), p), 0.0, 1e-12);
  EXPECT_NEAR(null_inversion_time(4300, 1e9, 0), 4300 * std::log(2.0), 1e-6);
}

TEST(PhysicsSignal, MprageReducesToInversionRecoveryGradientEcho) {
  const TissueParameters p{0.8, 1350, 99, 66, ""};
  // One tiny-flip readout pulse, TR -> infinity: |1 - 2 e^-TI/T1| sin(a) e^-TE/T2*.
  const double a = 0.01;
  const double expected = 0.8 * std::abs(1 - 2 * std::exp(-700 / 1350.0)) * std::sin(a * kPi / 180) * std::exp(-2 / 66.0);
  EXPECT_NEAR(signal(seq(SequenceType::kMprage, 1e7, 2, 700, a, 1, 5), p) / expected, 1.0, 1e-6);
  // Grey matter is darker than white matter at the default 3 T MPRAGE (T1-weighted).
  const TissueTable t = literature_table(3);
  const Sequence mp = default_sequence(SequenceType::kMprage, t);
  EXPECT_LT(signal(mp, t.at("grey_matter")), signal(mp, t.at("white_matter")));
  EXPECT_LT(signal(mp, t.at("csf")), signal(mp, t.at("grey_matter")));
}

TEST(PhysicsSignal, InconsistentTimingIsNamed) {
  EXPECT_NE(check_sequence(seq(SequenceType::kSpinEcho, 100, 120)).find("TE 120"), std::string::npos);
  EXPECT_NE(check_sequence(seq(SequenceType::kInversionRecovery, 2000, 10, 2500)).find("TI + TE"), std::string::npos);
  // 176 pulses of 7.1 ms around TI 300: the half train (625 ms) does not fit before the centre.
  EXPECT_NE(check_sequence(seq(SequenceType::kMprage, 2300, 3, 300, 9, 176, 7.1)).find("--ti"), std::string::npos);
  EXPECT_NE(check_sequence(seq(SequenceType::kMprage, 1500, 3, 900, 9, 176, 7.1)).find("--tr"), std::string::npos);
  EXPECT_EQ(check_sequence(default_sequence(SequenceType::kMprage, literature_table(3))), "");
  EXPECT_THROW(sequence_type_from_string("tse"), UsageError);
}

}  // namespace
}  // namespace medsynth::physics
