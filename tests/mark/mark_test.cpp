// The synthetic mark on real data: embedding (invisible: PSNR), determinism across shards, and
// detection of the payload (docs/ethics.md, "The synthetic mark").
#include <cmath>
#include <limits>

#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "test_util.h"

namespace medsynth::mark {
namespace {

using test::data_file;
using test::kTemplates;

double psnr(const io::Volume& a, const io::Volume& b) {
  const auto range = io::intensity_range(a);
  double se = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.voxels.size(); ++i) {
    if (!std::isfinite(a.voxels[i])) continue;
    const double d = static_cast<double>(a.voxels[i]) - b.voxels[i];
    se += d * d;
    ++n;
  }
  const double peak = range.second - range.first;
  return 10 * std::log10(peak * peak / (se / static_cast<double>(n)));
}

double strength_rms(const io::Volume& v) {
  const auto r = io::intensity_range(v);
  return kDefaultStrength * (r.second - r.first);
}

TEST(MarkEmbed, PsnrOfMarkedColin27IsAtLeast45dB) {
  const io::Volume real = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  io::Volume marked = real;
  embed_mark(marked, current_payload(0x1234abcd), strength_rms(real));
  const double p = psnr(real, marked);
  std::cout << "PSNR marked vs unmarked ch2bet: " << p << " dB\n";
  EXPECT_GE(p, 45.0);
  EXPECT_LT(p, 60.0);  // and not so weak that nothing was added
}

TEST(MarkEmbed, LeavesNanVoxelsAndShardsAddUpToOneRun) {
  io::Volume v = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  const std::size_t n = v.geometry.size[0] * v.geometry.size[1];
  io::Volume a = v, b = v;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t k = 0; k < v.geometry.size[2]; ++k) {
    io::Volume& other = (k / 16) % 2 ? a : b;  // batches of 16 slices alternate between shards
    std::fill(other.voxels.begin() + static_cast<long>(k * n), other.voxels.begin() + static_cast<long>((k + 1) * n), nan);
  }
  const Payload p = current_payload(42);
  embed_mark(v, p, 1.0);
  embed_mark(a, p, 1.0);
  embed_mark(b, p, 1.0);
  std::size_t nans = 0;
  for (std::size_t i = 0; i < v.voxels.size(); ++i) {
    const float merged = std::isnan(a.voxels[i]) ? b.voxels[i] : a.voxels[i];
    ASSERT_EQ(merged, v.voxels[i]) << "voxel " << i;
    nans += std::isnan(a.voxels[i]);
  }
  EXPECT_GT(nans, v.voxels.size() / 3);
}

TEST(MarkDetect, ReadsPayloadOfMarkedColin27AndNothingInTheOriginal) {
  const io::Volume real = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  io::Volume marked = real;
  const Payload p = current_payload(0xdeadbeef);
  embed_mark(marked, p, strength_rms(real));
  const Detection d = detect_mark(marked);
  std::cout << "marked: score " << d.score << ", payload score " << d.payload_score << ", planes " << d.planes << "\n";
  EXPECT_TRUE(d.found);
  ASSERT_TRUE(d.payload_valid);
  EXPECT_EQ(d.payload.run_id, 0xdeadbeefu);
  EXPECT_EQ(version_text(d.payload), version_text(p));
  EXPECT_EQ(d.scale, 1.0);
  const Detection none = detect_mark(real);
  std::cout << "original: score " << none.score << ", false alarm " << none.false_alarm << "\n";
  EXPECT_FALSE(none.found);
}

TEST(MarkDetect, FindsMarkInOneSliceOfEachOrientation) {
  const io::Volume real = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  io::Volume marked = real;
  embed_mark(marked, current_payload(7), strength_rms(real));
  const io::Volume slice = io::extract_slice(marked, 90, "ch2bet");
  const Detection d = detect_mark(slice);
  std::cout << "slice 90: score " << d.score << ", payload score " << d.payload_score << "\n";
  EXPECT_TRUE(d.found);
  EXPECT_TRUE(d.payload_valid);
  EXPECT_EQ(d.payload.run_id, 7u);
  // Flipped and transposed (a PNG export in another orientation).
  io::Volume t = slice;
  const std::size_t w = slice.geometry.size[0], h = slice.geometry.size[1];
  t.geometry.size = {h, w, 1};
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) t.voxels[(w - 1 - x) * h + y] = slice.voxels[y * w + x];
  }
  const Detection dt = detect_mark(t);
  std::cout << "transposed+flipped: score " << dt.score << ", orientation " << dt.orientation << "\n";
  EXPECT_TRUE(dt.found);
  EXPECT_TRUE(dt.payload_valid);
  EXPECT_EQ(dt.payload.run_id, 7u);
}

}  // namespace
}  // namespace medsynth::mark
