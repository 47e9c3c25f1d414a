// The train stage: the model, resumed from its newest checkpoint when the settings are unchanged.
#include <iostream>
#include <sstream>

#include "medsynth/modules/generative_model.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/trainer.h"
#include "ranks.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

std::string train_inputs(const Context& ctx) {
  const RunConfig& c = ctx.config;
  std::ostringstream key;
  key << section_text(c, "model")
      << section_text(c, "train", {"out", "threads", "log_every", "device", "dist_timeout", "keep_checkpoints",
                                   "checkpoint_every"})
      << upstream_ids(ctx, {"ingest"});
  // N ranks train on N times train.batch slices a step (docs/distributed.md): another trajectory.
  if (ctx.world > 1) key << "train.world_size = " << ctx.world << "\n";
  // An ldm trains on a vae: the checkpoint the folder resolves to, and its content, are inputs.
  if (modules::family_can(c.model.family, modules::Capability::kOnAutoencoder)) {
    const std::string vae = resolve_autoencoder(c.model.autoencoder);
    key << "autoencoder.file = " << vae << "\nautoencoder.content = " << hash_file(vae) << "\n";
  }
  return key.str();
}

json run_train(Context& ctx, json& artefacts) {
  RunConfig c = ctx.config;
  c.train.out = ctx.dir("train").string();
  if (c.data.cache.empty()) c.data.cache = ctx.resolve(ctx.outputs("ingest").at("cache_root").get<std::string>()).string();
  // Resumes from the newest checkpoint in train/ when there is one (the folder was emptied
  // before when the settings changed or the stage is forced).
  const TrainResult r = train(c, true, ctx.ranks ? &ctx.ranks->group() : nullptr);
  std::cout << "train: " << r.steps << " steps, loss " << r.first_loss << " -> " << r.last_loss << "\n";
  if (r.checkpoint.empty()) throw medsynth::Error("train: no checkpoint was written in " + c.train.out);
  json out{{"checkpoint", ctx.rel(r.checkpoint)}, {"loss_log", ctx.rel(ctx.dir("train") / "loss.csv")},
           {"steps", r.steps}, {"first_loss", r.first_loss}, {"last_loss", r.last_loss}};
  artefacts.push_back(ctx.rel(r.checkpoint));
  artefacts.push_back(ctx.rel(ctx.dir("train") / "loss.csv"));
  const fs::path mask = ctx.dir("train") / "heldout-mask.nii.gz";
  if (fs::exists(mask)) out["heldout_mask"] = ctx.rel(mask);
  return out;
}

}  // namespace

Stage train_stage() {
  Stage s;
  s.name = "train";
  s.inputs = train_inputs;
  s.run = run_train;
  s.resumes = true;
  s.on_ranks = OnRanks::kEvery;
  return s;
}

}  // namespace medsynth::pipeline::run
