// LdmModel is given its vae (no global loader): without one it refuses to train, naming what it
// needs; another family or a vae of another grid is refused; with one it trains in latent space.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>

#include "medsynth/error.h"
#include "medsynth/modules/ldm/ldm_model.h"
#include "tiny_model.h"

namespace md = medsynth::modules;

namespace {

md::ModelConfig tiny(const std::string& family, int size) { return medsynth::test::tiny_model(family, size); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const medsynth::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Ldm, IsGivenItsVaeAndRefusesAnotherFamilyOrGrid) {
  md::LdmModel ldm(tiny("ldm", 16), torch::kCPU);
  EXPECT_NE(error_of([&] { ldm.configure_training(md::OptimConfig{}); }).find("needs its vae"), std::string::npos);
  EXPECT_NE(error_of([&] { ldm.set_autoencoder(md::create_model(tiny("ddpm", 16), torch::kCPU)); }).find("ldm needs a vae"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ldm.set_autoencoder(md::create_model(tiny("vae", 32), torch::kCPU)); }).find("slices"),
            std::string::npos);
  ldm.set_autoencoder(md::create_model(tiny("vae", 16), torch::kCPU));
  ldm.configure_training(md::OptimConfig{});
  md::Batch b;
  b.image = torch::rand({2, 1, 16, 16}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 3, {2, 16, 16}, torch::kLong), 3).permute({0, 3, 1, 2}).to(torch::kFloat);
  EXPECT_TRUE(std::isfinite(ldm.train_step(b, 1).loss));
}
