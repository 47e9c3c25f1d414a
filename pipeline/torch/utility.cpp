#include "medsynth/pipeline/utility.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>

#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/modules/device.h"
#include "medsynth/modules/seed.h"
#include "medsynth/modules/train_util.h"
#include "medsynth/modules/seg/segmenter.h"
#include "medsynth/physics/simulation_spec.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/checkpoint.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/int_list.h"
#include "medsynth/pipeline/progress.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/trainer.h"
#include "medsynth/text.h"
#include "medsynth/validation/segmentation_scores.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medsynth::pipeline {

std::vector<double> parse_fractions(const std::string& text) {
  std::vector<double> out;
  std::istringstream in(text);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    try {
      std::size_t used = 0;
      const double f = std::stod(tok, &used);
      if (tok.find_first_not_of(" \t", used) != std::string::npos || !(f > 0 && f <= 1)) throw std::invalid_argument(tok);
      out.push_back(f);
    } catch (const std::exception&) {
      throw ConfigError("utility.fractions: '" + tok + "' is not a fraction in (0, 1] (a list like 0.1,0.25,0.5,1)");
    }
  }
  if (out.empty()) throw ConfigError("utility.fractions is empty");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

torch::Tensor elastic_field(int height, int width, double amplitude, double smoothness, std::uint64_t seed) {
  auto gen = modules::make_generator(seed);
  auto noise = torch::randn({2, 1, height, width}, gen, torch::kFloat);
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * smoothness)));
  auto x = torch::arange(-radius, radius + 1, torch::kFloat);
  auto g = torch::exp(-x * x / (2 * smoothness * smoothness));
  g = g / g.sum();
  namespace F = torch::nn::functional;
  auto smooth = F::conv2d(F::pad(noise, F::PadFuncOptions({radius, radius, 0, 0}).mode(torch::kReflect)), g.view({1, 1, 1, -1}));
  smooth = F::conv2d(F::pad(smooth, F::PadFuncOptions({0, 0, radius, radius}).mode(torch::kReflect)), g.view({1, 1, -1, 1}));
  smooth = smooth.view({2, height, width});
  const auto rms = smooth.pow(2).sum(0).mean().sqrt().clamp_min(1e-12);
  return smooth * (amplitude / rms);
}

torch::Tensor deform_labels(const torch::Tensor& onehot, const torch::Tensor& fields) {
  const auto B = onehot.size(0), H = onehot.size(2), W = onehot.size(3);
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(onehot.device());
  // Pixel centres in grid_sample's normalised coordinates (align_corners = false).
  auto xs = (torch::arange(W, opts) * 2 + 1) / static_cast<double>(W) - 1;
  auto ys = (torch::arange(H, opts) * 2 + 1) / static_cast<double>(H) - 1;
  auto f = fields.to(onehot.device());
  auto gx = xs.view({1, 1, W}) + f.select(1, 0) * (2.0 / static_cast<double>(W));
  auto gy = ys.view({1, H, 1}) + f.select(1, 1) * (2.0 / static_cast<double>(H));
  auto grid = torch::stack({gx.expand({B, H, W}), gy.expand({B, H, W})}, 3);
  namespace F = torch::nn::functional;
  return F::grid_sample(onehot.to(torch::kFloat), grid,
                        F::GridSampleFuncOptions().mode(torch::kNearest).padding_mode(torch::kBorder).align_corners(false));
}

namespace {

std::vector<std::string> parse_sources(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    tok.erase(0, tok.find_first_not_of(" \t"));
    tok.erase(tok.find_last_not_of(" \t") + 1);
    if (tok != "labels" && tok != "elastic" && tok != "physics") {
      throw ConfigError("utility.sources: '" + tok + "' is not labels, elastic or physics");
    }
    out.push_back(tok);
  }
  if (out.empty()) throw ConfigError("utility.sources is empty");
  return out;
}

std::string fraction_name(double f) {
  std::ostringstream os;
  os << f;
  return os.str();
}

