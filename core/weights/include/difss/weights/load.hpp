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
  MapReadOnly,  // as Map, but the pages are read-only (writing through a tensor faults). For
                // models that never write their weights: the resident pages of such tensors can
                // be given back with release_mapped_pages() at any time.
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

// Drops the resident pages of a tensor that is a view of a file loaded with
// MemoryMode::MapReadOnly (whole pages inside its extent); the pages come back from the page
// cache on the next touch. Returns false, doing nothing, for any other tensor. Lets a pipeline
// keep only the stage it runs resident, and a loader give back the pages of a stored tensor
// once it has been converted.
bool release_mapped_pages(const at::Tensor& tensor);
void release_mapped_pages(const std::vector<at::Tensor>& tensors);

}  // namespace difss::weights
