// The evaluate pipeline: read, check grids, compute every figure that applies, draw montages.
#include "medsynth/validation/evaluation.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/text.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/validation/distribution_metrics.h"
#include "medsynth/validation/feature_extractor.h"
#include "medsynth/validation/image_metrics.h"
#include "medsynth/validation/memorisation_check.h"
#include "medsynth/validation/ms_ssim.h"
#include "medsynth/validation/png_montage.h"
#include "medsynth/validation/report_viewer.h"
#include "medsynth/validation/tissue_segmentation.h"
#include "medsynth/validation/volume_metrics.h"
#include "medsynth/version.h"
#include "parallel.h"
#include "resample.h"

namespace medsynth::validation {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// JSON has no infinity or NaN: such a figure is written as null (PSNR of identical images).
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json grid_json(const io::Geometry& g) {
  return {{"size", g.size}, {"spacing", g.spacing}, {"origin", g.origin}, {"direction", g.direction},
          {"orientation", g.orientation_code()}};
}

// Size and XXH3-64 of a file, or of every file under a folder (sorted by path), so a report
// names exactly which bytes it measured.
json file_provenance(const std::string& path) {
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::uintmax_t bytes = 0;
  std::vector<char> buf(1 << 20);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = static_cast<std::size_t>(in.gcount());
      XXH3_64bits_update(state, buf.data(), n);
      bytes += n;
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits_digest(state)));
  XXH3_freeState(state);
  return {{"path", fs::absolute(path).string()}, {"files", files.size()}, {"bytes", bytes}, {"xxh3_64", hex}};
}


// Slices that show anatomy: at least 1% of pixels above the bottom 10% of the data range.
// Near-empty end slices would otherwise dominate the unpaired sets with "background" samples.
std::vector<std::size_t> content_slices(const io::Volume& v, double low, double range) {
  std::vector<std::size_t> out;
  const double cut = low + 0.1 * range;
  for (std::size_t k = 0; k < v.geometry.size[2]; ++k) {
    const Slice s = slice_of(v, k);
    std::size_t above = 0;
    for (float x : s.pixels) above += x > cut ? 1 : 0;
    if (above * 100 >= s.size() && is_nonconstant(s)) out.push_back(k);
  }
  return out;
}

std::vector<Slice> pick(const io::Volume& v, const std::vector<std::size_t>& ks) {
  std::vector<Slice> out;
  for (std::size_t k : ks) out.push_back(slice_of(v, k));
  return out;
}

// Mean MS-SSIM over pairs of distinct slices of one set: all pairs up to 300, else 300 pairs
// drawn with a fixed seed (the figure is a mean; 300 pairs pin it to about +-0.01).
json diversity(const std::vector<Slice>& set, double range, unsigned threads) {
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  const std::size_t n = set.size();
  if (n < 2) return nullptr;
  if (n * (n - 1) / 2 <= 300) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) pairs.emplace_back(i, j);
  } else {
    std::mt19937 rng(0);
    std::uniform_int_distribution<std::size_t> pick_index(0, n - 1);
    while (pairs.size() < 300) {
      const std::size_t i = pick_index(rng), j = pick_index(rng);
      if (i != j) pairs.emplace_back(i, j);
    }
  }
  std::vector<double> v(pairs.size());
  detail::parallel_for(pairs.size(), threads, [&](std::size_t p) {
    v[p] = ms_ssim(set[pairs[p].first], set[pairs[p].second], SsimOptions{range}).ms_ssim;
  });
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  return {{"mean_ms_ssim", mean}, {"sd", std::sqrt(var / static_cast<double>(v.size()))}, {"pairs", v.size()},
          {"slices", n}};
}