// The slices `indices` of the cache as a segmentation set.
SegmentationSet real_slices(const SliceDataset& data, const std::vector<std::size_t>& indices) {
  const auto N = static_cast<std::int64_t>(indices.size());
  const int H = data.height(), W = data.width();
  SegmentationSet s{torch::empty({N, 1, H, W}, torch::kFloat), torch::empty({N, H, W}, torch::kLong)};
  const std::size_t P = data.pixels();
  float* img = s.images.data_ptr<float>();
  auto* lab = s.labels.data_ptr<std::int64_t>();
  for (std::size_t n = 0; n < indices.size(); ++n) {
    std::copy_n(data.image(indices[n]), P, img + n * P);
    const std::uint8_t* l = data.labels(indices[n]);
    for (std::size_t p = 0; p < P; ++p) lab[n * P + p] = l[p];
  }
  return s;
}

// Class id -> the physics pair's intensity: each label's signal in the utility.physics simulation,
// windowed as ingest windows a real scan (fit_window over the training slices rendered so).
torch::Tensor physics_intensities(const RunConfig& cfg, const SliceDataset& data, const std::vector<std::size_t>& train_idx,
                                  const std::vector<std::int32_t>& values) {
  const physics::SimulationSpec spec = physics::parse_simulation_spec(cfg.utility.physics, "utility.physics");
  const std::map<int, double> signal =
      physics::label_signals(spec, std::vector<int>(values.begin(), values.end()), "utility.physics");
  std::vector<float> by_class(values.size());
  for (std::size_t k = 0; k < values.size(); ++k) by_class[k] = static_cast<float>(1000 * signal.at(values[k]));
  io::Volume rendered;
  const std::size_t P = data.pixels();
  rendered.geometry.size = {P, train_idx.size(), 1};
  rendered.voxels.resize(P * train_idx.size());
  for (std::size_t n = 0; n < train_idx.size(); ++n) {
    const std::uint8_t* l = data.labels(train_idx[n]);
    for (std::size_t q = 0; q < P; ++q) rendered.voxels[n * P + q] = by_class[l[q]];
  }
  rendered.metadata["source"] = "utility.physics '" + cfg.utility.physics + "'";
  const IntensityWindow w = fit_window(rendered, cfg.data.clip_low, cfg.data.clip_high);
  auto out = torch::empty({static_cast<std::int64_t>(values.size())}, torch::kFloat);
  for (std::size_t k = 0; k < values.size(); ++k) out[static_cast<std::int64_t>(k)] = w.map(by_class[k]);
  return out;
}

struct SyntheticPool {
  SegmentationSet set;
  std::vector<std::size_t> from;     // position in the training slice list of the label map it came from
  std::vector<std::string> source;   // labels | elastic
  double seconds = 0;
};

