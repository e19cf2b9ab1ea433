// What a checkpoint holds, without reading any tensor data: the torch-free half of difss_weights.
//
// parse_checkpoint() turns the bytes of a file (a torch.save zip, a legacy pre-1.6 torch.save
// stream, or a .safetensors file) into a CheckpointIndex: every tensor's name, dtype, shape,
// strides and where its bytes lie. Everything in the index has been validated against the size
// of the input (ranges in bounds, sizes without overflow), so a reader can trust it. No LibTorch
// here, so the parsers can be fuzzed with clang alone (see fuzz/).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace difss::weights {

enum class DType : std::uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool, C64, C128 };

std::size_t dtype_size(DType d) noexcept;
// Safetensors spelling: "F32", "BF16", "BOOL", ...
const char* dtype_name(DType d) noexcept;

enum class Format : std::uint8_t { TorchZip, TorchLegacy, Safetensors };
const char* format_name(Format f) noexcept;  // "torch-zip", "torch-legacy", "safetensors"

// One block of raw little-endian element data in the input.
struct StorageRecord {
  std::string key;            // torch: the storage key ("0", "1", ...); safetensors: tensor name
  DType dtype = DType::F32;
  std::uint64_t numel = 0;    // elements
  std::uint64_t offset = 0;   // byte offset of the first element in the input
  std::uint64_t nbytes() const noexcept { return numel * dtype_size(dtype); }
};

// One named tensor: a strided view of a storage (several tensors may share one storage).
struct TensorRecord {
  std::string name;               // relative to CheckpointIndex::entry, keys joined with '.'
  std::size_t storage = 0;        // index into CheckpointIndex::storages
  DType dtype = DType::F32;       // same as the storage's
  std::uint64_t storage_offset = 0;  // elements
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> strides;  // elements
  std::uint64_t numel() const noexcept;
};

// A non-tensor value of a checkpoint ("epoch": 3, "arch": "tiny", ...).
using Scalar = std::variant<std::monostate, bool, std::int64_t, double, std::string>;

struct CheckpointIndex {
  Format format = Format::TorchZip;
  // The sub-dictionary the tensors were taken from, as a dotted path ("state_dict"); "" = root.
  std::string entry;
  std::vector<TensorRecord> tensors;    // file order
  std::vector<StorageRecord> storages;  // only those the tensors use
  // Non-tensor values anywhere in the pickle, by dotted path from the root ("epoch",
  // "lrs.0", "state_dict.module.x" would be a tensor and never appears here).
  std::vector<std::pair<std::string, Scalar>> extras;
  // safetensors "__metadata__" (string -> string); empty for torch files.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Tensors of the file outside `entry` (e.g. optimizer state of a Lightning .ckpt): not indexed.
  std::size_t skipped_tensors = 0;
};

struct ParseOptions {
  // Which sub-dictionary holds the tensors: "auto" (default) picks the first of "state_dict",
  // "model_state_dict", "model", "module", "net", "state" that is a dict of tensors when the
  // root dict has no tensor of its own; "" means the root; "a.b" a dotted path of dict keys.
  std::string entry = "auto";
  // Torch pickles may only reference the globals a state dict needs (OrderedDict, the tensor
  // rebuild functions, the storage types) plus a few known-inert ones (Lightning's
  // ModelCheckpoint, numpy scalars, _codecs.encode, set). Others are refused. With this set,
  // unknown globals become inert placeholders (never called: nothing is ever executed);
  // modules that only appear in exploits (os, posix, subprocess, builtins.eval, ...) stay refused.
  bool allow_inert_globals = false;
  // When set, only tensors whose (entry-relative) names it accepts are indexed; the storages of
  // the others are not even located (a damaged record they alone use does not matter).
  std::function<bool(const std::string&)> filter;
  // Work limits that turn hostile inputs into errors instead of exhausting the machine.
  std::size_t max_pickle_nodes = std::size_t{1} << 25;  // values the unpickler may create
  std::size_t max_nesting = 100;                        // dict/list depth when flattening
  std::size_t max_visits = std::size_t{1} << 22;        // values visited when flattening
};

// Sniffs the format by its first bytes. Throws WeightError (naming `source`) for anything else.
Format detect_format(const std::uint8_t* data, std::size_t size, const std::string& source);

// Parses and validates; `source` names the input in error messages. Never reads outside
// [data, data + size), never allocates more than a small multiple of `size`, never executes
// anything; every problem raises WeightError.
CheckpointIndex parse_checkpoint(const std::uint8_t* data, std::size_t size,
                                 const std::string& source, const ParseOptions& options = {});
// The same with the format given instead of sniffed.
CheckpointIndex parse_checkpoint_as(Format format, const std::uint8_t* data, std::size_t size,
                                    const std::string& source, const ParseOptions& options = {});

}  // namespace difss::weights
