// The commands that need LibTorch: train and sample. They live in libmedsynth_torch.so, which the
// medsynth executable loads only when one of them runs (LibTorch's start-up costs ~0.4 s).
#include <c10/util/Exception.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <iostream>
#include <sstream>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/prompt.h"
#include "medsynth/pipeline/distributed.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/synthesis.h"
#include "medsynth/pipeline/torch_commands.h"
#include "command_util.h"
#include "medsynth/pipeline/trainer.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

// The local ranks of --nproc, for the launcher's handler: a stop signal (SIGTERM, SIGINT, SIGUSR1)
// sent to the launcher is passed on to every rank, which stop together after a step with a
// checkpoint (trainer.cpp) and exit with code 75.
const pid_t* g_rank_pids = nullptr;
volatile std::sig_atomic_t g_rank_count = 0;

void forward_to_ranks(int sig) {
  for (std::sig_atomic_t i = 0; i < g_rank_count; ++i) ::kill(g_rank_pids[i], sig);
}

// --nproc N: N local ranks of this same command, found by each other the torchrun way on a free
// port of 127.0.0.1. When one rank fails, the others are stopped; the first failure's exit code
// is returned.
int launch_local_ranks(int n, const po::variables_map& vm) {
  std::vector<std::string> args = vm[kArgsKey].as<std::vector<std::string>>();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(std::min(args.size(), i + 2)));
      break;
    }
    if (args[i].rfind("--nproc=", 0) == 0) {
      args.erase(args.begin() + static_cast<long>(i));
      break;
    }
  }
  bool threads_given = false;
  for (const auto& a : args) threads_given = threads_given || a.rfind("--train.threads", 0) == 0;
  if (!threads_given) {
    args.push_back("--train.threads");
    args.push_back(std::to_string(std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(n))));
  }
  const std::string port = std::to_string(free_tcp_port());
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(n).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<std::string> argv_s{"medsynth", "train"};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  g_rank_pids = pids.data();
  g_rank_count = static_cast<std::sig_atomic_t>(pids.size());
  struct sigaction forward {}, previous[3];
  forward.sa_handler = forward_to_ranks;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  const int stop_signals[3] = {SIGTERM, SIGINT, SIGUSR1};
  for (int i = 0; i < 3; ++i) ::sigaction(stop_signals[i], &forward, &previous[i]);
  int result = 0;
  for (std::size_t left = pids.size(); left > 0; --left) {
    int status = 0;
    pid_t done = -1;
    do {
      done = ::wait(&status);
    } while (done < 0 && errno == EINTR);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
    if (code == static_cast<int>(ExitCode::kStopped)) {
      if (result == 0) result = code;  // stopped by a signal: the other ranks stop after the same step
    } else if (code != 0 && (result == 0 || result == static_cast<int>(ExitCode::kStopped))) {
      result = code;
      std::cerr << "medsynth: error: rank " << (std::find(pids.begin(), pids.end(), done) - pids.begin())
                << " failed; stopping the other ranks\n";
      for (pid_t p : pids) {
        if (p != done) ::kill(p, SIGTERM);
      }
    }
  }
  for (int i = 0; i < 3; ++i) ::sigaction(stop_signals[i], &previous[i], nullptr);
  g_rank_count = 0;
  return result;
}

int run_train(const po::variables_map& vm) {
  const int nproc = vm["nproc"].as<int>();
  if (nproc < 1) throw UsageError("train: --nproc must be at least 1");
  if (nproc > 1 && !std::getenv("WORLD_SIZE")) return launch_local_ranks(nproc, vm);
  const RunConfig cfg = load_config(vm["config"].as<std::string>(), overrides_of(vm));
  const TrainResult r = train(cfg, vm.count("resume") > 0);
  std::cout << "trained " << r.steps << " steps in " << r.seconds << " s; loss " << r.first_loss << " -> "
            << r.last_loss << "\ncheckpoint: " << r.checkpoint << "\n";
  return 0;
}

int parse_shard(const std::string& text, int* count) {
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(text);
    const int i = std::stoi(text.substr(0, slash));
    *count = std::stoi(text.substr(slash + 1));
    if (*count < 1 || i < 0 || i >= *count) throw std::invalid_argument(text);
    return i;
  } catch (const std::exception&) {
    throw UsageError("sample: --shard '" + text + "' is not i/N with 0 <= i < N");
  }
}

