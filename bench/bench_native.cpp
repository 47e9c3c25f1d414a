// What native-resolution synthesis costs with the demo's network (U-Net 32/64/128, one ResBlock a
// level, tissue map with +-1 slice of context, coordinate channels, flow prediction), in one run:
//   a training step on 64x64 patches (batch 16) against one on whole 64x64 slices of the old demo;
//   seconds per network evaluation of a whole 217x181 Colin27 slice (batch 16);
//   seconds for a 181-slice volume with Euler steps 4, 8 and 16, as ratios to the old demo's
//   DDIM-50 at 64x64.
// usage: bench_native [--threads T] [--quick]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "medsynth/modules/device.h"
#include "medsynth/modules/diffusion/ddpm_model.h"

namespace md = medsynth::modules;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

md::ModelConfig demo_config(bool native) {
  md::ModelConfig c;
  c.image_size = 64;
  c.channels = {32, 64, 128};
  c.res_blocks = 1;
  c.attention_levels = 0;
  c.label_classes = 4;
  c.label_mode = "concat";
  c.parametrization = native ? "flow" : "v";
  c.context = native ? 1 : 0;
  c.coordinates = native;
  return c;
}

md::Batch batch_of(const md::ModelConfig& c, int batch, int h, int w) {
  md::Batch b;
  const int k = md::context_slices(c);
  b.image = torch::rand({batch, 1, h, w}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 4, {batch, k, h, w}, torch::kLong), 4)
                 .permute({0, 1, 4, 2, 3}).reshape({batch, 4 * k, h, w}).to(torch::kFloat).contiguous();
  if (c.coordinates) b.coords = torch::rand({batch, 2, h, w});
  return b;
}

double train_step_seconds(const md::ModelConfig& c, int reps, int patch = 64) {
  md::DdpmModel m(c, torch::kCPU);
  m.configure_training({});
  const auto b = batch_of(c, 16, patch, patch);
  m.train_step(b, 0);  // warm-up
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) m.train_step(b, static_cast<std::uint64_t>(i + 1));
  return since(t0) / reps;
}

// Seconds per slice of one sampler call of `steps` steps on a batch of h x w.
double sample_seconds_per_slice(const md::ModelConfig& c, const std::string& sampler, int steps, int h, int w,
                                int batch = 16) {
  md::DdpmModel m(c, torch::kCPU);
  md::Batch b = batch_of(c, batch, h, w);
  b.image = torch::Tensor();
  md::SampleOptions o;
  o.sampler = sampler;
  o.steps = steps;
  for (int i = 0; i < batch; ++i) o.seeds.push_back(static_cast<std::uint64_t>(i));
  m.sample(b, o);  // warm-up
  const auto t0 = Clock::now();
  m.sample(b, o);
  return since(t0) / batch;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--quick")) quick = true;
  }
  md::configure_threads(threads);
  const int reps = quick ? 2 : 5;
  const double old_step = train_step_seconds(demo_config(false), reps);
  const double new_step = train_step_seconds(demo_config(true), reps);
  std::printf("training step, batch 16: old demo 64x64 slices %.3f s; native demo 64x64 patches %.3f s (ratio %.2f)\n",
              old_step, new_step, new_step / old_step);
  const double old_slice = sample_seconds_per_slice(demo_config(false), "ddim", quick ? 5 : 50, 64, 64) * (quick ? 10 : 1);
  const double eval_native = sample_seconds_per_slice(demo_config(true), "euler", 1, 217, 181);
  const double eval_64 = sample_seconds_per_slice(demo_config(true), "euler", 1, 64, 64);
  std::printf("one network evaluation per slice: 64x64 %.4f s, 217x181 %.4f s (ratio %.2f; pixels ratio %.2f)\n", eval_64,
              eval_native, eval_native / eval_64, 217.0 * 181 / 4096);
  auto stem2 = demo_config(true);
  stem2.stem = 2;
  const double eval_stem = sample_seconds_per_slice(stem2, "euler", 1, 217, 181, 4);
  std::printf("  217x181 with model.stem = 2, batch 4: %.4f s a slice\n", eval_stem);
  for (int batch : {1, 2, 4, 8}) {
    std::printf("  217x181 at batch %d: %.4f s a slice\n", batch, sample_seconds_per_slice(demo_config(true), "euler", 1, 217, 181, batch));
  }
  std::printf("181-slice volume: old demo (64x64, DDIM-50) %.1f s\n", 181 * old_slice);
  for (int steps : {4, 8, 16}) {
    const double s = 181 * eval_native * steps;
    std::printf("181-slice volume at 1 mm, euler %2d steps: %.1f s (ratio to old %.2f)\n", steps, s, s / (181 * old_slice));
  }
  // The demo as shipped (stem 2, image prediction, 128x128 patches) in float32 and in bfloat16
  // autocast (model.precision), same process.
  auto demo = stem2;
  demo.image_size = 128;
  demo.predict = "image";
  auto demo_bf16 = demo;
  demo_bf16.precision = "bf16";
  const double t32 = train_step_seconds(demo, reps, 128), t16 = train_step_seconds(demo_bf16, reps, 128);
  std::printf("the demo's training step (128x128 patches, batch 16): fp32 %.3f s, bf16 %.3f s (bf16/fp32 %.2f)\n", t32,
              t16, t16 / t32);
  const double e32 = sample_seconds_per_slice(demo, "euler", 1, 217, 181, 8);
  const double e16 = sample_seconds_per_slice(demo_bf16, "euler", 1, 217, 181, 8);
  std::printf("the demo's evaluation of a 217x181 slice (batch 8): fp32 %.4f s, bf16 %.4f s (bf16/fp32 %.2f)\n", e32, e16,
              e16 / e32);
  return 0;
}
