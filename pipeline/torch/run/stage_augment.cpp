// The augment stage (augment.enabled): physics-simulated image/label pairs from the label maps of
// the training subjects, each with its sequence, field, timing, SNR and bias field drawn from the
// [augment] ranges; BIDS-like names with a JSON sidecar of the parameters, and pairs.csv (a
// manifest another run can ingest). No model: the signal equations of physics/.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/modules/seed.h"
#include "medsynth/physics/acquisition.h"
#include "medsynth/physics/parameter_maps.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/stop.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

using io::write_text_atomically;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    const auto a = tok.find_first_not_of(" \t"), b = tok.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(tok.substr(a, b - a + 1));
  }
  return out;
}

double number(const std::string& text, const std::string& key) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(x)) {
    throw ConfigError(key + ": '" + text + "' is not a number");
  }
  return x;
}

// "LOW,HIGH" (or one value) with min <= LOW <= HIGH < max.
std::pair<double, double> range(const std::string& text, const std::string& key, double min, double max) {
  const auto v = split(text);
  if (v.empty() || v.size() > 2) throw ConfigError(key + " '" + text + "': expected LOW,HIGH");
  const double lo = number(v[0], key), hi = number(v.back(), key);
  if (!(lo >= min && hi >= lo && hi < max)) {
    std::ostringstream os;
    os << key << " '" << text << "': expected " << min << " <= LOW <= HIGH < " << max;
    throw ConfigError(os.str());
  }
  return {lo, hi};
}

// The BIDS suffix of a sequence's image.
std::string suffix_of(physics::SequenceType t) {
  switch (t) {
    case physics::SequenceType::kSpinEcho: return "T2w";
    case physics::SequenceType::kFlair: return "FLAIR";
    case physics::SequenceType::kInversionRecovery: return "IRT1";
    default: return "T1w";
  }
}

struct Draws {
  std::vector<physics::SequenceType> sequences;
  std::vector<double> fields;
  std::pair<double, double> tr, te, ti, flip, snr, bias;
};

Draws parse_draws(const AugmentConfig& a) {
  Draws d;
  for (const auto& s : split(a.sequences)) {
    try {
      d.sequences.push_back(physics::sequence_type_from_string(s));
    } catch (const medsynth::Error& e) {
      throw ConfigError(std::string("augment.sequences: ") + e.what());
    }
  }
  if (d.sequences.empty()) throw ConfigError("augment.sequences is empty");
  for (const auto& f : split(a.fields)) {
    const double x = number(f, "augment.fields");
    bool known = false;
    for (double k : physics::kTableFields) known = known || std::abs(k - x) < 1e-9;
    if (!known) throw ConfigError("augment.fields: " + f + " T has no tissue table (1.5, 3 and 7 T have)");
    d.fields.push_back(x);
  }
  if (d.fields.empty()) throw ConfigError("augment.fields is empty");
  d.tr = range(a.tr, "augment.tr", 0.01, 100);
  d.te = range(a.te, "augment.te", 0.01, 100);
  d.ti = range(a.ti, "augment.ti", 0.01, 100);
  d.flip = range(a.flip, "augment.flip", 0.01, 100);
  d.snr = range(a.snr, "augment.snr", 0, 1e6);
  d.bias = range(a.bias, "augment.bias", 0, 1);
  if (a.count < 0) throw ConfigError("augment.count must be 0 or more");
  return d;
}

struct Drawn {
  physics::Sequence sequence;
  double field = 3, snr = 0, bias = 0;
};

