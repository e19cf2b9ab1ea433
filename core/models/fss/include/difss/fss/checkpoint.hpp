// Reading a checkpoint file into a StateDict.
//
// Goes through the core weight readers (difss_weights: torch.save zip and legacy files,
// .safetensors) when the build has them; otherwise only .safetensors is readable, with the small
// reader below. Errors are std::invalid_argument naming the file and the problem.
#pragma once

#include <map>
#include <string>

#include <difss/fss/state_dict.hpp>

namespace difss::fss {

StateDict load_state_dict_file(const std::string& path);

// The built-in .safetensors reader (F32, F16, BF16, F64, I64, I32, U8, BOOL), also used by the
// tests to read reference data. `metadata` receives "__metadata__" when not null.
StateDict read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace difss::fss
