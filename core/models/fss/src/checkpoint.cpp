#include <difss/fss/checkpoint.hpp>

#include <difss/weights/error.hpp>
#include <difss/weights/load.hpp>

#include <filesystem>
#include <stdexcept>

namespace difss::fss {

std::vector<weights::Slot> slots_of(const std::vector<NamedTensor>& model, const std::string& required_prefix) {
  std::vector<weights::Slot> slots;
  slots.reserve(model.size());
  for (const NamedTensor& nt : model) {
    weights::Slot s{nt.name, nt.tensor};
    s.optional = nt.name.compare(0, required_prefix.size(), required_prefix) != 0;
    slots.push_back(std::move(s));
  }
  return slots;
}

weights::BindOptions bind_options(std::vector<std::string> ignore_prefixes, std::vector<std::string> strip_prefixes) {
  weights::BindOptions o;
  o.keys.strip_prefixes = std::move(strip_prefixes);
  o.keys.ignore_prefixes = std::move(ignore_prefixes);
  o.keys.ignore_suffixes = {".num_batches_tracked"};
  return o;
}

weights::BindReport load_into(const std::vector<NamedTensor>& model, const std::string& path,
                              const weights::BindOptions& options, const std::string& required_prefix) {
  if (path.empty()) throw std::invalid_argument("no checkpoint path given");
  try {
    return weights::bind_state_dict(weights::load(path), slots_of(model, required_prefix), options);
  } catch (const weights::WeightError& e) {
    throw std::invalid_argument(e.what());
  }
}

void init_or_load(const std::vector<NamedTensor>& all, const std::string& checkpoint, bool test_weights,
                  const std::string& model, std::vector<std::string> ignore_prefixes) {
  if (test_weights) {
    if (!checkpoint.empty()) throw std::invalid_argument("set either 'checkpoint' or 'test_weights', not both");
    deterministic_init(all);
    return;
  }
  if (checkpoint.empty())
    throw std::invalid_argument("'checkpoint' is required (an official " + model + " .pth or a .safetensors with its keys)");
  if (!std::filesystem::is_regular_file(checkpoint)) throw std::invalid_argument("checkpoint: file not found: " + checkpoint);
  load_into(all, checkpoint, bind_options(std::move(ignore_prefixes)));
}

}  // namespace difss::fss