// Pair p's parameters: the sequences in turn; from (seed, p) a field, then the sequence's defaults
// scaled by factors drawn from the ranges (drawn again, up to 100 times, until the timing is consistent).
Drawn draw(const Draws& d, std::uint64_t seed, int p) {
  std::mt19937_64 rng(modules::derive_seed(seed, static_cast<std::uint64_t>(p), 23));
  auto uniform = [&](std::pair<double, double> r) {
    return r.second > r.first ? std::uniform_real_distribution<double>(r.first, r.second)(rng) : r.first;
  };
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng)); };
  Drawn out;
  const physics::SequenceType type = d.sequences[static_cast<std::size_t>(p) % d.sequences.size()];  // in turn
  out.field = d.fields[pick(d.fields.size())];
  const physics::TissueTable table = physics::literature_table(out.field);
  for (int attempt = 0; attempt < 100; ++attempt) {
    physics::Sequence s = physics::default_sequence(type, table);
    s.tr *= uniform(d.tr);
    s.te *= uniform(d.te);
    const bool ir = type == physics::SequenceType::kFlair || type == physics::SequenceType::kInversionRecovery;
    if (ir) s.ti = physics::null_inversion_time(table.at("csf").t1, s.tr, s.te);
    s.ti *= uniform(d.ti);
    s.flip *= uniform(d.flip);
    if (physics::check_sequence(s).empty()) {
      out.sequence = s;
      out.snr = uniform(d.snr);
      out.bias = uniform(d.bias);
      return out;
    }
  }
  throw ConfigError("augment: the ranges of augment.tr/te/ti give no consistent " + physics::to_string(type) +
                    " timing in 100 draws (" + physics::check_sequence(physics::default_sequence(type, table)) + ")");
}

// The JSON sidecar: BIDS names and units (seconds) where BIDS has a field, medsynth's beside them.
json sidecar(const Drawn& x, const std::string& subject, const std::string& table, int p, std::uint64_t seed) {
  const physics::Sequence& s = x.sequence;
  json j;
  j["MagneticFieldStrength"] = x.field;
  j["RepetitionTime"] = s.tr / 1000;
  j["EchoTime"] = s.te / 1000;
  const bool has_ti = s.type != physics::SequenceType::kSpinEcho && s.type != physics::SequenceType::kGradientEcho;
  if (has_ti) j["InversionTime"] = s.ti / 1000;
  if (s.type == physics::SequenceType::kGradientEcho || s.type == physics::SequenceType::kMprage) j["FlipAngle"] = s.flip;
  if (s.type == physics::SequenceType::kMprage) {
    j["EchoTrainLength"] = s.echo_train_length;
    j["EchoSpacing"] = s.echo_spacing / 1000;
  }
  j["PulseSequenceType"] = physics::to_string(s.type);
  j["Synthetic"] = true;
  j["medsynth"] = {{"generator", "physics simulation (medsynth augment stage)"},
                   {"sequence", physics::to_string(s.type)},
                   {"tr_ms", s.tr}, {"te_ms", s.te}, {"ti_ms", has_ti ? json(s.ti) : json(nullptr)},
                   {"flip_deg", s.flip}, {"field_t", x.field}, {"snr", x.snr}, {"bias", x.bias},
                   {"tissue_table", table}, {"from_subject", subject}, {"pair", p + 1}, {"seed", seed}};
  return j;
}

