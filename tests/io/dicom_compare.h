#pragma once
// Comparisons shared by the DICOM reader tests: voxels at the same physical positions, and
// dcm2niix's NIfTI of the same input as the independent reference.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "medsynth/io/volume_io.h"
#include "test_util.h"

namespace medsynth::test {

// For every voxel of `dicom`, the voxel of `ref` at the same physical position (which must be a
// whole index, to within 1e-3 mm) holds the same value, to within `tolerance`.
inline void expect_same_voxels_at_same_positions(const io::Volume& dicom, const io::Volume& ref,
                                                 double tolerance = 0) {
  ASSERT_EQ(dicom.voxels.size(), ref.voxels.size());
  const auto& g = dicom.geometry;
  std::size_t mismatches = 0;
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    for (std::size_t j = 0; j < g.size[1]; ++j) {
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        const auto p = g.index_to_physical(double(i), double(j), double(k));
        const auto r = ref.geometry.physical_to_index(p);
        long ri[3];
        for (int a = 0; a < 3; ++a) {
          ri[a] = std::lround(r[a]);
          ASSERT_NEAR(r[a] * ref.geometry.spacing[a], double(ri[a]) * ref.geometry.spacing[a], 1e-3)
              << "voxel " << i << "," << j << "," << k;
          ASSERT_GE(ri[a], 0);
          ASSERT_LT(ri[a], long(ref.geometry.size[a]));
        }
        const double a = dicom.at(i, j, k), b = ref.at(std::size_t(ri[0]), std::size_t(ri[1]), std::size_t(ri[2]));
        if (std::fabs(a - b) > tolerance * std::max(1.0, std::fabs(b))) ++mismatches;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// dcm2niix's conversion of the DICOM files in `dir` (a copy in `work`): the NIfTI path of
// volume `t` (dcm2niix writes 4-D series as one file; nibabel cuts volume t out of it).
inline std::string dcm2niix_volume(const std::string& dir, const TempDir& work, int t = -1,
                                   const std::string& name = "ref") {
  const std::string out = work.str(name);
  fs::create_directories(out);
  auto r = run("dcm2niix -b n -z n -o " + out + " -f ref " + dir);
  EXPECT_EQ(r.exit_code, 0) << "dcm2niix (package dcm2niix): " << r.out << r.err;
  if (t < 0) return out + "/ref.nii";
  const std::string vol = out + "/ref_" + std::to_string(t) + ".nii";
  auto p = python("import nibabel as nib\n"
                  "i = nib.load('" + out + "/ref.nii')\n"
                  "nib.save(i.slicer[..., " + std::to_string(t) + "], '" + vol + "')\n");
  EXPECT_EQ(p.exit_code, 0) << p.err;
  return vol;
}

}  // namespace medsynth::test
