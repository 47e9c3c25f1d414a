// The stage runner behind `medsynth run` and `medsynth demo`: runs the stages (stages.cpp, one
// file each) in order, skips those whose fingerprint (fingerprint.cpp) is unchanged and whose
// artefacts exist, and records each in <run>/<stage>/stage.json.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>

#include "medsynth/io/atomic_output.h"
#include "medsynth/io/error.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/distributed.h"
#include "medsynth/pipeline/hash.h"
#include "medsynth/pipeline/run.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/text.h"
#include "medsynth/version.h"
#include "ranks.h"
#include "run_lock.h"
#include "stage.h"

namespace medsynth::pipeline {

nlohmann::json library_versions();  // run_versions.cpp

namespace run {

const std::vector<Stage>& stages() {
  static const std::vector<Stage> table = {ingest_stage(),   augment_stage(), train_stage(),   sample_stage(),
                                           evaluate_stage(), export_stage(),  utility_stage(), report_stage()};
  return table;
}

}  // namespace run

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& s : run::stages()) n.push_back(s.name);
    return n;
  }();
  return names;
}

namespace {

using namespace run;
using io::write_text_atomically;

void write_record(const Context& ctx, const std::string& stage, const json& record) {
  write_text_atomically((ctx.dir(stage) / "stage.json").string(), record.dump(2) + "\n");
}

void check_stage_name(const std::string& option, const std::string& s) {
  if (s.empty()) return;
  const auto& names = stage_names();
  if (std::find(names.begin(), names.end(), s) != names.end()) return;
  const std::string hint = nearest(s, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw UsageError("run: " + option + " '" + s + "' is not a stage" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                   "; stages: " + list);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check_options(const RunConfig& config, const RunOptions& options) {
  check_stage_name("--from", options.from);
  check_stage_name("--only", options.only);
  for (const auto& f : options.force) check_stage_name("--force", f);
  if (!options.from.empty() && !options.only.empty()) throw UsageError("run: give --from or --only, not both");
  if (config.train.out.empty()) throw ConfigError("train.out (the run folder) is empty");
}

Context make_context(const RunConfig& config, const RunOptions& options, RunRanks* ranks) {
  Context ctx;
  ctx.config = config;
  ctx.options = options;
  if (ctx.options.command_hint.empty()) ctx.options.command_hint = "medsynth run CONFIG";
  ctx.run = fs::path(config.train.out);
  ctx.ranks = ranks;
  ctx.world = ranks ? ranks->world() : 1;
  return ctx;
}

// The run on one process, or rank 0's part of it (ranks.h): every stage decided and recorded here.
RunSummary run_stages(const RunConfig& config, const RunOptions& options, RunRanks* ranks) {
  Context ctx = make_context(config, options, ranks);
  fs::create_directories(ctx.run);
  RunLock lock(ctx.run);
  // SIGTERM/SIGINT/SIGUSR1: training stops after a step with a checkpoint, sampling and evaluation
  // after the volume in progress (keeping those done), otherwise before the next stage; exit 75.
  const StopSignals stop_signals;
  write_text_atomically((ctx.run / "config.ini").string(), to_ini(config));

  const auto& names = stage_names();
  auto index_of = [&](const std::string& s) { return std::find(names.begin(), names.end(), s) - names.begin(); };
  const std::string target = !options.only.empty() ? options.only : options.from;
  RunSummary summary;
  summary.run_dir = ctx.run.string();
  const json versions = library_versions();
  // The last stage the other ranks take part in: they are told to leave after it.
  std::ptrdiff_t last_on_ranks = -1;
  for (const Stage& st : stages()) {
    if (st.on_ranks != OnRanks::kRank0) last_on_ranks = index_of(st.name);
  }

  for (const Stage& st : stages()) {
    const std::string& stage = st.name;
    const auto i = index_of(stage);
    if (ranks && i > last_on_ranks) ranks->finish();
    if (!options.only.empty() && i > index_of(options.only)) break;
    const bool selected = target.empty() || (!options.only.empty() ? stage == options.only : i >= index_of(options.from));
    const bool forced = std::count(options.force.begin(), options.force.end(), stage) > 0 || stage == options.from;
    const json previous = read_stage_record(ctx.run.string(), stage);
    const std::string status = previous.is_object() ? previous.value("status", "") : "";

    if (!selected) {
      // An upstream stage that this invocation does not run: it must have finished.
      const std::string missing = status == "done" ? missing_artefact(ctx, previous) : "";
      if (status != "done" || !missing.empty()) {
        throw medsynth::Error(
            target + " needs the " + stage + " stage, which " +
                (status.empty() ? std::string("has not run") : status != "done" ? "is " + status : "lost " + missing) +
                " in " + ctx.run.string() + "; run " + ctx.rerun_hint(stage),
            ExitCode::kBadInput);
      }
      ctx.records[stage] = previous;
      if (previous.value("fingerprint", "") != hash_text(fingerprint_text(ctx, st))) {
        std::cerr << "medsynth: warning: " << stage << " is out of date with the config (used as it is; "
                  << ctx.rerun_hint(stage) << " redoes it)\n";
      }
      continue;
    }

    const std::string inputs = fingerprint_text(ctx, st);
    const std::string fingerprint = hash_text(inputs);
    const bool same = status.size() && previous.value("fingerprint", "") == fingerprint;
    if (!forced && same && status == "done") {
      const std::string missing = missing_artefact(ctx, previous);
      if (missing.empty()) {
        std::cout << stage << ": up to date (skipped)\n";
        ctx.records[stage] = previous;
        summary.skipped.push_back(stage);
        continue;
      }
      std::cout << stage << ": " << missing << " is missing; running it again\n";
    }
    // Start from an empty stage folder, except: a stage that resumes (training, from its
    // checkpoints) with unchanged settings keeps it, and the slice cache (keyed by its own content
    // fingerprint) is kept unless forced.
    const fs::path dir = ctx.dir(stage);
    const bool resume_train = st.resumes && same && !forced;
    // A sample or evaluate stage that was stopped, failed (a full disk) or killed keeps the volumes
    // it finished: each was written atomically and recorded after it was complete.
    const bool resume_partial = st.keeps_partial && same && !forced && status != "done" &&
                                previous.contains("partial") && previous["partial"].is_object() &&
                                !previous["partial"].empty();
    ctx.partial = resume_partial ? previous["partial"] : json::object();
    if (!resume_train && !resume_partial && fs::exists(dir)) {
      for (const auto& e : fs::directory_iterator(dir)) {
        if (!forced && !st.keep_unless_forced.empty() && e.path().filename() == st.keep_unless_forced) continue;
        fs::remove_all(e.path());
      }
    }
    fs::create_directories(dir);

    json record;
    record["stage"] = stage;
    record["status"] = "running";
    record["fingerprint"] = fingerprint;
    record["inputs"] = inputs;
    record["medsynth_version"] = std::string(kVersion) + " (" + kGitDescribe + ")";
    record["libraries"] = versions;
    record["seeds"] = {{"train.seed", config.train.seed}, {"sample.seed", config.sample.seed}};
    record["pid"] = static_cast<long>(::getpid());
    record["world_size"] = ctx.world;
    record["started"] = utc_now();
    record["artefacts"] = json::array();
    write_record(ctx, stage, record);
    std::cout << stage << ": running" << (forced ? " (forced)" : "")
              << ((resume_train && status.size()) || resume_partial ? " (resuming)" : "") << "\n" << std::flush;
    ctx.save_partial = [&] {
      record["partial"] = ctx.partial;
      write_record(ctx, stage, record);
    };
    const auto t0 = std::chrono::steady_clock::now();
    const modules::CostMeter meter;  // stage_cost.cpp
    json artefacts = json::array();
    try {
      ctx.records[stage] = record;
      if (ranks && st.on_ranks == OnRanks::kEvery) ranks->tell({{"action", "stage"}, {"stage", stage}, {"records", ctx.records}});
      record["outputs"] = st.run(ctx, artefacts);
    } catch (const std::exception& e) {
      const auto* stopped = dynamic_cast<const medsynth::Error*>(&e);
      record["status"] = stopped && stopped->code() == ExitCode::kStopped ? "stopped" : "failed";
      record["error"] = e.what();
      record["finished"] = utc_now();
      record["seconds"] = seconds_since(t0);
      record["cost"] = stage_cost(meter, json());
      try {
        write_record(ctx, stage, record);
      } catch (const std::exception&) {
        // the stage's own error is the one to report
      }
      if (const auto* me = dynamic_cast<const medsynth::Error*>(&e)) throw medsynth::Error(*me, stage);
      throw;
    }
    record["artefacts"] = artefacts;
    record.erase("partial");
    record["status"] = "done";
    record["finished"] = utc_now();
    record["seconds"] = seconds_since(t0);
    record["cost"] = stage_cost(meter, record["outputs"]);
    std::random_device rd;
    record["run_id"] = hash_text(fingerprint + record["finished"].get<std::string>() + std::to_string(rd()) +
                                 std::to_string(::getpid()));
    write_record(ctx, stage, record);
    ctx.records[stage] = record;
    summary.ran.push_back(stage);
    std::cout << stage << ": done in " << std::fixed;
    std::cout.precision(1);
    std::cout << record["seconds"].get<double>() << " s\n";
    std::cout.unsetf(std::ios::fixed);
    std::cout.precision(6);
    if (stage != names.back()) {
      throw_if_stop_requested("run", "the stages up to " + stage + " are done: run the same command again to continue");
    }
  }
  if (ctx.records.count("report") && ctx.records["report"].contains("outputs")) {
    summary.report = fs::absolute(ctx.resolve(ctx.records["report"]["outputs"].value("report", ""))).string();
    summary.index = fs::absolute(ctx.resolve(ctx.records["report"]["outputs"].value("index", ""))).string();
  }
  if (ranks) {
    ranks->finish();
    ranks->close();
  }
  return summary;
}

}  // namespace

// Launched as several ranks (torchrun, srun, --nproc), every rank joins first (the config and build
// compared over the store); rank 0 then runs the stages as one process would and the others follow.
RunSummary run_pipeline(const RunConfig& config, const RunOptions& options) {
  check_options(config, options);
  const WorldInfo world = world_from_environment();
  if (world.world == 1) return run_stages(config, options, nullptr);
  RunRanks ranks(world, config);
  if (!ranks.lead()) {
    Context ctx = make_context(config, options, &ranks);
    const StopSignals stop_signals;  // kept for the next agreement of the ranks (training, sampling)
    return follow_rank0(ctx);
  }
  try {
    return run_stages(config, options, &ranks);
  } catch (const std::exception& e) {
    ranks.abort(e);  // the other ranks stop too, with this error's exit code (75 when stopped)
    throw;
  }
}

}  // namespace medsynth::pipeline
