#pragma once
// medsynth's own NIfTI-1/NIfTI-2 reader and NIfTI-1 writer (.nii, .nii.gz, .hdr/.img pairs).
// ITK 5.2 cannot read NIfTI-2 and prefers the qform where FSL, nibabel and SPM prefer the sform
// (HarvardOxford-cort-maxprob-thr0-1mm.nii.gz: the two differ by 126 mm), so NIfTI is read here,
// following nibabel's rules, with every header field checked before anything is allocated.
#include <string>

#include "medsynth/io/volume.h"

namespace medsynth::io::detail {

Volume read_nifti_volume(const std::string& path);
LabelVolume read_nifti_label_volume(const std::string& path);
void write_nifti_volume(const Volume& v, const std::string& path, PixelType type);
void write_nifti_label_volume(const LabelVolume& v, const std::string& path, PixelType type);

}  // namespace medsynth::io::detail
