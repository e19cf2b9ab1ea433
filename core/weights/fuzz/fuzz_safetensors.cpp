// Fuzz target: .safetensors headers (length prefix, restricted JSON, offset tiling).
#include "difss/weights/error.hpp"
#include "fuzz_entry.hpp"

DIFSS_FUZZ_ENTRY(safetensors) {
  using namespace difss::weights;
  volatile unsigned sink = 0;
  try {
    CheckpointIndex index = parse_checkpoint_as(Format::Safetensors, data, size, "fuzz-input");
    sink = sink + fuzz::touch_index(index, data, size);
  } catch (const WeightError&) {
  }
  return 0;
}
