// Volume figures (through-plane coherence, in-plane band power, sagittal/coronal SSIM and PSNR)
// on Colin27's skull-stripped brain and copies that scipy makes from it (smoothed along z, slices
// shuffled in blocks of 6, blurred in-plane, noise added), against numpy/scipy computations of
// the same definitions. The copies put the ratios far from 1, so a wrong figure shows.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <memory>

#include "medsynth/io/volume_io.h"
#include "medsynth/validation/image_metrics.h"
#include "medsynth/validation/volume_metrics.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;
using namespace medsynth::validation;

namespace {

// Copies of ch2bet and the python reference figures, made once for the suite (~15 s of python).
struct Copies {
  TempDir dir;
  nlohmann::json ref;
  std::string path(const std::string& name) const { return dir.str(name + ".nii.gz"); }
};

const char* kNames[] = {"real", "zsmooth", "shuffled", "blurred", "noisy"};

std::unique_ptr<Copies> make_copies() {
  auto c = std::make_unique<Copies>();
  const std::string bet = data_file(kTemplates + "ch2bet.nii.gz", "mricron-data");
  auto p = python(kVolumeFigureHelpers +
                  "out = '" + c->dir.str() + "'\n"
                  "img = nib.load('" + bet + "')\n"
                  "a = np.asarray(img.dataobj, dtype=np.float32)\n"
                  "X, Y, Z = axes = axes_of(img.affine)\n"
                  "rng = np.random.default_rng(5)\n"
                  "perm = np.arange(a.shape[Z])\n"
                  "for s in range(0, len(perm), 6): rng.shuffle(perm[s:s + 6])\n"
                  "copies = dict(real=a, zsmooth=ndimage.gaussian_filter1d(a, 1.5, axis=Z),\n"
                  "    shuffled=np.take(a, perm, axis=Z),\n"
                  "    blurred=ndimage.gaussian_filter(a, sigma=[0 if ax == Z else 1.5 for ax in range(3)]),\n"
                  "    noisy=a + rng.normal(0, 8, a.shape).astype(np.float32))\n"
                  "for name, v in copies.items():\n"
                  "    nib.save(nib.Nifti1Image(v.astype(np.float32), img.affine), f'{out}/{name}.nii.gz')\n"
                  // The same voxels with the index axes reordered (S first) and the affine to match.
                  "order = (2, 0, 1)\n"
                  "aff = img.affine.copy(); aff[:3, :3] = img.affine[:3, list(order)]\n"
                  "for name in ('real', 'shuffled'):\n"
                  "    v = np.ascontiguousarray(np.transpose(copies[name], order))\n"
                  "    nib.save(nib.Nifti1Image(v, aff), f'{out}/{name}_t.nii.gz')\n"
                  "real = a.astype(np.float64)\n"
                  "R = region_of(real)\n"
                  "slab = np.zeros(a.shape, bool); idx = [slice(None)] * 3; idx[Z] = slice(60, 120); slab[tuple(idx)] = True\n"
                  "ref = dict(axes=axes)\n"
                  "for name, v in copies.items():\n"
                  "    v = v.astype(np.float64)\n"
                  "    ref[name] = dict(coherence=coherence(v, R, axes), band=band_power(v, R, axes))\n"
                  "for name in ('real', 'shuffled'):\n"
                  "    v = copies[name].astype(np.float64)\n"
                  "    ref[name]['slab_coherence'] = coherence(v, slab, axes)\n"
                  "    ref[name]['slab_band'] = band_power(v, slab, axes)\n"
                  "b = copies['shuffled'].astype(np.float64)\n"
                  "ref['shuffled']['sagittal'] = plane_figures(real, b, 133.0, X, slab)\n"
                  "ref['shuffled']['coronal'] = plane_figures(real, b, 133.0, Y, slab)\n"
                  "print(json.dumps(ref))\n",
                  300);
  EXPECT_EQ(p.exit_code, 0) << "python3-scipy / python3-nibabel reference failed:\n" << p.err;
  if (p.exit_code == 0) c->ref = nlohmann::json::parse(p.out);
  return c;
}

class VolumeMetric : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { copies_ = make_copies().release(); }
  static void TearDownTestSuite() {
    delete copies_;
    copies_ = nullptr;
  }
  static const Copies& copies() { return *copies_; }
  static Copies* copies_;
};
Copies* VolumeMetric::copies_ = nullptr;

