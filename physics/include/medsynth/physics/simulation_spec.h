#pragma once
// A simulation in one config value: "SEQUENCE[:key=value,...]", e.g. "mprage" or
// "flair:field=1.5,tr=9000,te=120" (keys tr, te, ti, flip in ms/degrees, etl, esp, field in T,
// table = literature | brainweb, labels = a label,tissue CSV). What utility.physics and
// data.simulate_source take; `medsynth simulate` has the same settings as options.
#include <map>
#include <string>
#include <vector>

#include "medsynth/io/volume.h"
#include "medsynth/physics/parameter_maps.h"

namespace medsynth::physics {

struct SimulationSpec {
  Sequence sequence;
  TissueTable table;
  LabelTissueMap label_tissues;  // default_label_tissues() unless labels= is given
  std::string text;              // as given
};

// Parses and checks the spec; errors (ConfigError-like UsageError, exit 1) name `key` and the text.
SimulationSpec parse_simulation_spec(const std::string& text, const std::string& key);

// The signal of each label of `labels` (label value -> signal, PD-weighted, 0 for background).
// Throws naming `where` when a label has no tissue.
std::map<int, double> label_signals(const SimulationSpec& spec, const std::vector<int>& labels, const std::string& where);

// The noise-free image of a label map (signal x 1000, float32, the label map's geometry).
io::Volume simulate_labels(const SimulationSpec& spec, const io::LabelVolume& labels, const std::string& where);

}  // namespace medsynth::physics
