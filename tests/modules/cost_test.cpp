// medsynth/cost.h (CPU seconds, peak RSS, RAPL counters, the energy estimate) and
// modules::MacCounter (multiply-adds from operator shapes) against independent figures: the
// kernel's process CPU clock, a known allocation, hand-written powercap files, hand counts.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "medsynth/cost.h"
#include "medsynth/modules/mac_counter.h"
#include "medsynth/modules/nn/precision.h"

namespace fs = std::filesystem;
using namespace medsynth;

namespace {

double process_cpu_clock() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Spins until the process CPU clock has advanced `seconds`.
void spin(double seconds) {
  const double end = process_cpu_clock() + seconds;
  volatile double x = 1;
  while (process_cpu_clock() < end) {
    for (int i = 0; i < 10000; ++i) x = x * 1.0000001 + 1e-9;
  }
}

struct TempFolder {
  fs::path path;
  TempFolder() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("medsynth-cost-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempFolder() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text << "\n";
}

}  // namespace

TEST(Cost, CpuSecondsOfABusyLoopAndOfAWaitedChild) {
  const cost::Meter meter;
  const double c0 = process_cpu_clock();
  spin(0.3);
  const double self = process_cpu_clock() - c0;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    spin(0.2);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  const cost::ResourceUse u = meter.finish();
  EXPECT_NEAR(u.cpu_seconds_children, 0.2, 0.05);
  EXPECT_NEAR(u.cpu_seconds - u.cpu_seconds_children, self, 0.05);
  EXPECT_GE(u.wall_seconds, 0.45);  // the child ran after the parent's loop
  // Without readable RAPL counters: the estimate, CPU seconds x watts per core, marked as such.
  const cost::ResourceUse e = cost::Meter("/nonexistent-powercap").finish();
  EXPECT_TRUE(e.energy_estimated);
  EXPECT_NE(e.energy_source.find("estimate"), std::string::npos);
  EXPECT_DOUBLE_EQ(e.energy_joules, e.cpu_seconds * cost::watts_per_core());
}

TEST(Cost, PeakRssGrowsByABigAllocationAndNestedMetersKeepTheirPeaks) {
  constexpr std::size_t kBytes = 256u << 20;
  const cost::Meter outer;
  double base = cost::peak_rss_bytes();
  {
    std::vector<char> big(kBytes);
    std::memset(big.data(), 1, big.size());  // resident, page by page
    const volatile char keep = big[kBytes / 2];
    (void)keep;
  }  // freed (glibc maps an allocation this large on its own and unmaps it)
  const cost::Meter inner;  // resets the kernel's peak
  const cost::ResourceUse in = inner.finish();
  const cost::ResourceUse out = outer.finish();
  ASSERT_FALSE(out.peak_rss_of_process) << "/proc/self/clear_refs refused the reset";
  EXPECT_GE(out.peak_rss_bytes, base + 0.95 * kBytes);
  EXPECT_LT(in.peak_rss_bytes, out.peak_rss_bytes - 0.8 * kBytes) << "the inner meter saw the freed allocation";
}

TEST(Cost, RaplCountersAreReadFromPackagesOnlyAndWrapAround) {
  TempFolder tmp;
  const fs::path root = tmp.path;
  const std::uint64_t range = 262143328850;
  write(root / "intel-rapl:0/name", "package-0");
  write(root / "intel-rapl:0/max_energy_range_uj", std::to_string(range));
  write(root / "intel-rapl:0/energy_uj", std::to_string(range - 1000000));  // 1 J before it wraps
  write(root / "intel-rapl:0/intel-rapl:0:0/energy_uj", "5");              // a sub-domain: inside the package
  write(root / "intel-rapl:0:0/name", "core");                              // as the kernel also lists it
  write(root / "intel-rapl:0:0/max_energy_range_uj", std::to_string(range));
  write(root / "intel-rapl:0:0/energy_uj", "7");
  write(root / "intel-rapl:1/name", "package-1");
  write(root / "intel-rapl:1/max_energy_range_uj", std::to_string(range));
  write(root / "intel-rapl:1/energy_uj", "2000000");
  write(root / "intel-rapl-mmio:0/energy_uj", "9");  // not a package counter
  const cost::RaplReading a = cost::read_rapl(root.string());
  ASSERT_EQ(a.packages.size(), 2u);
  EXPECT_EQ(a.packages[0].name, "intel-rapl:0 (package-0)");
  EXPECT_EQ(a.packages[1].energy_uj, 2000000u);
  const cost::Meter meter(root.string());
  write(root / "intel-rapl:0/energy_uj", "2500000");  // wrapped: 1 J + 2.5 J
  write(root / "intel-rapl:1/energy_uj", "2750000");  // 0.75 J
  write(root / "intel-rapl:0:0/energy_uj", "900000000");
  EXPECT_NEAR(cost::rapl_joules(a, cost::read_rapl(root.string())), 1.0 + 2.5 + 0.75, 1e-9);
  const cost::ResourceUse u = meter.finish();
  EXPECT_FALSE(u.energy_estimated);
  EXPECT_NEAR(u.energy_joules, 4.25, 1e-9);
  EXPECT_NE(u.energy_source.find("RAPL"), std::string::npos);
  // An unreadable counter gives no reading (and so the estimate), never a partial sum.
  fs::remove(root / "intel-rapl:1/energy_uj");
  EXPECT_FALSE(cost::read_rapl(root.string()).ok());
  EXPECT_FALSE(cost::read_rapl((root / "missing").string()).ok());
}

TEST(Cost, DescribeSaysTimeCpuMemoryWorkAndEnergy) {
  cost::ResourceUse u;
  u.wall_seconds = 14.2;
  u.cpu_seconds = 36;
  u.peak_rss_bytes = 1.5 * (1u << 30);
  u.gflop = 412.3;
  u.energy_joules = 2100;
  u.energy_estimated = true;
  EXPECT_EQ(cost::describe(u), "14 s, 0.6 CPU-minutes, 1.5 GiB peak, 412 GFLOP, ~2.1 kJ (estimated)");
  u.energy_estimated = false;
  u.gflop = -1;
  EXPECT_EQ(cost::describe(u), "14 s, 0.6 CPU-minutes, 1.5 GiB peak, 2.1 kJ");
}

TEST(MacCounter, ConvolutionsAndMatrixProductsMatchHandCounts) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  auto strided = torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 4).stride(2).padding(1).groups(2));
  auto up = torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(16, 4, 4).stride(2).padding(1));
  auto linear = torch::nn::Linear(64, 10);
  const auto x = torch::randn({2, 3, 32, 32});
  auto count = [](const std::function<void()>& f) {
    const modules::MacCounter c;
    f();
    return c.macs();
  };
  // out numel x (in/groups x kh x kw)
  EXPECT_EQ(count([&] { conv(x); }), 2.0 * 8 * 32 * 32 * (3 * 3 * 3));
  const auto y = torch::randn({2, 8, 32, 32});
  EXPECT_EQ(count([&] { strided(y); }), 2.0 * 16 * 16 * 16 * (4 * 4 * 4));
  // transposed: in numel x (out/groups x kh x kw)
  const auto z = torch::randn({2, 16, 16, 16});
  EXPECT_EQ(count([&] { EXPECT_EQ(up(z).size(2), 32); }), 2.0 * 16 * 16 * 16 * (4 * 4 * 4));
  EXPECT_EQ(count([&] { linear(torch::randn({5, 64})); }), 5.0 * 64 * 10);          // addmm
  EXPECT_EQ(count([&] { linear(torch::randn({2, 7, 64})); }), 14.0 * 64 * 10);      // matmul -> mm
  EXPECT_EQ(count([&] { torch::bmm(torch::randn({4, 7, 8}), torch::randn({4, 8, 9})); }), 4.0 * 7 * 8 * 9);
  EXPECT_EQ(count([&] { torch::relu(x) + x; }), 0.0);
  // Under bfloat16 autocast the same convolution counts the same.
  {
    double m = 0;
    {
      const modules::nn::Autocast bf16(true, torch::kCPU);
      m = count([&] { EXPECT_EQ(conv(x).scalar_type(), torch::kBFloat16); });
    }
    EXPECT_EQ(m, 2.0 * 8 * 32 * 32 * 27);
  }
}

TEST(MacCounter, BackwardCountsTheInputAndWeightGradientsAndCountersNest) {
  torch::manual_seed(0);
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  const double forward = 2.0 * 8 * 32 * 32 * 27;
  const modules::MacCounter outer;
  const auto x = torch::randn({2, 3, 32, 32}, torch::requires_grad());
  double inner_macs = 0;
  {
    const modules::MacCounter inner;
    conv(x).sum().backward();
    inner_macs = inner.macs();
  }
  EXPECT_EQ(inner_macs, 3 * forward);  // forward, grad of the input, grad of the weight
  // The input needs no gradient: forward + weight gradient only.
  conv(torch::randn({2, 3, 32, 32})).sum().backward();
  EXPECT_EQ(outer.macs(), 3 * forward + 2 * forward);
  EXPECT_NEAR(outer.gflop(), 2 * 5 * forward / 1e9, 1e-12);
}
