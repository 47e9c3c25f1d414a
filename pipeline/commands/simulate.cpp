// medsynth simulate: a label map (or tissue fraction maps) -> the MR image of a named sequence,
// through tissue parameters (PD, T1, T2, T2*) and closed-form signal equations (docs/physics.md).
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/physics/acquisition.h"
#include "medsynth/physics/parameter_maps.h"
#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {
namespace {

using physics::Sequence;

// "1,1,5" (mm along the index axes i, j, k) or one value for all three.
std::array<double, 3> parse_triple(const std::string& text, const std::string& option) {
  std::vector<double> v;
  std::istringstream is(text);
  std::string cell;
  while (std::getline(is, cell, ',')) {
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(cell, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != cell.size() || !(x > 0)) {
      throw UsageError("simulate: " + option + " '" + text + "': expected X,Y,Z in mm (positive numbers)");
    }
    v.push_back(x);
  }
  if (v.size() == 1) return {v[0], v[0], v[0]};
  if (v.size() != 3) throw UsageError("simulate: " + option + " '" + text + "': expected X,Y,Z or one value");
  return {v[0], v[1], v[2]};
}

physics::TissueTable chosen_table(const po::variables_map& vm) {
  const std::string name = vm["table"].as<std::string>();
  const double field = vm["field"].as<double>();
  physics::TissueTable t;
  if (name == "literature") {
    t = physics::literature_table(field);
  } else if (name == "brainweb") {
    if (std::abs(field - 1.5) > 0.05) {
      std::cerr << "medsynth: warning: simulate: --table brainweb holds 1.5 T values; --field " << field
                << " has no effect on them\n";
    }
    t = physics::brainweb_table();
  } else {
    throw UsageError("simulate: --table must be literature or brainweb, not '" + name + "'");
  }
  if (vm.count("tissue-table")) t = physics::merge_tissue_csv(std::move(t), vm["tissue-table"].as<std::string>());
  return t;
}

Sequence chosen_sequence(const po::variables_map& vm, const physics::TissueTable& table) {
  Sequence s = physics::default_sequence(physics::sequence_type_from_string(vm["sequence"].as<std::string>()), table);
  if (vm.count("tr")) s.tr = vm["tr"].as<double>();
  if (vm.count("te")) s.te = vm["te"].as<double>();
  if (vm.count("ti")) s.ti = vm["ti"].as<double>();
  if (vm.count("flip")) s.flip = vm["flip"].as<double>();
  if (vm.count("etl")) s.echo_train_length = vm["etl"].as<int>();
  if (vm.count("esp")) s.echo_spacing = vm["esp"].as<double>();
  // ir and flair null CSF at the TR and TE asked for, unless TI is given.
  if ((s.type == physics::SequenceType::kFlair || s.type == physics::SequenceType::kInversionRecovery) && !vm.count("ti")) {
    s.ti = physics::null_inversion_time(table.at("csf").t1, s.tr, s.te);
  }
  const bool flip_used = s.type == physics::SequenceType::kGradientEcho || s.type == physics::SequenceType::kMprage;
  if (vm.count("flip") && !flip_used) {
    std::cerr << "medsynth: warning: simulate: --flip has no effect on " << to_string(s.type) << " (90/180 pulses)\n";
  }
  const bool ti_used = s.type != physics::SequenceType::kSpinEcho && s.type != physics::SequenceType::kGradientEcho;
  if (vm.count("ti") && !ti_used) std::cerr << "medsynth: warning: simulate: --ti has no effect on " << to_string(s.type) << "\n";
  if ((vm.count("etl") || vm.count("esp")) && s.type != physics::SequenceType::kMprage) {
    std::cerr << "medsynth: warning: simulate: --etl/--esp apply to mprage only\n";
  }
  const std::string problem = physics::check_sequence(s);
  if (!problem.empty()) throw UsageError("simulate: " + to_string(s.type) + ": " + problem);
  return s;
}

// --pd, --t1, --t2 (ms) and --t2star (ms; T2 where not given) on one grid, each voxel checked.
physics::ParameterMaps read_parameter_maps(const po::variables_map& vm) {
  const std::string pd_path = vm["pd"].as<std::string>();
  physics::ParameterMaps m;
  m.pd = io::read_volume(pd_path);
  const std::pair<const char*, io::Volume*> others[] = {{"t1", &m.t1}, {"t2", &m.t2}, {"t2star", &m.t2star}};
  for (const auto& [name, v] : others) {
    const std::string key = std::string(name) == "t2star" && !vm.count("t2star") ? "t2" : name;
    const std::string path = vm[key].as<std::string>();
    *v = io::read_volume(path);
    if (!v->geometry.same_grid(m.pd.geometry, 1e-3)) {
      throw io::Error(path, std::string("the --") + name + " map is not on the grid of the --pd map " + pd_path);
    }
  }
  for (std::size_t i = 0; i < m.pd.voxels.size(); ++i) {
    const float pd = m.pd.voxels[i];
    if (!(pd >= 0 && pd <= 10)) {
      throw io::Error(pd_path, "voxel " + std::to_string(i) + ": PD " + std::to_string(pd) + " is not in [0, 10]");
    }
    if (pd == 0) continue;  // background: no signal, its relaxation times do not matter
    physics::TissueParameters p{pd, m.t1.voxels[i], m.t2.voxels[i], std::min(m.t2star.voxels[i], m.t2.voxels[i]), ""};
    const std::string problem = physics::check_parameters(p);
    if (!problem.empty()) {
      const std::string key = problem.rfind("t1", 0) == 0                            ? "t1"
                              : problem.rfind("t2star", 0) == 0 && vm.count("t2star") ? "t2star"
                                                                                      : "t2";
      throw io::Error(vm[key].as<std::string>(),
                      "voxel " + std::to_string(i) + " (PD " + std::to_string(pd) + "): " + problem);
    }
    m.t2star.voxels[i] = static_cast<float>(p.t2star);
  }
  return m;
}

std::string describe(const Sequence& s, const physics::TissueTable& t) {
  std::ostringstream os;
  os << to_string(s.type) << " TR=" << s.tr << " TE=" << s.te;
  if (s.type != physics::SequenceType::kSpinEcho && s.type != physics::SequenceType::kGradientEcho) os << " TI=" << s.ti;
  if (s.type == physics::SequenceType::kGradientEcho || s.type == physics::SequenceType::kMprage) os << " FA=" << s.flip;
  if (s.type == physics::SequenceType::kMprage) os << " ETL=" << s.echo_train_length << " ESP=" << s.echo_spacing;
  os << " B0=" << t.field_tesla << "T";
  return os.str();
}

int run_simulate(const po::variables_map& vm) {
  const physics::TissueTable table = chosen_table(vm);
  if (vm.count("print-table")) {
    std::cout << physics::to_csv(table);
    return 0;
  }
  const std::vector<std::string> paths =
      vm.count("paths") ? vm["paths"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const std::vector<std::string> fractions =
      vm.count("fraction") ? vm["fraction"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool from_maps = vm.count("pd") || vm.count("t1") || vm.count("t2") || vm.count("t2star");
  if (from_maps && !fractions.empty()) throw UsageError("simulate: give parameter maps (--pd ...) or --fraction, not both");
  if (from_maps && !(vm.count("pd") && vm.count("t1") && vm.count("t2"))) {
    throw UsageError("simulate: parameter maps need --pd, --t1 and --t2 (and optionally --t2star)");
  }
  const std::size_t expected = fractions.empty() && !from_maps ? 2 : 1;
  if (paths.size() != expected) {
    throw UsageError(from_maps ? "simulate: with --pd/--t1/--t2 give only the output: medsynth simulate --pd PD --t1 T1 "
                                 "--t2 T2 OUT"
                     : fractions.empty() ? "simulate: give a label map and an output: medsynth simulate LABELS OUT"
                                         : "simulate: with --fraction give only the output: medsynth simulate --fraction "
                                           "csf=F.nii.gz ... OUT");
  }
  const std::string out = paths.back();
  io::detect_write_format(out);
  const Sequence seq = chosen_sequence(vm, table);
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  if (!wo.force && std::filesystem::exists(out)) {
    throw io::Error(out, "exists; give --force to replace it");
  }

  io::Volume image;
  std::vector<bool> mask;
  if (from_maps) {
    const physics::ParameterMaps maps = read_parameter_maps(vm);
    image = physics::render(maps, seq);
    mask = physics::tissue_mask(maps);
  } else if (fractions.empty()) {
    const std::string in = paths.front();
    const io::LabelVolume labels = io::read_label_volume(in);
    const physics::LabelTissueMap tissues = vm.count("label-table")
                                                ? physics::read_label_tissue_csv(vm["label-table"].as<std::string>(), table)
                                                : physics::default_label_tissues();
    const physics::ParameterMaps maps = physics::parameter_maps(labels, table, tissues, in);
    image = physics::render(maps, seq);
    mask = physics::tissue_mask(maps);
  } else {
    std::vector<std::pair<std::string, io::Volume>> parts;
    for (const std::string& f : fractions) {
      const auto eq = f.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("simulate: --fraction '" + f + "': expected TISSUE=FILE");
      const std::string tissue = f.substr(0, eq);
      table.at(tissue);
      parts.emplace_back(tissue, io::read_volume(f.substr(eq + 1)));
    }
    image = physics::render_fractions(parts, table, seq);
    mask.assign(image.voxels.size(), false);
    for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = image.voxels[i] > 0;
  }

  const double scale = vm["scale"].as<double>();
  for (float& x : image.voxels) x = static_cast<float>(x * scale);
  // Mean tissue signal before the acquisition: the reference SNR is defined against.
  const double reference = physics::masked_mean(image, mask);
  const auto seed = static_cast<std::uint64_t>(vm["seed"].as<long>());
  physics::apply_bias_field(image, vm["bias"].as<double>(), seed);
  if (vm.count("resolution")) physics::apply_resolution(image, parse_triple(vm["resolution"].as<std::string>(), "--resolution"));
  if (vm.count("spacing")) image = physics::resample_to_spacing(image, parse_triple(vm["spacing"].as<std::string>(), "--spacing"));
  const double snr = vm["snr"].as<double>();
  if (snr < 0) throw UsageError("simulate: --snr must be >= 0 (0: no noise)");
  if (snr > 0) physics::add_rician_noise(image, reference / snr, seed + 1);

  image.metadata["modality"] = "MR";
  image.metadata["series_description"] = describe(seq, table);
  image.metadata["synthetic"] = "physics simulation, " + table.name;
  image.stored_type = io::PixelType::kFloat32;
  io::write_volume(image, out, wo);
  std::cout << out << "  " << describe(seq, table) << "\n";
  return 0;
}

}  // namespace

Command make_simulate_command() {
  Command c;
  c.name = "simulate";
  c.summary = "render an MR image of a sequence from a tissue label map (PD, T1, T2, T2* and signal equations)";
  c.usage = "medsynth simulate LABELS|--pd PD --t1 T1 --t2 T2 OUT [--sequence mprage] [--field 3] [--tr MS --te MS --ti MS --flip DEG] [--force]";
  c.details =
      "Each label becomes a tissue (default: medsynth tissue-map's 0 background, 1 csf,\n"
      "2 grey_matter, 3 white_matter; --label-table label,tissue CSV for other maps), each tissue\n"
      "its PD, T1, T2 and T2* at --field (built-in literature table at 1.5, 3 or 7 T, sources in\n"
      "docs/physics.md; --print-table shows it), and each voxel the closed-form signal of the\n"
      "sequence: se (spin echo; default T2-weighted), gre (spoiled gradient echo), ir (inversion\n"
      "recovery with a spin-echo readout; default T1-weighted, TR 2000), flair (ir at TR 9000,\n"
      "TE 120), mprage (magnetisation-prepared gradient echo; TI is inversion to the centre of\n"
      "the --etl pulse train). ir and flair null CSF unless --ti is given. Timing options not\n"
      "given take the sequence's defaults (docs/physics.md). Then, in this order: a smooth bias\n"
      "field (--bias), Gaussian in-plane PSF and slab profile (--resolution, FWHM in mm along the\n"
      "index axes), resampling (--spacing) and Rician noise (--snr: mean tissue signal over the\n"
      "noise sigma). The image (float32; a fully relaxed tissue of PD 1 = --scale) has the label\n"
      "map's geometry and is written atomically in any format 'medsynth convert' writes.\n"
      "--fraction TISSUE=FILE (repeated) renders soft tissue fractions instead of a label map:\n"
      "each voxel is the fraction-weighted sum of its tissues' signals (partial volume).\n"
      "--pd PD --t1 T1 --t2 T2 [--t2star T2S] render parameter maps instead (one grid; PD 0 is\n"
      "background; T2* is capped at T2). --spacing simulates another acquisition's grid.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("paths", po::value<std::vector<std::string>>()->multitoken(), "LABELS OUT (only OUT with --fraction or --pd)")
        ("sequence", po::value<std::string>()->default_value("mprage"), "se, gre, ir, flair or mprage")
        ("field", po::value<double>()->default_value(3.0), "field strength in tesla (built-in table: 1.5, 3, 7)")
        ("tr", po::value<double>(), "repetition time, ms (mprage: inversion to inversion)")
        ("te", po::value<double>(), "echo time, ms")
        ("ti", po::value<double>(), "inversion time, ms (ir, flair, mprage)")
        ("flip", po::value<double>(), "flip angle, degrees (gre, mprage)")
        ("etl", po::value<int>(), "mprage: readout pulses per inversion")
        ("esp", po::value<double>(), "mprage: echo spacing, ms")
        ("table", po::value<std::string>()->default_value("literature"), "built-in tissue table: literature or brainweb (1.5 T)")
        ("tissue-table", po::value<std::string>(), "CSV tissue,pd,t1,t2,t2star[,source]: adds or replaces tissues")
        ("label-table", po::value<std::string>(), "CSV label,tissue: the tissue of each label")
        ("fraction", po::value<std::vector<std::string>>(), "TISSUE=FILE: a tissue fraction map (0..1), repeated")
        ("pd", po::value<std::string>(), "PD map (water = 1) instead of LABELS")
        ("t1", po::value<std::string>(), "T1 map, ms (with --pd)")
        ("t2", po::value<std::string>(), "T2 map, ms (with --pd)")
        ("t2star", po::value<std::string>(), "T2* map, ms (with --pd; default: the T2 map)")
        ("snr", po::value<double>()->default_value(0.0), "signal-to-noise ratio of Rician noise (0: none)")
        ("bias", po::value<double>()->default_value(0.0), "bias field strength: the field spans 1 -/+ this (0: none)")
        ("resolution", po::value<std::string>(), "acquired resolution X,Y,Z mm (FWHM of the PSF / slab profile)")
        ("spacing", po::value<std::string>(), "resample to this voxel spacing X,Y,Z mm")
        ("seed", po::value<long>()->default_value(0), "seed of the bias field and the noise")
        ("scale", po::value<double>()->default_value(1000.0), "intensity of a fully relaxed tissue of PD 1")
        ("print-table", "print the tissue table (CSV with sources) and exit")
        ("force", "replace OUT if it exists");
    p.add("paths", -1);
  };
  c.run = run_simulate;
  return c;
}

}  // namespace medsynth::pipeline
