#include "medsynth/physics/simulation_spec.h"

#include <cmath>
#include <sstream>

#include "medsynth/error.h"

namespace medsynth::physics {

SimulationSpec parse_simulation_spec(const std::string& text, const std::string& key) {
  const std::string where = key + " '" + text + "'";
  const auto colon = text.find(':');
  SimulationSpec spec;
  spec.text = text;
  const SequenceType type = [&] {
    try {
      return sequence_type_from_string(text.substr(0, colon));
    } catch (const medsynth::Error& e) {
      throw UsageError(where + ": " + e.what());
    }
  }();
  std::map<std::string, std::string> kv;
  if (colon != std::string::npos) {
    std::istringstream in(text.substr(colon + 1));
    std::string item;
    while (std::getline(in, item, ',')) {
      const auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError(where + ": '" + item + "' is not key=value");
      kv[item.substr(0, eq)] = item.substr(eq + 1);
    }
  }
  auto number = [&](const std::string& k) {
    const std::string& v = kv.at(k);
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size() || !std::isfinite(x)) throw UsageError(where + ": " + k + " '" + v + "' is not a number");
    return x;
  };
  const double field = kv.count("field") ? number("field") : 3.0;
  const std::string table = kv.count("table") ? kv.at("table") : "literature";
  try {
    if (table == "literature") {
      spec.table = literature_table(field);
    } else if (table == "brainweb") {
      spec.table = brainweb_table();
    } else {
      throw UsageError("table must be literature or brainweb, not '" + table + "'");
    }
    spec.sequence = default_sequence(type, spec.table);
  } catch (const medsynth::Error& e) {
    throw UsageError(where + ": " + e.what());
  }
  for (const auto& [k, v] : kv) {
    if (k == "tr") spec.sequence.tr = number(k);
    else if (k == "te") spec.sequence.te = number(k);
    else if (k == "ti") spec.sequence.ti = number(k);
    else if (k == "flip") spec.sequence.flip = number(k);
    else if (k == "etl") spec.sequence.echo_train_length = static_cast<int>(number(k));
    else if (k == "esp") spec.sequence.echo_spacing = number(k);
    else if (k != "field" && k != "table" && k != "labels") {
      throw UsageError(where + ": unknown key '" + k + "' (known: tr, te, ti, flip, etl, esp, field, table, labels)");
    }
  }
  // ir and flair null CSF at the TR and TE given, unless TI is.
  if ((type == SequenceType::kFlair || type == SequenceType::kInversionRecovery) && !kv.count("ti")) {
    spec.sequence.ti = null_inversion_time(spec.table.at("csf").t1, spec.sequence.tr, spec.sequence.te);
  }
  const std::string problem = check_sequence(spec.sequence);
  if (!problem.empty()) throw UsageError(where + ": " + problem);
  spec.label_tissues = kv.count("labels") ? read_label_tissue_csv(kv.at("labels"), spec.table) : default_label_tissues();
  return spec;
}

std::map<int, double> label_signals(const SimulationSpec& spec, const std::vector<int>& labels, const std::string& where) {
  std::map<int, double> out;
  std::string missing;
  for (int l : labels) {
    const auto it = spec.label_tissues.find(l);
    if (it == spec.label_tissues.end()) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(l);
      continue;
    }
    const TissueParameters& p = spec.table.at(it->second);
    out[l] = p.pd > 0 ? signal(spec.sequence, p) : 0.0;
  }
  if (!missing.empty()) {
    throw medsynth::Error(where + ": labels without a tissue in the simulation '" + spec.text + "': " + missing +
                              " (give labels=FILE.csv, a label,tissue table)",
                          ExitCode::kBadInput);
  }
  return out;
}

io::Volume simulate_labels(const SimulationSpec& spec, const io::LabelVolume& labels, const std::string& where) {
  io::Volume out = render(parameter_maps(labels, spec.table, spec.label_tissues, where), spec.sequence);
  for (float& x : out.voxels) x *= 1000.0f;
  out.metadata["modality"] = "MR";
  out.metadata["synthetic"] = "physics simulation " + spec.text + ", " + spec.table.name;
  return out;
}

}  // namespace medsynth::physics
