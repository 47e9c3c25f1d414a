#include "medsynth/physics/parameter_maps.h"

#include <map>

#include "medsynth/io/error.h"

namespace medsynth::physics {
namespace {

io::Volume like(const io::Geometry& g) {
  io::Volume v;
  v.geometry = g;
  v.voxels.assign(g.voxel_count(), 0.0f);
  v.stored_type = io::PixelType::kFloat32;
  return v;
}

}  // namespace

ParameterMaps parameter_maps(const io::LabelVolume& labels, const TissueTable& table, const LabelTissueMap& tissues,
                             const std::string& labels_path) {
  std::map<std::int32_t, std::size_t> unknown;
  std::map<std::int32_t, const TissueParameters*> lookup;
  for (const auto& [label, tissue] : tissues) lookup[label] = &table.at(tissue);
  for (std::int32_t l : labels.voxels) {
    if (!lookup.count(l)) ++unknown[l];
  }
  if (!unknown.empty()) {
    std::string list;
    for (const auto& [l, n] : unknown) {
      if (list.size() > 200) {
        list += ", ...";
        break;
      }
      list += (list.empty() ? "" : ", ") + std::to_string(l) + " (" + std::to_string(n) + " voxels)";
    }
    throw io::Error(labels_path, "labels without a tissue: " + list +
                                     "; give --label-table FILE.csv (label,tissue) to name their tissues");
  }
  ParameterMaps m{like(labels.geometry), like(labels.geometry), like(labels.geometry), like(labels.geometry)};
  for (std::size_t i = 0; i < labels.voxels.size(); ++i) {
    const TissueParameters& p = *lookup[labels.voxels[i]];
    m.pd.voxels[i] = static_cast<float>(p.pd);
    m.t1.voxels[i] = static_cast<float>(p.t1);
    m.t2.voxels[i] = static_cast<float>(p.t2);
    m.t2star.voxels[i] = static_cast<float>(p.t2star);
  }
  return m;
}

io::Volume render(const ParameterMaps& maps, const Sequence& s) {
  io::Volume out = like(maps.pd.geometry);
  // Label-derived maps repeat a few parameter sets: reuse the last voxel's signal when equal.
  TissueParameters last{-1, 0, 0, 0, ""};
  double last_signal = 0;
  for (std::size_t i = 0; i < out.voxels.size(); ++i) {
    const TissueParameters p{maps.pd.voxels[i], maps.t1.voxels[i], maps.t2.voxels[i], maps.t2star.voxels[i], ""};
    if (p.pd != last.pd || p.t1 != last.t1 || p.t2 != last.t2 || p.t2star != last.t2star) {
      last = p;
      last_signal = p.pd > 0 ? signal(s, p) : 0.0;
    }
    out.voxels[i] = static_cast<float>(last_signal);
  }
  return out;
}

io::Volume render_fractions(const std::vector<std::pair<std::string, io::Volume>>& fractions, const TissueTable& table,
                            const Sequence& s) {
  if (fractions.empty()) throw medsynth::Error("no tissue fractions given", ExitCode::kUsage);
  const io::Geometry& g = fractions.front().second.geometry;
  io::Volume out = like(g), total = like(g);
  for (const auto& [tissue, f] : fractions) {
    if (!f.geometry.same_grid(g)) {
      throw medsynth::Error("the fraction map of " + tissue + " is not on the grid of the first fraction map (" +
                                fractions.front().first + ")",
                            ExitCode::kBadInput);
    }
    const double sig = signal(s, table.at(tissue));
    for (std::size_t i = 0; i < out.voxels.size(); ++i) {
      const float w = std::max(0.0f, f.voxels[i]);
      out.voxels[i] += static_cast<float>(w * sig);
      total.voxels[i] += w;
    }
  }
  for (std::size_t i = 0; i < out.voxels.size(); ++i) {
    if (total.voxels[i] > 1) out.voxels[i] /= total.voxels[i];
  }
  return out;
}

std::vector<bool> tissue_mask(const ParameterMaps& maps) {
  std::vector<bool> m(maps.pd.voxels.size());
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = maps.pd.voxels[i] > 0;
  return m;
}

}  // namespace medsynth::physics
