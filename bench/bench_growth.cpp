// One point of the cost-growth bench (bench/bench_growth.py drives it across grids, batches and
// process counts): the demo's network as shipped (U-Net 32/64/128, one ResBlock a level, stem 2,
// tissue map with +-1 slice of context, coordinates, image prediction, bfloat16 autocast) on
// random inputs of W x H, batch B. Prints one CSV row:
//   mode,width,height,batch,threads,seconds,images_per_second,peak_rss_mib,gflop_per_image
// seconds: per training step (mode train) or per network evaluation of the batch (mode sample).
// usage: bench_growth --mode train|sample --width W --height H --batch B [--steps N] [--threads T] [--fp32]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "medsynth/cost.h"
#include "medsynth/modules/device.h"
#include "medsynth/modules/diffusion/ddpm_model.h"
#include "medsynth/modules/mac_counter.h"

namespace md = medsynth::modules;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string mode = "train";
  int w = 64, h = 64, batch = 8, steps = 2, threads = 0;
  bool fp32 = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--mode") mode = next();
    else if (a == "--width") w = std::atoi(next().c_str());
    else if (a == "--height") h = std::atoi(next().c_str());
    else if (a == "--batch") batch = std::atoi(next().c_str());
    else if (a == "--steps") steps = std::atoi(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--fp32") fp32 = true;
    else {
      std::fprintf(stderr, "bench_growth: unknown argument %s\n", a.c_str());
      return 1;
    }
  }
  if ((mode != "train" && mode != "sample") || w < 8 || h < 8 || batch < 1 || steps < 1) {
    std::fprintf(stderr, "bench_growth: --mode train|sample, --width/--height >= 8, --batch and --steps >= 1\n");
    return 1;
  }
  md::configure_threads(threads);
  md::ModelConfig c;
  c.image_size = (std::max(w, h) + 7) / 8 * 8;  // the U-Net pads a slice of any size (181x217) to a multiple of 8
  c.channels = {32, 64, 128};
  c.res_blocks = 1;
  c.attention_levels = 0;
  c.label_classes = 4;
  c.label_mode = "concat";
  c.parametrization = "flow";
  c.predict = "image";
  c.context = 1;
  c.coordinates = true;
  c.stem = 2;
  c.precision = fp32 ? "fp32" : "bf16";
  md::DdpmModel m(c, torch::kCPU);
  md::Batch b;
  const int k = md::context_slices(c);
  b.image = torch::rand({batch, 1, h, w}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 4, {batch, k, h, w}, torch::kLong), 4)
                 .permute({0, 1, 4, 2, 3}).reshape({batch, 4 * k, h, w}).to(torch::kFloat).contiguous();
  b.coords = torch::rand({batch, 2, h, w});
  double seconds = 0, macs = 0;
  if (mode == "train") {
    m.configure_training({});
    m.train_step(b, 0);  // warm-up
    const md::MacCounter counter;
    const auto t0 = Clock::now();
    for (int s = 0; s < steps; ++s) m.train_step(b, static_cast<std::uint64_t>(s + 1));
    seconds = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
    macs = counter.macs() / steps;
  } else {
    b.image = torch::Tensor();
    md::SampleOptions o;
    o.sampler = "euler";
    o.steps = 1;  // one network evaluation per slice
    for (int i = 0; i < batch; ++i) o.seeds.push_back(static_cast<std::uint64_t>(i));
    m.sample(b, o);  // warm-up
    const md::MacCounter counter;
    const auto t0 = Clock::now();
    for (int s = 0; s < steps; ++s) m.sample(b, o);
    seconds = std::chrono::duration<double>(Clock::now() - t0).count() / steps;
    macs = counter.macs() / steps;
  }
  std::printf("%s,%d,%d,%d,%d,%.5f,%.3f,%.1f,%.4f\n", mode.c_str(), w, h, batch, threads, seconds, batch / seconds,
              medsynth::cost::peak_rss_bytes() / (1024.0 * 1024.0), 2.0 * macs / 1e9 / batch);
  return 0;
}
