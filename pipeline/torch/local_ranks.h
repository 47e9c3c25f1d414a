#pragma once
// --nproc N: a command started as N data-parallel ranks on this machine.
#include <string>

#include "medsynth/pipeline/command.h"

namespace medsynth::pipeline {

// Starts N copies of `medsynth COMMAND <the same arguments but --nproc>` with RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR and MASTER_PORT (a free port of 127.0.0.1) set, and --train.threads
// cores/N unless given. A stop signal sent to this process is passed on to every rank. When one rank
// fails, the others are stopped; the first failure's exit code is returned (75 when stopped).
int launch_local_ranks(const std::string& command, int n, const po::variables_map& vm);

}  // namespace medsynth::pipeline
