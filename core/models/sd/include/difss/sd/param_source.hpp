// ParamSource: where the model builders (models.hpp) get their tensors. Every builder asks for
// each tensor by its checkpoint name and shape, so one construction path serves three uses:
//   - Shapes: only records (name, shape) and returns undefined tensors: the full-size parameter
//             table without allocating anything (the key-layout test uses it);
//   - Load:   hands each request to a difss::weights::Binder, which finds the checkpoint tensor,
//             checks its shape and dtype, converts it (compute dtype and device; fp16/bf16-stored
//             weights are upcast) and reports missing / unused / mismatched keys;
//   - Random: draws a deterministic random tensor (bench, tests, the random checkpoint writer).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace difss::weights {
class Binder;
}

namespace difss::sd {

// How a parameter is initialised in Random mode; also marks tensors kept in fp32 (norms).
enum class Init { Weight, Bias, NormWeight, NormBias, Embedding, Buffer };

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // buffers such as the DDPM schedule: used when present
};

class ParamSource {
 public:
  enum class Mode { Shapes, Load, Random };

  static ParamSource shapes();
  // Tensors come from `binder` (which must outlive the source) in the compute precision `dtype`
  // on the binder's device. The caller calls binder.finish() once the model is built.
  static ParamSource loading(weights::Binder& binder, at::ScalarType dtype);
  static ParamSource random(uint64_t seed, at::ScalarType dtype, c10::Device device);

  // A parameter (required). Norm parameters (Init::NormWeight/NormBias) stay float32 in any
  // precision: normalisation runs in float32.
  at::Tensor param(const std::string& name, std::vector<int64_t> shape, Init init);
  // An optional buffer: returned as stored (dtype kept, on the CPU) when present, undefined
  // when absent; Random mode returns undefined (callers compute defaults).
  at::Tensor buffer(const std::string& name, std::vector<int64_t> shape);

  Mode mode() const { return mode_; }
  const std::vector<ParamSpec>& specs() const { return specs_; }
  // Every named tensor the source produced (Load and Random modes), in build order.
  const std::vector<std::pair<std::string, at::Tensor>>& produced() const { return produced_; }

 private:
  ParamSource() = default;
  Mode mode_ = Mode::Shapes;
  at::ScalarType dtype_ = at::kFloat;
  c10::Device device_ = c10::Device(c10::kCPU);
  weights::Binder* binder_ = nullptr;
  std::shared_ptr<void> generator_;  // at::Generator, type-erased to keep this header light
  std::vector<ParamSpec> specs_;
  std::vector<std::pair<std::string, at::Tensor>> produced_;
};

}  // namespace difss::sd