// utility.synthetic_per_real pairs from each training slice's label map (its own, or elastically
// deformed), imaged by the generator with sample.* settings; pair i's noise and deformation come
// from (seed, i).
SyntheticPool synthetic_pool(const RunConfig& cfg, const SliceDataset& data, const std::vector<std::size_t>& train_idx,
                             const std::string& checkpoint, torch::Device device) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& u = cfg.utility;
  const auto sources = parse_sources(u.sources);
  CheckpointInfo info;
  auto gen = model_from_checkpoint(checkpoint, device.str(), &info);
  const auto& mc = info.model;
  if (mc.label_classes == 0 || mc.source_image) {
    throw io::Error(checkpoint, "utility.generator must be conditioned on a label map only (this model " +
                                    std::string(mc.label_classes == 0 ? "takes no label map" : "also needs a source image") +
                                    ")");
  }
  std::vector<std::int32_t> values;
  for (const auto& v : data.index()["label_values"]) values.push_back(v.get<std::int32_t>());
  if (values != info.label_values) {
    throw io::Error(checkpoint, "utility.generator was trained on other label values than this dataset's (" +
                                    std::to_string(info.label_values.size()) + " against " + std::to_string(values.size()) +
                                    "): use the generator of this data");
  }
  if (!mc.coordinates && (mc.image_size != data.width() || mc.image_size != data.height())) {
    throw io::Error(checkpoint, "utility.generator samples " + std::to_string(mc.image_size) + "-pixel slices, the data's are " +
                                    std::to_string(data.width()) + "x" + std::to_string(data.height()) + " (data.grid)");
  }
  if (info.data_fingerprint != data.fingerprint()) {
    std::cerr << "medsynth: warning: utility.generator " << checkpoint << " was trained on other slices than this "
              << "config's (fingerprint " << info.data_fingerprint << ", now " << data.fingerprint() << ")\n";
  }
  const bool background = cfg.sample.background == "on" || (cfg.sample.background == "auto" && info.empty_background);
  const int per = std::max(0, u.synthetic_per_real);
  const std::size_t total = train_idx.size() * static_cast<std::size_t>(per);
  const int H = data.height(), W = data.width(), C = data.label_classes();
  SyntheticPool pool;
  pool.set = {torch::empty({static_cast<std::int64_t>(total), 1, H, W}, torch::kFloat),
              torch::empty({static_cast<std::int64_t>(total), H, W}, torch::kLong)};
  const std::size_t B = static_cast<std::size_t>(std::max(1, cfg.sample.batch));
  Progress bar("synthetic pairs", static_cast<long>(total), 0, static_cast<long>(B));
  // Pair i's source is sources[i % n]; the generator's and the simulator's pairs go in batches of
  // their own (each pair's noise and deformation depend on i only).
  std::vector<std::size_t> generated, simulated;
  for (std::size_t i = 0; i < total; ++i) (sources[i % sources.size()] == "physics" ? simulated : generated).push_back(i);
  const torch::Tensor intensity = simulated.empty() ? torch::Tensor() : physics_intensities(cfg, data, train_idx, values);
  pool.from.resize(total);
  pool.source.resize(total);
  std::size_t done = 0;
  for (const auto* items : {&generated, &simulated}) {
    const bool physics = items == &simulated;
    for (std::size_t j0 = 0; j0 < items->size(); j0 += B) {
      throw_if_stop_requested("utility", "while sampling synthetic pairs; nothing was written: run it again");
      const std::size_t j1 = std::min(items->size(), j0 + B);
      std::vector<std::size_t> idx;
      std::vector<std::int64_t> rows_of;
      std::vector<torch::Tensor> fields;
      modules::SampleOptions so;
      so.sampler = cfg.sample.sampler;
      so.steps = cfg.sample.steps;
      so.eta = cfg.sample.eta;
      so.guidance = cfg.sample.guidance;
      for (std::size_t j = j0; j < j1; ++j) {
        const std::size_t i = (*items)[j];
        const std::size_t from = i / static_cast<std::size_t>(per);
        const std::string& source = sources[i % sources.size()];
        idx.push_back(train_idx[from]);
        rows_of.push_back(static_cast<std::int64_t>(i));
        pool.from[i] = from;
        pool.source[i] = source;
        so.seeds.push_back(modules::derive_seed(static_cast<std::uint64_t>(cfg.sample.seed), i, 17));
        fields.push_back(source != "labels" ? elastic_field(H, W, u.elastic_amplitude, u.elastic_smoothness,
                                                            modules::derive_seed(static_cast<std::uint64_t>(u.seed), i, 11))
                                            : torch::zeros({2, H, W}));
      }
      modules::Condition c = make_batch(data, idx, mc, device);
      c.image = torch::Tensor();
      c.labels = deform_labels(c.labels, torch::stack(fields));
      // The segmenter learns the centre slice's (deformed) map.
      auto ids = c.labels.to(torch::kCPU).narrow(1, static_cast<std::int64_t>(mc.context) * C, C).argmax(1);
      // The simulator images the deformed map at the physics contrast; the generator samples it.
      auto x = physics ? intensity.index({ids}).unsqueeze(1) : gen->sample(c, so).to(torch::kCPU);
      if (background) x = torch::where(ids.unsqueeze(1) == 0, torch::full_like(x, -1.0f), x);
      const auto at = torch::tensor(rows_of);
      pool.set.images.index_copy_(0, at, x.to(torch::kFloat));
      pool.set.labels.index_copy_(0, at, ids);
      done += j1 - j0;
      bar.update(static_cast<long>(done));
    }
  }
  pool.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return pool;
}