json read_training_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the training log", ExitCode::kBadInput);
  std::string line;
  std::vector<std::string> header;
  if (!std::getline(in, line)) throw Error(path + ": the training log is empty", ExitCode::kBadInput);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  {
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) header.push_back(cell);
  }
  if (header.empty() || header[0] != "step") {
    throw Error(path + ": the training log's header must start with 'step' (got '" + line + "')", ExitCode::kBadInput);
  }
  std::vector<std::vector<double>> cols(header.size());
  std::size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string cell;
    std::size_t c = 0;
    std::vector<double> row;
    while (std::getline(ss, cell, ',')) {
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      if (cell.empty() || end != cell.c_str() + cell.size()) {
        throw Error(path + ": line " + std::to_string(line_no) + ": '" + cell + "' is not a number", ExitCode::kBadInput);
      }
      row.push_back(v);
      ++c;
    }
    if (c != header.size()) {
      throw Error(path + ": line " + std::to_string(line_no) + " has " + std::to_string(c) + " values, the header " +
                      std::to_string(header.size()),
                  ExitCode::kBadInput);
    }
    for (std::size_t i = 0; i < c; ++i) cols[i].push_back(row[i]);
  }
  if (cols[0].empty()) throw Error(path + ": the training log has a header but no rows", ExitCode::kBadInput);
  // Long runs are thinned to <= 2000 points for the page (every n-th row, the last kept).
  const std::size_t rows = cols[0].size(), stride = (rows + 1999) / 2000;
  json series = json::object();
  for (std::size_t i = 0; i < header.size(); ++i) {
    json values = json::array();
    for (std::size_t r = 0; r < rows; r += stride) values.push_back(number(cols[i][r]));
    if ((rows - 1) % stride) values.push_back(number(cols[i][rows - 1]));
    series[header[i]] = values;
  }
  return {{"rows", rows}, {"columns", header}, {"series", series}};
}

json paired_json(const PairedResult& r) {
  auto fig = [](const PairedMetrics& m) {
    return json{{"mae", number(m.mae)},
                {"mse", number(m.mse)},
                {"psnr", number(m.psnr)},
                {"ssim", m.has_ssim ? number(m.ssim) : json(nullptr)},
                {"ms_ssim", m.has_ms_ssim ? number(m.ms_ssim) : json(nullptr)},
                {"voxels", m.voxels}};
  };
  json slices = json::array();
  for (const auto& s : r.slices) {
    json j = fig(s.metrics);
    j["index"] = s.index;
    slices.push_back(j);
  }
  return {{"volume", fig(r.volume)},
          {"slices", slices},
          {"ms_ssim_scales", r.ms_ssim_scales},
          {"ssim_settings",
           {{"window", "Gaussian 11x11, sigma 1.5"}, {"k1", 0.01}, {"k2", 0.03}, {"covariance", "population"},
            {"border_cropped", 5}}},
          {"slice_axis", "third index axis (k)"}};
}

json dice_json(const std::vector<LabelDice>& d) {
  json out = json::array();
  for (const auto& x : d)
    out.push_back({{"label", x.label}, {"dice", x.dice}, {"condition_voxels", x.condition_voxels},
                   {"segmented_voxels", x.segmented_voxels}});
  return out;
}

json match_json(const NearestTrainingSlice& m, const std::vector<std::size_t>& query_k,
                const std::vector<std::size_t>& train_k) {
  return {{"slice", query_k[m.query]}, {"train_slice", train_k[m.train]}, {"correlation", m.correlation},
          {"ssim", m.ssim}};
}

// Fréchet distance, MMD², precision/recall and density/coverage of one set against the
// (standardised) real set; bandwidth <= 0: the median heuristic. The baseline block uses the
// synthetic comparison's bandwidth, so both MMD² figures share one kernel.
json distribution_figures(const FeatureMatrix& real, const FeatureMatrix& other, double bandwidth = 0) {
  const MmdResult mm = mmd(real, other, bandwidth);
  const PrecisionRecall pr = precision_recall(real, other, 3);
  const DensityCoverage dc = density_coverage(real, other, 5);
  return {{"frechet_distance", frechet_distance(real, other)},
          {"mmd2", mm.mmd2},
          {"mmd_bandwidth", mm.bandwidth},
          {"precision", pr.precision},
          {"recall", pr.recall},
          {"pr_k", pr.k},
          {"density", dc.density},
          {"coverage", dc.coverage},
          {"dc_k", dc.k}};
}

