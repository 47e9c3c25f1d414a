// medsynth edit interpolate|inpaint|sketch: editing real scans with a trained model.
// - interpolate: encode two real volumes (or slices) to latents, walk the path between them
//   (spherical for Gaussian latents) and decode each point;
// - inpaint: regenerate a masked region; every voxel outside the mask is the input's, exactly;
// - sketch: regenerate from an edited label map (GauGAN-style editing); with --keep-outside only
//   the edited region changes.
// The model works on its slice grid; results go back onto the input's grid, and the unchanged
// part is copied from the input on that grid (never resampled), so "unchanged" is bit-exact.
#include <c10/util/Exception.h>

#include <cstring>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "medsynth/io/atomic_folder.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/mark/synthetic_mark.h"
#include "medsynth/pipeline/model_card.h"
#include "medsynth/modules/device.h"
#include "medsynth/modules/seed.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/progress.h"
#include "medsynth/pipeline/synthesis.h"
#include "medsynth/pipeline/torch_commands.h"
#include "command_util.h"
#include "medsynth/validation/png_montage.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

struct Loaded {
  std::unique_ptr<modules::GenerativeModel> model;
  CheckpointInfo info;
  RunConfig run;
};

Loaded load(const po::variables_map& vm) {
  modules::configure_threads(vm["threads"].as<int>());
  Loaded l;
  l.model = model_from_checkpoint(vm["checkpoint"].as<std::string>(), vm["device"].as<std::string>(), &l.info);
  l.run = config_from_ini_text(l.info.run_config);
  if (l.model->config().image_channels != 1) {
    throw io::Error(vm["checkpoint"].as<std::string>(), "edit works on one-channel slices; this model makes " +
                                                        std::to_string(l.model->config().image_channels));
  }
  return l;
}

modules::SampleOptions sample_options(const po::variables_map& vm) {
  modules::SampleOptions o;
  o.steps = vm["steps"].as<int>();
  o.guidance = vm["guidance"].as<double>();
  o.eta = 0;
  return o;
}

std::vector<std::uint64_t> seeds_for(int seed, std::size_t k0, std::size_t k1) {
  std::vector<std::uint64_t> s;
  for (std::size_t k = k0; k < k1; ++k) s.push_back(modules::derive_seed(static_cast<std::uint64_t>(seed), k));
  return s;
}

// The conditions the model takes, from --condition / --class, on the grid of `geometry`.
SliceConditions conditions_from(const po::variables_map& vm, const std::string& labels_key, const SliceGrid& sg,
                                const io::Geometry& geometry, const Loaded& l) {
  const auto& mc = l.model->config();
  const std::string ckpt = vm["checkpoint"].as<std::string>();
  SliceConditions c;
  const std::string labels = vm.count(labels_key) ? vm[labels_key].as<std::string>() : "";
  if (!labels.empty()) {
    if (mc.label_classes == 0) throw io::Error(ckpt, "this model was trained without label maps; it cannot take --" + labels_key);
    const auto lv = io::read_label_volume(labels);
    if (!lv.geometry.same_grid(geometry, 1e-3)) throw io::Error(labels, "is not on the grid of the image it conditions");
    c.labels = label_ids_on_grid(sg, lv, labels, l.info);
  } else if (mc.label_classes > 0 && !l.model->can(modules::Capability::kUnconditional)) {
    throw UsageError("this " + l.model->family() + " model needs a label map: give --" + labels_key);
  }
  const int cls = vm["class"].as<int>();
  if (cls >= 0 && mc.num_classes == 0) throw io::Error(ckpt, "this model was trained without classes; it cannot take --class");
  if (cls < 0 && mc.num_classes > 0 && !l.model->can(modules::Capability::kUnconditional)) {
    throw UsageError("this " + l.model->family() + " model needs a class: give --class");
  }
  if (mc.source_image && !l.model->can(modules::Capability::kUnconditional)) {
    throw UsageError("edit does not take source images yet; this model needs one (use 'medsynth sample --source')");
  }
  c.class_id = cls;
  c.position = mc.slice_position;
  c.native = l.run.data.grid.native();
  return c;
}

