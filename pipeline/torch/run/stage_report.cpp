// The report stage: the run's index.html (reports, stages, outputs) and the measured figures
// written into the model card beside the checkpoint.
#include <fstream>
#include <sstream>

#include "medsynth/cost_json.h"
#include "medsynth/io/atomic_output.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/pipeline/utility.h"
#include "medsynth/text.h"
#include "medsynth/version.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

using io::write_text_atomically;

// "14 s, 0.6 CPU-minutes, ... ~2 kJ (estimated)" of a record's "cost" object (medsynth/cost.h).
std::string cost_text(const json& record) {
  if (!record.contains("cost") || !record["cost"].is_object()) return "";
  return html_escape(cost::describe(record["cost"].get<cost::ResourceUse>()));
}

json run_report(Context& ctx, json& artefacts) {
  const fs::path index = ctx.dir("report") / "index.html";
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>medsynth run " << html_escape(ctx.run.filename().string())
    << "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;border-bottom:1px solid #ccc;"
       "text-align:left}</style></head><body>\n<h1>medsynth run</h1>\n<p>Run folder <code>"
    << html_escape(fs::absolute(ctx.run).string()) << "</code>"
    << (ctx.options.config_path.empty() ? "" : ", config <code>" + html_escape(ctx.options.config_path) + "</code>")
    << ", medsynth " << kVersion << " (" << html_escape(kGitDescribe) << ").</p>\n";
  const json& sampled = ctx.outputs("sample");
  if (!sampled.value("mark", true)) {
    h << "<p style=\"color:#a00;font-weight:bold\">Warning: sample.mark = false. The synthetic volumes of this "
         "run carry no synthetic mark: once their headers are lost, nothing shows that they are synthetic.</p>\n";
  }
  // The measured figures go into the model card beside the checkpoint the volumes came from.
  const std::string checkpoint = ctx.checkpoint();
  for (const auto& r : ctx.outputs("evaluate").at("reports")) {
    std::ifstream in(ctx.resolve(r.at("json").get<std::string>()));
    if (in) add_measured_figures(checkpoint, json::parse(in), r.at("name").get<std::string>(), r.at("json").get<std::string>());
  }
  if (fs::exists(model_card_path(checkpoint, "md"))) {
    h << "<p>Model card: <a href=\"../" << html_escape(ctx.rel(model_card_path(checkpoint, "md"))) << "\">"
      << html_escape(ctx.rel(model_card_path(checkpoint, "md"))) << "</a> (and .json).</p>\n";
  }
  h << "<h2>Reports</h2>\n<table><tr><th>volume</th><th>SSIM</th><th>PSNR (dB)</th><th>MAE</th><th>region</th></tr>\n";
  for (const auto& r : ctx.outputs("evaluate").at("reports")) {
    h << "<tr><td><a href=\"../" << html_escape(r.at("html").get<std::string>()) << "\">"
      << html_escape(r.at("name").get<std::string>()) << "</a></td><td>" << r["ssim"].dump() << "</td><td>"
      << r["psnr"].dump() << "</td><td>" << r["mae"].dump() << "</td><td>"
      << (r.value("masked", false) ? "held-out slab" : "whole volume") << "</td></tr>\n";
  }
  h << "</table>\n";
  // The utility stage's figures (its own report.html has the same section).
  if (ctx.records.count("utility") && ctx.outputs("utility").value("enabled", false)) {
    std::ifstream in(ctx.resolve(ctx.outputs("utility").at("report").get<std::string>()));
    if (in) h << utility_html_section(json::parse(in));
  }
  h << "<h2>Stages</h2>\n<table><tr><th>stage</th><th>status</th><th>seconds</th><th>cost</th><th>finished</th>"
       "<th>fingerprint</th></tr>\n";
  for (const auto& st : stages()) {
    const std::string& s = st.name;
    if (s == "report" || !ctx.records.count(s)) continue;
    const json& r = ctx.records.at(s);
    h << "<tr><td><a href=\"../" << s << "/stage.json\">" << s << "</a></td><td>" << html_escape(r.value("status", ""))
      << "</td><td>" << r.value("seconds", 0.0) << "</td><td>" << cost_text(r) << "</td><td>"
      << html_escape(r.value("finished", "")) << "</td><td><code>"
      << html_escape(r.value("fingerprint", "")) << "</code></td></tr>\n";
  }
  h << "</table>\n<h2>Synthetic outputs</h2>\n<ul>\n";
  for (const auto& v : ctx.outputs("sample").at("volumes")) {
    h << "<li><a href=\"../" << html_escape(v.at("synthetic").get<std::string>()) << "\">"
      << html_escape(v.at("synthetic").get<std::string>()) << "</a>"
      << (v.contains("cost") ? ": this volume " + cost_text(v) : "") << "</li>\n";
  }
  if (ctx.outputs("sample").contains("pairs_manifest")) {
    h << "<li>" << ctx.outputs("sample")["pairs"].size() << " image/label pairs: <a href=\"../"
      << html_escape(ctx.outputs("sample")["pairs_manifest"].get<std::string>()) << "\">pairs.csv</a></li>\n";
  }
  if (ctx.records.count("augment") && ctx.outputs("augment").value("enabled", false)) {
    h << "<li>" << ctx.outputs("augment")["pairs"].size() << " physics-simulated image/label pairs (augment stage; "
      << "parameters in each JSON sidecar): <a href=\"../"
      << html_escape(ctx.outputs("augment")["pairs_manifest"].get<std::string>()) << "\">pairs.csv</a></li>\n";
  }
  if (ctx.outputs("export").contains("bids")) {
    h << "<li>BIDS derivatives: <code>" << html_escape(ctx.outputs("export")["bids"].at("folder").get<std::string>())
      << "</code></li>\n";
  }
  for (const auto& s : ctx.outputs("export").at("series")) {
    h << "<li>DICOM: <code>" << html_escape(s.at("folder").get<std::string>()) << "</code> (" << s.at("files").dump()
      << " files)</li>\n";
  }
  h << "</ul>\n<p>Every volume here is synthetic: made by a generative model, not acquired from a patient.</p>\n"
       "</body></html>\n";
  write_text_atomically(index.string(), h.str());
  artefacts.push_back(ctx.rel(index));
  const auto& reports = ctx.outputs("evaluate").at("reports");
  const std::string main = reports.empty() ? index.string()
                                           : ctx.resolve(reports[0].at("html").get<std::string>()).string();
  return json{{"index", ctx.rel(index)}, {"report", ctx.rel(main)}};
}

}  // namespace

Stage report_stage() {
  Stage s;
  s.name = "report";
  s.inputs = [](const Context& ctx) { return upstream_ids(ctx, {"ingest", "train", "sample", "evaluate", "export", "utility", "augment"}); };
  s.run = run_report;
  return s;
}

}  // namespace medsynth::pipeline::run
