#pragma once
// Tissue parameter maps (PD, T1, T2, T2* per voxel) from a label map, and images rendered from
// them or from soft tissue fractions (partial volume).
#include <string>
#include <utility>
#include <vector>

#include "medsynth/io/volume.h"
#include "medsynth/physics/signal_equations.h"
#include "medsynth/physics/tissue_table.h"

namespace medsynth::physics {

struct ParameterMaps {
  io::Volume pd, t1, t2, t2star;  // t1, t2, t2star in ms; one geometry
};

// Maps of a label map through label -> tissue -> parameters. A label without a tissue throws
// io::Error naming `labels_path`, the label and its voxel count (exit 2).
ParameterMaps parameter_maps(const io::LabelVolume& labels, const TissueTable& table, const LabelTissueMap& tissues,
                             const std::string& labels_path);

// The image of a sequence from parameter maps (signal() per voxel; 0 where PD is 0).
io::Volume render(const ParameterMaps& maps, const Sequence& s);

// Partial volume: each voxel's signal is the fraction-weighted sum of its tissues' signals (the
// magnetisation of the compartments adds; mixing the parameters instead would not). Fractions
// summing above 1 in a voxel are scaled to 1; below 1 the rest is background. All fraction
// volumes must share one grid.
io::Volume render_fractions(const std::vector<std::pair<std::string, io::Volume>>& fractions, const TissueTable& table,
                            const Sequence& s);

// Voxels whose PD is above 0 (the tissue mask; SNR is defined over it).
std::vector<bool> tissue_mask(const ParameterMaps& maps);

}  // namespace medsynth::physics
