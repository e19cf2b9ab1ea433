// Loading a checkpoint file into an FSS model's named tensors: read by difss_weights (torch.save
// zip and legacy files, .safetensors), bound by difss::weights::Binder (keys, shapes, dtypes
// checked; a report of bound / missing / unused / ignored names).
#pragma once

#include <string>
#include <vector>

#include <difss/fss/named_tensors.hpp>
#include <difss/weights/bind.hpp>

namespace difss::fss {

// The model's tensors as binding slots. Tensors whose names do not start with `required_prefix`
// are optional: loaded when the checkpoint has them, not missing when it has not.
std::vector<weights::Slot> slots_of(const std::vector<NamedTensor>& model, const std::string& required_prefix = "");

// Key rules of the official FSS checkpoints: DataParallel's "module." stripped, BatchNorm's
// num_batches_tracked counters and `ignore_prefixes` (heads the model does not have) ignored.
weights::BindOptions bind_options(std::vector<std::string> ignore_prefixes,
                                  std::vector<std::string> strip_prefixes = {"module."});

// Reads `path` and binds it to `model`. Throws std::invalid_argument (the plugins' "bad
// parameter" error) naming the file and every missing, unused or mismatched key.
weights::BindReport load_into(const std::vector<NamedTensor>& model, const std::string& path,
                              const weights::BindOptions& options, const std::string& required_prefix = "");

// A model's weights for an engine: deterministic test weights (test_weights) or `checkpoint`
// bound by name ("module." stripped, `ignore_prefixes` ignored). std::invalid_argument when both
// or neither are given, or the file is missing (`model` names what the checkpoint should be).
void init_or_load(const std::vector<NamedTensor>& model, const std::string& checkpoint, bool test_weights,
                  const std::string& model_name, std::vector<std::string> ignore_prefixes = {});

}  // namespace difss::fss
