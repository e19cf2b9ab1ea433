// Multi-scale deformable attention (Zhu et al., Deformable DETR), as CyCTR uses it
// (model/ops/modules/ms_deform_attn.py of YanFangCS/CyCTR-Pytorch), natively on the CPU.
//
// The official op has only a CUDA kernel; its pure-PyTorch fallback `ms_deform_attn_core_pytorch`
// samples each level with grid_sample(bilinear, padding zeros, align_corners=False) at
// 2 * location - 1 and sums the samples weighted by the attention weights. ms_deform_attn_core is
// that computation as one direct loop: the same pixel coordinates (x = ((2 l - 1) + 1) W - 1) / 2
// in float, as grid_sample unnormalises), the same bilinear weights, corners outside the map
// contributing zero. Any number of levels, heads and points.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <difss/fss/layers.hpp>
#include <difss/fss/named_tensors.hpp>

namespace difss::fss {

using LevelShape = std::array<int64_t, 2>;  // (H_l, W_l)

// value [N, S, M, D] (S = sum of H_l W_l, levels concatenated in order); sampling_locations
// [N, Lq, M, L, P, 2] as (x, y) in [0, 1] (outside allowed); attention_weights [N, Lq, M, L, P].
// Returns [N, Lq, M * D]. float32 CPU tensors (others go through the grid_sample composition).
at::Tensor ms_deform_attn_core(const at::Tensor& value, const std::vector<LevelShape>& shapes,
                               const at::Tensor& sampling_locations, const at::Tensor& attention_weights);

// The same through at::grid_sampler per level, as the official fallback composes it (reference
// for the tests; what non-float or non-CPU tensors use).
at::Tensor ms_deform_attn_grid_sample(const at::Tensor& value, const std::vector<LevelShape>& shapes,
                                      const at::Tensor& sampling_locations, const at::Tensor& attention_weights);

// Reference points of every position of every level: the pixel centres ((j + 0.5) / W_l,
// (i + 0.5) / H_l), [1, sum H_l W_l, L, 2] (get_reference_points; the same for every level).
at::Tensor deform_reference_points(const std::vector<LevelShape>& shapes, const at::TensorOptions& options);

// The MSDeformAttn module (eval mode): sampling_offsets and attention_weights (Linear with bias),
// value_proj and output_proj (Linear without bias, CyCTR's variant).
struct MSDeformAttn {
  int64_t dims = 256, levels = 1, heads = 8, points = 4;
  Linear sampling_offsets, attention_weights, value_proj, output_proj;
  MSDeformAttn() = default;
  MSDeformAttn(int64_t dims, int64_t levels, int64_t heads, int64_t points, const at::TensorOptions& options);
  // query [N, Lq, C]; reference_points [N or 1, Lq, L, 2]; input [N, S, C]; padding_mask [N, S]
  // bool (true = padding: its values are zeroed) or undefined. Returns [N, Lq, C].
  at::Tensor forward(const at::Tensor& query, const at::Tensor& reference_points, const at::Tensor& input,
                     const std::vector<LevelShape>& shapes, const at::Tensor& padding_mask) const;
  void collect(std::vector<NamedTensor>& out, const std::string& prefix);
};

}  // namespace difss::fss