void check_same_grid(const io::Geometry& g, const io::Geometry& ref, const std::string& path, const std::string& ref_path) {
  if (!g.same_grid(ref, 1e-3)) throw io::Error(path, "is not on the grid of " + ref_path);
}

io::Volume as_intensity_volume(const std::vector<float>& stack, const SliceGrid& sg, const io::Geometry& g,
                               const IntensityWindow& window) {
  std::vector<float> s(stack.size());
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = to_intensity(stack[i], window);
  return sg.restore(s, g);
}

// The header's marking and the synthetic mark in the voxels the model made (`region`; all when
// null), at the strength synthesise() uses: the real voxels of an edited scan stay as they were.
void mark_synthetic(io::Volume& v, const std::string& what, const std::string& checkpoint, const std::string& family,
                    const CheckpointInfo& info, const std::vector<std::uint8_t>* region = nullptr) {
  v.metadata["modality"] = "MR";
  v.metadata["synthetic"] = family + " " + what + ", " + fs::path(checkpoint).filename().string();
  mark::embed_mark(v, mark::current_payload(mark_run_id(info.run_config, info.data_fingerprint)),
                   mark::kDefaultStrength * (info.window_hi - info.window_lo), region);
}

void prepare_output(const std::string& out, bool force) {
  io::detect_write_format(out);  // a wrong output name fails before minutes of work
  if (!force && fs::exists(out)) throw io::Error(out, "output exists (use --force to replace it)");
}

// ---------------------------------------------------------------------------------- inpaint

