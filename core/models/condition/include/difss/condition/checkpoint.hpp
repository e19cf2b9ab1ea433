// Checkpoint files of the LibTorch annotators (HED, PiDiNet): where the file is, and loading it
// through difss_weights. Errors become difss::sdk::Error with a status (NOT_FOUND, IO) and a
// message naming the file. Binding the tensors to a model is difss::weights::bind_state_dict.
#pragma once

#include <difss/weights/state_dict.hpp>

#include <filesystem>
#include <string>

namespace difss::condition {

// Resolves a `checkpoint` parameter. A non-empty value is used as given (it must exist). An
// empty value looks for `file_name` in $DIFSS_MODELS_DIR and then in <plugin_dir>/models; the
// NOT_FOUND error lists the places tried and `download_hint` (where the official file lives).
std::filesystem::path resolve_checkpoint(const std::string& param, const std::string& file_name,
                                         const std::string& plugin_dir,
                                         const std::string& download_hint);

// difss::weights::load with its WeightError turned into sdk::Error(IO).
weights::StateDict load_checkpoint(const std::filesystem::path& file);

}  // namespace difss::condition
