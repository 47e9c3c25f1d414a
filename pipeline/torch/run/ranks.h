#pragma once
// The stage runner on several ranks (torchrun, srun, `medsynth run --nproc N`): rank 0 takes the
// run lock, decides every stage (skip, redo, resume: its fingerprints) and tells the others over
// the c10d store; every rank trains (the data-parallel trainer); each volume rank 0 samples is
// sampled as one shard per rank and merged by rank 0 (bit for bit one process's volume); the other
// ranks leave after the last such stage, and rank 0 evaluates, exports and reports alone.
#include <memory>
#include <string>

#include "medsynth/pipeline/distributed.h"
#include "medsynth/pipeline/synthesis.h"
#include "stage.h"

namespace medsynth::pipeline::run {

class RunRanks {
 public:
  // Joins the ranks (DataParallel: every rank's config and build compared over the store).
  RunRanks(const WorldInfo& world, const RunConfig& config);
  ~RunRanks();
  int rank() const { return group_->rank(); }
  int world() const { return group_->world(); }
  bool lead() const { return rank() == 0; }
  DataParallel& group() { return *group_; }

  // Rank 0: the next message to the other ranks ({"action": ...}).
  void tell(const json& message);
  // The other ranks: rank 0's next message. Waits without a time limit while rank 0 works alone
  // (its ingest may be long); rank 0's exit ends the wait with an error naming it.
  json next();
  // Rank 0: the ranks' part of the run is over ("end"); they leave.
  void finish();
  bool finished() const { return finished_; }
  // Rank 0: the run stopped or failed before `finish`: the others are told (and stop with exit
  // code 75 or rank 0's code) before rank 0 leaves.
  void abort(const std::exception& error);
  // Rank 0 at the end of the run: waits (10 s at most) until every other rank has read its last
  // message, so that the store it serves outlives their last read.
  void close();
  // Another rank: says it leaves (why, for rank 0's messages).
  void leave(const std::string& why);

  // Every rank: its shard of `request` (whole batches, rank of world); rank 0 returns the volume
  // merged from all shards. A rank that fails or is stopped makes every rank stop here together.
  SynthesisResult sample(SynthesisRequest request);

 private:
  void wait_for_the_others(std::chrono::seconds limit);
  std::unique_ptr<DataParallel> group_;
  long sent_ = 0, received_ = 0;
  bool finished_ = false;
};

// A volume of a stage that samples (OnRanks::kSharded): synthesise() on one process; on several
// ranks rank 0 sends the request and every rank samples a shard, merged on rank 0.
SynthesisResult synthesise_volume(Context& ctx, const SynthesisRequest& request);

// What a rank other than 0 does for the whole run: rank 0's messages, until it says "end".
RunSummary follow_rank0(Context& ctx);

}  // namespace medsynth::pipeline::run
