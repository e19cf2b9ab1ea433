// StateDict, the prefix helpers, and assign().
#include "difss/weights/state_dict.hpp"

#include <ATen/core/Tensor.h>

#include <regex>
#include <set>
#include <sstream>

#include "difss/weights/assign.hpp"
#include "difss/weights/error.hpp"

namespace difss::weights {
namespace {

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string first_line(const char* what) {
  std::string s(what);
  std::size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// "a, b, c (and 7 more)"
std::string list_text(const std::vector<std::string>& names, std::size_t max = 12) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += " (and " + std::to_string(names.size() - max) + " more)";
  return out;
}

}  // namespace

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

AssignReport assign(const StateDict& sd, const std::vector<ParamSlot>& params, const AssignOptions& options) {
  AssignReport report;
  std::vector<std::string> mismatched, unexpected;
  std::set<std::string, std::less<>> wanted;
  for (const ParamSlot& p : params) {
    if (!p.tensor) throw WeightError(sd.source(), "parameter slot '" + p.name + "' has no tensor pointer");
    if (!wanted.insert(p.name).second) throw WeightError(sd.source(), "parameter '" + p.name + "' is listed twice");
    const at::Tensor* src = sd.find(p.name);
    if (!src) {
      report.missing.push_back(p.name);
      continue;
    }
    std::vector<std::int64_t> expected = p.shape;
    bool check = !expected.empty() || p.tensor->defined();
    if (expected.empty() && p.tensor->defined()) expected = p.tensor->sizes().vec();
    if (check && src->sizes() != at::IntArrayRef(expected))
      mismatched.push_back(p.name + ": checkpoint " + shape_text(src->sizes()) + " vs model " + shape_text(expected));
  }
  std::optional<std::regex> ignore;
  if (!options.ignore_unexpected_regex.empty()) {
    try {
      ignore.emplace(options.ignore_unexpected_regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw WeightError(sd.source(), "bad ignore_unexpected_regex '" + options.ignore_unexpected_regex + "': " + e.what());
    }
  }
  for (const auto& item : sd) {
    if (wanted.count(item.name)) continue;
    if (options.allow_unexpected || (ignore && std::regex_search(item.name, *ignore)))
      report.unexpected.push_back(item.name);
    else
      unexpected.push_back(item.name);
  }
  const bool missing_bad = !options.allow_missing && !report.missing.empty();
  if (missing_bad || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = "cannot assign " + std::to_string(sd.size()) + " checkpoint tensors to " +
                      std::to_string(params.size()) + " parameters:";
    if (missing_bad) msg += " missing " + std::to_string(report.missing.size()) + ": " + list_text(report.missing) + ";";
    if (!unexpected.empty()) msg += " unexpected " + std::to_string(unexpected.size()) + ": " + list_text(unexpected) + ";";
    if (!mismatched.empty())
      msg += " shape mismatch " + std::to_string(mismatched.size()) + ": " + list_text(mismatched) + ";";
    msg.pop_back();
    throw WeightError(sd.source(), msg);
  }
  std::string current;
  try {
    for (const ParamSlot& p : params) {
      const at::Tensor* src = sd.find(p.name);
      if (!src) continue;
      current = p.name;
      if (p.tensor->defined()) {
        p.tensor->detach().copy_(*src);  // keeps the slot's dtype, device and identity
      } else {
        at::Tensor t = *src;
        if (options.float_dtype && at::isFloatingType(t.scalar_type()) && t.scalar_type() != *options.float_dtype)
          t = t.to(*options.float_dtype);
        *p.tensor = t.contiguous();
      }
      report.assigned.push_back(p.name);
    }
  } catch (const c10::Error& e) {
    throw WeightError(sd.source(), "assigning '" + current + "' failed: " + first_line(e.what()));
  }
  return report;
}

}  // namespace difss::weights