SegmentationSet concat(const SegmentationSet& a, const SegmentationSet& b) {
  if (a.size() == 0) return b;
  if (b.size() == 0) return a;
  return {torch::cat({a.images, b.images}), torch::cat({a.labels, b.labels})};
}

SegmentationSet rows(const SegmentationSet& s, const std::vector<std::int64_t>& r) {
  if (r.empty()) return {};
  const auto index = torch::tensor(r);
  return {s.images.index_select(0, index), s.labels.index_select(0, index)};
}

std::string fingerprint_of(const SegmentationSet& s) {
  auto bytes = [](const torch::Tensor& t) {
    auto c = t.contiguous();
    return std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel()) * c.element_size());
  };
  return hash_text(bytes(s.images) + bytes(s.labels));
}

struct Regime {
  std::string name;
  double fraction = 1;  // of the real training slices (0: none)
  bool synthetic = false;
};

std::vector<Regime> regimes_of(const std::vector<double>& fractions, bool with_synthetic) {
  std::vector<Regime> out{{"real", 1, false}};
  if (with_synthetic) out.push_back({"synthetic", 0, true});
  if (with_synthetic) out.push_back({"mixed", 1, true});
  for (double f : fractions) {
    if (f >= 1) continue;
    out.push_back({"real-" + fraction_name(f), f, false});
    if (with_synthetic) out.push_back({"mixed-" + fraction_name(f), f, true});
  }
  return out;
}

json scores_json(const validation::SegmentationScores& s, const std::vector<std::int32_t>& values) {
  json classes = json::array();
  auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  for (const auto& c : s.classes) {
    classes.push_back({{"id", c.id}, {"label", values.at(static_cast<std::size_t>(c.id))}, {"dice", num(c.dice)},
                       {"ci95", {num(c.lo), num(c.hi)}}, {"prevalence", c.prevalence}});
  }
  return {{"mean_dice", num(s.mean_dice)}, {"ci95", {num(s.lo), num(s.hi)}}, {"classes", classes}};
}

void write_stack(const std::vector<std::uint8_t>& ids, int W, int H, std::size_t slices, const std::string& path) {
  io::LabelVolume v;
  v.geometry.size = {static_cast<std::size_t>(W), static_cast<std::size_t>(H), slices};
  v.voxels.assign(ids.begin(), ids.end());
  v.stored_type = io::PixelType::kUInt8;
  io::WriteOptions o;
  o.force = true;
  io::write_label_volume(v, path, o);
}

}  // namespace

