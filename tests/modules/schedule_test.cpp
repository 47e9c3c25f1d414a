// The diffusion schedule alone (LibTorch only, no data): what the network outputs (target, image,
// edm) turns into each parametrization's target exactly, logit-normal training times, and the
// checkpoint text of the keys. Built by the modules-only build too.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "medsynth/error.h"
#include "medsynth/modules/diffusion/schedule.h"
#include "medsynth/modules/model_config.h"
#include "medsynth/modules/train_util.h"

namespace md = medsynth::modules;

TEST(Schedule, ImagePredictionTurnsIntoEachTargetExactlyAndLogitNormalTimesSitMidway) {
  namespace df = md::diffusion;
  auto gen = md::make_generator(3);
  const auto x0 = torch::rand({4, 1, 8, 8}, gen) * 2 - 1, eps = torch::randn({4, 1, 8, 8}, gen);
  for (const char* p : {"eps", "v", "flow"}) {
    const df::Schedule target(p, "cosine", 1000), image(p, "cosine", 1000, "image"), edm(p, "cosine", 1000, "edm");
    for (const df::Level& l : image.levels(5)) {
      if (l.s == 0) continue;  // the clean end: no network call there
      const auto x = l.a * x0 + l.s * eps;
      // edm: the network output F that makes c_skip x / a + c_out F the image (numpy-free: the
      // formula inverted by hand, D = s^2 + 0.25 a^2) gives the same target.
      const double d = l.s * l.s + 0.25 * l.a * l.a;
      const auto f = (x0 - (0.25 * l.a / d) * x) / (l.s * 0.5 / std::sqrt(d));
      EXPECT_LT((edm.output(x, f, l) - image.output(x, x0, l)).abs().max().item<double>(), 2e-3) << p << " edm";
      // The predicted image, as the target: what the target model would have had to output...
      const auto out = image.output(x, x0, l);
      EXPECT_LT((out - target.target(x0, eps, torch::tensor(l.a), torch::tensor(l.s))).abs().max().item<double>(), 1e-4)
          << p << " at s = " << l.s;
      // ... and the sampler's split gives the image (and the noise) back.
      const auto [x0_back, eps_back] = image.split(x, out, l);
      // (eps: x0 = (x - s out) / a, float error grows as a -> 0 at the noisiest level)
      EXPECT_LT((x0_back - x0).abs().max().item<double>(), 1e-4 * (1 + 1 / l.a)) << p;
      EXPECT_LT((eps_back - eps).abs().max().item<double>(), 2e-4) << p;
      EXPECT_TRUE(torch::equal(target.output(x, x0, l), x0)) << "predict = target passes the output through";
    }
  }
  // Logit-normal training times: the middle half of [0, 1] gets ~73% of them (uniform: 50%).
  const df::Schedule ln("flow", "cosine", 1000, "image", "logit_normal"), un("flow", "cosine", 1000);
  auto g1 = md::make_generator(9), g2 = md::make_generator(9);
  const auto t_ln = ln.draw(g1, 20000).s, t_un = un.draw(g2, 20000).s;
  auto middle = [](const torch::Tensor& t) { return ((t > 0.25) & (t < 0.75)).to(torch::kFloat).mean().item<double>(); };
  EXPECT_NEAR(middle(t_ln), 0.728, 0.02);
  EXPECT_NEAR(middle(t_un), 0.5, 0.02);
  EXPECT_THROW(df::Schedule("flow", "cosine", 1000, "x0"), medsynth::Error);
  // edm at pure noise (flow t = 1) is 0.5 F, at the clean end the input itself.
  const df::Schedule edm("flow", "cosine", 1000, "edm");
  const auto f = torch::randn({2, 1, 4, 4}, gen);
  EXPECT_LT((edm.output(eps.narrow(0, 0, 2).narrow(2, 0, 4).narrow(3, 0, 4), f, df::Level{0, 1, 999}) -
             (eps.narrow(0, 0, 2).narrow(2, 0, 4).narrow(3, 0, 4) - 0.5 * f))
                .abs()
                .max()
                .item<double>(),
            1e-5);
  EXPECT_THROW(df::Schedule("flow", "cosine", 1000, "image", "beta"), medsynth::Error);

  // The checkpoint text carries both; a checkpoint written before them reads as target/uniform.
  md::ModelConfig mc;
  mc.predict = "image";
  mc.time_sampling = "logit_normal";
  const auto back = md::model_config_from_text(md::to_text(mc));
  EXPECT_EQ(back.predict, "image");
  EXPECT_EQ(back.time_sampling, "logit_normal");
  std::string old = md::to_text(md::ModelConfig{});
  for (const char* key : {"predict = target\n", "time_sampling = uniform\n"}) old.erase(old.find(key), std::string(key).size());
  const auto before = md::model_config_from_text(old);
  EXPECT_EQ(before.predict, "target");
  EXPECT_EQ(before.time_sampling, "uniform");
}
