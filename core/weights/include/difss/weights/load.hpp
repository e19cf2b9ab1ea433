// Reading checkpoints into a StateDict: torch.save zips (.pth/.pt/.bin, Lightning .ckpt), legacy
// torch.save streams (before torch 1.6) and .safetensors. No Python, no code execution.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "difss/weights/index.hpp"
#include "difss/weights/state_dict.hpp"

namespace difss::weights {

enum class MemoryMode {
  Auto,  // Map for .safetensors, Copy for torch files
  Copy,  // every storage is read once into memory the tensors own; the file is closed after
  Map,   // tensors point into a private (copy-on-write) mapping of the file, kept alive by the
         // tensors; no copy at all. Storages that are misaligned for their dtype (possible in
         // legacy files) and bool storages are copied. The file must not be truncated or
         // rewritten in place while such tensors live (that would be SIGBUS, as with any mmap).
};

struct LoadOptions {
  // Sub-dictionary holding the tensors of a torch checkpoint: "auto", "" (root) or a dotted path
  // (see ParseOptions::entry). Ignored for .safetensors.
  std::string entry = "auto";
  // When set, only tensors whose (entry-relative) names it accepts are loaded; the storages of
  // the others are not read at all.
  std::function<bool(const std::string&)> filter;
  MemoryMode memory = MemoryMode::Auto;
  // See ParseOptions::allow_inert_globals.
  bool allow_inert_globals = false;
};

// A filter accepting names that start with any of `prefixes`.
std::function<bool(const std::string&)> keep_prefixes(std::vector<std::string> prefixes);

// Sniffs the format from the first bytes (not from the extension) and loads.
StateDict load(const std::filesystem::path& file, const LoadOptions& options = {});
// Like load(), but insists on a torch.save file (zip or legacy) / a .safetensors file.
StateDict load_pth(const std::filesystem::path& file, const LoadOptions& options = {});
StateDict load_safetensors(const std::filesystem::path& file, const LoadOptions& options = {});

// Loads from bytes in memory; the tensors always own copies (MemoryMode is ignored).
// `name` stands for the file in error messages.
StateDict load_from_memory(const void* data, std::size_t size, const std::string& name,
                           const LoadOptions& options = {});

// Names, dtypes, shapes and extras without reading any tensor data.
CheckpointIndex inspect(const std::filesystem::path& file, const LoadOptions& options = {});

}  // namespace difss::weights
