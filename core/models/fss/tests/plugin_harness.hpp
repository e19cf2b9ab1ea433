// Test helpers for the segmenter plugins: build a plugin object from parameter overrides (through
// the same schema check the host applies) and call segment() with at::Tensor inputs.
#pragma once

#include <difss/sdk/plugin.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <ATen/DLConvertor.h>

#include "catch_torch.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace difss::test {

using ParamValue = std::variant<bool, int64_t, double, std::string>;

template <class T>
std::unique_ptr<T> make_plugin(const std::map<std::string, ParamValue>& overrides) {
  std::vector<difss_param> ps;
  for (const auto& [name, v] : overrides) {
    difss_param p{};
    p.struct_size = sizeof(p);
    p.name = name.c_str();
    if (std::holds_alternative<bool>(v)) p.value.type = DIFSS_PARAM_BOOL, p.value.b = std::get<bool>(v);
    else if (std::holds_alternative<int64_t>(v)) p.value.type = DIFSS_PARAM_INT, p.value.i = std::get<int64_t>(v);
    else if (std::holds_alternative<double>(v)) p.value.type = DIFSS_PARAM_FLOAT, p.value.f = std::get<double>(v);
    else p.value.type = DIFSS_PARAM_STRING, p.value.s = std::get<std::string>(v).c_str();
    ps.push_back(p);
  }
  const auto* d = sdk::detail::descriptor_of<T>();
  sdk::Params params(d->src.id, ps.data(), uint32_t(ps.size()));
  params.check_against(d->desc);
  return std::make_unique<T>(sdk::Host(nullptr, d->src.id), params);
}

// Owns DLPack views of at::Tensor inputs for one segment() call.
struct SegmentCall {
  std::vector<DLManagedTensor*> owned;
  ~SegmentCall() {
    for (auto* t : owned) t->deleter(t);
  }
  const DLTensor* view(const at::Tensor& t) {
    owned.push_back(at::toDLPack(t.contiguous()));
    return &owned.back()->dl_tensor;
  }
  sdk::SegmenterOutput run(sdk::Segmenter& seg, const at::Tensor& query, const std::vector<at::Tensor>& imgs,
                           const std::vector<at::Tensor>& masks,
                           difss_output_size output_size = DIFSS_OUTPUT_QUERY, int out_h = 0, int out_w = 0) {
    sdk::SegmenterInput in{*view(query), {}, {}, {}};
    in.output_size = output_size;
    in.output_height = out_h;
    in.output_width = out_w;
    for (size_t k = 0; k < imgs.size(); ++k) {
      in.support_images.push_back(view(imgs[k]));
      in.support_masks.push_back(view(masks[k]));
      in.support_is_auxiliary.push_back(false);
    }
    sdk::Call call(nullptr);
    return seg.segment(in, call);
  }
};

inline at::Tensor as_at(const sdk::OwnedTensor& t) { return sdk::as_tensor(t.dl()).clone(); }

// A two-class segmenter's outputs at h x w: prob within [0, 1], and mask = argmax, which agrees with
// prob > 0.5 (ties aside).
inline void check_two_class_output(const at::Tensor& prob, const at::Tensor& mask, int64_t h, int64_t w) {
  CHECK(prob.sizes() == at::IntArrayRef({h, w}));
  CHECK(mask.sizes() == at::IntArrayRef({h, w}));
  CHECK(prob.min().item<float>() >= 0.0f);
  CHECK(prob.max().item<float>() <= 1.0f);
  CHECK(mask.eq((prob > 0.5).to(at::kByte)).to(at::kFloat).mean().item<double>() > 0.999);
}

// The status an sdk::Error thrown by f() carries (DIFSS_OK when f() returns), its message in *msg.
inline difss_status status_of(const std::function<void()>& f, std::string* msg = nullptr) {
  try {
    f();
  } catch (const sdk::Error& e) {
    if (msg) *msg = e.what();
    return e.status();
  }
  return DIFSS_OK;
}

}  // namespace difss::test
