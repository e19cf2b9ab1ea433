// Multi-scale deformable attention on the CPU (msdeform_attn.hpp).
#include <difss/fss/msdeform_attn.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <stdexcept>

namespace difss::fss {

namespace {

void check_shapes(const at::Tensor& value, const std::vector<LevelShape>& shapes, const at::Tensor& loc,
                  const at::Tensor& aw) {
  if (value.dim() != 4 || loc.dim() != 6 || loc.size(5) != 2 || aw.dim() != 5)
    throw std::invalid_argument(
        "ms_deform_attn: expected value [N, S, M, D], locations [N, Lq, M, L, P, 2], weights [N, Lq, M, L, P]");
  int64_t total = 0;
  for (const LevelShape& s : shapes) total += s[0] * s[1];
  const int64_t N = value.size(0), M = value.size(2), Lq = loc.size(1), L = loc.size(3), P = loc.size(4);
  if (total != value.size(1) || int64_t(shapes.size()) != L)
    throw std::invalid_argument("ms_deform_attn: the level shapes do not cover the value's positions / levels");
  if (loc.size(0) != N || loc.size(2) != M || aw.size(0) != N || aw.size(1) != Lq || aw.size(2) != M ||
      aw.size(3) != L || aw.size(4) != P)
    throw std::invalid_argument("ms_deform_attn: value, locations and weights disagree on N, Lq, M, L or P");
}

}  // namespace

at::Tensor ms_deform_attn_grid_sample(const at::Tensor& value, const std::vector<LevelShape>& shapes,
                                      const at::Tensor& loc, const at::Tensor& aw) {
  check_shapes(value, shapes, loc, aw);
  const int64_t N = value.size(0), M = value.size(2), D = value.size(3), Lq = loc.size(1), L = loc.size(3),
                P = loc.size(4);
  at::Tensor grids = loc * 2 - 1;
  std::vector<at::Tensor> sampled;
  int64_t start = 0;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t H = shapes[size_t(l)][0], W = shapes[size_t(l)][1];
    at::Tensor v = value.narrow(1, start, H * W).flatten(2).transpose(1, 2).reshape({N * M, D, H, W});
    at::Tensor g = grids.select(3, l).transpose(1, 2).flatten(0, 1);  // [N*M, Lq, P, 2]
    sampled.push_back(at::grid_sampler(v, g, /*bilinear*/ 0, /*zeros*/ 0, /*align_corners=*/false));
    start += H * W;
  }
  at::Tensor w = aw.transpose(1, 2).reshape({N * M, 1, Lq, L * P});
  at::Tensor out = (at::stack(sampled, -2).flatten(-2) * w).sum(-1).view({N, M * D, Lq});
  return out.transpose(1, 2).contiguous();
}

at::Tensor ms_deform_attn_core(const at::Tensor& value, const std::vector<LevelShape>& shapes, const at::Tensor& loc,
                               const at::Tensor& aw) {
  check_shapes(value, shapes, loc, aw);
  const bool cpu_float = value.is_cpu() && loc.is_cpu() && aw.is_cpu() && value.scalar_type() == at::kFloat &&
                         loc.scalar_type() == at::kFloat && aw.scalar_type() == at::kFloat;
  if (!cpu_float) return ms_deform_attn_grid_sample(value, shapes, loc, aw);
  const int64_t N = value.size(0), S = value.size(1), M = value.size(2), D = value.size(3), Lq = loc.size(1),
                L = loc.size(3), P = loc.size(4);
  const at::Tensor v = value.contiguous(), lc = loc.contiguous(), wc = aw.contiguous();
  at::Tensor out = at::zeros({N, Lq, M * D}, value.options());
  const float* vp = v.data_ptr<float>();
  const float* lp = lc.data_ptr<float>();
  const float* wp = wc.data_ptr<float>();
  float* op = out.data_ptr<float>();
  std::vector<int64_t> starts(size_t(L), 0);
  for (int64_t l = 1; l < L; ++l) starts[size_t(l)] = starts[size_t(l - 1)] + shapes[size_t(l - 1)][0] * shapes[size_t(l - 1)][1];

  at::parallel_for(0, N * Lq, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / Lq;
      const float* li = lp + i * M * L * P * 2;
      const float* wi = wp + i * M * L * P;
      float* oi = op + i * M * D;
      for (int64_t m = 0; m < M; ++m) {
        float* om = oi + m * D;
        for (int64_t l = 0; l < L; ++l) {
          const int64_t H = shapes[size_t(l)][0], W = shapes[size_t(l)][1];
          // value[n, start_l + y * W + x, m, :]
          const float* base = vp + ((n * S + starts[size_t(l)]) * M + m) * D;
          for (int64_t p = 0; p < P; ++p) {
            const int64_t k = (m * L + l) * P + p;
            const float a = wi[k];
            // grid_sample's unnormalisation (align_corners=False) of the grid 2 * loc - 1.
            const float gx = li[2 * k] * 2.0f - 1.0f, gy = li[2 * k + 1] * 2.0f - 1.0f;
            const float x = (gx + 1.0f) * (float(W) * 0.5f) - 0.5f;
            const float y = (gy + 1.0f) * (float(H) * 0.5f) - 0.5f;
            if (!(x > -1.0f && y > -1.0f && x < float(W) && y < float(H))) continue;  // all four corners outside (or NaN)
            const float xf = std::floor(x), yf = std::floor(y);
            const int64_t x0 = int64_t(xf), y0 = int64_t(yf);
            const float fx = x - xf, fy = y - yf;
            const float cw[4] = {(1.0f - fy) * (1.0f - fx), (1.0f - fy) * fx, fy * (1.0f - fx), fy * fx};
            const int64_t cy[4] = {y0, y0, y0 + 1, y0 + 1}, cx[4] = {x0, x0 + 1, x0, x0 + 1};
            for (int c = 0; c < 4; ++c) {
              if (cy[c] < 0 || cy[c] >= H || cx[c] < 0 || cx[c] >= W) continue;  // zero padding
              const float f = a * cw[c];
              const float* src = base + (cy[c] * W + cx[c]) * M * D;
              for (int64_t d = 0; d < D; ++d) om[d] += f * src[d];
            }
          }
        }
      }
    }
  });
  return out;
}

