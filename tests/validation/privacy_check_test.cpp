// Memorisation check: nearest training slices by Pearson r, baseline percentile, planted copy.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

#include "medsynth/error.h"
#include "medsynth/validation/memorisation_check.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;
using namespace medsynth::validation;

namespace {

std::vector<Slice> range_of(const io::Volume& v, std::size_t from, std::size_t to) {
  std::vector<Slice> out;
  for (std::size_t k = from; k < to; ++k) out.push_back(slice_of(v, k));
  return out;
}

}  // namespace

TEST(PrivacyCheck, PlantedCopyOfATrainingSliceIsFlagged) {
  // One subject split by slab: training slices 40..119, held-out 120..149. The "synthetic" set
  // is the held-out slab made noisy, with training slice 80 planted at position 7.
  const io::Volume real = read_ch2();
  const io::Volume noisy = perturbed(real, 6.0, 21);
  const auto train = range_of(real, 40, 120);
  const auto held_out = range_of(real, 120, 150);
  auto synthetic = range_of(noisy, 120, 150);
  synthetic[7] = slice_of(real, 80);
  MemorisationOptions opt;
  opt.data_range = 255;
  const MemorisationResult r = memorisation_check(train, synthetic, held_out, opt);
  ASSERT_EQ(r.synthetic.size(), 30u);
  ASSERT_EQ(r.baseline.size(), 30u);
  ASSERT_FALSE(r.flagged.empty());
  EXPECT_EQ(r.flagged.front(), 7u);
  EXPECT_LE(r.flagged.size(), 2u) << "noisy unseen slices flagged as copies";
  EXPECT_EQ(r.top.front().query, 7u);
  EXPECT_EQ(r.top.front().train, 40u);  // slice 80 is the 41st training slice
  EXPECT_NEAR(r.top.front().correlation, 1.0, 1e-5);
  EXPECT_NEAR(r.top.front().ssim, 1.0, 1e-9);
  EXPECT_GT(r.threshold, 0.8);  // neighbouring slices of one subject are alike: an honest baseline
  EXPECT_LT(r.threshold, 1.0);
}

TEST(PrivacyCheck, BestCorrelationsMatchNumpyCorrcoef) {
  TempDir tmp;
  const io::Volume real = read_ch2();
  const io::Volume noisy = perturbed(real, 10.0, 4);
  const auto train = range_of(real, 50, 110);
  const auto queries = range_of(noisy, 60, 140);
  const auto best = nearest_training_slices(queries, train, 255);
  write_float(real, tmp.str("real.nii"));
  write_float(noisy, tmp.str("noisy.nii"));
  auto p = python(
      "import json, numpy as np, nibabel as nib\n"
      "a = np.asarray(nib.load('" + tmp.str("real.nii") + "').dataobj, dtype=np.float64)\n"
      "b = np.asarray(nib.load('" + tmp.str("noisy.nii") + "').dataobj, dtype=np.float64)\n"
      "T = a[:, :, 50:110].reshape(-1, 60).T; Q = b[:, :, 60:140].reshape(-1, 80).T\n"
      "C = np.corrcoef(np.vstack([Q, T]))[:80, 80:]\n"
      "print(json.dumps(dict(r=C.max(1).tolist(), j=C.argmax(1).tolist())))\n");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto j = nlohmann::json::parse(p.out);
  ASSERT_EQ(best.size(), 80u);
  for (std::size_t i = 0; i < best.size(); ++i) {
    EXPECT_NEAR(best[i].correlation, j["r"][i].get<double>(), 2e-5) << "query " << i;  // float sgemm
    EXPECT_EQ(best[i].train, j["j"][i].get<std::size_t>()) << "query " << i;
  }
}

TEST(PrivacyCheck, ConstantSlicesAndTooSmallBaselinesAreRefused) {
  const io::Volume real = read_ch2();
  const auto train = range_of(real, 60, 70);
  std::vector<Slice> with_blank = range_of(real, 80, 84);
  with_blank[2].pixels.assign(with_blank[2].size(), 0.0f);
  try {
    nearest_training_slices(with_blank, train, 255);
    FAIL() << "a constant slice was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("constant"), std::string::npos) << e.what();
  }
  MemorisationOptions opt;
  opt.data_range = 255;
  EXPECT_THROW(memorisation_check(train, train, range_of(real, 90, 91), opt), Error);
}

TEST(PrivacyCheck, PercentileInterpolatesLikeNumpy) {
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({0, 10}, 99), 9.9);
  EXPECT_DOUBLE_EQ(percentile({5}, 99), 5);
}
