// export.bids (export_bids.cpp): the sampled volumes as a BIDS derivatives dataset.
#include <cctype>
#include <iostream>

#include "medsynth/io/error.h"
#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/text.h"
#include "medsynth/version.h"
#include "stage.h"

namespace medsynth::pipeline::run {

// export.bids: the sampled volumes as a BIDS derivatives dataset in export/bids. Subject labels and
// entities are the BIDS dataset's own (data.bids), or made of a manifest's subject names (letters and
// digits kept). The sidecars name real files only by their path inside a BIDS dataset: a manifest's
// file names may name people.
json export_bids(Context& ctx, json& artefacts) {
  const RunConfig& c = ctx.config;
  const std::string checkpoint = ctx.checkpoint();
  const auto rows = read_dataset(c.data);
  const bool from_bids = !c.data.bids.empty();
  const fs::path bids_root = from_bids ? fs::path(c.data.bids).lexically_normal() : fs::path();
  auto inside_bids = [&](const std::string& p) {
    return from_bids ? fs::path(p).lexically_normal().lexically_relative(bids_root).generic_string() : std::string();
  };
  BidsDerivativeDataset ds;
  ds.name = "medsynth synthetic " + (from_bids ? c.data.bids_suffix : std::string("MRI")) + " volumes (" + c.model.family + ")";
  ds.generated_by = "Sampled by medsynth's " + c.model.family + " model from checkpoint " +
                    fs::path(checkpoint).filename().string() + " (xxh3 " + hash_file(checkpoint) + "), " +
                    c.sample.sampler + " sampler, " + std::to_string(c.sample.steps) + " steps, seed " +
                    std::to_string(c.sample.seed) + ".";
  const bool marked = ctx.outputs("sample").value("mark", true);
  std::set<std::string> used;
  for (const auto& v : ctx.outputs("sample").at("volumes")) {
    const auto row = static_cast<std::size_t>(v.at("row").get<int>());
    if (row >= rows.size()) throw io::Error(dataset_path(c.data), "has changed since the sample stage ran; run " + ctx.rerun_hint("ingest"));
    const ManifestRow& r = rows[row];
    BidsDerivativeVolume bv;
    bv.suffix = from_bids ? c.data.bids_suffix : "T1w";
    if (from_bids) {
      bv.subject = r.subject;
      bv.entities = r.entities;
    } else {
      for (char ch : r.subject)
        if (std::isalnum(static_cast<unsigned char>(ch))) bv.subject += ch;
      if (bv.subject.empty()) bv.subject = "subject" + std::to_string(row + 1);
    }
    if (!used.insert(bv.subject + "_" + bv.entities).second) {
      bv.entities += (bv.entities.empty() ? "" : "_") + std::string("run-") + std::to_string(row + 1);
    }
    bv.volume = ctx.resolve(v.at("synthetic").get<std::string>()).string();
    json condition;
    const std::string labels = v.value("labels", "");
    if (c.data.labels == "tissue" || c.data.labels == "tissue+file") {
      condition = {{"Type", "tissue map"}, {"Description", "multi-Otsu tissue map (" + std::to_string(c.data.tissue_classes) +
                                                                " classes) of the real image" +
                                                                (c.data.labels == "tissue+file" ? " under its label map" : "")}};
    } else if (!labels.empty()) {
      condition = {{"Type", "label map"}};
    } else {
      condition = {{"Type", "none"}};
    }
    if (from_bids) {
      // Paths inside the BIDS dataset the model was trained on (data.bids).
      condition["RealImage"] = inside_bids(r.image);
      if (!r.labels.empty() && c.data.labels != "tissue") condition["LabelMap"] = inside_bids(r.labels);
    }
    bv.sidecar = {
        {"Description", "Synthetic " + bv.suffix + " volume made by a generative model (medsynth " + c.model.family +
                            "); not acquired from a person"},
        {"SyntheticMark", {{"Embedded", marked},
                           {"RunId", v.value("mark_run_id", "")},
                           {"Reader", "medsynth detect FILE reads the mark in the voxels"}}},
        {"Provenance", {{"Software", "medsynth"},
                        {"Version", std::string(kVersion) + " (" + kGitDescribe + ")"},
                        {"Checkpoint", fs::path(checkpoint).filename().string()},
                        {"CheckpointXXH3", hash_file(checkpoint)},
                        {"ModelFamily", c.model.family},
                        {"Parametrization", c.model.parametrization},
                        {"Sampler", c.sample.sampler},
                        {"Steps", c.sample.steps},
                        {"Seed", c.sample.seed},
                        {"Guidance", c.sample.guidance},
                        {"Condition", condition},
                        {"Created", utc_now()}}}};
    if (from_bids && !r.acquisition.is_null() && !r.acquisition.empty()) {
      bv.sidecar["TrainingAcquisition"] = r.acquisition;  // the acquisition the model learnt this contrast from
    }
    ds.volumes.push_back(bv);
  }
  const fs::path dir = ctx.dir("export") / "bids";
  const auto files = write_bids_derivatives(ds, dir.string(), true);
  std::cout << "export: " << dir.string() << " (BIDS derivatives, " << ds.volumes.size() << " volume(s))\n";
  artefacts.push_back(ctx.rel(dir / "dataset_description.json"));
  for (const auto& f : files) {
    if (f.size() > 7 && f.compare(f.size() - 7, 7, ".nii.gz") == 0) artefacts.push_back(ctx.rel(dir / f));
  }
  return json{{"folder", ctx.rel(dir)}, {"files", files}};
}

}  // namespace medsynth::pipeline::run