at::Tensor deform_reference_points(const std::vector<LevelShape>& shapes, const at::TensorOptions& o) {
  std::vector<at::Tensor> levels;
  for (const LevelShape& s : shapes) {
    const int64_t H = s[0], W = s[1];
    at::Tensor ry = at::linspace(0.5, double(H) - 0.5, H, o.dtype(at::kFloat)) / double(H);
    at::Tensor rx = at::linspace(0.5, double(W) - 0.5, W, o.dtype(at::kFloat)) / double(W);
    at::Tensor ref = at::stack({rx.view({1, W}).expand({H, W}), ry.view({H, 1}).expand({H, W})}, -1);
    levels.push_back(ref.reshape({1, H * W, 2}));
  }
  at::Tensor ref = at::cat(levels, 1);  // [1, S, 2]
  return ref.unsqueeze(2).repeat({1, 1, int64_t(shapes.size()), 1}).to(o.dtype());
}

MSDeformAttn::MSDeformAttn(int64_t d, int64_t l, int64_t h, int64_t p, const at::TensorOptions& o)
    : dims(d), levels(l), heads(h), points(p), sampling_offsets(d, h * l * p * 2, true, o),
      attention_weights(d, h * l * p, true, o), value_proj(d, d, false, o), output_proj(d, d, false, o) {
  if (d % h != 0)
    throw std::invalid_argument("MSDeformAttn: d_model " + std::to_string(d) + " is not divisible by " +
                                std::to_string(h) + " heads");
}

at::Tensor MSDeformAttn::forward(const at::Tensor& query, const at::Tensor& ref, const at::Tensor& input,
                                 const std::vector<LevelShape>& shapes, const at::Tensor& padding_mask) const {
  const int64_t N = query.size(0), Lq = query.size(1), S = input.size(1);
  at::Tensor value = value_proj(input);
  if (padding_mask.defined()) value = value.masked_fill(padding_mask.unsqueeze(-1), 0.0);
  value = value.view({N, S, heads, dims / heads});
  at::Tensor off = sampling_offsets(query).view({N, Lq, heads, levels, points, 2});
  at::Tensor aw = attention_weights(query).view({N, Lq, heads, levels * points}).softmax(-1);
  aw = aw.view({N, Lq, heads, levels, points});
  std::vector<float> wh;
  for (const LevelShape& s : shapes) {
    wh.push_back(float(s[1]));
    wh.push_back(float(s[0]));
  }
  at::Tensor normalizer = at::tensor(wh, query.options().device(at::kCPU)).to(query.device()).view({1, 1, 1, levels, 1, 2});
  at::Tensor loc = ref.view({ref.size(0), Lq, 1, levels, 1, 2}) + off / normalizer;
  return output_proj(ms_deform_attn_core(value, shapes, loc, aw));
}

void MSDeformAttn::collect(std::vector<NamedTensor>& out, const std::string& p) {
  sampling_offsets.collect(out, p + ".sampling_offsets");
  attention_weights.collect(out, p + ".attention_weights");
  value_proj.collect(out, p + ".value_proj");
  output_proj.collect(out, p + ".output_proj");
}

}  // namespace difss::fss