// Regenerates the slices of `image` where `region` (on the image's grid, non-zero = regenerate)
// has voxels, with the conditions given; returns the volume with region voxels replaced and every
// other voxel copied from `image`.
// A family that neither inpaints nor encodes decodes from a fresh latent; one that encodes (vae)
// starts from the scan's own latent under `style_from` (its original conditions), so the edited
// region keeps the scan's appearance (GauGAN's style-guided editing).
io::Volume regenerate(const io::Volume& image, const std::vector<std::uint8_t>& region, const SliceConditions& conds,
                      const SliceGrid& sg, Loaded& l, modules::SampleOptions so, int seed, int batch, bool inpaint,
                      std::size_t* slices_done, const SliceConditions* style_from = nullptr) {
  const auto& mc = l.model->config();
  const std::size_t P = sg.pixels(), Z = sg.slices();
  const long H = sg.height(), W = sg.width();
  io::Volume region_v;
  region_v.geometry = image.geometry;
  region_v.voxels.assign(region.begin(), region.end());
  std::vector<float> mask = sg.resample(region_v, 0.0f);
  for (auto& m : mask) m = m > 0.0f ? 1.0f : 0.0f;  // a grid pixel touching the region is regenerated
  // The scan in [-1, 1] by its own window, as ingest mapped each training subject; the
  // regenerated region goes back through the same window, so it matches its surroundings.
  IntensityWindow window;
  std::vector<float> x = image_on_grid(sg, image, l.run, &window);
  std::vector<std::size_t> todo;
  for (std::size_t k = 0; k < Z; ++k) {
    if (std::any_of(mask.begin() + static_cast<long>(k * P), mask.begin() + static_cast<long>((k + 1) * P),
                    [](float m) { return m > 0; })) {
      todo.push_back(k);
    }
  }
  std::vector<float> out = x;
  const auto device = l.model->device();
  Progress bar("editing", static_cast<long>(todo.size()), 0, 1);
  const std::size_t B = static_cast<std::size_t>(std::max(1, batch));
  for (std::size_t i = 0; i < todo.size(); i += B) {
    const std::size_t n = std::min(B, todo.size() - i);
    torch::Tensor known = torch::empty({static_cast<long>(n), 1, H, W});
    torch::Tensor msk = torch::empty_like(known);
    so.seeds.clear();
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t k = todo[i + j];
      std::memcpy(known[static_cast<long>(j)].data_ptr<float>(), x.data() + k * P, P * sizeof(float));
      std::memcpy(msk[static_cast<long>(j)].data_ptr<float>(), mask.data() + k * P, P * sizeof(float));
      so.seeds.push_back(modules::derive_seed(static_cast<std::uint64_t>(seed), k));
    }
    // The conditions of this batch's (not necessarily consecutive) slices.
    auto batch_of = [&](const SliceConditions& sc) {
      std::vector<modules::Condition> parts;
      for (std::size_t j = 0; j < n; ++j) parts.push_back(sc.batch(todo[i + j], todo[i + j] + 1, sg, mc, device));
      auto cat = [&](torch::Tensor modules::Condition::*field) {
        if (!(parts[0].*field).defined()) return torch::Tensor();
        std::vector<torch::Tensor> t;
        for (auto& p : parts) t.push_back(p.*field);
        return torch::cat(t);
      };
      modules::Condition c;
      c.labels = cat(&modules::Condition::labels);
      c.source = cat(&modules::Condition::source);
      c.class_id = cat(&modules::Condition::class_id);
      c.position = cat(&modules::Condition::position);
      c.coords = cat(&modules::Condition::coords);
      return c;
    };
    const modules::Condition c = batch_of(conds);
    if (inpaint) {
      so.known = known;
      so.mask = msk;
    } else if (style_from && l.model->can(modules::Capability::kInterpolate)) {
      so.initial = l.model->encode(known.to(device), batch_of(*style_from), so);
    }
    auto y = l.model->sample(c, so).to(torch::kCPU).contiguous();
    for (std::size_t j = 0; j < n; ++j) {
      std::memcpy(out.data() + todo[i + j] * P, y[static_cast<long>(j)].data_ptr<float>(), P * sizeof(float));
    }
    bar.update(static_cast<long>(i + n));
  }
  *slices_done = todo.size();
  io::Volume restored = as_intensity_volume(out, sg, image.geometry, window);
  io::Volume result = image;
  for (std::size_t v = 0; v < result.voxels.size(); ++v) {
    if (region[v]) result.voxels[v] = restored.voxels[v];
  }
  result.stored_type = io::PixelType::kFloat32;
  return result;
}

int run_inpaint(const po::variables_map& vm) {
  const std::string image_path = vm["image"].as<std::string>(), mask_path = vm["mask"].as<std::string>();
  const std::string out = vm["out"].as<std::string>();
  prepare_output(out, vm.count("force") > 0);
  Loaded l = load(vm);
  modules::require(*l.model, modules::Capability::kInpaint);
  const io::Volume image = io::read_volume(image_path);
  const io::Volume mask = io::read_volume(mask_path);
  check_same_grid(mask.geometry, image.geometry, mask_path, image_path);
  std::vector<std::uint8_t> region(mask.voxels.size());
  std::size_t count = 0;
  for (std::size_t i = 0; i < region.size(); ++i) count += region[i] = mask.voxels[i] != 0.0f;
  if (count == 0) throw io::Error(mask_path, "the mask is empty: nothing to inpaint");
  const SliceGrid sg = model_grid(image.geometry, l.run, l.info);
  const SliceConditions conds = conditions_from(vm, "condition", sg, image.geometry, l);
  auto so = sample_options(vm);
  so.resample_jumps = vm["jumps"].as<int>();
  std::size_t slices = 0;
  io::Volume result = regenerate(image, region, conds, sg, l, so, vm["seed"].as<int>(), vm["batch"].as<int>(), true, &slices);
  mark_synthetic(result, "inpainting", vm["checkpoint"].as<std::string>(), l.model->family(), l.info, &region);
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  io::write_volume(result, out, wo);
  std::cout << out << " (" << count << " voxels regenerated in " << slices << " slices)\n";
  return 0;
}