// Which n training slices stand in for the synthetic set in the real-vs-real baseline
// (positions into train_k). On the real volume's grid (one subject split by slab, as the runner
// passes it): the n nearest the real set's slices along k, ties to the lower k, so they show the
// same levels of the anatomy. Otherwise n evenly spaced (the middle of n equal runs). All when
// n >= train_k.size().
std::vector<std::size_t> baseline_slices(const std::vector<std::size_t>& train_k, const std::vector<std::size_t>& real_k,
                                         std::size_t n, bool same_grid) {
  std::vector<std::size_t> out;
  const std::size_t size = train_k.size();
  if (n >= size) n = size;
  if (!same_grid || real_k.empty() || n == size) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(n == size ? i : (2 * i + 1) * size / (2 * n));
    return out;
  }
  std::vector<std::pair<std::size_t, std::size_t>> by_distance;  // (distance to the real set, position)
  for (std::size_t i = 0; i < size; ++i) {
    std::size_t d = SIZE_MAX;
    for (std::size_t r : real_k) d = std::min(d, train_k[i] > r ? train_k[i] - r : r - train_k[i]);
    by_distance.emplace_back(d, i);
  }
  std::sort(by_distance.begin(), by_distance.end());
  for (std::size_t i = 0; i < n; ++i) out.push_back(by_distance[i].second);
  std::sort(out.begin(), out.end());
  return out;
}

// synthetic / real, null when the real figure is 0 or not finite.
json ratio(double synthetic, double real) {
  return std::isfinite(real) && real != 0 ? number(synthetic / real) : json(nullptr);
}

json plane_json(const PairedResult& p, int slice_axis) {
  return {{"ssim", p.volume.has_ssim ? number(p.volume.ssim) : json(nullptr)},
          {"ms_ssim", p.volume.has_ms_ssim ? number(p.volume.ms_ssim) : json(nullptr)},
          {"ms_ssim_scales", p.ms_ssim_scales},
          {"psnr", number(p.volume.psnr)},
          {"mae", number(p.volume.mae)},
          {"mse", number(p.volume.mse)},
          {"voxels", p.volume.voxels},
          {"slices", p.slices.size()},
          {"slice_index_axis", slice_axis}};
}