UtilityResult run_utility(const RunConfig& cfg, bool resume, const std::string& cache_root) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& u = cfg.utility;
  const auto fractions = parse_fractions(u.fractions);
  if (u.sources.find("physics") != std::string::npos) physics::parse_simulation_spec(u.physics, "utility.physics");
  parse_sources(u.sources);
  if (u.bootstrap < 0) throw ConfigError("utility.bootstrap must be 0 or more");
  modules::configure_threads(cfg.train.threads);
  const torch::Device device = modules::parse_device(cfg.train.device);
  const fs::path out = u.out.empty() ? fs::path(cfg.train.out) / "utility" : fs::path(u.out);
  fs::create_directories(out / "predictions");

  const IngestResult ing = ingest(cfg, cache_root.empty() ? (fs::path(cfg.train.out) / "cache").string() : cache_root);
  const SliceDataset data = SliceDataset::open(ing.dir);
  if (data.label_classes() < 2) throw io::Error(dataset_path(cfg.data), "utility needs label maps (data.labels) with 2 or more classes");
  const auto train_idx = data.indices(false), test_idx = data.indices(true);
  if (train_idx.empty() || test_idx.empty()) {
    throw io::Error(dataset_path(cfg.data), "utility needs training and held-out slices (data.holdout)");
  }
  const int C = data.label_classes(), W = data.width(), H = data.height();
  std::vector<std::int32_t> values;
  for (const auto& v : data.index()["label_values"]) values.push_back(v.get<std::int32_t>());

  const bool with_synthetic = u.synthetic_per_real > 0;
  std::string generator;
  SyntheticPool pool;
  if (with_synthetic) {
    generator = resolve_checkpoint(u.generator.empty() ? cfg.train.out : u.generator, "utility.generator", "generator");
    pool = synthetic_pool(cfg, data, train_idx, generator, device);
  }
  const SegmentationSet real = real_slices(data, train_idx);
  const SegmentationSet test = real_slices(data, test_idx);
  // Nested subsets: fraction f takes the first ceil(f N) of one seeded order of the slices.
  std::vector<std::int64_t> order(train_idx.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(modules::derive_seed(static_cast<std::uint64_t>(u.seed), 0, 5)));

  modules::ModelConfig seg;
  seg.family = "segmenter";
  seg.channels = parse_int_list("utility.channels", u.channels);
  seg.res_blocks = 1;
  seg.attention_levels = 0;
  // The U-Net pads any slice to its level multiple; image_size only has to be such a multiple.
  const int multiple = 1 << (static_cast<int>(seg.channels.size()) - 1);
  seg.image_size = (std::max(W, H) + multiple - 1) / multiple * multiple;
  seg.label_classes = C;
  seg.precision = cfg.model.precision;
  modules::OptimConfig optim = cfg.optim;
  optim.lr = u.lr;

  // The test slices' reference, once, for the numpy check and for viewers.
  std::vector<std::uint8_t> truth(static_cast<std::size_t>(test.labels.numel()));
  {
    auto t = test.labels.to(torch::kUInt8).contiguous();
    std::copy_n(t.data_ptr<std::uint8_t>(), truth.size(), truth.begin());
  }
  write_stack(truth, W, H, test_idx.size(), (out / "predictions" / "truth.nii.gz").string());

  json regimes = json::array();
  const StopSignals stop_signals;
  for (const auto& r : regimes_of(fractions, with_synthetic)) {
    throw_if_stop_requested("utility", "before regime " + r.name + "; run it again with --resume");
    const auto t_regime = std::chrono::steady_clock::now();
    const auto n_real = static_cast<std::size_t>(std::ceil(r.fraction * static_cast<double>(order.size())));
    std::vector<std::int64_t> chosen(order.begin(), order.begin() + static_cast<long>(n_real));
    std::vector<bool> in_subset(train_idx.size(), false);
    for (auto c : chosen) in_subset[static_cast<std::size_t>(c)] = true;
    std::vector<std::int64_t> syn_rows;
    json syn_sources = json::object();
    if (r.synthetic) {
      for (std::size_t i = 0; i < pool.from.size(); ++i) {
        if (r.fraction == 0 || in_subset[pool.from[i]]) {
          syn_rows.push_back(static_cast<std::int64_t>(i));
          syn_sources[pool.source[i]] = syn_sources.value(pool.source[i], 0) + 1;
        }
      }
    }
    const SegmentationSet set = concat(rows(real, chosen), rows(pool.set, syn_rows));
    SegmenterTraining st;
    st.out = (out / r.name).string();
    st.model = seg;
    st.optim = optim;
    st.steps = u.steps;
    st.batch = u.batch;
    st.seed = u.seed;
    st.warmup = std::min(100, u.steps / 10);
    st.checkpoint_every = u.checkpoint_every;
    st.data_fingerprint = data.fingerprint() + "/" + r.name + "/" + fingerprint_of(set);
    st.run_config = to_ini(cfg);
    st.device = cfg.train.device;
    st.resume = resume;
    st.label = "segmenter " + r.name;
    std::string checkpoint;
    auto model = train_segmenter(set, st, &checkpoint);
    auto& segmenter = dynamic_cast<modules::SegmenterModel&>(*model);
    // Predictions of the held-out real slices by the EMA weights.
    std::vector<std::uint8_t> pred(truth.size());
    const std::int64_t B = 32;
    for (std::int64_t i = 0; i < test.size(); i += B) {
      const auto n = std::min(B, test.size() - i);
      auto ids = segmenter.predict(test.images.narrow(0, i, n)).argmax(1).to(torch::kCPU).to(torch::kUInt8).contiguous();
      std::copy_n(ids.data_ptr<std::uint8_t>(), static_cast<std::size_t>(ids.numel()),
                  pred.begin() + i * static_cast<std::int64_t>(data.pixels()));
    }
    write_stack(pred, W, H, test_idx.size(), (out / "predictions" / (r.name + ".nii.gz")).string());
    const auto scores = validation::score_segmentation(truth, pred, test_idx.size(), data.pixels(), C, u.bootstrap,
                                                       modules::derive_seed(static_cast<std::uint64_t>(u.seed), 0, 7));
    json j = scores_json(scores, values);
    j["name"] = r.name;
    j["real_fraction"] = r.fraction;
    j["real_slices"] = chosen.size();
    j["synthetic_slices"] = syn_rows.size();
    j["synthetic_sources"] = syn_sources;
    j["checkpoint"] = fs::relative(checkpoint, out).string();
    j["prediction"] = "predictions/" + r.name + ".nii.gz";
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_regime).count();
    j["chance_mean_dice"] = scores.chance_mean_dice;
    regimes.push_back(j);
    std::cerr << "medsynth: utility " << r.name << ": mean Dice " << std::setprecision(3) << scores.mean_dice << " ["
              << scores.lo << ", " << scores.hi << "] on " << test_idx.size() << " held-out slices\n";
  }

  auto find = [&](const std::string& name) -> const json* {
    for (const auto& j : regimes) {
      if (j["name"] == name) return &j;
    }
    return nullptr;
  };
  json curve = json::array();
  for (double f : fractions) {
    const std::string suffix = f >= 1 ? "" : "-" + fraction_name(f);
    json point{{"fraction", f}, {"real", (*find("real" + suffix))["mean_dice"]},
               {"real_ci95", (*find("real" + suffix))["ci95"]}};
    if (with_synthetic) {
      point["mixed"] = (*find("mixed" + suffix))["mean_dice"];
      point["mixed_ci95"] = (*find("mixed" + suffix))["ci95"];
    }
    curve.push_back(point);
  }
  json figures;
  figures["what"] = "Dice of a 2-D U-Net segmenter trained under one budget, tested on the held-out real slices";
  figures["caveat"] =
      "One subject split by a slab of slices, and (with data.labels = tissue) label maps derived from the same "
      "image: easier than segmenting another subject's scan; read the figures as a comparison between regimes.";
  figures["test_slices"] = test_idx.size();
  figures["train_slices"] = train_idx.size();
  figures["classes"] = C;
  figures["label_values"] = values;
  figures["chance_mean_dice"] = regimes[0]["chance_mean_dice"];
  figures["regimes"] = regimes;
  figures["scarcity_curve"] = curve;
  const json& real_only = *find("real");
  if (with_synthetic) {
    const json& syn = *find("synthetic");
    figures["synthetic_over_real"] = real_only["mean_dice"].is_number() && syn["mean_dice"].is_number() &&
                                             real_only["mean_dice"].get<double>() > 0
                                         ? json(syn["mean_dice"].get<double>() / real_only["mean_dice"].get<double>())
                                         : json(nullptr);
    figures["synthetic_seconds"] = pool.seconds;
  }
  figures["provenance"] = {
      {"generator", generator.empty() ? json(nullptr) : json(generator)},
      {"generator_xxh3", generator.empty() ? json(nullptr) : json(hash_file(generator))},
      {"data_fingerprint", data.fingerprint()},
      {"segmenter", {{"channels", u.channels}, {"res_blocks", seg.res_blocks}, {"steps", u.steps}, {"batch", u.batch},
                     {"lr", u.lr}, {"loss", "cross-entropy + soft Dice"}, {"ema_decay", optim.ema_decay}}},
      {"seeds", {{"utility", u.seed}, {"sample", cfg.sample.seed}}},
      {"sampler", {{"sampler", cfg.sample.sampler}, {"steps", cfg.sample.steps}, {"guidance", cfg.sample.guidance}}},
      {"sources", u.sources},
      {"physics", u.sources.find("physics") != std::string::npos ? json(u.physics) : json(nullptr)},
      {"synthetic_per_real", u.synthetic_per_real},
      {"elastic", {{"amplitude_px", u.elastic_amplitude}, {"smoothness_px", u.elastic_smoothness}}},
      {"bootstrap", u.bootstrap}};
  figures["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  UtilityResult result;
  result.figures = figures;
  result.report = (out / "report.json").string();
  result.html = (out / "report.html").string();
  io::write_text_atomically(result.report, figures.dump(2) + "\n");
  io::write_text_atomically(result.html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>medsynth utility"
                                         "</title></head><body>\n" + utility_html_section(figures) + "</body></html>\n");
  return result;
}

