// A family's capabilities are declared once, at registration: a model answers can() from them and
// the pipeline asks family_can() by name; no family overrides them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "medsynth/error.h"
#include "medsynth/modules/generative_model.h"
#include "tiny_model.h"

namespace md = medsynth::modules;

namespace {

md::ModelConfig tiny(const std::string& family) { return medsynth::test::tiny_model(family); }

}  // namespace

TEST(Capability, ModelsAnswerFromTheirFamilysDeclaration) {
  const md::Capability all[] = {md::Capability::kInpaint,      md::Capability::kInterpolate,
                                md::Capability::kGuidance,     md::Capability::kCropToTissue,
                                md::Capability::kOnAutoencoder, md::Capability::kUnconditional};
  ASSERT_EQ(md::registered_families(), (std::vector<std::string>{"ddpm", "gan", "ldm", "vae"}));
  for (const auto& family : md::registered_families()) {
    const auto model = md::create_model(tiny(family), torch::kCPU);
    for (const auto c : all) EXPECT_EQ(model->can(c), md::family_can(family, c)) << family << " " << md::to_string(c);
  }
  // What the pipeline relied on when it compared family names.
  EXPECT_EQ(md::families_with(md::Capability::kInpaint), (std::vector<std::string>{"ddpm", "ldm"}));
  EXPECT_EQ(md::families_with(md::Capability::kInterpolate), (std::vector<std::string>{"ddpm", "ldm", "vae"}));
  EXPECT_EQ(md::families_with(md::Capability::kGuidance), (std::vector<std::string>{"ddpm", "ldm"}));
  EXPECT_EQ(md::families_with(md::Capability::kCropToTissue), (std::vector<std::string>{"ddpm"}));
  EXPECT_EQ(md::families_with(md::Capability::kOnAutoencoder), (std::vector<std::string>{"ldm"}));
  EXPECT_EQ(md::families_with(md::Capability::kUnconditional), (std::vector<std::string>{"ddpm"}));
  EXPECT_FALSE(md::family_can("diffusion", md::Capability::kInpaint));
}

TEST(Capability, AFamilyWithoutAnAutoencoderRefusesOneNamingThoseThatTakeOne) {
  const auto ddpm = md::create_model(tiny("ddpm"), torch::kCPU);
  try {
    ddpm->set_autoencoder(md::create_model(tiny("vae"), torch::kCPU));
    FAIL() << "a ddpm took an autoencoder";
  } catch (const medsynth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("families that can: ldm"), std::string::npos) << e.what();
  }
}
