// StateDict: an ordered name -> at::Tensor map, as read from a checkpoint, plus what came with it.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "difss/weights/index.hpp"

namespace difss::weights {

class StateDict {
 public:
  struct Item {
    std::string name;
    at::Tensor tensor;
  };

  StateDict() = default;
  explicit StateDict(std::string source) : source_(std::move(source)) {}

  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }
  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }

  // The tensor named `name`; throws WeightError naming the source and the key when absent.
  const at::Tensor& at(std::string_view name) const;
  // nullptr when absent.
  const at::Tensor* find(std::string_view name) const;
  at::Tensor* find(std::string_view name);

  // Adds a tensor, or replaces the tensor of that name in place (its position is kept).
  void insert(std::string name, at::Tensor tensor);
  // Removes `name`; false when it was not there.
  bool erase(std::string_view name);

  std::vector<std::string> names() const;
  std::vector<Item>::const_iterator begin() const noexcept { return items_.begin(); }
  std::vector<Item>::const_iterator end() const noexcept { return items_.end(); }
  const std::vector<Item>& items() const noexcept { return items_; }

  // Total number of elements over all tensors (shared storages counted per tensor).
  std::int64_t numel() const;

  // Where it came from (the file path; used in error messages).
  const std::string& source() const noexcept { return source_; }
  void set_source(std::string source) { source_ = std::move(source); }

  Format format = Format::Safetensors;  // of the file it was read from
  std::string entry;                    // sub-dictionary the tensors came from ("state_dict")
  // safetensors "__metadata__"; written back by save_safetensors.
  std::map<std::string, std::string> metadata;
  // Non-tensor values of a torch checkpoint by dotted path ("epoch" -> 3).
  std::vector<std::pair<std::string, Scalar>> extras;

  // The extra at `path`, or nullptr.
  const Scalar* extra(std::string_view path) const;

 private:
  void reindex();

  std::string source_;
  std::vector<Item> items_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

// Removes `prefix` from the names that start with it; other names are kept unchanged.
// Throws WeightError when two names collide afterwards.
StateDict strip_prefix(StateDict sd, std::string_view prefix);
// Only the tensors whose names start with `prefix`; `strip` also removes the prefix.
StateDict select_prefix(const StateDict& sd, std::string_view prefix, bool strip = true);
// Converts every floating-point tensor (F16, BF16, F32, F64) to `dtype`; others stay as they are.
StateDict convert_floats(StateDict sd, at::ScalarType dtype = at::kFloat);

}  // namespace difss::weights
