#include "conv_state.hpp"

#include <ATen/ATen.h>

#include <stdexcept>

namespace difss::conv {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

namespace {
uint32_t version_of(const at::Tensor& t) { return !t.defined() || t.is_inference() ? 0 : t._version(); }
const void* address_of(const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }
}  // namespace

bool TensorStamp::matches(const at::Tensor& t) const {
  return tensor_.defined() == t.defined() && address_of(tensor_) == address_of(t) && version_ == version_of(t);
}

void TensorStamp::set(const at::Tensor& t) {
  tensor_ = t;
  version_ = version_of(t);
}

at::Tensor buffer(size_t bytes) {
  return at::empty({int64_t((bytes + sizeof(float) - 1) / sizeof(float))},
                   at::TensorOptions().dtype(at::kFloat));
}

std::shared_ptr<const ConvPrimitive> ConvState::primitive(
    const Key& key, const std::function<dnnl::convolution_forward::primitive_desc()>& make,
    const std::function<std::string()>& what) {
  auto found = primitives_.find(key);
  if (found != primitives_.end()) return found->second;
  try {
    auto pd = make();
    auto p = std::make_shared<const ConvPrimitive>(ConvPrimitive{pd, dnnl::convolution_forward(pd)});
    primitives_.emplace(key, p);
    return p;
  } catch (const dnnl::error& e) {
    throw std::runtime_error(what() + ": " + e.what());
  }
}

std::shared_ptr<const ConvWeights> ConvState::transformed(const at::Tensor& plain,
                                                          const dnnl::memory::desc& desc) {
  if (!source_.matches(plain)) {
    weights_.clear();
    source_.set(plain);
  }
  for (const auto& w : weights_)
    if (w->desc == desc) return w;
  auto t = std::make_shared<ConvWeights>(ConvWeights{desc, buffer(desc.get_size())});
  const auto d = plain.sizes();
  dnnl::memory from({{d[0], d[1], d[2], d[3]}, dt::f32, tag::oihw}, cpu_engine(), plain.data_ptr());
  dnnl::memory to(desc, cpu_engine(), t->buffer.data_ptr());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
  weights_.push_back(t);
  return t;
}

int64_t ConvState::weight_bytes() {
  std::lock_guard<std::mutex> lock(mutex);
  int64_t bytes = 0;
  for (const auto& w : weights_) bytes += int64_t(w->buffer.nbytes());
  return bytes;
}

void ConvState::release() {
  std::lock_guard<std::mutex> lock(mutex);
  primitives_.clear();
  weights_.clear();
  source_.clear();
}

ConvOperands conv_operands(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           int64_t oh, int64_t ow) {
  ConvOperands o;
  o.channels_last = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  const at::MemoryFormat format = o.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  o.x = x.contiguous(format);
  o.weight = weight.contiguous();
  o.bias = bias.defined() ? bias.contiguous() : bias;
  o.out = at::empty({x.size(0), weight.size(0), oh, ow}, o.x.options().memory_format(format));
  return o;
}

dnnl::memory rows_of(const at::Tensor& x, bool channels_last, int64_t first_row, int64_t rows) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const dnnl::memory::dims strides = channels_last ? dnnl::memory::dims{h * w * c, 1, w * c, c}
                                                   : dnnl::memory::dims{c * h * w, h * w, w, 1};
  const int64_t row = channels_last ? w * c : w;
  return dnnl::memory({{n, c, rows, w}, dt::f32, strides}, cpu_engine(),
                      static_cast<float*>(x.data_ptr()) + first_row * row);
}

}  // namespace difss::conv
