// The "cost" object of stage.json: what the stage took (wall and CPU time, peak memory, GFLOP,
// energy; medsynth/cost.h), per step for training and per volume for sampling.
#include "medsynth/cost_json.h"
#include "stage.h"

namespace medsynth::pipeline::run {

json stage_cost(const modules::CostMeter& meter, const json& outputs) {
  std::int64_t items = 0;
  const char* item = "";
  if (outputs.is_object() && outputs.contains("steps") && outputs["steps"].is_number_integer()) {
    items = outputs["steps"].get<std::int64_t>();  // steps done when it stopped (a resumed run: all of them)
    item = "step";
  } else if (outputs.is_object() && outputs.contains("volumes") && outputs["volumes"].is_array()) {
    items = static_cast<std::int64_t>(outputs["volumes"].size());
    item = "volume";
  }
  return meter.finish(items, item);
}

}  // namespace medsynth::pipeline::run
