// Writing .safetensors files (test data, trained tiny models, converted checkpoints).
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "difss/weights/state_dict.hpp"

namespace difss::weights {

// Writes every tensor of `sd` (moved to CPU, made contiguous) with the dtypes F64 F32 F16 BF16
// I64 I32 I16 I8 U8 BOOL; anything else raises WeightError. The header carries sd.metadata
// merged with `metadata` (the latter wins). Tensors are laid out by decreasing element size, then
// name, so every one is aligned; the header is padded to 8 bytes. Atomic: the data goes to a
// temporary file beside `file`, is flushed to disk, then renamed over `file`.
void save_safetensors(const std::filesystem::path& file, const StateDict& sd,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace difss::weights