// ----------------------------------------------------------------------------------- sketch

int run_sketch(const po::variables_map& vm) {
  const std::string labels_path = vm["labels"].as<std::string>(), out = vm["out"].as<std::string>();
  prepare_output(out, vm.count("force") > 0);
  const bool keep = vm.count("keep-outside") > 0;
  if (!keep) {
    // Plain synthesis from the edited label map.
    SynthesisRequest rq;
    rq.checkpoint = vm["checkpoint"].as<std::string>();
    rq.labels = labels_path;
    rq.class_id = vm["class"].as<int>();
    rq.device = vm["device"].as<std::string>();
    rq.threads = vm["threads"].as<int>();
    rq.sample.steps = vm["steps"].as<int>();
    rq.sample.guidance = vm["guidance"].as<double>();
    rq.sample.seed = vm["seed"].as<int>();
    rq.sample.batch = vm["batch"].as<int>();
    SynthesisResult r = synthesise(rq);
    r.volume.metadata["synthetic"] += " (sketch)";
    io::WriteOptions wo;
    wo.force = vm.count("force") > 0;
    io::write_volume(r.volume, out, wo);
    std::cout << out << " (" << r.slices_done.size() << " slices from the edited label map)\n";
    return 0;
  }
  const std::string image_path = vm["image"].as<std::string>(), orig_path = vm["original-labels"].as<std::string>();
  if (image_path.empty() || orig_path.empty()) {
    throw UsageError("edit sketch --keep-outside needs --image (the original scan) and --original-labels (its label map)");
  }
  Loaded l = load(vm);
  if (l.model->config().label_classes == 0) {
    throw io::Error(vm["checkpoint"].as<std::string>(), "this model was trained without label maps: it cannot follow a sketch");
  }
  const io::Volume image = io::read_volume(image_path);
  const io::LabelVolume edited = io::read_label_volume(labels_path), original = io::read_label_volume(orig_path);
  check_same_grid(edited.geometry, image.geometry, labels_path, image_path);
  check_same_grid(original.geometry, image.geometry, orig_path, image_path);
  // The edited region, grown in-plane by --margin voxels so the seam is regenerated too.
  const auto& g = image.geometry;
  const int margin = std::max(0, vm["margin"].as<int>());
  std::vector<std::uint8_t> changed(edited.voxels.size()), region(edited.voxels.size(), 0);
  std::size_t count = 0;
  for (std::size_t i = 0; i < changed.size(); ++i) count += changed[i] = edited.voxels[i] != original.voxels[i];
  if (count == 0) throw io::Error(labels_path, "equals --original-labels: nothing was edited");
  for (std::size_t k = 0; k < g.size[2]; ++k) {
    for (std::size_t j = 0; j < g.size[1]; ++j) {
      for (std::size_t i = 0; i < g.size[0]; ++i) {
        if (!changed[image.index(i, j, k)]) continue;
        for (long dj = -margin; dj <= margin; ++dj) {
          for (long di = -margin; di <= margin; ++di) {
            const long ii = static_cast<long>(i) + di, jj = static_cast<long>(j) + dj;
            if (ii < 0 || jj < 0 || ii >= static_cast<long>(g.size[0]) || jj >= static_cast<long>(g.size[1])) continue;
            region[image.index(static_cast<std::size_t>(ii), static_cast<std::size_t>(jj), k)] = 1;
          }
        }
      }
    }
  }
  const SliceGrid sg = model_grid(g, l.run, l.info);
  SliceConditions conds = conditions_from(vm, "labels", sg, g, l);
  SliceConditions original_conds = conds;
  original_conds.labels = label_ids_on_grid(sg, original, orig_path, l.info);
  auto so = sample_options(vm);
  so.resample_jumps = vm["jumps"].as<int>();
  // Families that inpaint harmonise the region with its surroundings (RePaint); the others make
  // the whole slice from the edited map and the region is pasted in.
  const bool inpaint = l.model->can(modules::Capability::kInpaint);
  std::size_t slices = 0;
  io::Volume result = regenerate(image, region, conds, sg, l, so, vm["seed"].as<int>(), vm["batch"].as<int>(), inpaint,
                                 &slices, &original_conds);
  mark_synthetic(result, "sketch edit", vm["checkpoint"].as<std::string>(), l.model->family(), l.info, &region);
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  io::write_volume(result, out, wo);
  std::cout << out << " (" << count << " voxels relabelled; " << slices << " slices regenerated"
            << (inpaint ? ", harmonised by inpainting"
                        : l.model->can(modules::Capability::kInterpolate) ? ", decoded from the scan's own latent"
                                                                           : ", pasted")
            << ")\n";
  return 0;
}

