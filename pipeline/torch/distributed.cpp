#include "medsynth/pipeline/distributed.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <torch/version.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "medsynth/error.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/version.h"

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

// The IP address of a network interface (IPv4 first), or a clear error naming the interfaces there are (Gloo's
// own message for a wrong GLOO_SOCKET_IFNAME does not say what exists).
std::string interface_address(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) throw medsynth::Error("distributed: cannot list the network interfaces", ExitCode::kRuntime);
  std::string address, names;
  for (const ifaddrs* a = list; a; a = a->ifa_next) {
    const int family = a->ifa_addr ? a->ifa_addr->sa_family : AF_UNSPEC;
    if (family != AF_INET && family != AF_INET6) continue;
    if (names.find(std::string(" ") + a->ifa_name + ",") == std::string::npos) names += std::string(" ") + a->ifa_name + ",";
    if (ifname == a->ifa_name && (address.empty() || (family == AF_INET && address.find(':') != std::string::npos))) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* in = nullptr;
      if (family == AF_INET) in = &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr;
      if (family == AF_INET6) in = &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      ::inet_ntop(family, in, text, sizeof text);
      address = text;
    }
  }
  ::freeifaddrs(list);
  if (address.empty()) {
    if (!names.empty()) names.pop_back();
    throw UsageError("distributed: GLOO_SOCKET_IFNAME=" + ifname + ": this host has no interface of that name with an "
                     "IP address (it has:" + names + ")");
  }
  return address;
}

bool is_loopback(const std::string& addr) { return addr == "127.0.0.1" || addr == "localhost"; }

// This rank as its peers would look for it: the host name and the address Gloo binds to.
std::string this_host(const WorldInfo& w) {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  std::string where = name;
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
    where += ", " + interface_address(ifname) + " via " + ifname;
  } else if (is_loopback(w.master_addr)) {
    where += ", 127.0.0.1";
  }
  return where;
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }
std::string text_of(const std::vector<std::uint8_t>& b) { return {b.begin(), b.end()}; }

// The keys whose lines differ between two fingerprints' config parts (names only: values may be
// paths), at most five named.
std::string differing_keys(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line, section;
    std::getline(in, line);  // the code line
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] == '[') section = line.substr(1, line.find(']') - 1);
      const auto eq = line.find(" = ");
      if (eq != std::string::npos) out[section + "." + line.substr(0, eq)] = line.substr(eq + 3);
    }
    return out;
  };
  const auto la = lines(a), lb = lines(b);
  std::set<std::string> keys;
  for (const auto& [k, v] : la) {
    const auto it = lb.find(k);
    if (it == lb.end() || it->second != v) keys.insert(k);
  }
  for (const auto& [k, v] : lb) {
    if (!la.count(k)) keys.insert(k);
  }
  std::string out;
  int n = 0;
  for (const auto& k : keys) {
    if (n++ == 5) {
      out += ", ...";
      break;
    }
    out += (out.empty() ? "" : ", ") + k;
  }
  return out;
}

// Why rank `other`'s fingerprint is not rank 0's, or "" when they are the same.
std::string fingerprint_difference(const std::string& zero, const std::string& other) {
  if (zero == other) return "";
  const std::string code0 = zero.substr(0, zero.find('\n')), code1 = other.substr(0, other.find('\n'));
  if (code0 != code1) return "another medsynth build (" + code1 + "; rank 0: " + code0 + ")";
  return "other settings (config " + hash_text(other) + ", rank 0: " + hash_text(zero) + "; differing: " +
         differing_keys(zero, other) + ")";
}

}  // namespace

std::string rank_fingerprint(const RunConfig& config) {
  std::ostringstream out;
  out << "code medsynth " << kVersion << " (" << kGitDescribe << "), libtorch " << TORCH_VERSION << "\n";
  std::istringstream in(to_ini(config));
  std::string line, section;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '[') section = line;
    // Per-rank by nature: the core count of a node and the GPU index of a local rank.
    if (section == "[train]" && (line.rfind("threads = ", 0) == 0 || line.rfind("device = ", 0) == 0)) continue;
    out << line << "\n";
  }
  return out.str();
}

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

// Any failure of a collective (a rank that died, a link that went down, a time-out) becomes one
// clear error naming this rank and the peers it waited for.
template <typename Fn>
void DataParallel::collective(const char* what, Fn fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::string peers;
    int named = 0;
    for (int r = 0; r < world_.world; ++r) {
      if (r == world_.rank || hosts_.size() <= static_cast<std::size_t>(r)) continue;
      if (named++ == 4) {
        peers += ", ...";
        break;
      }
      peers += (peers.empty() ? "" : ", ") + ("rank " + std::to_string(r) + " (" + hosts_[r] + ")");
    }
    const std::string me = hosts_.size() > static_cast<std::size_t>(world_.rank) ? " (" + hosts_[world_.rank] + ")" : "";
    throw medsynth::Error("rank " + std::to_string(world_.rank) + me + ": " + what +
                              " failed (another rank died or timed out, or the network between them is down; "
                              "train.dist_timeout = " + std::to_string(timeout_.count()) + " s)" +
                              (peers.empty() ? "" : "; waiting for " + peers) + ": " +
                              std::string(e.what()).substr(0, 200),
                          ExitCode::kRuntime);
  }
}

