// The per-format parsers behind parse_checkpoint() (torch-free).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "difss/weights/index.hpp"

namespace difss::weights::detail {

CheckpointIndex parse_torch_zip(const std::uint8_t* data, std::size_t size, const std::string& source,
                                const ParseOptions& options);
CheckpointIndex parse_torch_legacy(const std::uint8_t* data, std::size_t size, const std::string& source,
                                   const ParseOptions& options);
CheckpointIndex parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& source,
                                  const ParseOptions& options);

// Checks a strided view against its storage and the input size (overflow-safe); throws
// WeightError naming the tensor.
void validate_view(const TensorRecord& t, const StorageRecord& s, std::uint64_t input_size,
                   const std::string& source);

}  // namespace difss::weights::detail