int run_sample(const po::variables_map& vm) {
  SynthesisRequest rq;
  rq.checkpoint = vm["checkpoint"].as<std::string>();
  rq.labels = vm["condition"].as<std::string>();
  rq.source = vm["source"].as<std::string>();
  rq.like = vm["like"].as<std::string>();
  rq.class_id = vm["class"].as<int>();
  rq.slices = vm["slices"].as<int>();
  rq.device = vm["device"].as<std::string>();
  rq.threads = vm["threads"].as<int>();
  // The run's own [sample] settings (what the model was made to be sampled with), then the flags given.
  rq.sample = config_from_ini_text(read_checkpoint_info(rq.checkpoint).run_config).sample;
  if (!vm["sampler"].as<std::string>().empty()) rq.sample.sampler = vm["sampler"].as<std::string>();
  if (vm["steps"].as<int>() > 0) rq.sample.steps = vm["steps"].as<int>();
  if (!vm["noise"].as<std::string>().empty()) rq.sample.noise = vm["noise"].as<std::string>();
  if (!vm["eta"].defaulted()) rq.sample.eta = vm["eta"].as<double>();
  if (!vm["guidance"].defaulted()) rq.sample.guidance = vm["guidance"].as<double>();
  if (!vm["seed"].defaulted()) rq.sample.seed = vm["seed"].as<int>();
  if (!vm["batch"].defaulted()) rq.sample.batch = vm["batch"].as<int>();
  if (!vm["crop"].as<std::string>().empty()) rq.sample.crop = vm["crop"].as<std::string>();
  if (!vm["prompt"].as<std::string>().empty()) {
    rq.sample.prompt = vm["prompt"].as<std::string>();
    rq.attributes = StructuredPromptEncoder().encode(rq.sample.prompt);  // an unreadable prompt fails first
  }
  rq.shard_index = parse_shard(vm["shard"].as<std::string>(), &rq.shard_count);
  const std::string out = vm["out"].as<std::string>();
  io::detect_write_format(out);  // a wrong output name fails before minutes of sampling
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  if (!wo.force && fs::exists(out)) throw io::Error(out, "output exists (use --force to replace it)");
  rq.mark = vm.count("no-mark") == 0;  // not the run's sample.mark: marking is the default here
  if (!rq.mark) {
    std::cerr << "medsynth: warning: --no-mark: " << out << " will carry no synthetic mark; only its header "
              << "(lost in any conversion) will say that it is synthetic\n";
  }
  const StopSignals stop_signals;  // SIGTERM/SIGINT/SIGUSR1 stop before the next batch (exit 75)
  const SynthesisResult r = synthesise(rq);
  io::write_volume(r.volume, out, wo);
  std::cout << out << " (" << r.slices_done.size() << " slices in " << r.seconds << " s)\n";
  return 0;
}

}  // namespace

Command make_train_command() {
  Command c;
  c.name = "train";
  c.summary = "train a generative model on the slices of a dataset";
  c.usage = "medsynth train --config F.ini [--resume] [--nproc N] [--section.key value ...]";
  c.details =
      "Ingests the manifest named by data.manifest into a slice cache (reused while inputs and\n"
      "settings are unchanged), then trains into train.out: checkpoints/ (model, EMA, optimiser,\n"
      "step), loss.csv and config.ini. Any config key can be given on the command line, e.g.\n"
      "--train.steps 500; 'medsynth config --reference' lists them. --resume continues a killed\n"
      "run from its newest checkpoint. Launched by torchrun or srun (RANK/WORLD_SIZE/MASTER_ADDR/\n"
      "MASTER_PORT or SLURM_PROCID/SLURM_NTASKS set), each process is one data-parallel rank;\n"
      "--nproc N starts N ranks on this machine. docs/distributed.md has the details.";
  c.accepts_config_overrides = true;
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()
        ("config", po::value<std::string>()->default_value(""), "INI file with [data] [model] [train] [sample]")
        ("resume", "continue from the newest checkpoint in train.out")
        ("nproc", po::value<int>()->default_value(1),
         "data-parallel: start N local processes (c10d/Gloo on 127.0.0.1); train.batch is per process");
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_train(vm); }); };
  return c;
}

