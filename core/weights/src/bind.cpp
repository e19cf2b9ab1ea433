// Binder: checkpoint keys -> model tensors, with key, shape and dtype checks and a report.
#include "difss/weights/bind.hpp"

#include <ATen/core/Tensor.h>

#include "difss/weights/error.hpp"
#include "difss/weights/load.hpp"
#include "messages.hpp"

namespace difss::weights {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

void append(std::string& msg, const char* what, const std::vector<std::string>& names) {
  if (!names.empty()) msg += std::string(" ") + what + " " + std::to_string(names.size()) + ": " + detail::list_text(names) + ";";
}

}  // namespace

std::string KeyRules::model_name(const std::string& key) const {
  std::string name = key;
  for (const std::string& p : strip_prefixes)
    if (starts_with(name, p)) {
      name = name.substr(p.size());
      break;
    }
  for (const auto& [from, to] : renames)
    if (starts_with(name, from)) {
      name = to + name.substr(from.size());
      break;
    }
  return name;
}

bool KeyRules::ignores(const std::string& model_name) const {
  for (const std::string& p : ignore_prefixes)
    if (starts_with(model_name, p)) return true;
  for (const std::string& s : ignore_suffixes)
    if (ends_with(model_name, s)) return true;
  return false;
}

std::string BindReport::summary() const {
  std::string msg = "cannot bind " + std::to_string(keys) + " checkpoint tensors to " + std::to_string(slots) +
                    " model tensors:";
  append(msg, "missing", missing);
  append(msg, "unused", unused);
  append(msg, "mismatch", mismatched);
  msg.pop_back();
  return msg;
}

Binder::Binder(const StateDict& checkpoint, BindOptions options)
    : checkpoint_(checkpoint), options_(std::move(options)) {
  report_.source = checkpoint_.source();
  report_.keys = checkpoint_.size();
  for (const auto& item : checkpoint_) {
    std::string name = options_.keys.model_name(item.name);
    auto [it, fresh] = key_of_.emplace(name, item.name);
    if (!fresh)
      throw WeightError(checkpoint_.source(),
                        "keys '" + it->second + "' and '" + item.name + "' both become the model name '" + name + "'");
  }
}

const at::Tensor* Binder::check(const Slot& slot) {
  if (!taken_.emplace(slot.name, true).second)
    throw WeightError(checkpoint_.source(), "model tensor '" + slot.name + "' is asked for twice");
  ++report_.slots;
  auto key = key_of_.find(slot.name);
  if (key == key_of_.end()) {
    if (!slot.optional) report_.missing.push_back(slot.name);
    return nullptr;
  }
  const at::Tensor& stored = *checkpoint_.find(key->second);
  const bool into_defined = slot.tensor && slot.tensor->defined();
  std::vector<std::int64_t> expected = slot.shape;
  if (expected.empty() && into_defined) expected = slot.tensor->sizes().vec();
  if ((!slot.shape.empty() || into_defined) && stored.sizes() != at::IntArrayRef(expected)) {
    report_.mismatched.push_back(slot.name + ": checkpoint " + detail::shape_text(stored.sizes()) + " vs model " +
                                 detail::shape_text(expected));
    return nullptr;
  }
  std::optional<at::ScalarType> want;
  if (into_defined) want = slot.tensor->scalar_type();
  else if (!slot.keep_stored) want = slot.dtype;
  if (want && at::isFloatingType(*want) != at::isFloatingType(stored.scalar_type())) {
    report_.mismatched.push_back(slot.name + ": checkpoint " + c10::toString(stored.scalar_type()) + " vs model " +
                                 c10::toString(*want));
    return nullptr;
  }
  return &stored;
}

at::Tensor Binder::convert(const Slot& slot, const at::Tensor& stored) const {
  if (slot.keep_stored) return stored;
  at::ScalarType dtype = stored.scalar_type();
  if (slot.dtype)
    dtype = *slot.dtype;
  else if (options_.float_dtype && at::isFloatingType(dtype))
    dtype = *options_.float_dtype;
  at::Tensor t = stored.to(at::TensorOptions().dtype(dtype).device(options_.device)).contiguous();
  if (options_.release_converted && t.data_ptr() != stored.data_ptr()) release_mapped_pages(stored);
  return t;
}

void Binder::bind(const std::vector<Slot>& slots) {
  std::vector<const at::Tensor*> found;
  found.reserve(slots.size());
  const std::size_t mismatched_before = report_.mismatched.size();
  for (const Slot& slot : slots) {
    if (!slot.tensor) throw WeightError(checkpoint_.source(), "model tensor '" + slot.name + "' has no tensor pointer");
    found.push_back(check(slot));
  }
  const BindReport so_far = report();
  if (report_.mismatched.size() > mismatched_before || (!options_.allow_missing && !so_far.missing.empty()) ||
      (!options_.allow_unused && !so_far.unused.empty()))
    return;  // nothing assigned; finish() names every problem
  std::string current;
  try {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (!found[i]) continue;
      current = slots[i].name;
      at::Tensor& dst = *slots[i].tensor;
      if (dst.defined())
        dst.detach().copy_(*found[i]);  // keeps the slot's dtype, device and identity
      else
        dst = convert(slots[i], *found[i]);
      report_.bound.push_back(current);
    }
  } catch (const c10::Error& e) {
    throw WeightError(checkpoint_.source(), "binding '" + current + "' failed: " + detail::first_line(e.what()));
  }
}

at::Tensor Binder::take(const Slot& slot) {
  const at::Tensor* stored = check(slot);
  if (!stored) return {};
  try {
    at::Tensor t = convert(slot, *stored);
    report_.bound.push_back(slot.name);
    return t;
  } catch (const c10::Error& e) {
    throw WeightError(checkpoint_.source(), "binding '" + slot.name + "' failed: " + detail::first_line(e.what()));
  }
}

BindReport Binder::report() const {
  BindReport r = report_;
  for (const auto& item : checkpoint_) {
    const std::string name = options_.keys.model_name(item.name);
    if (taken_.count(name)) continue;
    (options_.keys.ignores(name) ? r.ignored : r.unused).push_back(item.name);
  }
  return r;
}

BindReport Binder::finish() const {
  BindReport r = report();
  BindReport problems = r;
  if (options_.allow_missing) problems.missing.clear();
  if (options_.allow_unused) problems.unused.clear();
  if (!problems.ok()) throw WeightError(checkpoint_.source(), problems.summary());
  return r;
}

BindReport bind_state_dict(const StateDict& checkpoint, const std::vector<Slot>& slots, const BindOptions& options) {
  Binder binder(checkpoint, options);
  binder.bind(slots);
  return binder.finish();
}

}  // namespace difss::weights
