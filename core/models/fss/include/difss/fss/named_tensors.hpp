// Named tensors of the FSS models.
//
// The models hold their weights as plain at::Tensor members (functional ATen, no torch::nn).
// Each model lists them as NamedTensor{name, &member} using the official key names (torchvision
// layout for backbones, HSNet's module names for its learner), so that loading a checkpoint is
// difss::weights binding them by name (fss/checkpoint.hpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace difss::fss {

struct NamedTensor {
  std::string name;            // e.g. "backbone.layer1.0.conv1.weight"
  at::Tensor* tensor;          // the model's member (allocated with its final shape)
  bool trainable = true;       // false for buffers (BatchNorm running statistics)
};

// While a ShapesOnly is alive (on this thread), the FSS models allocate their weights on the meta
// device: names and shapes without memory (layout tests of full-size models).
class ShapesOnly {
 public:
  ShapesOnly();
  ~ShapesOnly();
  ShapesOnly(const ShapesOnly&) = delete;
  ShapesOnly& operator=(const ShapesOnly&) = delete;

 private:
  bool previous_;
};
// float32 on the CPU, or on the meta device while a ShapesOnly is alive.
at::TensorOptions weight_options();

// Moves every tensor to `device` / `dtype` and stores 4-D ones (convolution weights) channels-last:
// with channels-last activations oneDNN's convolutions then skip their layout reorders (about
// 1.5x faster on the CPU); the values are unchanged.
void move_to_inference_layout(const std::vector<NamedTensor>& model, at::Device device, at::ScalarType dtype);

// Name -> shape of a model's tensors (for key-layout tests and error messages).
std::map<std::string, std::vector<int64_t>> shapes_of(const std::vector<NamedTensor>& model);

// Deterministic pseudo-random weights from an integer formula, reproducible in any language
// without a random generator (the parity tests write the same numbers into the official Python
// model). For the tensor named `name` (the model's name, without "module.") with n elements:
//   h   = FNV-1a 32-bit hash of name's bytes, plus seed (mod 2^32)
//   x_i = lowbias32(i + h)   (all mod 2^32: x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
//                             x *= 0x846ca68b; x ^= x >> 16)
//   u_i = (x_i >> 8) / 2^23 - 1                                   (exact, in [-1, 1))
//   ndim >= 2 (conv / linear weight):  u_i * sqrt(6 / fan_in),  fan_in = numel / shape[0]
//   name ends with ".running_var":      1 + 0.5 * |u_i|
//   name ends with ".running_mean":     0.1 * u_i
//   other 1-D ".weight" (norm scales):  1 + 0.1 * u_i
//   other 1-D (biases):                 0.1 * u_i
// computed in double, rounded once to float32.
void deterministic_init(const std::vector<NamedTensor>& model, uint32_t seed = 0);

// The integer hash of deterministic_init (also used by the tests' synthetic images).
uint32_t lowbias32(uint32_t x);

}  // namespace difss::fss