namespace {

std::string fixed(const json& v, int digits = 3) {
  if (!v.is_number()) return "n/a";
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v.get<double>();
  return os.str();
}

// The scarcity curve: mean Dice against the real fraction, real only and real + synthetic, with
// the 95% intervals as bars and synthetic only as a dashed line.
std::string scarcity_svg(const json& f) {
  const double X0 = 60, X1 = 460, Y0 = 250, Y1 = 20;
  auto px = [&](double fr) { return X0 + (X1 - X0) * fr; };
  auto py = [&](double d) { return Y0 + (Y1 - Y0) * std::clamp(d, 0.0, 1.0); };
  std::ostringstream s;
  s << std::fixed << std::setprecision(1);
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"300\" viewBox=\"0 0 520 300\" "
       "font-family=\"sans-serif\" font-size=\"11\">\n";
  s << "<rect x=\"" << X0 << "\" y=\"" << Y1 << "\" width=\"" << X1 - X0 << "\" height=\"" << Y0 - Y1
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int t = 0; t <= 5; ++t) {
    const double d = t / 5.0;
    s << "<text x=\"" << X0 - 6 << "\" y=\"" << py(d) + 4 << "\" text-anchor=\"end\">" << std::setprecision(1) << d
      << "</text><line x1=\"" << X0 << "\" x2=\"" << X1 << "\" y1=\"" << py(d) << "\" y2=\"" << py(d)
      << "\" stroke=\"#eee\"/>\n";
  }
  for (const auto& p : f["scarcity_curve"]) {
    const double fr = p["fraction"].get<double>();
    s << "<text x=\"" << px(fr) << "\" y=\"" << Y0 + 16 << "\" text-anchor=\"middle\">" << std::setprecision(2) << fr << "</text>\n";
  }
  s << std::setprecision(1);
  s << "<text x=\"" << (X0 + X1) / 2 << "\" y=\"" << Y0 + 34 << "\" text-anchor=\"middle\">fraction of the real training slices</text>\n";
  s << "<text x=\"14\" y=\"" << (Y0 + Y1) / 2 << "\" transform=\"rotate(-90 14 " << (Y0 + Y1) / 2
    << ")\" text-anchor=\"middle\">mean Dice (held-out real)</text>\n";
  auto series = [&](const std::string& key, const std::string& colour) {
    std::ostringstream line;
    for (const auto& p : f["scarcity_curve"]) {
      if (!p.contains(key) || !p[key].is_number()) continue;
      const double x = px(p["fraction"].get<double>()), y = py(p[key].get<double>());
      line << (line.tellp() > 0 ? " " : "") << x << "," << y;
      const auto& ci = p[key + "_ci95"];
      if (ci[0].is_number() && ci[1].is_number()) {
        s << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << py(ci[0].get<double>()) << "\" y2=\""
          << py(ci[1].get<double>()) << "\" stroke=\"" << colour << "\"/>\n";
      }
      s << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"3\" fill=\"" << colour << "\"/>\n";
    }
    if (line.tellp() > 0) s << "<polyline points=\"" << line.str() << "\" fill=\"none\" stroke=\"" << colour << "\"/>\n";
  };
  series("real", "#1f77b4");
  series("mixed", "#d62728");
  for (const auto& r : f["regimes"]) {
    if (r["name"] == "synthetic" && r["mean_dice"].is_number()) {
      const double y = py(r["mean_dice"].get<double>());
      s << "<line x1=\"" << X0 << "\" x2=\"" << X1 << "\" y1=\"" << y << "\" y2=\"" << y
        << "\" stroke=\"#2ca02c\" stroke-dasharray=\"5,4\"/>\n";
    }
  }
  const double chance = f.value("chance_mean_dice", 0.0);
  s << "<line x1=\"" << X0 << "\" x2=\"" << X1 << "\" y1=\"" << py(chance) << "\" y2=\"" << py(chance)
    << "\" stroke=\"#999\" stroke-dasharray=\"2,3\"/>\n";
  s << "<g transform=\"translate(" << X1 - 150 << "," << Y0 - 70 << ")\">"
    << "<rect width=\"145\" height=\"64\" fill=\"white\" stroke=\"#ccc\"/>"
    << "<line x1=\"6\" x2=\"26\" y1=\"12\" y2=\"12\" stroke=\"#1f77b4\"/><text x=\"32\" y=\"16\">real only</text>"
    << "<line x1=\"6\" x2=\"26\" y1=\"26\" y2=\"26\" stroke=\"#d62728\"/><text x=\"32\" y=\"30\">real + synthetic</text>"
    << "<line x1=\"6\" x2=\"26\" y1=\"40\" y2=\"40\" stroke=\"#2ca02c\" stroke-dasharray=\"5,4\"/><text x=\"32\" y=\"44\">synthetic only</text>"
    << "<line x1=\"6\" x2=\"26\" y1=\"54\" y2=\"54\" stroke=\"#999\" stroke-dasharray=\"2,3\"/><text x=\"32\" y=\"58\">chance</text></g>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace

std::string utility_html_section(const json& f) {
  std::ostringstream h;
  h << "<section id=\"utility\">\n<h2>Utility: does synthetic data help a segmenter?</h2>\n";
  h << "<p>" << html_escape(f.value("what", "")) << ": " << f.value("test_slices", 0) << " held-out slices, "
    << f.value("train_slices", 0) << " real training slices, " << f.value("classes", 0)
    << " classes (background included); Dice of the foreground classes, pooled over the slices, with bootstrap 95% "
       "intervals over the slices. Chance (labels drawn at the reference's frequencies): "
    << fixed(f["chance_mean_dice"]) << ".</p>\n";
  h << "<p><strong>Caveat.</strong> " << html_escape(f.value("caveat", "")) << "</p>\n";
  if (f.contains("synthetic_over_real")) {
    h << "<p>Synthetic only / real only (mean Dice): " << fixed(f["synthetic_over_real"]) << ".</p>\n";
  }
  h << scarcity_svg(f);
  h << "<table>\n<tr><th>regime</th><th>real slices</th><th>synthetic slices</th><th>mean Dice</th><th>95% interval</th>";
  for (const auto& c : f["regimes"][0]["classes"]) h << "<th>label " << c["label"].get<int>() << "</th>";
  h << "</tr>\n";
  for (const auto& r : f["regimes"]) {
    std::string sources;
    for (const auto& [k, v] : r["synthetic_sources"].items()) {
      sources += (sources.empty() ? "" : ", ") + k + " " + std::to_string(v.get<int>());
    }
    h << "<tr><td>" << html_escape(r["name"].get<std::string>()) << "</td><td>" << r["real_slices"].get<std::size_t>()
      << "</td><td>" << r["synthetic_slices"].get<std::size_t>() << (sources.empty() ? "" : " (" + sources + ")")
      << "</td><td>" << fixed(r["mean_dice"]) << "</td><td>" << fixed(r["ci95"][0]) << " – " << fixed(r["ci95"][1]) << "</td>";
    for (const auto& c : r["classes"]) h << "<td>" << fixed(c["dice"]) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n</section>\n";
  return h.str();
}

}  // namespace medsynth::pipeline
