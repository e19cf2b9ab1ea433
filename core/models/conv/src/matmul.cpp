// conv::matmul: oneDNN's matmul primitive on ATen tensors (oneDNN's primitive cache keeps the
// primitive for repeated shapes).
#include <difss/conv/matmul.hpp>

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <stdexcept>
#include <string>

#include "conv_state.hpp"

namespace difss::conv {
namespace {
// a 2-D float tensor as oneDNN memory with its own strides (one of them must be 1).
at::Tensor plain(const at::Tensor& t) { return t.stride(0) == 1 || t.stride(1) == 1 ? t : t.contiguous(); }
dnnl::memory::desc desc_of(const at::Tensor& t) {
  return dnnl::memory::desc({t.size(0), t.size(1)}, dt::f32, dnnl::memory::dims{t.stride(0), t.stride(1)});
}
}  // namespace

at::Tensor matmul(const at::Tensor& a_in, const at::Tensor& b_in, bool relu) {
  RECORD_FUNCTION("difss::matmul", std::vector<c10::IValue>({a_in, b_in}));  // for --profile
  if (a_in.dim() != 2 || b_in.dim() != 2 || a_in.size(1) != b_in.size(0) || a_in.scalar_type() != at::kFloat ||
      b_in.scalar_type() != at::kFloat || !a_in.device().is_cpu() || !b_in.device().is_cpu())
    throw std::invalid_argument("conv::matmul: expected float32 CPU matrices [M, K] x [K, N]; got " +
                                std::string(c10::str(a_in.sizes())) + " x " + std::string(c10::str(b_in.sizes())));
  const at::Tensor a = plain(a_in), b = plain(b_in);
  at::Tensor c = at::empty({a.size(0), b.size(1)}, a.options());
  if (c.numel() == 0) return c;
  if (a.size(1) == 0) return c.zero_();  // an empty sum
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(desc_of(a), desc_of(b), desc_of(c)), attr, cpu_engine());
  const at::Tensor scratch = buffer(pd.scratchpad_desc().get_size());
  dnnl::engine& engine = cpu_engine();
  dnnl::stream stream(engine);
  dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), engine, a.data_ptr())},
                                    {DNNL_ARG_WEIGHTS, dnnl::memory(pd.weights_desc(), engine, b.data_ptr())},
                                    {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), engine, c.data_ptr())},
                                    {DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), engine, scratch.data_ptr())}});
  stream.wait();
  return c;
}

}  // namespace difss::conv
