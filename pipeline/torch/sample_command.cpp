// `medsynth sample`: a volume from a checkpoint and a condition (synthesis.h).
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "command_util.h"
#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/config.h"
#include "medsynth/pipeline/prompt.h"
#include "medsynth/pipeline/stop.h"
#include "medsynth/pipeline/synthesis.h"
#include "medsynth/pipeline/torch_commands.h"

namespace fs = std::filesystem;

namespace medsynth::pipeline {
namespace {

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

}  // namespace medsynth::pipeline
