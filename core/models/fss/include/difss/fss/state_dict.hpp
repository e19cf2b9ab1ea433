// Named tensors of the FSS models and how a checkpoint's state dict is assigned to them.
//
// The models hold their weights as plain at::Tensor members (functional ATen, no torch::nn).
// Each model lists them as NamedTensor{name, &member, shape} using the official key names
// (torchvision layout for backbones, HSNet's module names for its learner), so that loading is
// "match keys, check shapes, copy".
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace difss::fss {

// name -> tensor, as torch's state_dict() (ordered by name).
using StateDict = std::map<std::string, at::Tensor>;

struct NamedTensor {
  std::string name;            // e.g. "backbone.layer1.0.conv1.weight"
  at::Tensor* tensor;          // the model's member (allocated with its final shape)
  bool trainable = true;       // false for buffers (BatchNorm running statistics)
};

struct LoadReport {
  std::vector<std::string> loaded;      // model names that received a value
  std::vector<std::string> missing;     // model names absent from the state dict
  std::vector<std::string> unexpected;  // state dict keys the model does not have (and not ignored)
  std::vector<std::string> ignored;     // keys dropped on purpose (see LoadOptions::ignore)
  std::vector<std::string> mismatched;  // "name: checkpoint [a, b] vs model [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // One paragraph naming the first few problems of each kind.
  std::string summary(const std::string& source) const;
};

struct LoadOptions {
  // Removed from the start of every checkpoint key when present (DataParallel's "module.").
  std::vector<std::string> strip_prefixes{"module."};
  // Prepended to every checkpoint key after stripping (e.g. "backbone." to load a torchvision
  // classifier file into the backbone of a segmenter).
  std::string add_prefix;
  // Keys (after stripping/prefixing) that start with one of these, or end with one of
  // ignore_suffixes, are dropped without complaint: the classifier head (unused by the
  // segmenters) and BatchNorm's num_batches_tracked counters.
  std::vector<std::string> ignore_prefixes;
  std::vector<std::string> ignore_suffixes{".num_batches_tracked"};
  // Only names of the model starting with this prefix are expected (others are not "missing").
  std::string expect_prefix;
  // Throw (naming the source and the problems) unless everything matched.
  bool strict = true;
};

// Copies every matching state dict tensor into the model's members (converted to the member's
// dtype and device). Shape mismatches are never copied. Throws std::invalid_argument with
// report.summary(source) when options.strict and !report.ok().
LoadReport assign_state_dict(const std::vector<NamedTensor>& model, const StateDict& sd,
                             const LoadOptions& options, const std::string& source);

// Name -> shape of a model's tensors (for key-layout tests and error messages).
std::map<std::string, std::vector<int64_t>> shapes_of(const std::vector<NamedTensor>& model);

// Deterministic pseudo-random weights from an integer formula, reproducible in any language
// without a random generator (the parity tests write the same numbers into the official Python
// model). For the tensor named `name` (the model's name, without "module.") with n elements:
//   h   = FNV-1a 32-bit hash of name's bytes, plus seed (mod 2^32)
//   x_i = lowbias32(i + h)   (all mod 2^32: x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
//                             x *= 0x846ca68b; x ^= x >> 16)
//   u_i = (x_i >> 8) / 2^23 - 1                                   (exact, in [-1, 1))
//   ndim >= 2 (conv / linear weight):  u_i * sqrt(6 / fan_in),  fan_in = numel / shape[0]
//   name ends with ".running_var":      1 + 0.5 * |u_i|
//   name ends with ".running_mean":     0.1 * u_i
//   other 1-D ".weight" (norm scales):  1 + 0.1 * u_i
//   other 1-D (biases):                 0.1 * u_i
// computed in double, rounded once to float32.
void deterministic_init(const std::vector<NamedTensor>& model, uint32_t seed = 0);

}  // namespace difss::fss
