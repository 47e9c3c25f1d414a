// Speed of the validation metrics as ratios against scikit-image/numpy doing the same work:
//  1. every paired metric (MAE, MSE, PSNR, SSIM, MS-SSIM per slice and per volume) on Colin27
//     (181x217x181) against a perturbed copy; target < 5 s on 2 cores;
//  2. the memorisation check's best-correlation search over N x N slices of 181x217.
// usage: bench_metrics [--repeat R] [--slices N]   (defaults 3 and 2000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "medsynth/io/volume_io.h"
#include "medsynth/validation/image_metrics.h"
#include "medsynth/validation/memorisation_check.h"
#include "medsynth/validation/slice.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
namespace v = medsynth::validation;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The perturbation the tests use: contrast/offset change, noise, every other row shifted.
medsynth::io::Volume perturbed(const medsynth::io::Volume& in) {
  medsynth::io::Volume p = in;
  p.stored_type = medsynth::io::PixelType::kFloat32;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 6.0f);
  const auto& s = in.geometry.size;
  for (std::size_t k = 0; k < s[2]; ++k)
    for (std::size_t j = 0; j < s[1]; ++j)
      for (std::size_t i = 0; i < s[0]; ++i)
        p.at(i, j, k) = 0.9f * in.at((j % 2 && i + 1 < s[0]) ? i + 1 : i, j, k) + 8.0f + noise(rng);
  return p;
}