// ------------------------------------------------------------------------------ interpolate

// Spherical interpolation per sample (Shoemake 1985; White 2016 for generative latents), linear
// where the two latents are (anti)parallel.
torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t) {
  const auto B = a.size(0);
  auto fa = a.reshape({B, -1}), fb = b.reshape({B, -1});
  auto cos = (fa * fb).sum(1) / (fa.norm(2, 1) * fb.norm(2, 1)).clamp_min(1e-12);
  auto omega = torch::acos(cos.clamp(-1 + 1e-7, 1 - 1e-7));
  auto so = torch::sin(omega);
  auto wa = torch::sin((1 - t) * omega) / so, wb = torch::sin(t * omega) / so;
  auto lin = (so.abs() < 1e-4).to(torch::kFloat);
  wa = lin * (1 - t) + (1 - lin) * wa;
  wb = lin * t + (1 - lin) * wb;
  return (wa.view({B, 1}) * fa + wb.view({B, 1}) * fb).reshape(a.sizes());
}

int run_interpolate(const po::variables_map& vm) {
  const std::string from = vm["from"].as<std::string>(), to = vm["to"].as<std::string>();
  const std::string out = vm["out"].as<std::string>();
  const int steps = vm["count"].as<int>();
  if (steps < 2) throw UsageError("edit interpolate: --count must be at least 2 (the two ends)");
  Loaded l = load(vm);
  modules::require(*l.model, modules::Capability::kInterpolate);
  io::Volume a = io::read_volume(from), b = io::read_volume(to);
  const long slice = vm["slice"].as<long>();
  if (slice >= 0) {
    a = io::extract_slice(a, static_cast<std::size_t>(slice), from);
    b = io::extract_slice(b, static_cast<std::size_t>(slice), to);
  }
  if (!b.geometry.same_grid(a.geometry, 1e-3)) {
    throw io::Error(to, "is not on the grid of " + from + " (interpolation pairs slices voxel by voxel)");
  }
  io::AtomicFolder folder(out, vm.count("force") > 0);
  const auto& mc = l.model->config();
  const SliceGrid sg = model_grid(a.geometry, l.run, l.info);
  const SliceConditions ca = conditions_from(vm, "condition", sg, a.geometry, l);
  SliceConditions cb = ca;
  if (vm.count("to-condition") && !vm["to-condition"].as<std::string>().empty()) {
    cb = conditions_from(vm, "to-condition", sg, a.geometry, l);
  }
  const std::size_t P = sg.pixels(), Z = sg.slices();
  const long H = sg.height(), W = sg.width();
  // Each scan by its own window (as ingest); the path goes back through --from's.
  IntensityWindow wa, wb;
  const auto xa = image_on_grid(sg, a, l.run, &wa), xb = image_on_grid(sg, b, l.run, &wb);
  std::vector<std::vector<float>> stacks(static_cast<std::size_t>(steps), std::vector<float>(Z * P));
  const auto device = l.model->device();
  auto so = sample_options(vm);
  const std::size_t B = static_cast<std::size_t>(std::max(1, vm["batch"].as<int>()));
  const bool gaussian = l.model->latent_is_gaussian();
  Progress bar("interpolating", static_cast<long>(Z), 0, 1);
  for (std::size_t k0 = 0; k0 < Z; k0 += B) {
    const std::size_t k1 = std::min(Z, k0 + B);
    const auto n = static_cast<long>(k1 - k0);
    auto img = [&](const std::vector<float>& x) {
      return torch::from_blob(const_cast<float*>(x.data()) + k0 * P, {n, 1, H, W},
                              torch::kFloat).clone().to(device);
    };
    const auto cond_a = ca.batch(k0, k1, sg, mc, device), cond_b = cb.batch(k0, k1, sg, mc, device);
    const auto za = l.model->encode(img(xa), cond_a, so), zb = l.model->encode(img(xb), cond_b, so);
    for (int s = 0; s < steps; ++s) {
      const double t = static_cast<double>(s) / (steps - 1);
      modules::Condition c = cond_a;
      if (cond_a.labels.defined()) c.labels = (1 - t) * cond_a.labels + t * cond_b.labels;  // soft label maps between
      auto o = so;
      o.initial = gaussian ? slerp(za, zb, t) : (1 - t) * za + t * zb;
      o.seeds = seeds_for(vm["seed"].as<int>(), k0, k1);
      auto y = l.model->sample(c, o).to(torch::kCPU).contiguous();
      std::memcpy(stacks[static_cast<std::size_t>(s)].data() + k0 * P, y.data_ptr<float>(), static_cast<std::size_t>(n) * P * sizeof(float));
    }
    bar.update(static_cast<long>(k1));
  }
  // Volumes on the grid of --from, and a PNG strip of one slice: from, the steps, to.
  std::vector<validation::MontagePanel> panels;
  const std::size_t kmid = a.geometry.size[2] / 2;
  auto panel = [&](const io::Volume& v) {
    validation::MontagePanel p;
    p.slice = validation::display_oriented(validation::slice_of(v, kmid), v.geometry);
    p.low = wa.lo;
    p.high = wa.hi;
    return p;
  };
  panels.push_back(panel(a));
  for (int s = 0; s < steps; ++s) {
    io::Volume v = as_intensity_volume(stacks[static_cast<std::size_t>(s)], sg, a.geometry, wa);
    mark_synthetic(v, "interpolation", vm["checkpoint"].as<std::string>(), l.model->family(), l.info);
    std::ostringstream name;
    name << "step-" << std::setw(2) << std::setfill('0') << s << ".nii.gz";
    io::write_volume(v, (fs::path(folder.temp_dir()) / name.str()).string());
    panels.push_back(panel(v));
  }
  panels.push_back(panel(b));
  validation::write_montage_png(panels, (fs::path(folder.temp_dir()) / "strip.png").string());
  folder.commit();
  std::cout << out << " (" << steps << " steps; strip.png: " << from << ", the steps, " << to << ")\n";
  return 0;
}

