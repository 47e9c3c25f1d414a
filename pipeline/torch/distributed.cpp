#include "medsynth/pipeline/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>

#include "medsynth/error.h"

namespace medsynth::pipeline {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    throw UsageError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
  }
}

std::string env_str(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// Any failure of a collective (a rank that died, a time-out) becomes one clear error.
template <typename Fn>
void collective(const char* what, int rank, Fn fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    throw medsynth::Error("rank " + std::to_string(rank) + ": " + what +
                              " failed (another rank died or timed out): " + std::string(e.what()).substr(0, 200),
                          ExitCode::kRuntime);
  }
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  const auto comma = nodelist.find(',');
  const auto bracket = nodelist.find('[');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket)) {
    return nodelist.substr(0, comma);
  }
  const std::string prefix = nodelist.substr(0, bracket);
  std::string first = nodelist.substr(bracket + 1);
  first = first.substr(0, first.find_first_of(",-]"));
  return prefix + first;
}

WorldInfo world_from_environment() {
  WorldInfo w;
  if (std::getenv("WORLD_SIZE")) {
    w.launcher = "torchrun";
    w.world = env_int("WORLD_SIZE", 1);
    w.rank = env_int("RANK", 0);
    w.local_rank = env_int("LOCAL_RANK", w.rank);
    w.master_addr = env_str("MASTER_ADDR", "127.0.0.1");
    w.master_port = env_int("MASTER_PORT", 29500);
  } else if (std::getenv("SLURM_NTASKS") && env_int("SLURM_NTASKS", 1) > 1) {
    w.launcher = "slurm";
    w.world = env_int("SLURM_NTASKS", 1);
    w.rank = env_int("SLURM_PROCID", 0);
    w.local_rank = env_int("SLURM_LOCALID", 0);
    w.master_addr = env_str("MASTER_ADDR", first_slurm_host(env_str("SLURM_NODELIST", env_str("SLURM_JOB_NODELIST", "127.0.0.1"))));
    w.master_port = env_int("MASTER_PORT", 29500);
  }
  if (w.world < 1 || w.rank < 0 || w.rank >= w.world) {
    throw UsageError("distributed: rank " + std::to_string(w.rank) + " is outside a world of " + std::to_string(w.world));
  }
  if (w.master_port <= 0 || w.master_port > 65535) throw UsageError("distributed: MASTER_PORT is not a port");
  return w;
}

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

DataParallel::DataParallel(const WorldInfo& w, std::chrono::seconds timeout) : impl_(std::make_unique<Impl>()), world_(w) {
  collective("joining the process group", w.rank, [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(w.master_port);
    so.isServer = w.rank == 0;
    so.numWorkers = w.world;
    so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, so);
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    // Single-node runs stay on loopback; across nodes every rank binds to its own hostname's
    // address (GLOO_SOCKET_IFNAME picks an interface instead).
    const bool local = w.master_addr == "127.0.0.1" || w.master_addr == "localhost";
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (local) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    options->threads = 2;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, w.rank, w.world, options);
  });
}

DataParallel::~DataParallel() = default;

void DataParallel::broadcast(std::vector<torch::Tensor> tensors) {
  torch::NoGradGuard ng;
  collective("broadcast", world_.rank, [&] {
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t.detach()};
      impl_->group->broadcast(one)->wait();
    }
  });
}

void DataParallel::allreduce_mean(std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard ng;
  constexpr std::int64_t kBucketBytes = 25 << 20;
  std::size_t i = 0;
  while (i < grads.size()) {
    std::vector<torch::Tensor> bucket;
    std::int64_t bytes = 0;
    while (i < grads.size() && (bucket.empty() || bytes + grads[i].numel() * 4 <= kBucketBytes)) {
      bucket.push_back(grads[i]);
      bytes += grads[i].numel() * 4;
      ++i;
    }
    std::vector<torch::Tensor> flat{torch::cat([&] {
      std::vector<torch::Tensor> parts;
      for (auto& g : bucket) parts.push_back(g.reshape({-1}));
      return parts;
    }())};
    collective("gradient all-reduce", world_.rank, [&] { impl_->group->allreduce(flat)->wait(); });
    flat[0].div_(world_.world);
    std::int64_t offset = 0;
    for (auto& g : bucket) {
      g.copy_(flat[0].narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
  }
}

double DataParallel::allreduce_mean(double value) {
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kDouble)};
  collective("loss all-reduce", world_.rank, [&] { impl_->group->allreduce(t)->wait(); });
  return t[0].item<double>() / world_.world;
}

void DataParallel::barrier() {
  collective("barrier", world_.rank, [&] { impl_->group->barrier()->wait(); });
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace medsynth::pipeline