io::Volume slab_mask(const io::Volume& v, std::size_t z0, std::size_t z1) {
  io::Volume m = v;
  const std::array<int, 3> axes = canonical_axes(v.geometry);
  const auto z = static_cast<std::size_t>(axes[2]);
  for (std::size_t k = 0; k < v.geometry.size[2]; ++k)
    for (std::size_t j = 0; j < v.geometry.size[1]; ++j)
      for (std::size_t i = 0; i < v.geometry.size[0]; ++i) {
        const std::size_t c[3] = {i, j, k};
        m.at(i, j, k) = c[z] >= z0 && c[z] < z1 ? 1.0f : 0.0f;
      }
  return m;
}

void expect_relative(double value, double reference, double tol, const std::string& what) {
  EXPECT_NEAR(value, reference, tol * std::fabs(reference)) << what;
}

}  // namespace

TEST_F(VolumeMetric, CanonicalAxesFollowTheDirectionMatrixAsNibabelReadsIt) {
  ASSERT_FALSE(copies().ref.is_null());
  const io::Volume real = io::read_volume(copies().path("real"));
  const io::Volume transposed = io::read_volume(copies().path("real_t"));
  const std::array<int, 3> axes = canonical_axes(real.geometry);
  for (std::size_t a = 0; a < 3; ++a) EXPECT_EQ(axes[a], copies().ref["axes"][a].get<int>()) << a;
  // ch2bet is RAS: x, y, z are the index axes; the reordered copy has S first.
  EXPECT_EQ(axes, (std::array<int, 3>{0, 1, 2}));
  EXPECT_EQ(canonical_axes(transposed.geometry), (std::array<int, 3>{1, 2, 0}));
  // permute_axes undoes the reordering voxel for voxel.
  const io::Volume back = permute_axes(transposed, {1, 2, 0});
  EXPECT_EQ(back.geometry.size, real.geometry.size);
  EXPECT_TRUE(back.geometry.same_grid(real.geometry, 1e-3));
  EXPECT_EQ(back.voxels, real.voxels);
}

TEST_F(VolumeMetric, ThroughPlaneCoherenceMatchesNumpyAndSeesSmoothedAndShuffledSlices) {
  ASSERT_FALSE(copies().ref.is_null());
  const io::Volume real = io::read_volume(copies().path("real"));
  const std::vector<std::uint8_t> region = evaluation_region(real, nullptr);
  std::map<std::string, double> coherence;
  for (const char* name : kNames) {
    SCOPED_TRACE(name);
    const auto& ref = copies().ref[name]["coherence"];
    const ThroughPlaneCoherence c = through_plane_coherence(io::read_volume(copies().path(name)), region, 2);
    EXPECT_EQ(c.through_pairs, ref["through_pairs"].get<std::size_t>());
    EXPECT_EQ(c.in_pairs, ref["in_pairs"].get<std::size_t>());
    expect_relative(c.through_plane, ref["through_plane"], 1e-9, "through-plane");
    expect_relative(c.in_plane, ref["in_plane"], 1e-9, "in-plane");
    expect_relative(c.coherence, ref["coherence"], 1e-9, "coherence");
    coherence[name] = c.coherence;
  }
  // Real anatomy at 1 mm isotropic: about as rough across slices as along x.
  EXPECT_NEAR(coherence["real"], 1.0, 0.1);
  EXPECT_LT(coherence["zsmooth"] / coherence["real"], 0.9);   // smoother across slices than real
  EXPECT_GT(coherence["shuffled"] / coherence["real"], 1.8);  // steps between slices
  EXPECT_GT(coherence["blurred"] / coherence["real"], 1.05);  // in-plane blur alone raises it too
  EXPECT_NEAR(coherence["noisy"] / coherence["real"], 1.0, 0.05);  // isotropic noise: no slice defect
  // The slice axis comes from the direction matrix, not the file's axis order.
  const io::Volume real_t = io::read_volume(copies().path("real_t"));
  const ThroughPlaneCoherence t = through_plane_coherence(real_t, evaluation_region(real_t, nullptr), 2);
  expect_relative(t.coherence, coherence["real"], 1e-12, "reordered axes");
  // With a mask: only pairs with both voxels inside (a slab of 60 axial slices).
  const io::Volume slab = slab_mask(real, 60, 120);
  for (const char* name : {"real", "shuffled"}) {
    const auto& ref = copies().ref[name]["slab_coherence"];
    const ThroughPlaneCoherence c = through_plane_coherence(io::read_volume(copies().path(name)), evaluation_region(real, &slab));
    EXPECT_EQ(c.through_pairs, ref["through_pairs"].get<std::size_t>()) << name;
    EXPECT_EQ(c.through_pairs, 181u * 217u * 59u) << name;
    expect_relative(c.coherence, ref["coherence"], 1e-9, std::string("slab ") + name);
  }
}

