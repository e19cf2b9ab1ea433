// difss_weights: checkpoint readers (.pth / .ckpt / legacy torch.save / .safetensors) and the
// safetensors writer. See core/weights/README.md.
#pragma once
#include "difss/weights/bind.hpp"
#include "difss/weights/error.hpp"
#include "difss/weights/index.hpp"
#include "difss/weights/load.hpp"
#include "difss/weights/save.hpp"
#include "difss/weights/state_dict.hpp"