int run_edit(const po::variables_map& vm) {
  const std::string action = vm["action"].as<std::string>();
  if (action == "interpolate") return run_interpolate(vm);
  if (action == "inpaint") return run_inpaint(vm);
  if (action == "sketch") return run_sketch(vm);
  throw UsageError("edit: unknown action '" + action + "' (interpolate, inpaint or sketch)");
}

}  // namespace

Command make_edit_command() {
  Command c;
  c.name = "edit";
  c.summary = "edit scans with a trained model: interpolate, inpaint, sketch";
  c.usage =
      "medsynth edit interpolate --checkpoint C --from a.nii.gz --to b.nii.gz [--count 8] [--slice K] --out DIR\n"
      "medsynth edit inpaint --checkpoint C --image x.nii.gz --mask m.nii.gz --out y.nii.gz\n"
      "medsynth edit sketch --checkpoint C --labels edited.nii.gz|png [--keep-outside --image x --original-labels l]\n"
      "                     --out y.nii.gz";
  c.details =
      "interpolate  encodes both scans (vae: posterior mean; ddpm/ldm: DDIM inversion with --steps),\n"
      "             walks the latent path (spherical) in --count points and decodes each: DIR gets\n"
      "             step-00.nii.gz ... on the grid of --from, and strip.png (one slice: from, the\n"
      "             steps, to). --condition/--to-condition give the label maps of the two ends.\n"
      "inpaint      regenerates where --mask is non-zero (RePaint for ddpm, in latent space for ldm);\n"
      "             every voxel outside the mask is the input's, exactly.\n"
      "sketch       synthesises from an edited label map; with --keep-outside only the edited region\n"
      "             (voxels whose label changed, grown by --margin) is regenerated, the rest is --image.\n"
      "A family without the capability is refused, naming the families that have it.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("action", po::value<std::string>()->required(), "interpolate, inpaint or sketch")
        ("checkpoint", po::value<std::string>()->required(), "checkpoint written by 'medsynth train'")
        ("out", po::value<std::string>()->required(), "output volume (inpaint, sketch) or folder (interpolate)")
        ("from", po::value<std::string>()->default_value(""), "interpolate: the first scan (or slice)")
        ("to", po::value<std::string>()->default_value(""), "interpolate: the second scan, on the grid of --from")
        ("count", po::value<int>()->default_value(8), "interpolate: points on the path, ends included")
        ("slice", po::value<long>()->default_value(-1), "interpolate: only slice K (third index axis) of both")
        ("condition", po::value<std::string>()->default_value(""), "label map of the image (--from for interpolate)")
        ("to-condition", po::value<std::string>()->default_value(""), "interpolate: label map of --to (default: --condition)")
        ("class", po::value<int>()->default_value(-1), "class / attribute id")
        ("image", po::value<std::string>()->default_value(""), "inpaint: the scan; sketch --keep-outside: the original scan")
        ("mask", po::value<std::string>()->default_value(""), "inpaint: non-zero where to regenerate, on the grid of --image")
        ("labels", po::value<std::string>()->default_value(""), "sketch: the edited label map (NIfTI, MHA, NRRD or PNG)")
        ("original-labels", po::value<std::string>()->default_value(""), "sketch --keep-outside: the label map before editing")
        ("keep-outside", "sketch: keep the original scan outside the edited region")
        ("margin", po::value<int>()->default_value(2), "sketch --keep-outside: grow the edited region by this many voxels in-plane")
        ("steps", po::value<int>()->default_value(50), "DDIM steps (ddpm, ldm)")
        ("jumps", po::value<int>()->default_value(3), "inpaint/sketch: RePaint resampling jumps per step (ddpm, ldm)")
        ("guidance", po::value<double>()->default_value(1.0), "classifier-free guidance (ddpm, ldm)")
        ("seed", po::value<int>()->default_value(7), "seed; slice k uses (seed, k)")
        ("batch", po::value<int>()->default_value(16), "slices per batch")
        ("device", po::value<std::string>()->default_value("cpu"), "auto | cpu | cuda | cuda:K")
        ("threads", po::value<int>()->default_value(0), "LibTorch threads (0: all cores)")
        ("force", "replace the output if it exists");
    p.add("action", 1);
  };
  c.run = [](const po::variables_map& vm) {
    return without_backtraces([&] {
      const std::string action = vm["action"].as<std::string>();
      auto need = [&](const char* key) {
        if (vm[key].as<std::string>().empty()) throw UsageError("edit " + action + ": --" + key + " is required");
      };
      if (action == "interpolate") {
        need("from");
        need("to");
      } else if (action == "inpaint") {
        need("image");
        need("mask");
      } else if (action == "sketch") {
        need("labels");
      }
      return run_edit(vm);
    });
  };
  return c;
}

}  // namespace medsynth::pipeline
