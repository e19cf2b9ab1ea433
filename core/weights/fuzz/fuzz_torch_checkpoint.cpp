// Fuzz target: torch.save files (zip + pickle, legacy stream) through the restricted unpickler.
// Each input is parsed twice: strict, and with unknown globals allowed as inert placeholders.
#include "difss/weights/error.hpp"
#include "fuzz_entry.hpp"

DIFSS_FUZZ_ENTRY(torch_checkpoint) {
  using namespace difss::weights;
  volatile unsigned sink = 0;
  for (bool inert : {false, true}) {
    ParseOptions options;
    options.allow_inert_globals = inert;
    options.max_pickle_nodes = 1u << 20;  // keep single runs fast; the limits are what is tested
    options.max_visits = 1u << 20;
    try {
      CheckpointIndex index = parse_checkpoint(data, size, "fuzz-input", options);
      sink = sink + fuzz::touch_index(index, data, size);
    } catch (const WeightError&) {
    }
  }
  return 0;
}