TEST_F(VolumeMetric, InPlaneBandPowerMatchesNumpyFftAndSeparatesBlurFromNoise) {
  ASSERT_FALSE(copies().ref.is_null());
  const io::Volume real = io::read_volume(copies().path("real"));
  const std::vector<std::uint8_t> region = evaluation_region(real, nullptr);
  std::map<std::string, double> band;
  for (const char* name : kNames) {
    SCOPED_TRACE(name);
    const auto& ref = copies().ref[name]["band"];
    BandPowerOptions o;
    o.threads = 2;
    const BandPower b = in_plane_band_power(io::read_volume(copies().path(name)), region, o);
    EXPECT_EQ(b.slices, ref["slices"].get<std::size_t>());
    EXPECT_EQ(b.padded[0], 256u);
    EXPECT_EQ(b.padded[1], 256u);
    expect_relative(b.band, ref["band"], 1e-9, "band power");
    expect_relative(b.total, ref["total"], 1e-9, "total power");
    band[name] = b.band;
  }
  EXPECT_LT(band["blurred"] / band["real"], 0.1);  // Gaussian blur sigma 1.5 removes the fine detail
  EXPECT_LT(band["zsmooth"] / band["real"], 0.8);  // averaging slices blurs each slice too
  EXPECT_GT(band["noisy"] / band["real"], 3.0);    // grain
  const io::Volume shuffled_t = io::read_volume(copies().path("shuffled_t"));
  const BandPower t = in_plane_band_power(shuffled_t, evaluation_region(io::read_volume(copies().path("real_t")), nullptr));
  expect_relative(t.band, band["shuffled"], 1e-9, "reordered axes");
  const io::Volume slab = slab_mask(real, 60, 120);
  for (const char* name : {"real", "shuffled"}) {
    const auto& ref = copies().ref[name]["slab_band"];
    const BandPower b = in_plane_band_power(io::read_volume(copies().path(name)), evaluation_region(real, &slab));
    EXPECT_EQ(b.slices, 60u) << name;
    expect_relative(b.band, ref["band"], 1e-9, std::string("slab ") + name);
    expect_relative(b.total, ref["total"], 1e-9, std::string("slab ") + name);
  }
}

TEST_F(VolumeMetric, SagittalAndCoronalSsimAndPsnrMatchScipyOnReslicedSlices) {
  ASSERT_FALSE(copies().ref.is_null());
  const io::Volume real = io::read_volume(copies().path("real"));
  const io::Volume shuffled = io::read_volume(copies().path("shuffled"));
  const io::Volume slab = slab_mask(real, 60, 120);
  const std::array<int, 3> axes = canonical_axes(real.geometry);
  const int x = axes[0], y = axes[1], z = axes[2];
  auto plane = [&](const std::array<int, 3>& order) {
    const io::Volume m = permute_axes(slab, order);
    PairedOptions po;
    po.data_range = 133;
    po.mask = &m;
    return paired_metrics(permute_axes(real, order), permute_axes(shuffled, order), po);
  };
  const PairedResult sagittal = plane({y, z, x}), coronal = plane({x, z, y}), axial = plane({x, y, z});
  const auto& ref = copies().ref["shuffled"];
  EXPECT_NEAR(sagittal.volume.ssim, ref["sagittal"]["ssim"].get<double>(), 1e-4);
  EXPECT_NEAR(coronal.volume.ssim, ref["coronal"]["ssim"].get<double>(), 1e-4);
  EXPECT_NEAR(sagittal.volume.psnr, ref["sagittal"]["psnr"].get<double>(), 1e-4);
  EXPECT_NEAR(coronal.volume.psnr, ref["coronal"]["psnr"].get<double>(), 1e-4);
  EXPECT_EQ(sagittal.slices.size(), 181u);  // every sagittal slice crosses the slab
  // PSNR pools the same voxels in every plane; SSIM's window spans 11 axial slices in a
  // sagittal or coronal slice, so shuffled slices cost more there than in axial slices.
  EXPECT_NEAR(sagittal.volume.psnr, axial.volume.psnr, 1e-9);
  EXPECT_LT(sagittal.volume.ssim, axial.volume.ssim - 0.03);
  EXPECT_LT(coronal.volume.ssim, axial.volume.ssim - 0.03);
}
