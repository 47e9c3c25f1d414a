#pragma once
// The smallest ModelConfig every family builds from, for tests of model mechanics (not of
// learning): widths 8 and 16, one ResBlock a level, no attention, 3 label classes, 2 latent
// channels, a 2-layer PatchGAN of 8 channels (16-pixel slices still leave it a patch).
#include <string>

#include "medsynth/modules/model_config.h"

namespace medsynth::test {

inline modules::ModelConfig tiny_model(const std::string& family, int image_size = 16) {
  modules::ModelConfig c;
  c.family = family;
  c.image_size = image_size;
  c.channels = {8, 16};
  c.res_blocks = 1;
  c.attention_levels = 0;
  c.groups = 4;
  c.label_classes = 3;
  c.latent_channels = 2;
  c.disc_layers = 2;
  c.disc_channels = 8;
  return c;
}

}  // namespace medsynth::test
