#include "medsynth/modules/generative_model.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "medsynth/modules/diffusion/ddpm_model.h"
#include "medsynth/modules/gan/gan_model.h"
#include "medsynth/modules/ldm/ldm_model.h"
#include "medsynth/modules/vae/vae_model.h"

namespace medsynth::modules {
namespace {

struct Family {
  ModelFactory factory;
  std::vector<Capability> capabilities;
};

std::map<std::string, Family>& registry() {
  static std::map<std::string, Family> r;
  return r;
}

void register_builtin_families() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_family("ddpm", [](const ModelConfig& c, torch::Device d) -> std::unique_ptr<GenerativeModel> {
      return std::make_unique<DdpmModel>(c, d);
    }, {Capability::kInpaint, Capability::kInterpolate, Capability::kGuidance, Capability::kCropToTissue,
        Capability::kUnconditional});
    // No editing capabilities: a GAN has no latent to encode, and regenerating a region needs a sampler
    // that can be told what to keep.
    register_family("gan", [](const ModelConfig& c, torch::Device d) -> std::unique_ptr<GenerativeModel> {
      return std::make_unique<GanModel>(c, d);
    });
    register_family("vae", [](const ModelConfig& c, torch::Device d) -> std::unique_ptr<GenerativeModel> {
      return std::make_unique<VaeModel>(c, d);
    }, {Capability::kInterpolate});
    register_family("ldm", [](const ModelConfig& c, torch::Device d) -> std::unique_ptr<GenerativeModel> {
      return std::make_unique<LdmModel>(c, d);
    }, {Capability::kInpaint, Capability::kInterpolate, Capability::kGuidance, Capability::kOnAutoencoder});
  });
}

}  // namespace

std::int64_t Batch::size() const {
  for (const auto* t : {&image, &labels, &source, &class_id, &position}) {
    if (t->defined()) return t->size(0);
  }
  return 0;
}

int spatial_condition_channels(const ModelConfig& c) {
  const int k = context_slices(c);
  return (c.label_classes > 0 ? k * c.label_classes : 0) + (c.source_image ? k : 0) + (c.coordinates ? 2 : 0);
}

std::pair<std::int64_t, std::int64_t> spatial_size(const Condition& c) {
  for (const auto* t : {&c.labels, &c.source, &c.coords}) {
    if (t->defined() && t->dim() == 4) return {t->size(2), t->size(3)};
  }
  return {0, 0};
}

torch::Tensor spatial_condition(const ModelConfig& c, const Condition& cond, torch::Device device) {
  std::vector<torch::Tensor> parts;
  if (c.label_classes > 0 && cond.labels.defined()) parts.push_back(cond.labels.to(device, torch::kFloat));
  if (c.source_image && cond.source.defined()) parts.push_back(cond.source.to(device, torch::kFloat));
  if (c.coordinates && cond.coords.defined()) parts.push_back(cond.coords.to(device, torch::kFloat));
  if (parts.empty()) return {};
  for (const auto& t : parts) {
    if (t.dim() != 4 || t.size(0) != parts[0].size(0) || t.size(2) != parts[0].size(2) || t.size(3) != parts[0].size(3)) {
      throw Error("the label map, source image and coordinates of a batch differ in size", ExitCode::kRuntime);
    }
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
}

void register_family(const std::string& name, ModelFactory factory, std::vector<Capability> capabilities) {
  registry()[name] = Family{std::move(factory), std::move(capabilities)};
}

std::string to_string(Capability c) {
  switch (c) {
    case Capability::kInpaint: return "inpaint";
    case Capability::kInterpolate: return "interpolate";
    case Capability::kGuidance: return "use classifier-free guidance";
    case Capability::kCropToTissue: return "sample only the box around the tissue";
    case Capability::kOnAutoencoder: return "diffuse an autoencoder's latents";
    case Capability::kUnconditional: return "sample without its conditions";
  }
  return "?";
}

std::vector<std::string> families_with(Capability capability) {
  register_builtin_families();
  std::vector<std::string> names;
  for (const auto& [name, f] : registry()) {
    if (std::find(f.capabilities.begin(), f.capabilities.end(), capability) != f.capabilities.end()) {
      names.push_back(name);
    }
  }
  return names;
}

bool family_can(const std::string& family, Capability capability) {
  register_builtin_families();
  const auto it = registry().find(family);
  return it != registry().end() && std::find(it->second.capabilities.begin(), it->second.capabilities.end(),
                                             capability) != it->second.capabilities.end();
}

void GenerativeModel::set_autoencoder(std::unique_ptr<GenerativeModel>) {
  require(*this, Capability::kOnAutoencoder);
  throw Error(family() + ": set_autoencoder declared but not implemented", ExitCode::kRuntime);
}

void require(const GenerativeModel& model, Capability capability) {
  if (model.can(capability)) return;
  std::string list;
  for (const auto& n : families_with(capability)) list += (list.empty() ? "" : ", ") + n;
  throw Error("a " + model.family() + " model cannot " + to_string(capability) + " (families that can: " + list + ")",
              ExitCode::kUsage);
}

torch::Tensor GenerativeModel::encode(const torch::Tensor&, const Condition&, const SampleOptions&) {
  require(*this, Capability::kInterpolate);
  throw Error(family() + ": encode declared but not implemented", ExitCode::kRuntime);
}

std::vector<std::string> registered_families() {
  register_builtin_families();
  std::vector<std::string> names;
  for (const auto& [name, f] : registry()) names.push_back(name);
  return names;
}

std::unique_ptr<GenerativeModel> create_model(const ModelConfig& config, torch::Device device) {
  register_builtin_families();
  auto it = registry().find(config.family);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : registered_families()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model family '" + config.family + "' (known: " + known + ")", ExitCode::kUsage);
  }
  return it->second.factory(config, device);
}

}  // namespace medsynth::modules
