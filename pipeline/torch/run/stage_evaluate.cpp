// The evaluate stage: each sampled volume against its real one (the held-out slab when the split
// is a slab of one subject), a report.json and report.html each.
#include <algorithm>
#include <iostream>

#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/validation/evaluation.h"
#include "stage.h"

namespace medsynth::pipeline::run {

namespace {

std::vector<std::string> command_line(const Context& ctx) {
  std::vector<std::string> cl = {"medsynth", "run"};
  if (!ctx.options.config_path.empty()) cl.push_back(ctx.options.config_path);
  return cl;
}

json run_evaluate(Context& ctx, json& artefacts) {
  json out;
  out["reports"] = json::array();
  const std::string log = ctx.resolve(ctx.outputs("train").at("loss_log").get<std::string>()).string();
  for (const auto& v : ctx.outputs("sample").at("volumes")) {
    json kept;
    if (reuse_done(ctx, v.at("name").get<std::string>(), &kept, artefacts)) {
      out["reports"].push_back(kept);
      continue;
    }
    throw_if_stop_requested("evaluate", "the reports written so far are kept: run the same command again to finish");
    const std::size_t first_artefact = artefacts.size();
    validation::EvaluationInputs in;
    in.real = v.at("real").get<std::string>();
    in.synthetic = ctx.resolve(v.at("synthetic").get<std::string>()).string();
    if (!v.at("mask").get<std::string>().empty()) in.mask = ctx.resolve(v.at("mask").get<std::string>()).string();
    if (!v.at("labels").get<std::string>().empty()) in.labels = ctx.resolve(v.at("labels").get<std::string>()).string();
    in.log = log;
    if (!in.mask.empty()) {
      // One subject split by slab: its slices outside the held-out slab are the training slices
      // the memorisation check compares the synthetic slab against.
      const fs::path train = ctx.dir("evaluate") / (v.at("name").get<std::string>() + "-training-slices.nii.gz");
      io::Volume t = io::read_volume(in.real);
      const io::Volume m = io::read_volume(in.mask);
      if (m.geometry.same_grid(t.geometry, 1e-3)) {
        const float low = io::intensity_range(t).first;
        const std::size_t n = t.geometry.size[0] * t.geometry.size[1];
        std::size_t held_slices = 0;
        for (std::size_t k = 0; k < t.geometry.size[2]; ++k) {
          const bool held = std::any_of(m.voxels.begin() + static_cast<long>(k * n), m.voxels.begin() + static_cast<long>((k + 1) * n),
                                        [](float x) { return x != 0.0f; });
          if (held) std::fill(t.voxels.begin() + static_cast<long>(k * n), t.voxels.begin() + static_cast<long>((k + 1) * n), low);
          held_slices += held;
        }
        // A slab across the file's slices (another orientation) leaves no whole training slice.
        if (held_slices < t.geometry.size[2]) {
          io::WriteOptions wo;
          wo.force = true;
          io::write_volume(t, train.string(), wo);
          in.train = train.string();
          artefacts.push_back(ctx.rel(train));
        }
      }
    }
    in.threads = static_cast<unsigned>(std::max(0, ctx.config.train.threads));
    in.command_line = command_line(ctx);
    in.synthesis_cost = v.value("cost", json());
    const fs::path dir = ctx.dir("evaluate") / v.at("name").get<std::string>();
    const json report = validation::write_evaluation_report(in, dir.string(), true);
    const auto& p = report["paired"]["volume"];
    std::cout << "evaluate: " << v.at("name").get<std::string>() << ": SSIM " << p["ssim"].dump() << "  PSNR "
              << p["psnr"].dump() << " dB  MAE " << p["mae"].dump() << (in.mask.empty() ? "" : " (held-out mask)");
    // Figures across slices (synthetic / real; 1 is real-like) and FD beside its real-vs-real baseline.
    const json through = report["through_plane"]["ratio"], sharp = report["sharpness"]["ratio"];
    std::cout << "  through-plane x" << through.dump() << "  sharpness x" << sharp.dump();
    const json& d = report["distribution"];
    if (d.contains("frechet_distance")) {
      std::cout << "  FD " << d["frechet_distance"].dump();
      if (d.contains("baseline") && d["baseline"].contains("frechet_distance"))
        std::cout << " (real-vs-real " << d["baseline"]["frechet_distance"].dump() << ")";
    }
    if (report.contains("privacy")) {
      std::cout << "  memorisation: " << report["privacy"]["flagged_count"].dump() << " of "
                << report["privacy"]["synthetic_slices"].dump() << " slices flagged";
    }
    std::cout << "\n";
    artefacts.push_back(ctx.rel(dir / "report.html"));
    artefacts.push_back(ctx.rel(dir / "report.json"));
    out["reports"].push_back({{"name", v.at("name")}, {"html", ctx.rel(dir / "report.html")},
                              {"json", ctx.rel(dir / "report.json")}, {"ssim", p["ssim"]}, {"psnr", p["psnr"]},
                              {"mae", p["mae"]}, {"masked", !in.mask.empty()}, {"through_plane_ratio", through},
                              {"sharpness_ratio", sharp}, {"sagittal_ssim", report["reslices"]["sagittal"].value("ssim", json())},
                              {"coronal_ssim", report["reslices"]["coronal"].value("ssim", json())}});
    record_done(ctx, v.at("name").get<std::string>(), out["reports"].back(), artefacts, first_artefact);
  }
  return out;
}

}  // namespace

Stage evaluate_stage() {
  Stage s;
  s.name = "evaluate";
  s.inputs = [](const Context& ctx) { return upstream_ids(ctx, {"ingest", "train", "sample"}); };
  s.run = run_evaluate;
  s.keeps_partial = true;
  return s;
}

}  // namespace medsynth::pipeline::run
