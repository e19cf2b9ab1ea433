// Copying a StateDict into a model's parameter tensors, with the checks load_state_dict makes:
// every parameter present, no unexpected key, shapes equal; and dtype conversion on the way.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "difss/weights/state_dict.hpp"

namespace difss::weights {

// One parameter of a model: its checkpoint name and the tensor it lives in.
struct ParamSlot {
  std::string name;
  at::Tensor* tensor = nullptr;
  // The shape the model expects. Empty: the shape of *tensor when it is defined, else any.
  std::vector<std::int64_t> shape;
};

struct AssignOptions {
  bool allow_missing = false;           // parameters absent from the checkpoint stay as they are
  bool allow_unexpected = false;        // checkpoint tensors no parameter asks for are ignored
  std::string ignore_unexpected_regex;  // ... or only those matching this (ECMAScript, search)
  // Floating-point tensors (F16/BF16/F32/F64) become this dtype when assigned into an undefined
  // slot ("fp16 stored -> fp32 compute"); nullopt keeps the stored dtype. Integer and bool
  // tensors keep theirs. A defined slot keeps its own dtype and device (the data is copied in).
  std::optional<at::ScalarType> float_dtype = at::kFloat;
};

struct AssignReport {
  std::vector<std::string> assigned;
  std::vector<std::string> missing;     // allowed ones (otherwise it threw)
  std::vector<std::string> unexpected;  // ignored ones (otherwise it threw)
};

// For every slot: a defined *tensor receives the data by copy_ (its dtype, device and identity
// are kept); an undefined one is set to the checkpoint tensor (converted, contiguous).
// Problems — missing parameters, unexpected keys, shape mismatches — are all collected and
// raised together as one WeightError naming each key; nothing is assigned then.
AssignReport assign(const StateDict& sd, const std::vector<ParamSlot>& params,
                    const AssignOptions& options = {});

}  // namespace difss::weights
