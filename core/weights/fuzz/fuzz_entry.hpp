// One source per fuzz target, two builds:
//  - clang -fsanitize=fuzzer (DIFSS_LIBFUZZER defined): the function is LLVMFuzzerTestOneInput;
//  - g++ in the normal build: it is difss_fuzz_<name>(), called by the replay test driver.
// An entry returns normally for every input; WeightError is the only exception a parser may
// raise, anything else escapes and is reported as a crash.
#pragma once
#include <cstddef>
#include <cstdint>

#include "difss/weights/index.hpp"

#ifdef DIFSS_LIBFUZZER
#define DIFSS_FUZZ_ENTRY(name) extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#else
#define DIFSS_FUZZ_ENTRY(name) int difss_fuzz_##name(const std::uint8_t* data, std::size_t size)
int difss_fuzz_torch_checkpoint(const std::uint8_t* data, std::size_t size);
int difss_fuzz_safetensors(const std::uint8_t* data, std::size_t size);
#endif

namespace difss::weights::fuzz {

// Reads the first and last byte of every storage and of every tensor's last element, so that a
// wrong range in an accepted index becomes an AddressSanitizer report (or a checksum mismatch).
inline unsigned touch_index(const CheckpointIndex& index, const std::uint8_t* data, std::size_t size) {
  unsigned sum = 0;
  for (const StorageRecord& s : index.storages) {
    if (s.offset > size || s.nbytes() > size - s.offset) __builtin_trap();
    if (s.numel == 0) continue;
    sum += data[s.offset] + data[s.offset + s.nbytes() - 1];
  }
  for (const TensorRecord& t : index.tensors) {
    if (t.storage >= index.storages.size()) __builtin_trap();
    const StorageRecord& s = index.storages[t.storage];
    if (t.numel() == 0) continue;
    std::uint64_t last = t.storage_offset;
    for (std::size_t i = 0; i < t.sizes.size(); ++i)
      last += static_cast<std::uint64_t>(t.sizes[i] - 1) * static_cast<std::uint64_t>(t.strides[i]);
    if (last >= s.numel) __builtin_trap();
    sum += data[s.offset + last * dtype_size(s.dtype)];
  }
  return sum;
}

}  // namespace difss::weights::fuzz
