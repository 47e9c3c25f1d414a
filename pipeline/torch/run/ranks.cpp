// The stage runner on several ranks (ranks.h).
#include "ranks.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "medsynth/error.h"
#include "medsynth/pipeline/shard_merge.h"
#include "medsynth/pipeline/stop.h"

namespace medsynth::pipeline::run {

namespace {

const std::string kMessage = "medsynth/run/message/", kLeft = "medsynth/run/left/", kError = "medsynth/run/error/";

int code_of(const std::exception& e) {
  const auto* me = dynamic_cast<const medsynth::Error*>(&e);
  return static_cast<int>(me ? me->code() : ExitCode::kRuntime);
}

json request_message(const SynthesisRequest& rq, const RunConfig& config) {
  RunConfig c = config;
  c.sample = rq.sample;
  return {{"action", "sample"}, {"checkpoint", rq.checkpoint}, {"labels", rq.labels}, {"source", rq.source},
          {"like", rq.like}, {"class_id", rq.class_id}, {"slices", rq.slices}, {"mark", rq.mark},
          {"sample_settings", to_ini(c)}};
}

// The request on this rank: rank 0's, with this rank's own device and core count.
SynthesisRequest request_of(const json& m, const RunConfig& config) {
  SynthesisRequest rq;
  rq.checkpoint = m.at("checkpoint").get<std::string>();
  rq.labels = m.at("labels").get<std::string>();
  rq.source = m.at("source").get<std::string>();
  rq.like = m.at("like").get<std::string>();
  rq.class_id = m.at("class_id").get<int>();
  rq.slices = m.at("slices").get<int>();
  rq.mark = m.at("mark").get<bool>();
  rq.sample = config_from_ini_text(m.at("sample_settings").get<std::string>()).sample;
  rq.device = config.train.device;
  rq.threads = config.train.threads;
  rq.progress = false;
  return rq;
}

}  // namespace

RunRanks::RunRanks(const WorldInfo& world, const RunConfig& config)
    : group_(std::make_unique<DataParallel>(world, std::chrono::seconds(config.train.dist_timeout),
                                            rank_fingerprint(config))) {}

RunRanks::~RunRanks() = default;

void RunRanks::tell(const json& message) { group_->store_set(kMessage + std::to_string(sent_++), message.dump()); }

json RunRanks::next() {
  const std::string key = kMessage + std::to_string(received_++);
  // check() never blocks, so a long wait (rank 0's ingest) needs no time limit; a lost rank 0
  // fails the check at once. A stop signal here is kept for the next agreement (training, sampling).
  while (!group_->store_check(key)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return json::parse(group_->store_get(key));
}

void RunRanks::finish() {
  if (finished_) return;
  tell({{"action", "end"}});
  finished_ = true;
}

void RunRanks::abort(const std::exception& error) {
  if (finished_) return;
  const int code = code_of(error);
  try {
    tell({{"action", code == static_cast<int>(ExitCode::kStopped) ? "stopped" : "failed"},
          {"error", std::string(error.what())},
          {"code", code}});
    finished_ = true;
    wait_for_the_others(std::chrono::seconds(10));
  } catch (const std::exception&) {
    // rank 0's own error is the one to report
  }
}

void RunRanks::close() {
  if (lead()) wait_for_the_others(std::chrono::seconds(10));
}

void RunRanks::wait_for_the_others(std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (int r = 1; r < world(); ++r) {
    while (!group_->store_check(kLeft + std::to_string(r)) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void RunRanks::leave(const std::string& why) {
  try {
    group_->store_set(kLeft + std::to_string(rank()), why);
  } catch (const std::exception&) {
    // rank 0 is gone already
  }
}

SynthesisResult RunRanks::sample(SynthesisRequest rq) {
  rq.shard_index = rank();
  rq.shard_count = world();
  SynthesisResult r;
  std::exception_ptr error;
  bool stopped = false;
  try {
    r = synthesise(rq);
  } catch (const Stopped&) {
    stopped = true;
    error = std::current_exception();
  } catch (const std::exception& e) {
    error = std::current_exception();
    group_->store_set(kError + std::to_string(rank()), json{{"error", std::string(e.what())}, {"code", code_of(e)}}.dump());
  }
  // Every rank finishes its shard (or fails, or is stopped) before any goes on: all agree.
  const bool any_failed = group_->allreduce_mean(error && !stopped ? 1.0 : 0.0) > 0;
  const bool any_stopped = group_->allreduce_mean(stopped ? 1.0 : 0.0) > 0;
  if (error && (!stopped || !any_failed)) std::rethrow_exception(error);
  if (any_failed) {
    for (int other = 0; other < world(); ++other) {
      if (other == rank() || !group_->store_check(kError + std::to_string(other))) continue;
      const json e = json::parse(group_->store_get(kError + std::to_string(other)));
      throw medsynth::Error(group_->describe(other) + " failed sampling its shard: " + e.at("error").get<std::string>(),
                            static_cast<ExitCode>(e.at("code").get<int>()));
    }
  }
  if (any_stopped) {
    throw Stopped("sampling: stopped by a signal to another rank; the volumes made so far are kept: run the same "
                  "command again to finish");
  }
  const auto n = static_cast<std::int64_t>(r.volume.voxels.size());
  const auto shards = group_->gather(torch::from_blob(r.volume.voxels.data(), {n}, torch::kFloat));
  if (!lead()) return r;
  for (int s = 1; s < world(); ++s) {
    const long long twice = merge_shard(r.volume.voxels, shards[static_cast<std::size_t>(s)].data_ptr<float>());
    if (twice >= 0) {
      throw medsynth::Error("sampling: the shard of " + group_->describe(s) + " overlaps another (voxel " +
                                std::to_string(twice) + " is made twice)",
                            ExitCode::kRuntime);
    }
  }
  if (const std::size_t missing = missing_voxels(r.volume.voxels)) {
    throw medsynth::Error("sampling: " + std::to_string(missing) + " voxels are in no rank's shard", ExitCode::kRuntime);
  }
  return r;
}

SynthesisResult synthesise_volume(Context& ctx, const SynthesisRequest& request) {
  if (!ctx.ranks) return synthesise(request);
  ctx.ranks->tell(request_message(request, ctx.config));
  return ctx.ranks->sample(request);
}

RunSummary follow_rank0(Context& ctx) {
  RunRanks& ranks = *ctx.ranks;
  RunSummary summary;
  summary.run_dir = ctx.run.string();
  summary.rank = ranks.rank();
  try {
    for (;;) {
      const json m = ranks.next();
      const std::string action = m.at("action");
      if (action == "end") break;
      if (action == "stage") {
        // A stage every rank runs (training), in the state rank 0 left the run folder in.
        const std::string name = m.at("stage");
        for (const auto& item : m.at("records").items()) ctx.records[item.key()] = item.value();
        for (const Stage& st : stages()) {
          if (st.name != name) continue;
          json artefacts = json::array();
          st.run(ctx, artefacts);
          summary.ran.push_back(name);
        }
      } else if (action == "sample") {
        ranks.sample(request_of(m, ctx.config));
      } else if (action == "stopped") {
        throw Stopped("rank 0 stopped: " + m.at("error").get<std::string>());
      } else {
        throw medsynth::Error(ranks.group().describe(0) + " failed: " + m.at("error").get<std::string>() +
                                  "; this rank stops too",
                              static_cast<ExitCode>(m.at("code").get<int>()));
      }
    }
  } catch (const std::exception& e) {
    ranks.leave(e.what());
    throw;
  }
  ranks.leave("done");
  return summary;
}

}  // namespace medsynth::pipeline::run