std::string run_python(const std::string& script) {
  const std::string file = (fs::temp_directory_path() / "medsynth-bench-metrics.py").string();
  std::ofstream(file) << script;
  std::string out;
  FILE* p = popen(("/usr/bin/python3 " + file).c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  if (pclose(p) != 0) std::cerr << "python reference failed (python3-skimage, python3-nibabel):\n" << out;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  std::size_t n_slices = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--repeat") repeat = std::atoi(argv[i + 1]);
    else if (a == "--slices") n_slices = static_cast<std::size_t>(std::atol(argv[i + 1]));
  }
  const std::string ch2 = "/usr/share/mricron/templates/ch2.nii.gz";
  if (!fs::exists(ch2)) {
    std::cerr << "bench_metrics: needs " << ch2 << " (package mricron-data)\n";
    return 2;
  }
  const auto real = medsynth::io::read_volume(ch2);
  const auto synth = perturbed(real);
  const fs::path dir = fs::temp_directory_path() / "medsynth-bench-metrics";
  fs::create_directories(dir);
  medsynth::io::WriteOptions wo;
  wo.force = true;
  wo.has_pixel_type = true;
  wo.pixel_type = medsynth::io::PixelType::kFloat32;
  medsynth::io::write_volume(real, (dir / "real.nii").string(), wo);
  medsynth::io::write_volume(synth, (dir / "synth.nii").string(), wo);

  std::cout << "machine: " << std::thread::hardware_concurrency() << " hardware threads\n";
  // 1. Paired metrics.
  double best = 1e30;
  v::PairedResult r;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = Clock::now();
    r = v::paired_metrics(real, synth, v::PairedOptions{255, nullptr, 0});
    best = std::min(best, seconds_since(t0));
  }
  std::printf("paired metrics, 181x217x181, 181 slices (MAE MSE PSNR SSIM MS-SSIM): medsynth %.3f s (best of %d)\n", best, repeat);
  std::printf("  volume: SSIM %.6f MS-SSIM %.6f PSNR %.4f dB MAE %.4f\n", r.volume.ssim, r.volume.ms_ssim, r.volume.psnr, r.volume.mae);
  const std::string py = run_python(
      "import time, numpy as np, nibabel as nib\n"
      "from skimage.metrics import structural_similarity, peak_signal_noise_ratio\n"
      "from skimage.filters import gaussian\n"
      "a = np.asarray(nib.load('" + (dir / "real.nii").string() + "').dataobj, dtype=np.float64)\n"
      "b = np.asarray(nib.load('" + (dir / "synth.nii").string() + "').dataobj, dtype=np.float64)\n"
      "L = 255.0; W = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]\n"
      "f = lambda x: gaussian(x, sigma=1.5, truncate=3.5, mode='reflect', preserve_range=True)\n"
      "def down(x):\n"
      "    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2\n"
      "    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))\n"
      "def cs(x, y):\n"
      "    ux, uy = f(x), f(y); C2 = (0.03 * L) ** 2\n"
      "    m = (2 * (f(x * y) - ux * uy) + C2) / (f(x * x) - ux * ux + f(y * y) - uy * uy + C2)\n"
      "    return m[5:-5, 5:-5].mean()\n"
      "def ssim(x, y): return structural_similarity(x, y, data_range=L, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)\n"
      "def ms(x, y):\n"
      "    out = 1.0\n"
      "    for j in range(5):\n"
      "        if j: x, y = down(x), down(y)\n"
      "        out *= max(cs(x, y) if j < 4 else ssim(x, y), 0) ** W[j]\n"
      "    return out\n"
      "t0 = time.perf_counter()\n"
      "s = [ssim(a[:, :, k], b[:, :, k]) for k in range(a.shape[2])]\n"
      "m = [ms(a[:, :, k], b[:, :, k]) for k in range(a.shape[2])]\n"
      "d = b - a; mae = np.abs(d).mean(); mse = (d * d).mean(); p = peak_signal_noise_ratio(a, b, data_range=L)\n"
      "sl = [(np.abs(d[:, :, k]).mean(), (d[:, :, k] ** 2).mean()) for k in range(a.shape[2])]\n"
      "t = time.perf_counter() - t0\n"
      "print(t, np.mean(s), np.mean(m), p, mae)\n");
  double t_py = 0, py_ssim = 0, py_ms = 0;
  if (std::sscanf(py.c_str(), "%lf %lf %lf", &t_py, &py_ssim, &py_ms) == 3) {
    std::printf("  scikit-image + numpy, same work, one run: %.3f s; SSIM %.6f MS-SSIM %.6f\n", t_py, py_ssim, py_ms);
    std::printf("  ratio medsynth / skimage: %.3f (%.1fx faster)\n", best / t_py, t_py / best);
  }

  // 2. Memorisation check: N synthetic against N training slices (noisy copies of ch2 slices).
  std::vector<v::Slice> base;
  for (std::size_t k = 20; k < 160; ++k) base.push_back(v::slice_of(real, k));
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 3.0f);
  auto make_set = [&](std::size_t n) {
    std::vector<v::Slice> set;
    set.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      v::Slice s = base[i % base.size()];
      for (auto& x : s.pixels) x += noise(rng);
      set.push_back(std::move(s));
    }
    return set;
  };
  const auto train = make_set(n_slices), queries = make_set(n_slices);
  const auto t0 = Clock::now();
  const auto nearest = v::nearest_training_slices(queries, train, 0 /* correlation only */);
  const double t_mem = seconds_since(t0);
  std::printf("memorisation search, %zu x %zu slices of 181x217 (Pearson r, best match): medsynth %.3f s (%.2f GFLOP/s)\n",
              n_slices, n_slices, t_mem, 2.0 * n_slices * n_slices * 181 * 217 / t_mem / 1e9);
  (void)nearest;
  const std::string py2 = run_python(
      "import time, numpy as np\n"
      "rng = np.random.default_rng(0)\n"
      "n, p = " + std::to_string(n_slices) + ", 181 * 217\n"
      "T = rng.standard_normal((n, p), dtype=np.float32); Q = rng.standard_normal((n, p), dtype=np.float32)\n"
      "t0 = time.perf_counter()\n"
      "def unit(X):\n"
      "    X = X - X.mean(1, keepdims=True)\n"
      "    return X / np.linalg.norm(X, axis=1, keepdims=True)\n"
      "C = unit(Q) @ unit(T).T\n"
      "best, arg = C.max(1), C.argmax(1)\n"
      "print(time.perf_counter() - t0)\n");
  double t_np = 0;
  if (std::sscanf(py2.c_str(), "%lf", &t_np) == 1) {
    std::printf("  numpy (float32, normalise + matmul + argmax), one run: %.3f s; ratio medsynth / numpy: %.3f\n", t_np,
                t_mem / t_np);
  }
  return 0;
}
