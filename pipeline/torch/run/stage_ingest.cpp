// The ingest stage: the dataset (manifest or BIDS) into the slice cache.
#include <iostream>
#include <sstream>

#include "medsynth/pipeline/bids.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/slice_dataset.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

// The data settings, the split seed and every input file's content.
std::string ingest_inputs(const Context& ctx) {
  const RunConfig& c = ctx.config;
  std::ostringstream key;
  key << section_text(c, "data", {"manifest", "bids", "cache"}) << "train.seed = " << c.train.seed << "\n";
  for (const auto& r : read_dataset(c.data)) {
    key << "row = " << r.subject << "," << hash_file(r.image) << "," << (r.labels.empty() ? "" : hash_file(r.labels))
        << "," << (r.source.empty() ? "" : hash_file(r.source)) << "," << r.class_id;
    if (!r.entities.empty() || !r.acquisition.is_null()) key << "," << r.entities << "," << r.acquisition.dump();
    if (!r.attributes.empty()) key << ",attributes=" << r.attributes.dump();
    key << "\n";
  }
  return key.str();
}

json run_ingest(Context& ctx, json& artefacts) {
  const RunConfig& c = ctx.config;
  const fs::path root = c.data.cache.empty() ? ctx.dir("ingest") / "cache" : fs::path(c.data.cache);
  const IngestResult r = ingest(c, root.string());
  std::cout << "ingest: " << r.train_slices << " training and " << r.heldout_slices << " held-out slices"
            << (r.reused ? " (slice cache reused)" : "") << "\n";
  artefacts.push_back(ctx.rel(fs::path(r.dir) / "index.json"));
  return json{{"cache", ctx.rel(r.dir)}, {"cache_root", ctx.rel(root)}, {"train_slices", r.train_slices},
              {"heldout_slices", r.heldout_slices}};
}

}  // namespace

Stage ingest_stage() {
  Stage s;
  s.name = "ingest";
  s.inputs = ingest_inputs;
  s.run = run_ingest;
  s.keep_unless_forced = "cache";
  return s;
}

}  // namespace medsynth::pipeline::run
