#pragma once
// Data-parallel training on PyTorch's own engine, c10d with the Gloo backend: ranks meet through a
// TCPStore the torchrun way (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or from Slurm
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, first host of SLURM_NODELIST). Needs LibTorch.
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace medsynth::pipeline {

struct WorldInfo {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "single";  // single | torchrun | slurm
};

// Reads the environment; throws medsynth::Error (exit 1) on inconsistent values.
WorldInfo world_from_environment();

// The first host of a Slurm node list: "gpu[03-05,07],cpu1" -> "gpu03".
std::string first_slurm_host(const std::string& nodelist);

// What every rank of one run must share, compared over the store before any training: the settings
// that shape the trajectory (to_ini without train.threads and train.device, which may differ per
// rank), the medsynth version and commit, and LibTorch's version. "config X; code Y; libtorch Z".
struct RunConfig;
std::string rank_fingerprint(const RunConfig& config);

class DataParallel {
 public:
  // Joins the group; before that every rank publishes its fingerprint and address in the store and
  // a rank whose fingerprint differs from rank 0's is refused (exit 2, on both sides, naming the
  // rank, its host and what differs). A failed collective names the peers it was waiting for.
  DataParallel(const WorldInfo& world, std::chrono::seconds timeout, const std::string& fingerprint);
  ~DataParallel();
  int rank() const { return world_.rank; }
  int world() const { return world_.world; }
  // Copies rank 0's tensors into every rank's.
  void broadcast(std::vector<torch::Tensor> tensors);
  // Averages gradients over ranks, in buckets of about 25 MB (one all-reduce per bucket).
  void allreduce_mean(std::vector<torch::Tensor>& grads);
  double allreduce_mean(double value);
  void barrier();
  // Rank 0 receives every rank's tensor (all of one shape, contiguous float), in rank order; the
  // other ranks get an empty list.
  std::vector<torch::Tensor> gather(const torch::Tensor& tensor);
  // The store every rank joined (rank 0 serves it), for what ranks tell each other outside the
  // collectives (the stage runner's decisions, pipeline/torch/run/ranks.h): set a key, whether it
  // exists (never waits), its value (waits up to the timeout). A failure names this rank's peers.
  void store_set(const std::string& key, const std::string& value);
  bool store_check(const std::string& key);
  std::string store_get(const std::string& key);
  // "rank R (host, address via interface)" for messages.
  std::string describe(int rank) const;

 private:
  template <typename Fn>
  void collective(const char* what, Fn fn);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  WorldInfo world_;
  std::chrono::seconds timeout_;
  std::vector<std::string> hosts_;  // "host, address via interface" of every rank, for errors
};

// A free TCP port on 127.0.0.1 (for --nproc's MASTER_PORT).
int free_tcp_port();

}  // namespace medsynth::pipeline
