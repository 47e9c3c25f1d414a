#include "medsynth/modules/model_config.h"

#include <map>
#include <sstream>

#include "medsynth/error.h"

namespace medsynth::modules {

std::string to_text(const ModelConfig& c) {
  std::ostringstream os;
  os.precision(17);
  std::string ch;
  for (int v : c.channels) ch += (ch.empty() ? "" : ",") + std::to_string(v);
  os << "family = " << c.family << "\n"
     << "image_size = " << c.image_size << "\n"
     << "image_channels = " << c.image_channels << "\n"
     << "channels = " << ch << "\n"
     << "res_blocks = " << c.res_blocks << "\n"
     << "attention_levels = " << c.attention_levels << "\n"
     << "groups = " << c.groups << "\n"
     << "dropout = " << c.dropout << "\n"
     << "label_classes = " << c.label_classes << "\n"
     << "label_mode = " << c.label_mode << "\n"
     << "source_image = " << (c.source_image ? 1 : 0) << "\n"
     << "num_classes = " << c.num_classes << "\n"
     << "slice_position = " << (c.slice_position ? 1 : 0) << "\n"
     << "condition_dropout = " << c.condition_dropout << "\n"
     << "context = " << c.context << "\n"
     << "coordinates = " << (c.coordinates ? 1 : 0) << "\n"
     << "acquisition = " << c.acquisition << "\n"
     << "acquisition_encoding = " << c.acquisition_encoding << "\n"
     << "acquisition_width = " << c.acquisition_width << "\n"
     << "stem = " << c.stem << "\n"
     << "parametrization = " << c.parametrization << "\n"
     << "predict = " << c.predict << "\n"
     << "time_sampling = " << c.time_sampling << "\n"
     << "precision = " << c.precision << "\n"
     << "schedule = " << c.schedule << "\n"
     << "timesteps = " << c.timesteps << "\n"
     << "latent_channels = " << c.latent_channels << "\n"
     << "kl_weight = " << c.kl_weight << "\n"
     << "kl_warmup = " << c.kl_warmup << "\n"
     << "adv_weight = " << c.adv_weight << "\n"
     << "perceptual_weight = " << c.perceptual_weight << "\n"
     << "generator = " << c.generator << "\n"
     << "gan_loss = " << c.gan_loss << "\n"
     << "l1_weight = " << c.l1_weight << "\n"
     << "feature_matching = " << c.feature_matching << "\n"
     << "disc_scales = " << c.disc_scales << "\n"
     << "disc_channels = " << c.disc_channels << "\n"
     << "disc_layers = " << c.disc_layers << "\n"
     << "autoencoder = " << c.autoencoder << "\n";
  return os.str();
}

ModelConfig model_config_from_text(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 3);
  }
  auto get = [&](const std::string& k) {
    auto it = kv.find(k);
    if (it == kv.end()) throw Error("checkpoint model config lacks '" + k + "'", ExitCode::kBadInput);
    return it->second;
  };
  ModelConfig c;
  try {
    c.family = get("family");
    c.image_size = std::stoi(get("image_size"));
    c.image_channels = std::stoi(get("image_channels"));
    c.channels.clear();
    std::istringstream ch(get("channels"));
    std::string tok;
    while (std::getline(ch, tok, ',')) c.channels.push_back(std::stoi(tok));
    c.res_blocks = std::stoi(get("res_blocks"));
    c.attention_levels = std::stoi(get("attention_levels"));
    c.groups = std::stoi(get("groups"));
    c.dropout = std::stod(get("dropout"));
    c.label_classes = std::stoi(get("label_classes"));
    c.label_mode = get("label_mode");
    c.source_image = get("source_image") == "1";
    c.num_classes = std::stoi(get("num_classes"));
    c.slice_position = get("slice_position") == "1";
    c.condition_dropout = std::stod(get("condition_dropout"));
    c.parametrization = get("parametrization");
    c.schedule = get("schedule");
    c.timesteps = std::stoi(get("timesteps"));
    // Keys added with the vae/gan/ldm families: optional, so earlier checkpoints still load.
    auto opt = [&](const std::string& k) -> const std::string* {
      auto it = kv.find(k);
      return it == kv.end() ? nullptr : &it->second;
    };
    if (auto* v = opt("latent_channels")) c.latent_channels = std::stoi(*v);
    if (auto* v = opt("kl_weight")) c.kl_weight = std::stod(*v);
    if (auto* v = opt("kl_warmup")) c.kl_warmup = std::stoi(*v);
    if (auto* v = opt("adv_weight")) c.adv_weight = std::stod(*v);
    if (auto* v = opt("perceptual_weight")) c.perceptual_weight = std::stod(*v);
    if (auto* v = opt("generator")) c.generator = *v;
    if (auto* v = opt("gan_loss")) c.gan_loss = *v;
    if (auto* v = opt("l1_weight")) c.l1_weight = std::stod(*v);
    if (auto* v = opt("feature_matching")) c.feature_matching = std::stod(*v);
    if (auto* v = opt("disc_scales")) c.disc_scales = std::stoi(*v);
    if (auto* v = opt("disc_channels")) c.disc_channels = std::stoi(*v);
    if (auto* v = opt("disc_layers")) c.disc_layers = std::stoi(*v);
    if (auto* v = opt("autoencoder")) c.autoencoder = *v;
    // Keys added with native-resolution training: optional too.
    if (auto* v = opt("context")) c.context = std::stoi(*v);
    if (auto* v = opt("coordinates")) c.coordinates = *v == "1";
    if (auto* v = opt("stem")) c.stem = std::stoi(*v);
    if (auto* v = opt("predict")) c.predict = *v;
    if (auto* v = opt("time_sampling")) c.time_sampling = *v;
    if (auto* v = opt("precision")) c.precision = *v;
    // Keys added with acquisition conditioning.
    if (auto* v = opt("acquisition")) c.acquisition = *v;
    if (auto* v = opt("acquisition_encoding")) c.acquisition_encoding = *v;
    if (auto* v = opt("acquisition_width")) c.acquisition_width = std::stoi(*v);
  } catch (const std::invalid_argument&) {
    throw Error("checkpoint model config holds a malformed number", ExitCode::kBadInput);
  } catch (const std::out_of_range&) {
    throw Error("checkpoint model config holds a number out of range", ExitCode::kBadInput);
  }
  return c;
}

}  // namespace medsynth::modules
