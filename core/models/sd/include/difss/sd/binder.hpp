// ParamBinder: the one construction path that both describes a model's parameters and fills
// them. Model builders (models.hpp) ask the binder for every tensor by its checkpoint name and
// shape; the binder then
//   - Shapes: only records (name, shape) and returns undefined tensors: the full-size parameter
//             table without allocating anything (the key-layout test uses it);
//   - Load:   takes the tensor from a lookup (a checkpoint), checks the shape, converts it to the
//             compute dtype / device (fp16/bf16-stored weights are upcast) and records what was
//             used; problems are collected and raised together by finish();
//   - Random: draws a deterministic random tensor (bench, tests, the random checkpoint writer).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace difss::sd {

// How a parameter is initialised in Random mode; also marks tensors kept in fp32 (norms).
enum class Init { Weight, Bias, NormWeight, NormBias, Embedding, Buffer };

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // buffers such as the DDPM schedule: used when present
};

class ParamBinder {
 public:
  enum class Mode { Shapes, Load, Random };
  // Finds a checkpoint tensor by its canonical name (nullptr when absent).
  using Lookup = std::function<const at::Tensor*(const std::string&)>;
  // Called once a tensor has been converted (copied), so the source may drop its pages.
  using Release = std::function<void(const std::string&)>;

  static ParamBinder shapes();
  static ParamBinder loading(Lookup lookup, at::ScalarType dtype, c10::Device device,
                             Release release = {});
  static ParamBinder random(uint64_t seed, at::ScalarType dtype, c10::Device device);

  // A parameter (required). Norm parameters (Init::NormWeight/NormBias) stay float32 in any
  // precision: normalisation runs in float32.
  at::Tensor param(const std::string& name, std::vector<int64_t> shape, Init init);
  // An optional buffer: returned as stored (dtype kept, on the CPU) when present, undefined
  // when absent; Random mode returns undefined (callers compute defaults).
  at::Tensor buffer(const std::string& name, std::vector<int64_t> shape);

  Mode mode() const { return mode_; }
  at::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return device_; }
  const std::vector<ParamSpec>& specs() const { return specs_; }
  // Every named tensor the binder produced (Load and Random modes), in build order.
  const std::vector<std::pair<std::string, at::Tensor>>& produced() const { return produced_; }
  // Throws std::runtime_error listing every missing key and shape mismatch (Load mode).
  void finish(const std::string& source_name) const;

 private:
  ParamBinder() = default;
  Mode mode_ = Mode::Shapes;
  at::ScalarType dtype_ = at::kFloat;
  c10::Device device_ = c10::Device(c10::kCPU);
  Lookup lookup_;
  Release release_;
  std::shared_ptr<void> generator_;  // at::Generator, type-erased to keep this header light
  std::vector<ParamSpec> specs_;
  std::vector<std::pair<std::string, at::Tensor>> produced_;
  std::vector<std::string> missing_, mismatched_;
};

}  // namespace difss::sd
