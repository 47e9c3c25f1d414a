// The export stage: synthetic DICOM series (export.dicom), BIDS derivatives (export.bids) and a
// push to a PACS (export.host).
#include <iostream>

#include "medsynth/io/dicom_series_writer.h"
#include "medsynth/io/pacs_client.h"
#include "medsynth/io/volume_io.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

json run_export(Context& ctx, json& artefacts) {
  const ExportConfig& e = ctx.config.exporting;
  json out;
  out["series"] = json::array();
  std::vector<std::string> folders;
  if (e.dicom) {
    const std::string checkpoint = ctx.checkpoint();
    fs::create_directories(ctx.dir("export") / "dicom");
    for (const auto& v : ctx.outputs("sample").at("volumes")) {
      const std::string name = v.at("name").get<std::string>();
      io::DicomWriteOptions o;
      o.force = true;
      o.uid_root = e.uid_root;
      o.model_family = ctx.config.model.family;
      o.checkpoint = fs::path(checkpoint).filename().string();
      o.series_description = "medsynth " + ctx.config.model.family + " " + name;
      o.enhanced = e.enhanced;
      const io::Volume vol = io::read_volume(ctx.resolve(v.at("synthetic").get<std::string>()).string());
      const auto r = io::write_dicom_series(vol, (ctx.dir("export") / "dicom" / name).string(), o);
      std::cout << "export: " << r.folder << " (" << r.files.size() << " DICOM files, series " << r.series_uid << ")\n";
      folders.push_back(r.folder);
      artefacts.push_back(ctx.rel(r.folder));
      out["series"].push_back({{"name", name}, {"folder", ctx.rel(r.folder)}, {"files", r.files.size()},
                               {"series_uid", r.series_uid}, {"study_uid", r.study_uid}});
    }
  }
  if (e.bids) out["bids"] = export_bids(ctx, artefacts);
  if (!e.host.empty()) {
    if (!e.dicom) throw ConfigError("export.host is set but export.dicom = false: there is nothing to push");
    io::PacsPeer peer;
    peer.host = e.host;
    peer.port = e.port;
    peer.calling_aet = e.aet;
    peer.called_aet = e.aec;
    peer.timeout_s = e.timeout;
    if (folders.empty()) {
      std::cout << "export: no sampled volume to push\n";
    } else {
      const auto r = io::pacs_push(peer, folders);
      for (const auto& s : r.skipped) std::cerr << "medsynth: warning: skipped " << s << "\n";
      std::cout << "export: sent " << r.sent << " file(s) to " << peer.describe() << "\n";
      out["pushed"] = {{"peer", peer.describe()}, {"sent", r.sent}};
    }
  }
  return out;
}

}  // namespace

Stage export_stage() {
  Stage s;
  s.name = "export";
  s.inputs = [](const Context& ctx) { return section_text(ctx.config, "export") + upstream_ids(ctx, {"train", "sample"}); };
  s.run = run_export;
  return s;
}

}  // namespace medsynth::pipeline::run
