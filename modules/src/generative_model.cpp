#include "medsynth/modules/generative_model.h"

#include <map>
#include <mutex>

#include "medsynth/modules/diffusion/ddpm_model.h"

namespace medsynth::modules {
namespace {

std::map<std::string, ModelFactory>& registry() {
  static std::map<std::string, ModelFactory> r;
  return r;
}

void register_builtin_families() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_family("ddpm", [](const ModelConfig& c, torch::Device d) -> std::unique_ptr<GenerativeModel> {
      return std::make_unique<DdpmModel>(c, d);
    });
  });
}

}  // namespace

std::int64_t Batch::size() const {
  for (const auto* t : {&image, &labels, &source, &class_id, &position}) {
    if (t->defined()) return t->size(0);
  }
  return 0;
}

void register_family(const std::string& name, ModelFactory factory) { registry()[name] = std::move(factory); }

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
  return it->second(config, device);
}

}  // namespace medsynth::modules
