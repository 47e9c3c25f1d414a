// The checkpoint text of ModelConfig: every field written and read back from one field table;
// keys added after the first release may be missing (earlier checkpoints), the first ones may not.
#include <gtest/gtest.h>

#include <string>

#include "medsynth/error.h"
#include "medsynth/modules/model_config.h"

namespace md = medsynth::modules;

TEST(ModelConfigText, EveryFieldRoundTripsAndOldCheckpointsLackingNewKeysLoad) {
  md::ModelConfig c;
  c.family = "vae";
  c.image_size = 96;
  c.image_channels = 2;
  c.channels = {16, 48, 80};
  c.res_blocks = 3;
  c.stem = 2;
  c.attention_levels = 2;
  c.groups = 4;
  c.dropout = 0.1;
  c.precision = "bf16";
  c.label_classes = 5;
  c.label_mode = "spade";
  c.source_image = true;
  c.num_classes = 3;
  c.slice_position = true;
  c.condition_dropout = 0.25;
  c.context = 2;
  c.coordinates = true;
  c.acquisition = "tr,te";
  c.acquisition_encoding = "tr:1:2;te:3:4";
  c.acquisition_width = 4;
  c.parametrization = "flow";
  c.predict = "image";
  c.time_sampling = "logit_normal";
  c.schedule = "linear";
  c.timesteps = 500;
  c.latent_channels = 8;
  c.kl_weight = 3e-5;
  c.kl_warmup = 17;
  c.adv_weight = 0.5;
  c.perceptual_weight = 0.75;
  c.generator = "spade";
  c.gan_loss = "hinge";
  c.l1_weight = 12.5;
  c.feature_matching = 2.5;
  c.disc_scales = 3;
  c.disc_channels = 32;
  c.disc_layers = 4;
  c.autoencoder = "runs/vae/checkpoints/ckpt-00000100.pt";
  const std::string text = md::to_text(c);
  const md::ModelConfig r = md::model_config_from_text(text);
  EXPECT_EQ(md::to_text(r), text);
  // Field by field, against the values set above (not only the text against itself).
  EXPECT_EQ(r.family, "vae");
  EXPECT_EQ(r.channels, (std::vector<int>{16, 48, 80}));
  EXPECT_DOUBLE_EQ(r.dropout, 0.1);
  EXPECT_DOUBLE_EQ(r.kl_weight, 3e-5);
  EXPECT_TRUE(r.source_image && r.slice_position && r.coordinates);
  EXPECT_EQ(r.acquisition_encoding, "tr:1:2;te:3:4");
  EXPECT_EQ(r.disc_layers, 4);
  EXPECT_EQ(r.autoencoder, c.autoencoder);
  const md::ModelConfig defaults;
  EXPECT_NE(md::to_text(defaults), text) << "a field did not reach the text";

  // A checkpoint of the first release: none of the later keys; they take their defaults.
  std::string old;
  for (const char* k : {"family = ddpm", "image_size = 64", "image_channels = 1", "channels = 32,64", "res_blocks = 2",
                        "attention_levels = 1", "groups = 8", "dropout = 0", "label_classes = 4",
                        "label_mode = concat", "source_image = 0", "num_classes = 0", "slice_position = 1",
                        "condition_dropout = 0.1", "parametrization = v", "schedule = cosine", "timesteps = 1000"}) {
    old += std::string(k) + "\n";
  }
  const md::ModelConfig o = md::model_config_from_text(old);
  EXPECT_EQ(o.label_classes, 4);
  EXPECT_EQ(o.channels, (std::vector<int>{32, 64}));
  EXPECT_EQ(o.predict, defaults.predict);
  EXPECT_EQ(o.stem, defaults.stem);
  try {
    md::model_config_from_text(old.substr(old.find('\n') + 1));  // without the family
    FAIL() << "a model config without its family was read";
  } catch (const medsynth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lacks 'family'"), std::string::npos) << e.what();
  }
  try {
    md::model_config_from_text(old + "timesteps = many\n");
    FAIL() << "a malformed number was read";
  } catch (const medsynth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed number"), std::string::npos) << e.what();
  }
}
