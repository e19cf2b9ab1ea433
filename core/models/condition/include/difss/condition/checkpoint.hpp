// Checkpoint handling shared by the LibTorch annotators (HED, PiDiNet): where the file is, loading
// it through difss_weights, and copying it into a model's tensors with every key and shape
// checked. Errors become difss::sdk::Error with a status (NOT_FOUND, IO, INVALID_ARGUMENT) and a
// message naming the file and the key.
#pragma once

#include <difss/weights/assign.hpp>
#include <difss/weights/state_dict.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace difss::condition {

// Resolves a `checkpoint` parameter. A non-empty value is used as given (it must exist). An
// empty value looks for `file_name` in $DIFSS_MODELS_DIR and then in <plugin_dir>/models; the
// NOT_FOUND error lists the places tried and `download_hint` (where the official file lives).
std::filesystem::path resolve_checkpoint(const std::string& param, const std::string& file_name,
                                         const std::string& plugin_dir,
                                         const std::string& download_hint);

// difss::weights::load with its WeightError turned into sdk::Error(IO).
weights::StateDict load_checkpoint(const std::filesystem::path& file);

// difss::weights::assign (float tensors converted to fp32; missing, unexpected and mis-shaped keys
// all reported at once) with WeightError turned into sdk::Error(INVALID_ARGUMENT) prefixed by
// `what` (e.g. "ControlNetHED").
void assign_checked(const weights::StateDict& sd, const std::vector<weights::ParamSlot>& slots,
                    const std::string& what);

}  // namespace difss::condition
