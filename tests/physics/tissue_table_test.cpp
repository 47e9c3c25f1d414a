#include <gtest/gtest.h>

#include <fstream>

#include "medsynth/error.h"
#include "medsynth/physics/tissue_table.h"
#include "test_util.h"

namespace medsynth::physics {
namespace {

using test::TempDir;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const medsynth::Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(PhysicsTissueTable, EveryBuiltInValueIsPlausibleAndSourced) {
  const std::vector<std::string> expected = {"background", "blood", "bone", "csf", "fat", "grey_matter",
                                             "lesion", "muscle", "white_matter"};
  for (double field : kTableFields) {
    const TissueTable t = literature_table(field);
    EXPECT_EQ(t.names(), expected) << field;
    for (const auto& [name, p] : t.tissues) {
      EXPECT_EQ(check_parameters(p), "") << name << " at " << field << " T";
      EXPECT_FALSE(p.source.empty()) << name;
    }
  }
  for (const auto& [name, p] : brainweb_table().tissues) EXPECT_EQ(check_parameters(p), "") << name;
}

TEST(PhysicsTissueTable, RelaxationFollowsFieldStrength) {
  // T1 lengthens and T2* shortens with B0 in brain tissue; CSF is the longest T1 and T2 at
  // every field, and white matter has the shortest T1 of the three brain classes.
  const TissueTable a = literature_table(1.5), b = literature_table(3), c = literature_table(7);
  for (const char* t : {"grey_matter", "white_matter", "csf", "blood"}) {
    EXPECT_LT(a.at(t).t1, b.at(t).t1) << t;
    EXPECT_LT(b.at(t).t1, c.at(t).t1) << t;
    EXPECT_GT(a.at(t).t2star, b.at(t).t2star) << t;
    EXPECT_GT(b.at(t).t2star, c.at(t).t2star) << t;
  }
  for (const TissueTable* t : {&a, &b, &c}) {
    EXPECT_GT(t->at("csf").t1, t->at("grey_matter").t1);
    EXPECT_GT(t->at("grey_matter").t1, t->at("white_matter").t1);
    EXPECT_GT(t->at("csf").t2, t->at("grey_matter").t2);
    EXPECT_GT(t->at("grey_matter").t2, t->at("white_matter").t2);
    EXPECT_GT(t->at("csf").pd, t->at("grey_matter").pd);
    EXPECT_GT(t->at("grey_matter").pd, t->at("white_matter").pd);
  }
  EXPECT_THROW(literature_table(2.0), UsageError);
}

TEST(PhysicsTissueTable, CsvAddsAndReplacesTissues) {
  TempDir tmp;
  std::ofstream(tmp.str("t.csv")) << "# my tissues\ntissue,pd,t1,t2,t2star,source\n"
                                  << "grey_matter, 0.75, 1400, 90, 60, my lab 2024\n\nputamen,0.78,1100,60,30,\n";
  const TissueTable t = merge_tissue_csv(literature_table(3), tmp.str("t.csv"));
  EXPECT_DOUBLE_EQ(t.at("grey_matter").t1, 1400);
  EXPECT_EQ(t.at("grey_matter").source, "my lab 2024");
  EXPECT_DOUBLE_EQ(t.at("putamen").t2star, 30);
  EXPECT_EQ(t.at("putamen").source, tmp.str("t.csv"));
  EXPECT_DOUBLE_EQ(t.at("white_matter").t1, 1084);  // untouched
  EXPECT_NE(t.name.find("t.csv"), std::string::npos);
}

TEST(PhysicsTissueTable, BadCsvNamesFileLineAndProblem) {
  TempDir tmp;
  auto bad = [&](const std::string& text) {
    std::ofstream(tmp.str("bad.csv")) << text;
    return message_of([&] { merge_tissue_csv(literature_table(3), tmp.str("bad.csv")); });
  };
  const std::string f = tmp.str("bad.csv");
  EXPECT_EQ(bad("tissue,t1,t2\ncsf,1,2\n").rfind(f + ": line 1: the header must be", 0), 0u);
  EXPECT_EQ(bad("tissue,pd,t1,t2,t2star\ncsf,1,abc,2,1\n"), f + ": line 2: t1 'abc' is not a number");
  EXPECT_EQ(bad("tissue,pd,t1,t2,t2star\n# c\ncsf,1,2\n"), f + ": line 3: 3 fields, expected 5");
  EXPECT_EQ(bad("tissue,pd,t1,t2,t2star\ncsf,1,4000,100,200\n"), f + ": line 2 (csf): t2star must not exceed t2");
  EXPECT_EQ(bad("tissue,pd,t1,t2,t2star\ncsf,1,-5,100,20\n"), f + ": line 2 (csf): t1 must be > 0 ms");
  EXPECT_EQ(bad("# only a comment\n"), f + ": no rows (expected a header line and one row per entry)");
  EXPECT_EQ(message_of([&] { merge_tissue_csv(literature_table(3), tmp.str("none.csv")); }),
            tmp.str("none.csv") + ": cannot open the file");
}

TEST(PhysicsTissueTable, LabelTableMapsLabelsToKnownTissues) {
  TempDir tmp;
  const TissueTable t = literature_table(3);
  std::ofstream(tmp.str("l.csv")) << "label,tissue\n0,background\n1,csf\n2,grey_matter\n3,white_matter\n4,fat\n";
  const LabelTissueMap m = read_label_tissue_csv(tmp.str("l.csv"), t);
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(m.at(4), "fat");
  std::ofstream(tmp.str("u.csv")) << "label,tissue\n1,csf\n2,gray\n";
  EXPECT_NE(message_of([&] { read_label_tissue_csv(tmp.str("u.csv"), t); })
                .find(tmp.str("u.csv") + ": line 3: tissue 'gray' is not in the table (it has background, blood"),
            std::string::npos);
  std::ofstream(tmp.str("d.csv")) << "label,tissue\n1,csf\n1,fat\n";
  EXPECT_EQ(message_of([&] { read_label_tissue_csv(tmp.str("d.csv"), t); }), tmp.str("d.csv") + ": line 3: label 1 given twice");
  std::ofstream(tmp.str("f.csv")) << "label,tissue\n1.5,csf\n";
  EXPECT_EQ(message_of([&] { read_label_tissue_csv(tmp.str("f.csv"), t); }),
            tmp.str("f.csv") + ": line 2: label '1.5' is not an integer");
}

}  // namespace
}  // namespace medsynth::physics
