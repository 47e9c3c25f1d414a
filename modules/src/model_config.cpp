#include "medsynth/modules/model_config.h"

#include <map>
#include <sstream>

#include "medsynth/error.h"

namespace medsynth::modules {

namespace {

// Every field of ModelConfig once, in the order of the checkpoint text: its key, and whether a
// checkpoint may lack it (keys added after the first release: earlier checkpoints still load).
template <typename Config, typename Visit>
void visit_fields(Config& c, Visit&& v) {
  v("family", c.family, true);
  v("image_size", c.image_size, true);
  v("image_channels", c.image_channels, true);
  v("channels", c.channels, true);
  v("res_blocks", c.res_blocks, true);
  v("attention_levels", c.attention_levels, true);
  v("groups", c.groups, true);
  v("dropout", c.dropout, true);
  v("label_classes", c.label_classes, true);
  v("label_mode", c.label_mode, true);
  v("source_image", c.source_image, true);
  v("num_classes", c.num_classes, true);
  v("slice_position", c.slice_position, true);
  v("condition_dropout", c.condition_dropout, true);
  v("context", c.context, false);
  v("coordinates", c.coordinates, false);
  v("acquisition", c.acquisition, false);
  v("acquisition_encoding", c.acquisition_encoding, false);
  v("acquisition_width", c.acquisition_width, false);
  v("stem", c.stem, false);
  v("parametrization", c.parametrization, true);
  v("predict", c.predict, false);
  v("time_sampling", c.time_sampling, false);
  v("precision", c.precision, false);
  v("schedule", c.schedule, true);
  v("timesteps", c.timesteps, true);
  v("latent_channels", c.latent_channels, false);
  v("kl_weight", c.kl_weight, false);
  v("kl_warmup", c.kl_warmup, false);
  v("adv_weight", c.adv_weight, false);
  v("perceptual_weight", c.perceptual_weight, false);
  v("generator", c.generator, false);
  v("gan_loss", c.gan_loss, false);
  v("l1_weight", c.l1_weight, false);
  v("feature_matching", c.feature_matching, false);
  v("disc_scales", c.disc_scales, false);
  v("disc_channels", c.disc_channels, false);
  v("disc_layers", c.disc_layers, false);
  v("autoencoder", c.autoencoder, false);
}

void write_value(std::ostream& os, const std::string& v) { os << v; }
void write_value(std::ostream& os, int v) { os << v; }
void write_value(std::ostream& os, double v) { os << v; }
void write_value(std::ostream& os, bool v) { os << (v ? 1 : 0); }
void write_value(std::ostream& os, const std::vector<int>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
}

void read_value(const std::string& text, std::string* v) { *v = text; }
void read_value(const std::string& text, int* v) { *v = std::stoi(text); }
void read_value(const std::string& text, double* v) { *v = std::stod(text); }
void read_value(const std::string& text, bool* v) { *v = text == "1"; }
void read_value(const std::string& text, std::vector<int>* v) {
  v->clear();
  std::istringstream in(text);
  std::string tok;
  while (std::getline(in, tok, ',')) v->push_back(std::stoi(tok));
}

}  // namespace

std::string to_text(const ModelConfig& c) {
  std::ostringstream os;
  os.precision(17);
  visit_fields(c, [&](const char* key, const auto& value, bool) {
    os << key << " = ";
    write_value(os, value);
    os << "\n";
  });
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
  ModelConfig c;
  try {
    visit_fields(c, [&](const char* key, auto& value, bool required) {
      const auto it = kv.find(key);
      if (it != kv.end()) {
        read_value(it->second, &value);
      } else if (required) {
        throw Error(std::string("checkpoint model config lacks '") + key + "'", ExitCode::kBadInput);
      }
    });
  } catch (const std::invalid_argument&) {
    throw Error("checkpoint model config holds a malformed number", ExitCode::kBadInput);
  } catch (const std::out_of_range&) {
    throw Error("checkpoint model config holds a number out of range", ExitCode::kBadInput);
  }
  return c;
}

}  // namespace medsynth::modules
