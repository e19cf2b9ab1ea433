// What WinogradConv and DirectConv keep per convolution: oneDNN primitives by problem shape and
// the weights reordered into the layouts those primitives ask for. Internal to difss_conv.
#pragma once

#include <ATen/core/Tensor.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace difss::conv {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine();

// A float32 CPU buffer of at least `bytes`, from ATen's allocator (so benches and RSS see it).
at::Tensor buffer(size_t bytes);

// Which tensor a cache was made from: the tensor itself (held, so that no other tensor can be given
// its address meanwhile) and its version counter (in-place updates). Inference tensors (made under
// c10::InferenceMode) have no version counter; nothing in difss updates those in place.
class TensorStamp {
 public:
  bool matches(const at::Tensor& t) const;  // an undefined t matches an undefined stamp
  void set(const at::Tensor& t);
  void clear() { *this = TensorStamp(); }

 private:
  at::Tensor tensor_;
  uint32_t version_ = 0;
};

struct ConvPrimitive {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
};

struct ConvWeights {
  dnnl::memory::desc desc;
  at::Tensor buffer;
};

class ConvState {
 public:
  // Held by the caller around primitive() and transformed(); the primitives run outside it.
  std::mutex mutex;

  using Key = std::array<int64_t, 10>;  // the caller's description of the problem
  // The primitive for `key`, made by `make` the first time; a oneDNN refusal becomes a
  // std::runtime_error starting with what() (only called then).
  std::shared_ptr<const ConvPrimitive> primitive(const Key& key,
                                                 const std::function<dnnl::convolution_forward::primitive_desc()>& make,
                                                 const std::function<std::string()>& what);
  // `plain` (contiguous [O, C, kh, kw] float32) reordered into `desc`; made again when `plain` is
  // another tensor or was updated in place.
  std::shared_ptr<const ConvWeights> transformed(const at::Tensor& plain, const dnnl::memory::desc& desc);

  int64_t weight_bytes();  // takes the mutex
  void release();          // takes the mutex

 private:
  std::map<Key, std::shared_ptr<const ConvPrimitive>> primitives_;
  std::vector<std::shared_ptr<const ConvWeights>> weights_;  // by layout (one in practice)
  TensorStamp source_;  // what weights_ were reordered from
};

// A convolution's operands as oneDNN reads them: x in its own memory format (channels-last or
// contiguous NCHW), contiguous weights and bias, and the result [N, O, oh, ow] allocated in x's
// format.
struct ConvOperands {
  bool channels_last = false;
  at::Tensor x, weight, bias, out;
};
ConvOperands conv_operands(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           int64_t oh, int64_t ow);

// The memory of x's [N, C, H, W] rows first_row .. first_row + rows (NCHW or NHWC strides).
dnnl::memory rows_of(const at::Tensor& x, bool channels_last, int64_t first_row, int64_t rows);

}  // namespace difss::conv