json run_augment(Context& ctx, json& artefacts) {
  const RunConfig& c = ctx.config;
  const AugmentConfig& a = c.augment;
  if (!a.enabled) return json{{"enabled", false}};
  const Draws d = parse_draws(a);
  if (c.data.labels == "none") throw ConfigError("augment.enabled needs label maps (data.labels = file or tissue)");
  const fs::path cache = ctx.resolve(ctx.outputs("ingest").at("cache").get<std::string>());
  json index;
  {
    std::ifstream in(cache / "index.json");
    if (!in) throw io::Error((cache / "index.json").string(), "missing; run " + ctx.rerun_hint("ingest"));
    index = json::parse(in);
  }
  const auto rows = read_dataset(c.data);
  const auto& subjects = index.at("subjects");
  if (subjects.size() != rows.size()) {
    throw io::Error(dataset_path(c.data), "has changed since the ingest stage ran; run " + ctx.rerun_hint("ingest"));
  }
  // Label maps of the training subjects (every subject when the split is a slab of one), in turn.
  std::vector<std::size_t> pool;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& h = subjects[i].at("heldout_slab");
    if (!(h.is_boolean() && h.get<bool>())) pool.push_back(i);
  }
  if (pool.empty()) throw ConfigError("augment: no training subject whose label map the pairs could use");
  const fs::path dir = ctx.dir("augment");
  std::map<std::size_t, io::LabelVolume> labels;
  std::ostringstream manifest;
  manifest << "subject,image,labels\n";
  json pairs = json::array();
  for (int p = 0; p < a.count; ++p) {
    throw_if_stop_requested("augment", "nothing of the pair in progress was kept: run the same command again");
    const std::size_t i = pool[static_cast<std::size_t>(p) % pool.size()];
    if (!labels.count(i)) {
      const auto& r = rows[i];
      labels[i] = condition_label_map(io::read_volume(r.image), r.image, r.labels, c.data);
    }
    const Drawn x = draw(d, static_cast<std::uint64_t>(a.seed), p);
    const physics::TissueTable table = physics::literature_table(x.field);
    const physics::LabelTissueMap tissues =
        a.label_table.empty() ? physics::default_label_tissues() : physics::read_label_tissue_csv(a.label_table, table);
    const std::string where = rows[i].labels.empty() ? rows[i].image + " (its tissue map)" : rows[i].labels;
    const physics::ParameterMaps maps = physics::parameter_maps(labels[i], table, tissues, where);
    io::Volume image = physics::render(maps, x.sequence);
    for (float& v : image.voxels) v *= 1000.0f;
    const double reference = physics::masked_mean(image, physics::tissue_mask(maps));
    const std::uint64_t noise_seed = modules::derive_seed(static_cast<std::uint64_t>(a.seed), static_cast<std::uint64_t>(p), 29);
    physics::apply_bias_field(image, x.bias, noise_seed);
    if (x.snr > 0) physics::add_rician_noise(image, reference / x.snr, noise_seed + 1);
    image.metadata["modality"] = "MR";
    image.metadata["synthetic"] = "physics simulation, " + table.name;
    image.stored_type = io::PixelType::kFloat32;

    char run[16];
    std::snprintf(run, sizeof run, "%03d", p + 1);
    const std::string stem = "sub-" + safe_name(rows[i].subject) + "_acq-" + physics::to_string(x.sequence.type) +
                             std::to_string(static_cast<int>(std::lround(x.field * 10))) + "_run-" + run;
    const std::string suffix = suffix_of(x.sequence.type);
    const fs::path img = dir / (stem + "_" + suffix + ".nii.gz"), lab = dir / (stem + "_dseg.nii.gz"),
                   side = dir / (stem + "_" + suffix + ".json");
    io::WriteOptions wo;
    wo.force = true;
    io::write_volume(image, img.string(), wo);
    io::write_label_volume(labels[i], lab.string(), wo);
    const json meta = sidecar(x, rows[i].subject, table.name, p, static_cast<std::uint64_t>(a.seed));
    write_text_atomically(side.string(), meta.dump(2) + "\n");
    std::cout << "augment: " << img.filename().string() << " (" << physics::to_string(x.sequence.type) << " at "
              << x.field << " T, TR " << x.sequence.tr << " TE " << x.sequence.te << ", SNR " << x.snr << ")\n";
    for (const auto* f : {&img, &lab, &side}) artefacts.push_back(ctx.rel(*f));
    manifest << stem << "," << img.filename().string() << "," << lab.filename().string() << "\n";
    pairs.push_back({{"image", ctx.rel(img)}, {"labels", ctx.rel(lab)}, {"sidecar", ctx.rel(side)},
                     {"from_subject", rows[i].subject}, {"parameters", meta["medsynth"]}});
  }
  write_text_atomically((dir / "pairs.csv").string(), manifest.str());
  artefacts.push_back(ctx.rel(dir / "pairs.csv"));
  return json{{"enabled", true}, {"pairs", pairs}, {"pairs_manifest", ctx.rel(dir / "pairs.csv")}};
}

}  // namespace

Stage augment_stage() {
  Stage s;
  s.name = "augment";
  s.inputs = [](const Context& ctx) {
    if (!ctx.config.augment.enabled) return std::string("augment.enabled = false\n");
    return section_text(ctx.config, "augment") + upstream_ids(ctx, {"ingest"});
  };
  s.run = run_augment;
  return s;
}

}  // namespace medsynth::pipeline::run
