// report.html from report.json: one self-contained page (inline CSS and SVG charts, PNGs in
// images/ beside it, the three-plane viewer's inline script and data from report_viewer.cpp),
// and the atomic writer of the report folder.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "medsynth/cost_json.h"
#include "medsynth/error.h"
#include "medsynth/text.h"
#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/validation/evaluation.h"
#include "medsynth/validation/report_viewer.h"

namespace medsynth::validation {

using nlohmann::json;

namespace {

std::string esc(const std::string& s) { return html_escape(s); }

std::string fmt(double v, int digits = 4) {
  if (!std::isfinite(v)) return "∞";
  std::ostringstream os;
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e6)) os << std::scientific << std::setprecision(digits - 1) << v;
  else os << std::fixed << std::setprecision(a >= 100 ? 2 : digits) << v;
  return os.str();
}

std::string fmt(const json& v, int digits = 4) {
  if (v.is_null()) return "—";
  if (v.is_number()) return fmt(v.get<double>(), digits);
  return esc(v.dump());
}

// Shortest form: 99 rather than 99.000.
std::string plain(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// PSNR of identical images is +inf, stored as null in JSON (which has no infinity).
std::string psnr_text(const json& psnr, const json& mse) {
  if (psnr.is_null() && mse.is_number() && mse.get<double>() == 0) return "∞";
  return fmt(psnr, 3);
}

std::vector<double> numbers(const json& arr) {
  std::vector<double> out;
  for (const auto& v : arr)
    if (v.is_number() && std::isfinite(v.get<double>())) out.push_back(v.get<double>());
  return out;
}

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

// Histogram of one or two series over a shared range, as inline SVG; `mark` draws a vertical line.
std::string histogram_svg(const std::string& title, const std::vector<std::pair<std::string, std::vector<double>>>& series,
                          double mark = NAN, const std::string& mark_label = "") {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (double v : s.second) lo = std::min(lo, v), hi = std::max(hi, v);
  if (std::isfinite(mark)) lo = std::min(lo, mark), hi = std::max(hi, mark);
  if (!std::isfinite(lo)) return "<p class=\"muted\">" + esc(title) + ": no values.</p>";
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  const int bins = 24, W = 420, H = 200, L = 44, B = 34, T = 22;
  std::vector<std::vector<int>> counts(series.size(), std::vector<int>(bins, 0));
  int top = 1;
  for (std::size_t s = 0; s < series.size(); ++s)
    for (double v : series[s].second) {
      const int b = std::min(bins - 1, static_cast<int>((v - lo) / (hi - lo) * bins));
      top = std::max(top, ++counts[s][static_cast<std::size_t>(b)]);
    }
  std::ostringstream o;
  const double pw = W - L - 10, ph = H - B - T, bw = pw / bins;
  o << "<svg class=\"chart\" viewBox=\"0 0 " << W << " " << H << "\" width=\"" << W << "\" height=\"" << H
    << "\" role=\"img\" aria-label=\"" << esc(title) << "\">";
  o << "<text x=\"" << L << "\" y=\"14\" class=\"t\">" << esc(title) << "</text>";
  o << "<line x1=\"" << L << "\" y1=\"" << T + ph << "\" x2=\"" << L + pw << "\" y2=\"" << T + ph << "\" class=\"axis\"/>";
  o << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << T + ph << "\" class=\"axis\"/>";
  for (std::size_t s = 0; s < series.size(); ++s)
    for (int b = 0; b < bins; ++b) {
      const int c = counts[s][static_cast<std::size_t>(b)];
      if (!c) continue;
      const double h = ph * c / top;
      o << "<rect x=\"" << L + b * bw + 0.5 << "\" y=\"" << T + ph - h << "\" width=\"" << bw - 1 << "\" height=\"" << h
        << "\" fill=\"" << kColours[s % 6] << "\" fill-opacity=\"" << (series.size() > 1 ? 0.55 : 0.85) << "\"/>";
    }
  o << "<text x=\"" << L << "\" y=\"" << H - 18 << "\" class=\"l\">" << fmt(lo, 3) << "</text>";
  o << "<text x=\"" << L + pw << "\" y=\"" << H - 18 << "\" class=\"l\" text-anchor=\"end\">" << fmt(hi, 3) << "</text>";
  o << "<text x=\"" << L - 4 << "\" y=\"" << T + 8 << "\" class=\"l\" text-anchor=\"end\">" << top << "</text>";
  o << "<text x=\"" << L - 4 << "\" y=\"" << T + ph << "\" class=\"l\" text-anchor=\"end\">0</text>";
  if (std::isfinite(mark)) {
    const double x = L + (mark - lo) / (hi - lo) * pw;
    // The label sits left of the line when the line is in the right half, so it stays inside.
    const bool left = x > L + pw / 2;
    o << "<line x1=\"" << x << "\" y1=\"" << T << "\" x2=\"" << x << "\" y2=\"" << T + ph
      << "\" stroke=\"#000\" stroke-dasharray=\"4 3\"/><text x=\"" << (left ? x - 3 : x + 3) << "\" y=\"" << T + 10
      << "\" class=\"l\" text-anchor=\"" << (left ? "end" : "start") << "\">" << esc(mark_label) << "</text>";
  }
  double lx = L;
  for (std::size_t s = 0; s < series.size(); ++s) {
    if (series[s].first.empty()) continue;
    o << "<rect x=\"" << lx << "\" y=\"" << H - 11 << "\" width=\"10\" height=\"10\" fill=\"" << kColours[s % 6]
      << "\"/><text x=\"" << lx + 14 << "\" y=\"" << H - 2 << "\" class=\"l\">" << esc(series[s].first) << " (n="
      << series[s].second.size() << ")</text>";
    lx += 150;
  }
  o << "</svg>";
  return o.str();
}

// Line chart of several series against one x; log_y when every value is positive and asked.
std::string line_svg(const std::string& title, const std::vector<double>& x,
                     const std::vector<std::pair<std::string, std::vector<double>>>& series, bool log_y,
                     const std::string& x_label) {
  bool positive = true;
  for (const auto& s : series)
    for (double v : s.second) positive = positive && v > 0;
  log_y = log_y && positive;
  auto ty = [&](double v) { return log_y ? std::log10(v) : v; };
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (double v : x) xlo = std::min(xlo, v), xhi = std::max(xhi, v);
  for (const auto& s : series)
    for (double v : s.second)
      if (std::isfinite(v)) ylo = std::min(ylo, ty(v)), yhi = std::max(yhi, ty(v));
  if (!std::isfinite(xlo) || !std::isfinite(ylo)) return "<p class=\"muted\">" + esc(title) + ": no values.</p>";
  if (xhi - xlo < 1e-12) xlo -= 0.5, xhi += 0.5;
  if (yhi - ylo < 1e-12) ylo -= 0.5, yhi += 0.5;
  const int W = 860, H = 240, L = 56, B = 36, T = 22;
  const double pw = W - L - 12, ph = H - B - T;
  std::ostringstream o;
  o << "<svg class=\"chart wide\" viewBox=\"0 0 " << W << " " << H << "\" width=\"" << W << "\" height=\"" << H
    << "\" role=\"img\" aria-label=\"" << esc(title) << "\">";
  o << "<text x=\"" << L << "\" y=\"14\" class=\"t\">" << esc(title) << (log_y ? " (log scale)" : "") << "</text>";
  o << "<line x1=\"" << L << "\" y1=\"" << T + ph << "\" x2=\"" << L + pw << "\" y2=\"" << T + ph << "\" class=\"axis\"/>";
  o << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << T + ph << "\" class=\"axis\"/>";
  for (std::size_t s = 0; s < series.size(); ++s) {
    o << "<polyline fill=\"none\" stroke=\"" << kColours[s % 6] << "\" stroke-width=\"1.5\" points=\"";
    for (std::size_t i = 0; i < x.size() && i < series[s].second.size(); ++i) {
      const double v = series[s].second[i];
      if (!std::isfinite(v) || (log_y && v <= 0)) continue;
      o << L + (x[i] - xlo) / (xhi - xlo) * pw << "," << T + ph - (ty(v) - ylo) / (yhi - ylo) * ph << " ";
    }
    o << "\"/>";
  }
  auto ylab = [&](double v) { return log_y ? fmt(std::pow(10.0, v), 3) : fmt(v, 3); };
  o << "<text x=\"" << L - 4 << "\" y=\"" << T + 8 << "\" class=\"l\" text-anchor=\"end\">" << ylab(yhi) << "</text>";
  o << "<text x=\"" << L - 4 << "\" y=\"" << T + ph << "\" class=\"l\" text-anchor=\"end\">" << ylab(ylo) << "</text>";
  o << "<text x=\"" << L << "\" y=\"" << T + ph + 14 << "\" class=\"l\">" << fmt(xlo, 3) << "</text>";
  o << "<text x=\"" << L + pw << "\" y=\"" << T + ph + 14 << "\" class=\"l\" text-anchor=\"end\">" << fmt(xhi, 3) << "</text>";
  o << "<text x=\"" << L + pw / 2 << "\" y=\"" << T + ph + 14 << "\" class=\"l\" text-anchor=\"middle\">" << esc(x_label)
    << "</text>";
  double lx = L;
  for (std::size_t s = 0; s < series.size(); ++s) {
    o << "<rect x=\"" << lx << "\" y=\"" << H - 11 << "\" width=\"10\" height=\"10\" fill=\"" << kColours[s % 6]
      << "\"/><text x=\"" << lx + 14 << "\" y=\"" << H - 2 << "\" class=\"l\">" << esc(series[s].first) << "</text>";
    lx += 130;
  }
  o << "</svg>";
  return o.str();
}

const char* kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d4da;padding-bottom:4px}
.muted{color:#5c6570}.small{font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0}th,td{border:1px solid #d9dde2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
.card{background:#fff;border:1px solid #d9dde2;border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#5c6570}
.flag{color:#b00020;font-weight:600}.ok{color:#17703a;font-weight:600}
figure{margin:8px 0;background:#fff;border:1px solid #d9dde2;border-radius:6px;padding:8px;display:inline-block}
figure img{display:block;image-rendering:pixelated;max-width:100%}figcaption{font-size:12px;color:#5c6570;margin-top:4px}
svg.chart{background:#fff;border:1px solid #d9dde2;border-radius:6px;margin:4px 8px 4px 0}
svg .t{font-size:12px;font-weight:600}svg .l{font-size:10px;fill:#444}svg .axis{stroke:#888}
.charts{display:flex;flex-wrap:wrap}
)CSS";

std::string input_rows(const json& inputs) {
  std::ostringstream o;
  o << "<table><tr><th>input</th><th>path</th><th>grid</th><th>bytes</th><th>xxh3-64</th></tr>";
  for (const auto& [name, v] : inputs.items()) {
    std::string grid;
    if (v.contains("grid")) {
      const auto& g = v["grid"];
      grid = std::to_string(g["size"][0].get<std::size_t>()) + "×" + std::to_string(g["size"][1].get<std::size_t>()) + "×" +
             std::to_string(g["size"][2].get<std::size_t>()) + ", " + fmt(g["spacing"][0], 3) + "×" + fmt(g["spacing"][1], 3) +
             "×" + fmt(g["spacing"][2], 3) + " mm, " + g["orientation"].get<std::string>();
    }
    o << "<tr><td>" << esc(name) << "</td><td class=\"small\">" << esc(v["path"].get<std::string>()) << "</td><td>"
      << esc(grid) << "</td><td class=\"n\">" << v["bytes"].get<std::uintmax_t>() << "</td><td><code>"
      << esc(v["xxh3_64"].get<std::string>()) << "</code></td></tr>";
  }
  o << "</table>";
  return o.str();
}

// The real-vs-real baseline beside each distribution figure, when --train gave one.
std::string baseline_table(const json& d) {
  if (!d.contains("baseline")) return "";
  const auto& b = d["baseline"];
  if (b.contains("skipped")) return "<p class=\"muted small\">Real-vs-real baseline: " + esc(b["skipped"].get<std::string>()) + "</p>";
  std::ostringstream o;
  o << "<table><tr><th>figure</th><th>synthetic vs real</th><th>training vs real (baseline)</th></tr>";
  for (const auto& [key, label] : std::vector<std::pair<std::string, std::string>>{
           {"frechet_distance", "Fréchet distance"}, {"mmd2", "MMD²"}, {"precision", "precision"}, {"recall", "recall"},
           {"density", "density"}, {"coverage", "coverage"}})
    o << "<tr><td>" << label << "</td><td class=\"n\">" << fmt(d[key]) << "</td><td class=\"n\">" << fmt(b[key]) << "</td></tr>";
  o << "</table><p class=\"muted small\">Baseline: " << b["train_slices"].get<std::size_t>() << " of "
    << b["train_slices_available"].get<std::size_t>()
    << " training slices (" << esc(b.value("train_choice", "")) << "; whole slices) in the synthetic set's place, against the same "
    << b["real_slices"].get<std::size_t>() << " real slices; MMD² with the same σ. What a generator that draws real anatomy scores.</p>";
  return o.str();
}

// Through-plane coherence, sagittal/coronal paired figures and in-plane sharpness.
std::string volume_section(const json& r) {
  if (!r.contains("through_plane")) return "";
  const auto& t = r["through_plane"];
  const auto& sh = r["sharpness"];
  std::ostringstream o;
  o << "<h2>Across slices and in-plane sharpness</h2><p class=\"muted small\">The models sample each axial slice on its own: "
    << "these figures look at the volume as a volume. Slice axis: index axis " << t["slice_axis"]["index_axis"].get<int>() << " ("
    << esc(t["slice_axis"]["points"].get<std::string>()) << "); counted: " << esc(t["region"].get<std::string>()) << ".</p>";
  o << "<table><tr><th>figure</th><th>real</th><th>synthetic</th><th>synthetic / real</th><th>reads as</th></tr>";
  o << "<tr><td>through-plane coherence</td><td class=\"n\">" << fmt(t["real"]["coherence"]) << "</td><td class=\"n\">"
    << fmt(t["synthetic"]["coherence"]) << "</td><td class=\"n\">" << fmt(t["ratio"], 3)
    << "</td><td class=\"small\">mean |Δ| between neighbouring slices over mean |Δ| between neighbouring columns; "
       "ratio 1 is as smooth across slices as real anatomy, above 1 means steps between slices</td></tr>";
  o << "<tr><td>in-plane power " << fmt(sh["band_cycles_per_voxel"][0], 2) << "–" << fmt(sh["band_cycles_per_voxel"][1], 2)
    << " cycles/voxel</td><td class=\"n\">" << fmt(sh["real"]["band_power"]) << "</td><td class=\"n\">"
    << fmt(sh["synthetic"]["band_power"]) << "</td><td class=\"n\">" << fmt(sh["ratio"], 3)
    << "</td><td class=\"small\">fine detail of the axial slices; ≪1 blurred or upsampled, ≫1 grain or noise</td></tr>";
  o << "<tr><td>share of power in that band</td><td class=\"n\">" << fmt(sh["real"]["band_fraction"]) << "</td><td class=\"n\">"
    << fmt(sh["synthetic"]["band_fraction"]) << "</td><td class=\"n\">" << fmt(sh["fraction_ratio"], 3)
    << "</td><td class=\"small\">the same, independent of overall contrast</td></tr></table>";
  o << "<table><tr><th>slices</th><th>SSIM</th><th>MS-SSIM</th><th>PSNR (dB)</th><th>slices counted</th></tr>";
  for (const char* plane : {"axial", "sagittal", "coronal"}) {
    const auto& p = r["reslices"][plane];
    if (p.contains("skipped")) {
      o << "<tr><td>" << plane << "</td><td colspan=\"4\" class=\"small\">" << esc(p["skipped"].get<std::string>()) << "</td></tr>";
      continue;
    }
    o << "<tr><td>" << plane << "</td><td class=\"n\">" << fmt(p["ssim"]) << "</td><td class=\"n\">" << fmt(p["ms_ssim"])
      << "</td><td class=\"n\">" << psnr_text(p["psnr"], p["mse"]) << "</td><td class=\"n\">" << p["slices"].get<std::size_t>()
      << "</td></tr>";
  }
  o << "</table><p class=\"muted small\">A sagittal or coronal SSIM window spans 11 axial slices, so slices that do not fit "
       "together lower it while the axial SSIM stays; PSNR pools the same voxels in every plane and is the same in each.</p>";
  return o.str();
}

}  // namespace

std::string render_report_html(const json& r, const ViewerVolumes* viewer) {
  std::ostringstream o;
  const auto& vol = r["paired"]["volume"];
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    << "<title>medsynth evaluation report</title><style>" << kStyle << three_planes_css() << "</style></head><body><main>\n";
  o << "<h1>medsynth evaluation report</h1><p class=\"muted\">" << esc(r["created"].get<std::string>()) << " · medsynth "
    << esc(r["medsynth"]["version"].get<std::string>()) << " (" << esc(r["medsynth"]["git"].get<std::string>())
    << ") · figures and definitions: docs/metrics.md · how to read this page: docs/report.md</p>\n";
  if (r.contains("synthesis_cost") && r["synthesis_cost"].is_object()) {
    // What making the synthetic volume cost (docs/performance.md: the figures and the estimate).
    o << "<p>This volume: " << esc(cost::describe(r["synthesis_cost"].get<cost::ResourceUse>())) << "</p>\n";
  }

  // Summary.
  o << "<h2>Summary</h2><div class=\"cards\">";
  auto card = [&](const std::string& label, const std::string& value) {
    o << "<div class=\"card\"><b>" << value << "</b><span>" << esc(label) << "</span></div>";
  };
  card("SSIM (volume)", fmt(vol["ssim"]));
  card("MS-SSIM (volume)", fmt(vol["ms_ssim"]));
  card("PSNR (dB)", psnr_text(vol["psnr"], vol["mse"]));
  card("MAE", fmt(vol["mae"]));
  if (r["distribution"].contains("frechet_distance")) card("Fréchet distance (radiomics)", fmt(r["distribution"]["frechet_distance"]));
  if (r.contains("conditioning")) card("mean Dice (synthetic)", fmt(r["conditioning"]["mean_dice_synthetic"]));
  if (r.contains("privacy")) {
    const auto n = r["privacy"]["flagged_count"].get<std::size_t>();
    o << "<div class=\"card\"><b class=\"" << (n ? "flag" : "ok") << "\">" << n << "</b><span>slices flagged as possible copies</span></div>";
  }
  o << "</div>";
  o << "<table><tr><th>figure</th><th>value</th><th>reads as</th></tr>";
  auto row = [&](const std::string& name, const std::string& value, const std::string& meaning) {
    o << "<tr><td>" << name << "</td><td class=\"n\">" << value << "</td><td class=\"small\">" << meaning << "</td></tr>";
  };
  const auto& dr = r["data_range"];
  row("data range L", fmt(dr["value"]) + " (from " + fmt(dr["low"]) + ")", esc(dr["source"].get<std::string>()) + "; used by PSNR and SSIM");
  row("MAE", fmt(vol["mae"]), "mean |synthetic − real| per voxel, in image units; lower is better");
  row("MSE", fmt(vol["mse"]), "mean squared difference; lower is better");
  row("PSNR", psnr_text(vol["psnr"], vol["mse"]) + " dB", "10·log10(L²/MSE); higher is better; ∞ when identical");
  row("SSIM", fmt(vol["ssim"]), "structural similarity, Gaussian 11×11 σ 1.5; 1 is identical");
  row("MS-SSIM", fmt(vol["ms_ssim"]), std::to_string(r["paired"]["ms_ssim_scales"].get<int>()) + " scales; 1 is identical");
  row("voxels compared", std::to_string(vol["voxels"].get<std::size_t>()),
      r["mask"].is_null() ? "all voxels (no mask)" : "inside the mask " + esc(r["mask"]["path"].get<std::string>()));
  const auto& d = r["distribution"];
  if (d.contains("frechet_distance")) {
    row("Fréchet distance", fmt(d["frechet_distance"]), "between radiomics feature distributions (z-scored); 0 is identical");
    row("MMD²", fmt(d["mmd2"]) + " (σ " + fmt(d["mmd_bandwidth"], 3) + ")", "unbiased, Gaussian kernel, median bandwidth; ≈0 when alike");
    row("precision / recall (k=3)", fmt(d["precision"], 3) + " / " + fmt(d["recall"], 3),
        "share of synthetic slices that look real / share of real variety the synthetic set covers");
    row("density / coverage (k=5)", fmt(d["density"], 3) + " / " + fmt(d["coverage"], 3), "density ≈1 and coverage ≈1 for matched sets");
    if (d.contains("baseline") && d["baseline"].contains("frechet_distance"))
      row("real-vs-real baseline", "FD " + fmt(d["baseline"]["frechet_distance"]) + ", P/R " + fmt(d["baseline"]["precision"], 3) +
          " / " + fmt(d["baseline"]["recall"], 3), "the same figures for training slices against the real set: what good looks like");
  } else {
    row("distribution metrics", "—", esc(d["skipped"].get<std::string>()));
  }
  if (r.contains("through_plane")) {
    row("through-plane coherence (synthetic / real)", fmt(r["through_plane"]["ratio"], 3), "1 is as smooth across slices as real; above 1: steps between slices");
    row("in-plane sharpness (synthetic / real)", fmt(r["sharpness"]["ratio"], 3), "spectral power 0.2–0.5 cycles/voxel; ≪1 blurred, ≫1 grain");
  }
  if (r["diversity"].contains("synthetic")) {
    row("diversity (mean pairwise MS-SSIM)",
        fmt(r["diversity"]["synthetic"]["mean_ms_ssim"], 3) + " synthetic / " + fmt(r["diversity"]["real"]["mean_ms_ssim"], 3) + " real",
        "higher than the real figure means less varied (possible mode collapse)");
  }
  o << "</table>";
  if (!r["resampled"].empty()) {
    o << "<p><b>Resampled into the real grid:</b> ";
    for (const auto& s : r["resampled"]) o << esc(s.get<std::string>()) << "; ";
    o << "</p>";
  }

  // Per-slice figures.
  o << "<h2>Per slice</h2>";
  std::vector<double> idx, ssim, ms, psnr, mae;
  for (const auto& s : r["paired"]["slices"]) {
    idx.push_back(s["index"].get<double>());
    ssim.push_back(s["ssim"].is_number() ? s["ssim"].get<double>() : NAN);
    ms.push_back(s["ms_ssim"].is_number() ? s["ms_ssim"].get<double>() : NAN);
    psnr.push_back(s["psnr"].is_number() ? s["psnr"].get<double>() : NAN);
    mae.push_back(s["mae"].get<double>());
  }
  o << line_svg("SSIM and MS-SSIM per slice", idx, {{"SSIM", ssim}, {"MS-SSIM", ms}}, false, "slice index k");
  o << line_svg("PSNR per slice (dB)", idx, {{"PSNR", psnr}}, false, "slice index k");
  auto finite = [](const std::vector<double>& v) {
    std::vector<double> o2;
    for (double x : v)
      if (std::isfinite(x)) o2.push_back(x);
    return o2;
  };
  o << "<div class=\"charts\">" << histogram_svg("SSIM of slices", {{"", finite(ssim)}})
    << histogram_svg("MS-SSIM of slices", {{"", finite(ms)}}) << histogram_svg("PSNR of slices (dB)", {{"", finite(psnr)}})
    << histogram_svg("MAE of slices", {{"", finite(mae)}}) << "</div>";

  // Montages.
  o << "<h2>Real, synthetic and difference</h2><p class=\"muted small\">Each row: real | synthetic | |synthetic − real|. "
    << "Grey scale " << fmt(dr["low"]) << " … " << fmt(dr["low"].get<double>() + dr["value"].get<double>())
    << "; difference in the hot scale 0 (black) … " << fmt(r["images"]["difference_scale"])
    << " (white; the 99.5th percentile). Slices along the third index axis, oriented as the plane they cut (axial: "
    << "anterior at the top, patient's left on the right).</p>";
  for (const auto& m : r["images"]["montages"]) {
    o << "<figure><img src=\"" << esc(m["image"].get<std::string>()) << "\" alt=\"slice " << m["slice"].get<std::size_t>()
      << ": real, synthetic, difference\"><figcaption>slice k=" << m["slice"].get<std::size_t>() << " · SSIM "
      << fmt(m["ssim"]) << " · PSNR " << psnr_text(m["psnr"], m["mse"]) << " dB</figcaption></figure>\n";
  }
  o << three_planes_html(r, viewer);

  o << volume_section(r);

  // Distribution and diversity.
  o << "<h2>Distribution (unpaired sets)</h2>";
  if (d.contains("frechet_distance")) {
    o << "<p>" << d["real_slices"].get<std::size_t>() << " real and " << d["synthetic_slices"].get<std::size_t>()
      << " synthetic slices with content, " << d["feature_names"].size()
      << " radiomics features (histogram moments and GLCM texture, ITK), z-scored with the real set's mean and standard deviation.";
    if (!d["dropped_constant_features"].empty()) o << " Constant in the real set and dropped: " << esc(d["dropped_constant_features"].dump()) << ".";
    o << "</p>";
  } else {
    o << "<p class=\"muted\">" << esc(d["skipped"].get<std::string>()) << "</p>";
  }
  o << baseline_table(d);
  if (r["diversity"].contains("synthetic")) {
    const auto& dv = r["diversity"];
    o << "<table><tr><th>set</th><th>mean pairwise MS-SSIM</th><th>sd</th><th>pairs</th><th>slices</th></tr>";
    for (const char* s : {"synthetic", "real"})
      o << "<tr><td>" << s << "</td><td class=\"n\">" << fmt(dv[s]["mean_ms_ssim"]) << "</td><td class=\"n\">"
        << fmt(dv[s]["sd"]) << "</td><td class=\"n\">" << dv[s]["pairs"].get<std::size_t>() << "</td><td class=\"n\">"
        << dv[s]["slices"].get<std::size_t>() << "</td></tr>";
    o << "</table>";
  }

  // Conditioning.
  if (r.contains("conditioning")) {
    const auto& c = r["conditioning"];
    o << "<h2>Conditioning adherence</h2><p class=\"muted small\">" << esc(c["method"].get<std::string>())
      << ". The real column segments the real image the same way: it is the ceiling the method allows.</p>";
    o << "<table><tr><th>label</th><th>Dice synthetic</th><th>Dice real</th><th>condition voxels</th></tr>";
    for (std::size_t i = 0; i < c["synthetic"].size(); ++i)
      o << "<tr><td>" << c["synthetic"][i]["label"].get<int>() << "</td><td class=\"n\">" << fmt(c["synthetic"][i]["dice"])
        << "</td><td class=\"n\">" << fmt(c["real"][i]["dice"]) << "</td><td class=\"n\">"
        << c["synthetic"][i]["condition_voxels"].get<std::size_t>() << "</td></tr>";
    o << "<tr><th>mean</th><th class=\"n\">" << fmt(c["mean_dice_synthetic"]) << "</th><th class=\"n\">"
      << fmt(c["mean_dice_real"]) << "</th><th></th></tr></table>";
  }

  // Privacy.
  if (r.contains("privacy")) {
    const auto& p = r["privacy"];
    const auto n = p["flagged_count"].get<std::size_t>();
    o << "<h2>Privacy: memorisation check</h2><p>Each synthetic slice's highest Pearson correlation with any of "
      << p["train_slices"].get<std::size_t>() << " training slices, beside the same for " << p["baseline_slices"].get<std::size_t>()
      << " held-out real slices. Threshold (the baseline's " << plain(p["percentile"].get<double>()) << "th percentile): <b>"
      << fmt(p["threshold"]) << "</b>. <span class=\"" << (n ? "flag" : "ok") << "\">" << n << " of "
      << p["synthetic_slices"].get<std::size_t>() << " synthetic slices flagged.</span></p>";
    o << histogram_svg("best correlation with a training slice",
                       {{"synthetic", numbers(p["synthetic_best_correlation"])}, {"held-out real", numbers(p["baseline_best_correlation"])}},
                       p["threshold"].get<double>(), "threshold");
    o << "<table><tr><th>synthetic slice</th><th>nearest training slice</th><th>r</th><th>SSIM</th><th>flagged</th><th>synthetic | training</th></tr>";
    for (const auto& t : p["top"]) {
      const bool flagged = t["correlation"].get<double>() > p["threshold"].get<double>();
      o << "<tr><td class=\"n\">" << t["slice"].get<std::size_t>() << "</td><td class=\"n\">" << t["train_slice"].get<std::size_t>()
        << "</td><td class=\"n\">" << fmt(t["correlation"], 5) << "</td><td class=\"n\">" << fmt(t["ssim"]) << "</td><td class=\""
        << (flagged ? "flag\">yes" : "ok\">no") << "</td><td>";
      if (t.contains("image")) o << "<img src=\"" << esc(t["image"].get<std::string>()) << "\" alt=\"synthetic and training slice\" height=\"96\">";
      o << "</td></tr>";
    }
    o << "</table>";
  }

  // Training log.
  if (r.contains("training_log")) {
    const auto& l = r["training_log"];
    o << "<h2>Training log</h2><p class=\"muted small\">" << l["rows"].get<std::size_t>() << " rows; columns "
      << esc(l["columns"].dump()) << ".</p>";
    std::vector<double> steps;
    for (const auto& v : l["series"]["step"]) steps.push_back(v.is_number() ? v.get<double>() : NAN);
    std::vector<std::pair<std::string, std::vector<double>>> series;
    for (const auto& c : l["columns"]) {
      const std::string name = c.get<std::string>();
      if (name == "step") continue;
      std::vector<double> ys;
      for (const auto& v : l["series"][name]) ys.push_back(v.is_number() ? v.get<double>() : NAN);
      series.emplace_back(name, ys);
    }
    for (const auto& s : series) o << line_svg(s.first, steps, {s}, s.first.find("loss") != std::string::npos, "step");
  }

  o << "<h2>Inputs and provenance</h2>" << input_rows(r["inputs"]);
  o << "<p class=\"small muted\">command: <code>" << esc(r["command"].dump()) << "</code></p>";
  if (!r["notes"].empty()) {
    o << "<h2>Notes</h2><ul>";
    for (const auto& n : r["notes"]) o << "<li>" << esc(n.get<std::string>()) << "</li>";
    o << "</ul>";
  }
  o << "</main></body></html>\n";
  return o.str();
}

json write_evaluation_report(const EvaluationInputs& inputs, const std::string& out_dir, bool force) {
  io::AtomicFolder folder(out_dir, force);
  const std::filesystem::path tmp(folder.temp_dir());
  try {
    std::filesystem::create_directories(tmp / "images");
    ViewerVolumes viewer;
    const json report = evaluate(inputs, (tmp / "images").string(), &viewer);
    auto write = [&](const std::string& name, const std::string& text) {
      std::ofstream out(tmp / name, std::ios::binary);
      out << text;
      out.close();
      if (!out) throw Error(out_dir + "/" + name + ": write failed");
    };
    write("report.json", report.dump(2) + "\n");
    write("report.html", render_report_html(report, &viewer));
    folder.commit();
    return report;
  } catch (...) {
    io::rethrow_on_target(out_dir, true);  // a full disk reads as such, on the folder the user named
  }
}

}  // namespace medsynth::validation