// Figures across slices (docs/metrics.md, "Volume figures"): through-plane coherence, the paired
// figures of sagittal and coronal slices, in-plane band power. Region: the mask, else the real
// foreground; the sagittal/coronal paired figures count the voxels the axial ones count.
void add_volume_figures(json& report, const io::Volume& real, const io::Volume& synthetic, const io::Volume* mask,
                        const PairedResult& axial, unsigned threads) {
  const std::array<int, 3> axes = canonical_axes(real.geometry);
  const std::string code = real.geometry.orientation_code();
  auto axis_json = [&](int canonical) {
    const int a = axes[static_cast<std::size_t>(canonical)];
    return json{{"index_axis", a}, {"points", std::string(1, code[static_cast<std::size_t>(a)])}};
  };
  const std::vector<std::uint8_t> region = evaluation_region(real, mask);
  const std::string region_rule = mask ? "inside the mask" : "voxels above the real volume's minimum (foreground)";
  const ThroughPlaneCoherence cr = through_plane_coherence(real, region, threads);
  const ThroughPlaneCoherence cs = through_plane_coherence(synthetic, region, threads);
  auto coherence_json = [](const ThroughPlaneCoherence& c) {
    return json{{"through_plane_mad", number(c.through_plane)}, {"in_plane_mad", number(c.in_plane)},
                {"coherence", number(c.coherence)}, {"through_pairs", c.through_pairs}, {"in_pairs", c.in_pairs}};
  };
  report["through_plane"] = {{"slice_axis", axis_json(2)},
                             {"in_plane_axis", axis_json(0)},
                             {"region", region_rule},
                             {"real", coherence_json(cr)},
                             {"synthetic", coherence_json(cs)},
                             {"ratio", ratio(cs.coherence, cr.coherence)}};

  // Sagittal slices lie at one x (image P x S), coronal at one y (image L x S).
  auto plane = [&](const std::array<int, 3>& order) -> json {
    const io::Volume r = permute_axes(real, order), s = permute_axes(synthetic, order);
    io::Volume m;
    if (mask) m = permute_axes(*mask, order);
    PairedOptions po;
    po.data_range = axial.data_range;
    po.mask = mask ? &m : nullptr;
    po.threads = threads;
    try {
      return plane_json(paired_metrics(r, s, po), order[2]);
    } catch (const Error& e) {
      return {{"skipped", e.what()}};  // a volume under 11 slices has no sagittal SSIM
    }
  };
  const int x = axes[0], y = axes[1], z = axes[2];
  // Axial slices are the paired figures' own when the third index axis is the axial one.
  report["reslices"] = {{"axial", z == 2 ? plane_json(axial, 2) : plane({x, y, z})},
                        {"sagittal", plane({y, z, x})},
                        {"coronal", plane({x, z, y})}};

  BandPowerOptions bo;
  bo.threads = threads;
  const BandPower br = in_plane_band_power(real, region, bo), bs = in_plane_band_power(synthetic, region, bo);
  auto band_json = [](const BandPower& b) {
    return json{{"band_power", b.band}, {"total_power", b.total},
                {"band_fraction", b.total > 0 ? number(b.band / b.total) : json(nullptr)}};
  };
  report["sharpness"] = {{"band_cycles_per_voxel", {bo.low, bo.high}},
                         {"slice_axis", axis_json(2)},
                         {"region", region_rule},
                         {"slices", br.slices},
                         {"fft_size", br.padded},
                         {"real", band_json(br)},
                         {"synthetic", band_json(bs)},
                         {"ratio", ratio(bs.band, br.band)},
                         {"fraction_ratio", br.total > 0 && bs.total > 0 ? ratio(bs.band / bs.total, br.band / br.total)
                                                                         : json(nullptr)}};
}

template <typename T>
void require_grid(const io::Image<T>& v, const io::Volume& real, const std::string& what, const std::string& path,
                  const std::string& real_path) {
  if (!v.geometry.same_grid(real.geometry, 1e-3)) {
    throw Error(path + ": the " + what + " is on another grid than the real volume: " + what + " " +
                    describe_grid(v.geometry) + "; real (" + real_path + ") " + describe_grid(real.geometry) +
                    " (--resample resamples it into the real grid)",
                ExitCode::kBadInput);
  }
}

}  // namespace

