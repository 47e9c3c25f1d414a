// Training and sampling speed of medsynth's U-Net against the same U-Net in Python PyTorch
// (bench/unet_reference.py, same layers and sizes, same LibTorch version), in one run:
//   images/s of both and the ratio (goal >= 1.0) at 64x64 batch 16 and 128x128 batch 8;
//   achieved GFLOP/s against a 2048x2048 matrix-product peak measured here;
//   seconds per 64x64 slice for DDIM-50 and DDPM-1000; peak RSS of training at 128x128 batch 8.
// usage: bench_unet [--steps N] [--threads T] [--quick]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "medsynth/modules/device.h"
#include "medsynth/modules/diffusion/ddpm_model.h"

namespace md = medsynth::modules;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

md::ModelConfig unet_config(int size) {
  md::ModelConfig c;
  c.image_size = size;
  c.channels = {32, 64, 128};
  c.res_blocks = 2;
  c.attention_levels = 1;
  c.label_classes = 4;
  c.label_mode = "concat";
  return c;
}

md::Batch batch_of(int size, int batch) {
  md::Batch b;
  b.image = torch::rand({batch, 1, size, size}) * 2 - 1;
  b.labels = torch::one_hot(torch::randint(0, 4, {batch, size, size}, torch::kLong), 4).permute({0, 3, 1, 2}).to(torch::kFloat).contiguous();
  return b;
}

double cpp_seconds_per_step(int size, int batch, int steps, std::int64_t* params) {
  md::DdpmModel m(unet_config(size), torch::kCPU);
  m.configure_training(md::OptimConfig{});
  *params = m.parameter_count();
  const auto b = batch_of(size, batch);
  m.train_step(b, 0);  // warm-up
  const auto t0 = Clock::now();
  for (int s = 0; s < steps; ++s) m.train_step(b, static_cast<std::uint64_t>(s + 1));
  return since(t0) / steps;
}

struct PyResult {
  double seconds_per_step = 0, forward_flops = 0;
  long long parameters = 0;
};

// The value of "key": in the reference's one-line JSON (no JSON library, so that this bench builds
// with MEDSYNTH_MODULES_ONLY against a bare LibTorch).
double json_number(const std::string& text, const std::string& key) {
  const auto at = text.find("\"" + key + "\":");
  if (at == std::string::npos) {
    std::cerr << "bench_unet: the Python reference printed no " << key << "\n";
    std::exit(3);
  }
  return std::strtod(text.c_str() + at + key.size() + 3, nullptr);
}

PyResult python_reference(int size, int batch, int steps, int threads) {
  const std::string script = std::string(MEDSYNTH_SOURCE_DIR) + "/bench/unet_reference.py";
  const std::string cmd = "/usr/bin/python3 " + script + " " + std::to_string(size) + " " + std::to_string(batch) + " " +
                          std::to_string(steps) + " " + std::to_string(threads);
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  if (!p || ::pclose(p) != 0) {
    std::cerr << "bench_unet: the Python reference failed (install python3-torch)\n";
    std::exit(3);
  }
  PyResult r;
  r.seconds_per_step = json_number(out, "seconds_per_step");
  r.forward_flops = json_number(out, "forward_flops");
  r.parameters = static_cast<long long>(json_number(out, "parameters"));
  return r;
}

double matmul_gflops() {
  auto a = torch::rand({2048, 2048}), b = torch::rand({2048, 2048});
  torch::mm(a, b);
  const int reps = 5;
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) torch::mm(a, b);
  return 2.0 * 2048.0 * 2048.0 * 2048.0 * reps / since(t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 10, threads = 2;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--quick") quick = true;
  }
  md::configure_threads(threads);
  std::printf("LibTorch threads: %d; %d timed steps per measurement\n", threads, steps);
  const double peak = matmul_gflops();
  std::printf("matrix product 2048x2048: %.1f GFLOP/s (the peak for ratios below)\n", peak);

  struct Case { int size, batch; };
  // 128x128 first, so the peak RSS read after it is that of this training.
  for (const Case c : {Case{128, 8}, Case{64, 16}}) {
    std::int64_t params = 0;
    const double cpp = cpp_seconds_per_step(c.size, c.batch, steps, &params);
    if (c.size == 128) {
      rusage ru{};
      ::getrusage(RUSAGE_SELF, &ru);
      std::printf("peak RSS after training at 128x128 batch 8: %.2f GiB (goal < 4)\n", ru.ru_maxrss / 1048576.0);
    }
    const auto py = python_reference(c.size, c.batch, steps, threads);
    const double py_s = py.seconds_per_step;
    const double flops = 3.0 * py.forward_flops;  // forward + backward ~ 3x forward
    std::printf("%dx%d batch %d, %lld parameters (Python: %lld)\n", c.size, c.size, c.batch,
                static_cast<long long>(params), py.parameters);
    std::printf("  medsynth: %.3f s/step, %.1f images/s, %.1f GFLOP/s (%.0f%% of the matmul peak)\n", cpp,
                c.batch / cpp, flops / cpp / 1e9, 100.0 * flops / cpp / 1e9 / peak);
    std::printf("  PyTorch:  %.3f s/step, %.1f images/s, %.1f GFLOP/s\n", py_s, c.batch / py_s, flops / py_s / 1e9);
    std::printf("  ratio medsynth/PyTorch images/s: %.2f (goal >= 1.0)\n", py_s / cpp);
  }

  // Sampling: seconds per 64x64 slice, batch 16.
  md::DdpmModel m(unet_config(64), torch::kCPU);
  md::Condition cond;
  cond.labels = batch_of(64, 16).labels;
  md::SampleOptions o;
  for (int i = 0; i < 16; ++i) o.seeds.push_back(static_cast<std::uint64_t>(i));
  o.steps = quick ? 10 : 50;
  auto t0 = Clock::now();
  m.sample(cond, o);
  const double ddim = since(t0) / 16;
  std::printf("DDIM-%d: %.3f s per 64x64 slice (batch 16)\n", o.steps, ddim);
  // DDPM-1000 costs 1000 network evaluations: measured on 100 DDIM-style steps with eta 1 and
  // scaled by 10 (the per-step cost is the same).
  o.steps = 100;
  o.eta = 1.0;
  t0 = Clock::now();
  m.sample(cond, o);
  const double ddpm = since(t0) / 16 * 10;
  std::printf("DDPM-1000 (from 100 steps x 10): %.2f s per 64x64 slice; DDIM-50 is %.0fx faster\n", ddpm,
              ddpm / (ddim * 50.0 / (quick ? 10 : 50)));
  return 0;
}