DataParallel::DataParallel(const WorldInfo& w, std::chrono::seconds timeout, const std::string& fingerprint)
    : impl_(std::make_unique<Impl>()), world_(w), timeout_(timeout) {
  const std::string me = this_host(w);  // checks GLOO_SOCKET_IFNAME first
  collective("joining the store", [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(w.master_port);
    so.isServer = w.rank == 0;
    so.numWorkers = w.world;
    so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, so);
  });
  // Every rank's fingerprint and address: a rank of another config or build is refused here,
  // before it could train apart from the others.
  auto& store = *impl_->store;
  const std::string key = "medsynth/rank/";
  std::vector<std::string> prints(static_cast<std::size_t>(w.world));
  hosts_.assign(static_cast<std::size_t>(w.world), "?");
  hosts_[static_cast<std::size_t>(w.rank)] = me;
  collective("exchanging fingerprints", [&] {
    store.set(key + std::to_string(w.rank), bytes_of(me + "\n" + fingerprint));
    for (int r = 0; r < w.world; ++r) {
      const std::string v = text_of(store.get(key + std::to_string(r)));
      hosts_[static_cast<std::size_t>(r)] = v.substr(0, v.find('\n'));
      prints[static_cast<std::size_t>(r)] = v.substr(v.find('\n') + 1);
    }
    store.set("medsynth/checked/" + std::to_string(w.rank), bytes_of("1"));
  });
  for (int r = 1; r < w.world; ++r) {
    const std::string why = fingerprint_difference(prints[0], prints[static_cast<std::size_t>(r)]);
    if (why.empty() || (w.rank != 0 && w.rank != r)) continue;
    if (w.rank == 0) {
      // Rank 0 holds the store: let the refused rank read what it needs for its own message first.
      try {
        store.wait({"medsynth/checked/" + std::to_string(r)}, std::chrono::seconds(10));
      } catch (const std::exception&) {
      }
    }
    throw medsynth::Error("distributed: rank " + std::to_string(r) + " (" + hosts_[static_cast<std::size_t>(r)] +
                              ") was started with " + why + " than rank 0 (" + hosts_[0] +
                              "); refused before training: start every rank with the same config and medsynth build",
                          ExitCode::kBadInput);
  }
  collective("joining the process group", [&] {
    auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    // Single-node runs stay on loopback; across nodes every rank binds to its own hostname's
    // address (GLOO_SOCKET_IFNAME picks an interface instead).
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(w.master_addr)) {
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
  collective("broadcast", [&] {
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
    collective("gradient all-reduce", [&] { impl_->group->allreduce(flat)->wait(); });
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
  collective("loss all-reduce", [&] { impl_->group->allreduce(t)->wait(); });
  return t[0].item<double>() / world_.world;
}

void DataParallel::barrier() {
  collective("barrier", [&] { impl_->group->barrier()->wait(); });
}

std::vector<torch::Tensor> DataParallel::gather(const torch::Tensor& tensor) {
  std::vector<torch::Tensor> in{tensor.contiguous()};
  std::vector<std::vector<torch::Tensor>> out;
  if (world_.rank == 0) {
    out.emplace_back();
    for (int r = 0; r < world_.world; ++r) out[0].push_back(torch::empty_like(in[0]));
  }
  c10d::GatherOptions options;
  options.rootRank = 0;
  collective("gather", [&] { impl_->group->gather(out, in, options)->wait(); });
  return world_.rank == 0 ? out[0] : std::vector<torch::Tensor>{};
}

void DataParallel::store_set(const std::string& key, const std::string& value) {
  collective("writing to the store", [&] { impl_->store->set(key, bytes_of(value)); });
}

bool DataParallel::store_check(const std::string& key) {
  bool found = false;
  collective("reading the store", [&] { found = impl_->store->check({key}); });
  return found;
}

std::string DataParallel::store_get(const std::string& key) {
  std::string value;
  collective("reading the store", [&] { value = text_of(impl_->store->get(key)); });
  return value;
}

std::string DataParallel::describe(int rank) const {
  const auto r = static_cast<std::size_t>(rank);
  return "rank " + std::to_string(rank) + (r < hosts_.size() ? " (" + hosts_[r] + ")" : "");
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