json evaluate(const EvaluationInputs& in, const std::string& images_dir, ViewerVolumes* viewer) {
  json report;
  // Seconds per stage, in the report so that a slow run says where its time went.
  json timings = json::object();
  auto stage_start = std::chrono::steady_clock::now();
  auto lap = [&](const char* stage) {
    const auto now = std::chrono::steady_clock::now();
    timings[stage] = std::chrono::duration<double>(now - stage_start).count();
    stage_start = now;
  };
  report["medsynth"] = {{"version", kVersion}, {"git", kGitDescribe}};
  report["created"] = utc_now();
  report["command"] = in.command_line;
  if (in.synthesis_cost.is_object()) report["synthesis_cost"] = in.synthesis_cost;
  json notes = json::array();

  const io::Volume real = io::read_volume(in.real);
  io::Volume synthetic = io::read_volume(in.synthetic);
  report["inputs"]["real"] = file_provenance(in.real);
  report["inputs"]["real"]["grid"] = grid_json(real.geometry);
  report["inputs"]["synthetic"] = file_provenance(in.synthetic);
  report["inputs"]["synthetic"]["grid"] = grid_json(synthetic.geometry);
  report["resampled"] = json::array();
  if (!synthetic.geometry.same_grid(real.geometry, 1e-3)) {
    if (!in.resample) require_grid(synthetic, real, "synthetic volume", in.synthetic, in.real);
    synthetic = detail::resample_linear(synthetic, real.geometry);
    report["resampled"].push_back("synthetic (trilinear)");
  }
  io::Volume mask;
  if (!in.mask.empty()) {
    mask = io::read_volume(in.mask);
    report["inputs"]["mask"] = file_provenance(in.mask);
    report["inputs"]["mask"]["grid"] = grid_json(mask.geometry);
    if (!mask.geometry.same_grid(real.geometry, 1e-3)) {
      if (!in.resample) require_grid(mask, real, "mask", in.mask, in.real);
      mask = detail::resample_nearest(mask, real.geometry);
      report["resampled"].push_back("mask (nearest neighbour)");
    }
  }

  lap("read");
  // Paired figures.
  PairedOptions po;
  po.data_range = in.data_range;
  po.mask = in.mask.empty() ? nullptr : &mask;
  po.threads = in.threads;
  PairedResult paired;
  try {
    paired = paired_metrics(real, synthetic, po);
  } catch (const Error& e) {
    throw Error(e, in.mask.empty() ? in.real : in.mask);
  }
  const double range = paired.data_range;
  double low = 0;
  {
    double lo = INFINITY;
    for (std::size_t i = 0; i < real.voxels.size(); ++i)
      if ((in.mask.empty() || mask.voxels[i] != 0.0f) && std::isfinite(real.voxels[i]))
        lo = std::min(lo, static_cast<double>(real.voxels[i]));
    low = lo;
  }
  report["data_range"] = {{"value", range},
                          {"low", low},
                          {"source", in.data_range > 0 ? "--data-range" : (in.mask.empty() ? "max - min of the real volume"
                                                                                          : "max - min of the real volume inside the mask")}};
  report["mask"] = in.mask.empty() ? json(nullptr) : json{{"path", in.mask}, {"voxels", paired.mask_voxels}};
  report["paired"] = paired_json(paired);
  lap("paired");
  add_volume_figures(report, real, synthetic, in.mask.empty() ? nullptr : &mask, paired, in.threads);
  lap("volume");

  // Unpaired sets: slices with anatomy in each volume.
  // With a mask (a held-out slab), only slices it reaches: the sets then hold the held-out
  // anatomy alone, for the distribution figures, diversity and the memorisation baseline.
  auto in_mask = [&](std::vector<std::size_t> ks) {
    if (in.mask.empty()) return ks;
    ks.erase(std::remove_if(ks.begin(), ks.end(), [&](std::size_t k) { return mask_slice_of(mask, k).count() == 0; }),
             ks.end());
    return ks;
  };
  const std::vector<std::size_t> real_k = in_mask(content_slices(real, low, range));
  const std::vector<std::size_t> syn_k = in_mask(content_slices(synthetic, low, range));
  const std::vector<Slice> real_set = pick(real, real_k), syn_set = pick(synthetic, syn_k);
  report["slice_sets"] = {{"real", real_k}, {"synthetic", syn_k},
                          {"rule", in.mask.empty() ? "at least 1% of pixels above low + 0.1 x data range, not constant"
                                      : "at least 1% of pixels above low + 0.1 x data range, not constant, reached by the mask"}};
  // The training volume (--train): the memorisation check's training set and the real-vs-real
  // baseline of the distribution figures.
  std::optional<io::Volume> train;
  std::vector<Slice> train_set;
  std::vector<std::size_t> train_k;
  if (!in.train.empty()) {
    train = io::read_volume(in.train);
    report["inputs"]["train"] = file_provenance(in.train);
    report["inputs"]["train"]["grid"] = grid_json(train->geometry);
    if (train->geometry.size[0] != real.geometry.size[0] || train->geometry.size[1] != real.geometry.size[1]) {
      throw Error(in.train + ": training slices are " + std::to_string(train->geometry.size[0]) + "x" +
                      std::to_string(train->geometry.size[1]) + ", synthetic slices " +
                      std::to_string(real.geometry.size[0]) + "x" + std::to_string(real.geometry.size[1]) +
                      ": the memorisation check compares slices of one size",
                  ExitCode::kBadInput);
    }
    train_k = content_slices(*train, low, range);
    train_set = pick(*train, train_k);
    if (train_set.empty()) throw Error(in.train + ": no training slice with content", ExitCode::kBadInput);
  }
  if (real_set.size() >= 6 && syn_set.size() >= 6) {
    std::vector<SliceMask> real_masks, syn_masks;
    if (!in.mask.empty()) {
      for (std::size_t k : real_k) real_masks.push_back(mask_slice_of(mask, k));
      for (std::size_t k : syn_k) syn_masks.push_back(mask_slice_of(mask, k));
    }
    // With a mask, a slice whose mask is empty has no features: such slices leave both sets.
    std::vector<Slice> rs, ss;
    std::vector<SliceMask> rm, sm;
    for (std::size_t i = 0; i < real_set.size(); ++i)
      if (in.mask.empty() || real_masks[i].count() > 0) {
        rs.push_back(real_set[i]);
        if (!in.mask.empty()) rm.push_back(real_masks[i]);
      }
    for (std::size_t i = 0; i < syn_set.size(); ++i)
      if (in.mask.empty() || syn_masks[i].count() > 0) {
        ss.push_back(syn_set[i]);
        if (!in.mask.empty()) sm.push_back(syn_masks[i]);
      }
    const RadiomicsFeatureExtractor radiomics(RadiomicsOptions{low, low + range, 32, 32});
    FeatureMatrix fr = extract_features(radiomics, rs, in.mask.empty() ? nullptr : &rm, in.threads);
    FeatureMatrix fs_ = extract_features(radiomics, ss, in.mask.empty() ? nullptr : &sm, in.threads);
    std::vector<std::string> dropped;
    const FeatureMatrix reference = fr;
    standardise(reference, &fr, &fs_, &dropped);
    if (fr.rows >= 6 && fs_.rows >= 6 && fr.cols > 0) {
      json d = {{"features", "radiomics"},
                {"feature_names", fr.names},
                {"dropped_constant_features", dropped},
                {"standardised", "z-score with the real set's mean and standard deviation"},
                {"real_slices", fr.rows},
                {"synthetic_slices", fs_.rows}};
      d.update(distribution_figures(fr, fs_));
      // Real against real: the same figures for training slices in the synthetic set's place,
      // as many as it has (baseline_slices), against the same standardised real set.
      if (train) {
        if (train_set.size() >= 6) {
          std::vector<std::size_t> used;
          std::vector<Slice> ts;
          const bool same_grid = train->geometry.same_grid(real.geometry, 1e-3);
          for (std::size_t i : baseline_slices(train_k, real_k, fs_.rows, same_grid))
            used.push_back(train_k[i]), ts.push_back(train_set[i]);
          FeatureMatrix ft = extract_features(radiomics, ts, nullptr, in.threads), fr2 = reference;
          standardise(reference, &fr2, &ft);
          json b = {{"sets", "held-out real slices (the real set) against training slices in the synthetic set's place"},
                    {"real_slices", fr2.rows},
                    {"train_slices", ft.rows},
                    {"train_slices_available", train_set.size()},
                    {"train_slice_indices", used},
                    {"train_choice", same_grid ? "nearest the real set's slices along k (same grid)" : "evenly spaced"},
                    {"train_region", "whole slices"}};
          b.update(distribution_figures(fr2, ft, d["mmd_bandwidth"].get<double>()));
          // The mask belongs to the real volume; training slices enter whole. Like for like only
          // when the mask holds whole slices (a held-out slab, as the runner passes).
          const bool whole = std::all_of(rm.begin(), rm.end(), [](const SliceMask& m) { return m.count() == m.inside.size(); });
          if (!whole)
            notes.push_back("The real-vs-real baseline compares masked real slices with whole training slices: the mask "
                            "does not cover whole slices, so the baseline is not like for like.");
          d["baseline"] = b;
        } else {
          d["baseline"] = {{"skipped", "needs at least 6 training slices with content (" + std::to_string(train_set.size()) + ")"}};
        }
      }
      report["distribution"] = d;
    }
  }
  lap("distribution");
  if (!report.contains("distribution")) {
    report["distribution"] = {{"skipped", "needs at least 6 slices with content in each set (real " +
                                              std::to_string(real_set.size()) + ", synthetic " +
                                              std::to_string(syn_set.size()) + ")"}};
  }
  const json div_syn = diversity(syn_set, range, in.threads), div_real = diversity(real_set, range, in.threads);
  if (!div_syn.is_null() && !div_real.is_null()) report["diversity"] = {{"synthetic", div_syn}, {"real", div_real}};
  else report["diversity"] = {{"skipped", "needs at least 2 slices with content in each set"}};
  lap("diversity");

  // Conditioning adherence.
  if (!in.labels.empty()) {
    io::LabelVolume labels = io::read_label_volume(in.labels);
    report["inputs"]["labels"] = file_provenance(in.labels);
    report["inputs"]["labels"]["grid"] = grid_json(labels.geometry);
    if (!labels.geometry.same_grid(real.geometry, 1e-3)) {
      if (!in.resample) require_grid(labels, real, "label map", in.labels, in.real);
      labels = detail::resample_nearest(labels, real.geometry);
      report["resampled"].push_back("labels (nearest neighbour)");
    }
    ConditioningAdherence ca;
    try {
      ca = conditioning_adherence(labels, real, synthetic);
    } catch (const Error& e) {
      throw Error(e, in.labels);
    }
    report["conditioning"] = {{"method", "multi-Otsu of the intensities inside the label map's foreground, one class per label"},
                              {"labels_darkest_first", ca.labels},
                              {"synthetic", dice_json(ca.synthetic)},
                              {"real", dice_json(ca.real)},
                              {"synthetic_thresholds", ca.synthetic_thresholds},
                              {"real_thresholds", ca.real_thresholds},
                              {"mean_dice_synthetic", ca.mean_dice_synthetic},
                              {"mean_dice_real", ca.mean_dice_real}};
  }

  if (!in.labels.empty()) lap("conditioning");
  // Memorisation check against the training volume.
  json privacy_images = json::array();
  MemorisationResult mem;
  if (train) {
    if (syn_set.empty()) throw Error(in.synthetic + ": no synthetic slice with content", ExitCode::kBadInput);
    MemorisationOptions mo;
    mo.data_range = range;
    mo.threads = in.threads;
    try {
      mem = memorisation_check(train_set, syn_set, real_set, mo);
    } catch (const Error& e) {
      throw Error(e, in.real);
    }
    json syn_r = json::array(), base_r = json::array(), flagged = json::array(), top = json::array();
    for (const auto& m : mem.synthetic) syn_r.push_back(m.correlation);
    for (const auto& m : mem.baseline) base_r.push_back(m.correlation);
    for (std::size_t i : mem.flagged) flagged.push_back(match_json(mem.synthetic[i], syn_k, train_k));
    for (const auto& m : mem.top) top.push_back(match_json(m, syn_k, train_k));
    report["privacy"] = {{"percentile", mo.percentile},
                         {"threshold", mem.threshold},
                         {"flagged_count", mem.flagged.size()},
                         {"synthetic_slices", mem.synthetic.size()},
                         {"baseline_slices", mem.baseline.size()},
                         {"train_slices", train_set.size()},
                         {"flagged", flagged},
                         {"top", top},
                         {"synthetic_best_correlation", syn_r},
                         {"baseline_best_correlation", base_r}};
    lap("privacy");
    notes.push_back("The memorisation baseline treats the --real volume as held out: it must share no slice with --train.");
  }

  if (!in.log.empty()) {
    report["inputs"]["log"] = file_provenance(in.log);
    report["training_log"] = read_training_log(in.log);
  }

  // Montages: up to 6 slices with anatomy, evenly spaced; real | synthetic | |difference|.
  std::vector<std::size_t> shown;
  std::vector<std::size_t> candidates;
  for (const auto& s : paired.slices)
    if (std::find(real_k.begin(), real_k.end(), s.index) != real_k.end()) candidates.push_back(s.index);
  if (candidates.empty())
    for (const auto& s : paired.slices) candidates.push_back(s.index);
  const std::size_t n_show = std::min<std::size_t>(6, candidates.size());
  for (std::size_t i = 0; i < n_show; ++i) shown.push_back(candidates[(2 * i + 1) * candidates.size() / (2 * n_show)]);
  std::vector<double> diffs;
  for (std::size_t k : shown) {
    const Slice a = slice_of(real, k), b = slice_of(synthetic, k);
    for (std::size_t i = 0; i < a.size(); ++i) diffs.push_back(std::fabs(static_cast<double>(b.pixels[i]) - a.pixels[i]));
  }
  const double diff_scale = std::max(1e-6 * range, percentile(diffs, 99.5));
  json montages = json::array();
  for (std::size_t k : shown) {
    Slice a = display_oriented(slice_of(real, k), real.geometry);
    Slice b = display_oriented(slice_of(synthetic, k), real.geometry);
    Slice d = a;
    for (std::size_t i = 0; i < d.size(); ++i) d.pixels[i] = std::fabs(b.pixels[i] - a.pixels[i]);
    const std::string name = "images/slice_" + std::to_string(k) + ".png";
    write_montage_png({{a, low, low + range, Colormap::kGrey}, {b, low, low + range, Colormap::kGrey},
                       {d, 0, diff_scale, Colormap::kHot}},
                      (fs::path(images_dir) / fs::path(name).filename()).string());
    const auto it = std::find_if(paired.slices.begin(), paired.slices.end(), [&](const SliceMetrics& s) { return s.index == k; });
    montages.push_back({{"slice", k}, {"image", name}, {"ssim", it->metrics.has_ssim ? number(it->metrics.ssim) : json(nullptr)},
                        {"psnr", number(it->metrics.psnr)}, {"mse", it->metrics.mse}});
  }
  report["images"]["montages"] = montages;
  report["images"]["difference_scale"] = diff_scale;
  // The three canonical planes: montages, and the volumes for the page's viewer.
  report["images"]["planes"] = write_plane_montages(real, synthetic, in.mask.empty() ? nullptr : &mask, low, range,
                                                    diff_scale, images_dir);
  if (viewer) {
    *viewer = make_viewer_volumes(real, synthetic, low, range, diff_scale);
    report["images"]["viewer"] = viewer_json(*viewer);
  }
  if (report.contains("privacy")) {
    for (std::size_t i = 0; i < mem.top.size(); ++i) {
      const auto& m = mem.top[i];
      const std::string name = "images/privacy_" + std::to_string(i) + ".png";
      write_montage_png({{display_oriented(syn_set[m.query], real.geometry), low, low + range, Colormap::kGrey},
                         {display_oriented(train_set[m.train], real.geometry), low, low + range, Colormap::kGrey}},
                        (fs::path(images_dir) / fs::path(name).filename()).string(), 96);
      report["privacy"]["top"][i]["image"] = name;
    }
  }
  lap("images");
  report["timings_s"] = timings;
  notes.push_back("Slices are taken along the third index axis and metrics are 2-D, as medsynth's models are; "
                  "through_plane, reslices and sharpness look across slices.");
  if (real_k.size() < 50)
    notes.push_back("Distribution metrics on fewer than 50 slices per set are noisy: compare them between runs of equal size only.");
  report["notes"] = notes;
  return report;
}

}  // namespace medsynth::validation