Command make_sample_command() {
  Command c;
  c.name = "sample";
  c.summary = "synthesise a volume from a checkpoint and a condition";
  c.usage =
      "medsynth sample --checkpoint C (--condition labels.nii.gz | --source img.nii.gz | --class K)\n"
      "                [--prompt \"T1w MPRAGE 3T TR=2300 TE=2.98 TI=900\"]\n"
      "                --out synth.nii.gz [--sampler ddim --steps 50 --eta 0 --guidance 1 --seed 7 --shard i/N]";
  c.details =
      "Samples slice by slice in batches and stacks the slices into a volume on the grid of the\n"
      "condition (or source, or --like volume). Slice k's noise comes from (seed, k), and shards take\n"
      "whole batches, so the shards of --shard i/N together equal one run bit for bit; voxels of\n"
      "slices another shard makes are NaN ('medsynth merge' joins shards). Every volume carries an\n"
      "invisible mark in its voxels (run id of the model, medsynth version) that 'medsynth detect'\n"
      "reads without the header; --no-mark leaves it out.\n"
      "--prompt chooses the acquisition of a model trained with model.acquisition: words (T1w, T2w, PDw,\n"
      "FLAIR; MPRAGE, SPGR, GRE, SE, TSE, IR, EPI), a field strength (3T) and KEY=VALUE (TR, TE, TI in ms\n"
      "or with s, FA in degrees, age in years, sex M/F); attributes it leaves out are 'not given'. Age and\n"
      "sex condition the model only: they are not written into the output's header.";
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    d.add_options()
        ("checkpoint", po::value<std::string>()->required(), "checkpoint written by 'medsynth train'")
        ("condition", po::value<std::string>()->default_value(""), "label map volume to synthesise from")
        ("source", po::value<std::string>()->default_value(""), "source image (other contrast, sketch) to translate")
        ("class", po::value<int>()->default_value(-1), "class / attribute id")
        ("prompt", po::value<std::string>()->default_value(""),
         "acquisition attributes, e.g. \"T2w SE 3T TR=4000 TE=100\" (model.acquisition; an unknown word lists the known ones)")
        ("like", po::value<std::string>()->default_value(""), "a volume whose grid the output takes")
        ("slices", po::value<int>()->default_value(0), "without a volume: number of slices to make")
        ("out", po::value<std::string>()->required(), "output volume (.nii.gz, .nii, .mha, .nrrd)")
        ("sampler", po::value<std::string>()->default_value(""),
         "ddim | ddpm (eps, v models); euler | heun | ddim (flow models); default: the run's sample.sampler")
        ("steps", po::value<int>()->default_value(0), "sampler steps (default: the run's sample.steps)")
        ("noise", po::value<std::string>()->default_value(""),
         "start noise across slices: independent | smooth | shared (default: the run's sample.noise)")
        ("crop", po::value<std::string>()->default_value(""),
         "sample only the box around the label map's tissue: auto | on | off (default: the run's sample.crop)")
        ("eta", po::value<double>()->default_value(0.0), "DDIM eta (0: deterministic)")
        ("guidance", po::value<double>()->default_value(1.0), "classifier-free guidance (0: unconditional)")
        ("seed", po::value<int>()->default_value(7), "seed; slice k uses (seed, k)")
        ("batch", po::value<int>()->default_value(16), "slices per batch")
        ("shard", po::value<std::string>()->default_value("0/1"), "make only shard i of N (whole batches)")
        ("device", po::value<std::string>()->default_value("cpu"), "auto | cpu | cuda | cuda:K")
        ("threads", po::value<int>()->default_value(0), "LibTorch threads (0: all cores)")
        ("no-mark", "leave out the invisible synthetic mark ('medsynth detect' finds it); a warning is printed")
        ("force", "replace the output if it exists");
  };
  c.run = [](const po::variables_map& vm) { return without_backtraces([&] { return run_sample(vm); }); };
  return c;
}

const std::vector<Command>& torch_commands() {
  static const std::vector<Command> commands = {make_train_command(), make_sample_command(), make_edit_command(),
                                                make_run_command(), make_demo_command(), make_utility_command()};
  return commands;
}

}  // namespace medsynth::pipeline

extern "C" const std::vector<medsynth::pipeline::Command>* medsynth_torch_commands() {
  return &medsynth::pipeline::torch_commands();
}
