// StateDict and the prefix / dtype helpers.
#include "difss/weights/state_dict.hpp"

#include <ATen/core/Tensor.h>

#include "difss/weights/error.hpp"
#include "messages.hpp"

namespace difss::weights {
using detail::first_line;

const at::Tensor& StateDict::at(std::string_view name) const {
  const at::Tensor* t = find(name);
  if (!t) throw WeightError(source_, "no tensor named '" + std::string(name) + "' (" + std::to_string(size()) + " tensors)");
  return *t;
}

const at::Tensor* StateDict::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &items_[it->second].tensor;
}

at::Tensor* StateDict::find(std::string_view name) {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &items_[it->second].tensor;
}

void StateDict::insert(std::string name, at::Tensor tensor) {
  auto it = index_.find(name);
  if (it != index_.end()) {
    items_[it->second].tensor = std::move(tensor);
    return;
  }
  index_.emplace(name, items_.size());
  items_.push_back({std::move(name), std::move(tensor)});
}

bool StateDict::erase(std::string_view name) {
  auto it = index_.find(name);
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
  reindex();
  return true;
}

void StateDict::reindex() {
  index_.clear();
  for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].name, i);
}

std::vector<std::string> StateDict::names() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const Item& i : items_) out.push_back(i.name);
  return out;
}

std::int64_t StateDict::numel() const {
  std::int64_t n = 0;
  for (const Item& i : items_) n += i.tensor.defined() ? i.tensor.numel() : 0;
  return n;
}

const Scalar* StateDict::extra(std::string_view path) const {
  for (const auto& [k, v] : extras)
    if (k == path) return &v;
  return nullptr;
}

StateDict strip_prefix(StateDict sd, std::string_view prefix) {
  StateDict out(sd.source());
  out.format = sd.format;
  out.entry = sd.entry;
  out.metadata = std::move(sd.metadata);
  out.extras = std::move(sd.extras);
  for (const auto& item : sd) {
    std::string name = item.name.compare(0, prefix.size(), prefix) == 0 ? item.name.substr(prefix.size()) : item.name;
    if (out.contains(name))
      throw WeightError(sd.source(), "stripping '" + std::string(prefix) + "' makes two tensors named '" + name + "'");
    out.insert(std::move(name), item.tensor);
  }
  return out;
}

StateDict select_prefix(const StateDict& sd, std::string_view prefix, bool strip) {
  StateDict out(sd.source());
  out.format = sd.format;
  out.entry = sd.entry;
  out.metadata = sd.metadata;
  out.extras = sd.extras;
  for (const auto& item : sd)
    if (item.name.compare(0, prefix.size(), prefix) == 0)
      out.insert(strip ? item.name.substr(prefix.size()) : item.name, item.tensor);
  return out;
}

StateDict convert_floats(StateDict sd, at::ScalarType dtype) {
  StateDict out(sd.source());
  out.format = sd.format;
  out.entry = sd.entry;
  out.metadata = std::move(sd.metadata);
  out.extras = std::move(sd.extras);
  try {
    for (const auto& item : sd) {
      const at::Tensor& t = item.tensor;
      out.insert(item.name, t.defined() && at::isFloatingType(t.scalar_type()) && t.scalar_type() != dtype ? t.to(dtype) : t);
    }
  } catch (const c10::Error& e) {
    throw WeightError(sd.source(), "dtype conversion failed: " + first_line(e.what()));
  }
  return out;
}

}  // namespace difss::weights
