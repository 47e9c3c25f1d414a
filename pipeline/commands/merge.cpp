// medsynth merge: joins the shards of `medsynth sample --shard i/N` into one volume.
#include <iostream>

#include "medsynth/io/error.h"
#include "medsynth/io/volume_io.h"
#include "medsynth/pipeline/command.h"
#include "medsynth/pipeline/shard_merge.h"

namespace medsynth::pipeline {
namespace {

int run_merge(const po::variables_map& vm) {
  const auto inputs = vm["shards"].as<std::vector<std::string>>();
  const std::string out = vm["out"].as<std::string>();
  io::detect_write_format(out);
  io::Volume merged = io::read_volume(inputs.at(0));
  for (std::size_t s = 1; s < inputs.size(); ++s) {
    const io::Volume v = io::read_volume(inputs[s]);
    if (!v.geometry.same_grid(merged.geometry, 1e-4)) {
      throw io::Error(inputs[s], "is not on the grid of " + inputs[0] + ": not a shard of the same run");
    }
    const long long twice = merge_shard(merged.voxels, v.voxels.data());
    if (twice >= 0) {
      throw io::Error(inputs[s], "overlaps another shard (voxel " + std::to_string(twice) + " is made twice)");
    }
  }
  const std::size_t missing = missing_voxels(merged.voxels);
  if (missing) {
    throw io::Error(out, std::to_string(missing) + " voxels are in no shard: is a shard missing from the list?");
  }
  io::WriteOptions wo;
  wo.force = vm.count("force") > 0;
  io::write_volume(merged, out, wo);
  std::cout << out << "\n";
  return 0;
}

}  // namespace

Command make_merge_command() {
  Command c;
  c.name = "merge";
  c.summary = "join the shards of 'medsynth sample --shard i/N' into one volume";
  c.usage = "medsynth merge SHARD... --out OUT [--force]";
  c.details =
      "Each shard holds its slices and NaN elsewhere. The shards must be on one grid, must not\n"
      "overlap and must together cover every voxel; the result equals a single run bit for bit.";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()
        ("shards", po::value<std::vector<std::string>>()->multitoken()->required(), "shard volumes")
        ("out", po::value<std::string>()->required(), "merged volume")
        ("force", "replace OUT if it exists");
    p.add("shards", -1);
  };
  c.run = run_merge;
  return c;
}

}  // namespace medsynth::pipeline
