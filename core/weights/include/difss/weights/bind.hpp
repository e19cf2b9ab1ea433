// Binding a checkpoint to a model: which stored tensor becomes which named model tensor, with the
// checks torch's load_state_dict makes (every parameter present, no key left over, shapes equal)
// plus dtype checks and conversion, and a report of what was bound, missing, unused, ignored and
// mismatched. The one binding layer of the project: model libraries name their tensors (Slots,
// listed at once with bind(), or asked for one by one while a model is built, with take()) and
// never compare keys, shapes or dtypes themselves.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "difss/weights/state_dict.hpp"

namespace difss::weights {

// How a checkpoint key becomes a model name.
struct KeyRules {
  // Removed from the start of a key: the first one that matches (DataParallel's "module.").
  std::vector<std::string> strip_prefixes;
  // Then the first matching prefix `from` is replaced by `to` ({"", "backbone."} prepends).
  std::vector<std::pair<std::string, std::string>> renames;
  // Keys no slot takes whose model name starts with one of these prefixes or ends with one of
  // these suffixes are reported as ignored instead of unused (a classifier head the model does
  // not have, BatchNorm's num_batches_tracked counters).
  std::vector<std::string> ignore_prefixes;
  std::vector<std::string> ignore_suffixes;

  std::string model_name(const std::string& key) const;
  bool ignores(const std::string& model_name) const;
};

// One tensor of a model.
struct Slot {
  std::string name;              // the model's name for it (what KeyRules make of a key)
  at::Tensor* tensor = nullptr;  // where bind() puts it (take() returns it instead)
  // The shape the model expects. Empty: the shape of *tensor when it is defined, else any.
  std::vector<std::int64_t> shape;
  bool optional = false;  // absent: left as it is and not reported missing
  // What a slot receives. A defined *tensor keeps its dtype, device and identity: the data is
  // copied in (floating-point data into a floating-point tensor only). Otherwise the stored
  // tensor converted to `dtype` when set (a floating dtype wants a floating stored tensor), else
  // floating tensors to BindOptions::float_dtype and others as stored; on BindOptions::device,
  // contiguous. keep_stored: exactly the stored tensor (dtype, device, layout).
  std::optional<at::ScalarType> dtype;
  bool keep_stored = false;
};

struct BindOptions {
  KeyRules keys;
  bool allow_missing = false;  // finish() accepts required slots the checkpoint lacks
  bool allow_unused = false;   // finish() accepts keys no slot took (they are still reported)
  // fp16/bf16 stored -> fp32 compute by default; nullopt keeps the stored dtype.
  std::optional<at::ScalarType> float_dtype = at::kFloat;
  c10::Device device = c10::Device(c10::kCPU);
  // Once a stored tensor has been converted (copied), give back its resident pages when it is a
  // view of a file loaded with MemoryMode::MapReadOnly: the peak memory of loading stays near the
  // model in its compute precision rather than file + model.
  bool release_converted = false;
};

struct BindReport {
  std::string source;                   // the checkpoint (file name)
  std::size_t keys = 0;                 // tensors in the checkpoint
  std::size_t slots = 0;                // slots asked for
  std::vector<std::string> bound;       // model names that received a tensor
  std::vector<std::string> missing;     // required model names the checkpoint lacks
  std::vector<std::string> unused;      // checkpoint keys no slot took and no rule ignores
  std::vector<std::string> ignored;     // checkpoint keys dropped by KeyRules::ignore_*
  std::vector<std::string> mismatched;  // "name: checkpoint [2, 3] vs model [3, 2]" (or dtypes)
  bool ok() const { return missing.empty() && unused.empty() && mismatched.empty(); }
  // "cannot bind 83 checkpoint tensors to 80 model tensors: missing 1: a; unused 2: b, c; ..."
  std::string summary() const;
};

class Binder {
 public:
  // `checkpoint` must outlive the Binder. Throws WeightError when two keys make one model name.
  explicit Binder(const StateDict& checkpoint, BindOptions options = {});

  // All slots at once: each is checked, and only when none of them has a problem is anything
  // assigned. A slot named twice is a WeightError.
  void bind(const std::vector<Slot>& slots);
  // One slot, for models built while they are loaded: the tensor it receives, or an undefined
  // tensor when it is absent or mismatched (recorded for the report).
  at::Tensor take(const Slot& slot);

  // What happened so far; `unused` lists the keys no slot has taken yet.
  BindReport report() const;
  // report(), or a WeightError naming the file and every problem: a mismatch, a missing
  // required slot (unless allow_missing), an unused key (unless allow_unused).
  BindReport finish() const;

 private:
  const at::Tensor* check(const Slot& slot);
  at::Tensor convert(const Slot& slot, const at::Tensor& stored) const;

  const StateDict& checkpoint_;
  BindOptions options_;
  std::map<std::string, std::string, std::less<>> key_of_;  // model name -> checkpoint key
  std::map<std::string, bool, std::less<>> taken_;          // model names asked for
  BindReport report_;
};

// Binder(checkpoint, options).bind(slots), then finish().
BindReport bind_state_dict(const StateDict& checkpoint, const std::vector<Slot>& slots,
                           const BindOptions& options = {});

}  // namespace difss::weights
