// HSNet: hypercorrelation, center-pivot 4D convolutions, HPNLearner, K-shot vote (hsnet.hpp).
#include <difss/fss/hsnet.hpp>

#include <difss/conv/matmul.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <utility>
#include <stdexcept>

namespace difss::fss {

namespace {

at::Tensor zeros(std::vector<int64_t> shape) { return at::zeros(shape, at::TensorOptions().dtype(at::kFloat)); }

// HPNLearner.make_building_block(in_channel, out_channels, kernel_sizes, spt_strides, group=4)
Conv4dBlock make_block(int64_t in, const std::array<int64_t, 3>& outs, const std::array<int64_t, 3>& ks,
                       const std::array<int64_t, 3>& strides) {
  Conv4dBlock b;
  for (int i = 0; i < 3; ++i) {
    const int64_t inch = i == 0 ? in : outs[size_t(i) - 1];
    CenterPivotConv4d c;
    c.kernel = ks[size_t(i)];
    c.stride = strides[size_t(i)];
    c.w1 = zeros({outs[size_t(i)], inch, c.kernel, c.kernel});
    c.b1 = zeros({outs[size_t(i)]});
    c.w2 = zeros({outs[size_t(i)], inch, c.kernel, c.kernel});
    c.b2 = zeros({outs[size_t(i)]});
    b.convs.push_back(c);
    b.gn_weight.push_back(at::ones({outs[size_t(i)]}, at::TensorOptions().dtype(at::kFloat)));
    b.gn_bias.push_back(zeros({outs[size_t(i)]}));
  }
  return b;
}

void collect_block(Conv4dBlock& b, std::vector<NamedTensor>& out, const std::string& p) {
  // nn.Sequential(Conv4d, GroupNorm, ReLU) x 3: indices 0/1, 3/4, 6/7.
  for (size_t i = 0; i < b.convs.size(); ++i) {
    const std::string c = p + "." + std::to_string(3 * i);
    const std::string g = p + "." + std::to_string(3 * i + 1);
    out.push_back({c + ".conv1.weight", &b.convs[i].w1, true});
    out.push_back({c + ".conv1.bias", &b.convs[i].b1, true});
    out.push_back({c + ".conv2.weight", &b.convs[i].w2, true});
    out.push_back({c + ".conv2.bias", &b.convs[i].b2, true});
    out.push_back({g + ".weight", &b.gn_weight[i], true});
    out.push_back({g + ".bias", &b.gn_bias[i], true});
  }
}

// HPNLearner.interpolate_support_dims: resizes the query dims (ha, wa) of [B, C, ha, wa, hb, wb].
at::Tensor interpolate_query_dims(const at::Tensor& x, int64_t oh, int64_t ow) {
  const int64_t B = x.size(0), C = x.size(1), ha = x.size(2), wa = x.size(3), hb = x.size(4), wb = x.size(5);
  at::Tensor y = x.permute({0, 4, 5, 1, 2, 3}).contiguous().view({B * hb * wb, C, ha, wa});
  y = at::upsample_bilinear2d(y, {oh, ow}, /*align_corners=*/true);
  return y.view({B, hb, wb, C, oh, ow}).permute({0, 3, 4, 5, 1, 2}).contiguous();
}

std::string shape_str(at::IntArrayRef s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

// ---- inference layout ------------------------------------------------------------------------
//
// At inference on the CPU the learner keeps each 4D tensor in memory as [B, ha, wa, hb, wb, C]
// ("channels last" over four spatial dims) behind its logical shape [B, C, ha, wa, hb, wb] (a
// permuted view). The center-pivot branches are thousands of small images with few channels, for
// which oneDNN's convolution runs 1.6-3x faster channels-last than NCHW; in this layout branch 2's
// images (over the support dims) and its result are plain views, branch 1 needs one copy of its
// pruned input and its result is added through a permuted view, GroupNorm reduces over contiguous
// rows of channels, and the interpolation over the query dims runs as ATen's channels-last kernel
// on a 4D view. The
// official NCHW computation (training keeps it) agrees to float rounding: same convolutions, same
// additions, reductions in another order. Training and other devices keep NCHW.
bool channels_last_inference(const at::Tensor& x) { return !at::GradMode::is_enabled() && x.device().is_cpu(); }

// Logical [B, C, ha, wa, hb, wb] <-> memory order [B, ha, wa, hb, wb, C].
at::Tensor memory_order(const at::Tensor& x) { return x.permute({0, 2, 3, 4, 5, 1}); }
at::Tensor logical_order(const at::Tensor& m) { return m.permute({0, 5, 1, 2, 3, 4}); }

// [N, h, w, c] rows in memory as the NCHW-shaped channels-last images ATen convolves.
at::Tensor images_nhwc(const at::Tensor& m, int64_t h, int64_t w, int64_t c) {
  return m.view({-1, h, w, c}).permute({0, 3, 1, 2});
}
at::Tensor nhwc_rows(const at::Tensor& y) {  // channels-last [N, O, h, w] -> memory [N, h, w, O]
  return (y.is_contiguous(at::MemoryFormat::ChannelsLast) ? y : y.contiguous(at::MemoryFormat::ChannelsLast))
      .permute({0, 2, 3, 1});
}

// A convolution of the learner at fp32 CPU inference, through difss::conv (core/models/conv) where
// given: stride-1 3x3 ones through oneDNN's Winograd kernels where the policy says so, those on
// images smaller than the kernel as one dense matrix product, the others through DirectConv
// (cached primitives and weights); ATen's call otherwise.
struct LearnerConvPaths {
  const conv::WinogradConv* winograd = nullptr;
  const conv::SmallImageConv* dense = nullptr;
  const conv::DirectConv* direct = nullptr;
};

at::Tensor learner_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, int64_t stride,
                        const LearnerConvPaths& paths) {
  const int64_t k = w.size(2), C = w.size(1), O = w.size(0);
  if (paths.winograd && conv::winograd_applies(x, w, stride, k / 2)) return paths.winograd->forward(x, w, b);
  const bool inference = !at::GradMode::is_enabled() && x.device().is_cpu() &&
                         x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat && w.size(3) == k;
  if (inference && paths.dense && conv::SmallImageConv::worthwhile(C, x.size(2), x.size(3), O, k))
    return paths.dense->forward(x, w, b, stride, k / 2);
  if (inference && paths.direct) return paths.direct->forward(x, w, b, stride, k / 2);
  return at::conv2d(x, w, b, {stride, stride}, {k / 2, k / 2});
}

at::Tensor center_pivot_channels_last(const CenterPivotConv4d& c, const at::Tensor& x) {
  const at::Tensor m = memory_order(x).contiguous();  // a view when x is already in this layout
  const int64_t B = m.size(0), ha = m.size(1), wa = m.size(2), hb = m.size(3), wb = m.size(4), C = m.size(5);
  // Branch 2: over the support dims, with the stride; its images are views of x.
  at::Tensor o2 = nhwc_rows(learner_conv(images_nhwc(m, hb, wb, C), c.w2, c.b2, c.stride, {nullptr, &c.dense2, &c.direct2}));
  const int64_t lh = o2.size(1), lw = o2.size(2), O = o2.size(3);
  at::Tensor out = o2.view({B, ha, wa, lh, lw, O});
  // Branch 1: the support dims pruned with the stride, over the query dims: one copy.
  const at::Tensor pruned = c.stride > 1 ? m.slice(3, 0, hb, c.stride).slice(4, 0, wb, c.stride) : m;
  if (pruned.size(3) != lh || pruned.size(4) != lw)
    throw std::invalid_argument("CenterPivotConv4d: branch shapes differ [" + std::to_string(pruned.size(3)) + ", " +
                                std::to_string(pruned.size(4)) + "] vs [" + std::to_string(lh) + ", " +
                                std::to_string(lw) + "] support dims");
  const at::Tensor imgs = pruned.permute({0, 3, 4, 1, 2, 5}).contiguous();  // [B, lh, lw, ha, wa, C]
  at::Tensor o1 = nhwc_rows(learner_conv(images_nhwc(imgs, ha, wa, C), c.w1, c.b1, 1, {&c.winograd1, nullptr, &c.direct1}));
  out.add_(o1.view({B, lh, lw, ha, wa, O}).permute({0, 3, 4, 1, 2, 5}));  // o2 + o1 == o1 + o2 in IEEE
  return logical_order(out);
}

// Per (sample, channel) mean and biased variance of rows [B, S, C] (float), accumulated in double
// over fixed chunks of rows (so the result does not depend on the thread count); E[x^2] - E[x]^2
// in double loses nothing that matters unless |mean| / std exceeds ~1e6.
std::pair<at::Tensor, at::Tensor> channel_mean_var(const at::Tensor& rows) {
  const int64_t B = rows.size(0), S = rows.size(1), C = rows.size(2), chunk = 1024;
  const int64_t chunks = (S + chunk - 1) / chunk;
  std::vector<double> part(size_t(B * chunks * 2 * C), 0.0);
  const float* x = rows.data_ptr<float>();
  at::parallel_for(0, B * chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t k = first; k < last; ++k) {
      const int64_t b = k / chunks, s0 = (k % chunks) * chunk, s1 = std::min(S, s0 + chunk);
      double* sum = part.data() + k * 2 * C;
      double* sq = sum + C;
      for (int64_t s = s0; s < s1; ++s) {
        const float* r = x + (b * S + s) * C;
        for (int64_t c = 0; c < C; ++c) {
          const double v = r[c];
          sum[c] += v;
          sq[c] += v * v;
        }
      }
    }
  });
  at::Tensor mean = at::empty({B, C}, rows.options().dtype(at::kDouble)), var = at::empty_like(mean);
  double* mp = mean.data_ptr<double>();
  double* vp = var.data_ptr<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0, sq = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        sum += part[size_t(((b * chunks + k) * 2) * C + c)];
        sq += part[size_t(((b * chunks + k) * 2 + 1) * C + c)];
      }
      const double m = sum / double(S);
      mp[b * C + c] = m;
      vp[b * C + c] = std::max(0.0, sq / double(S) - m * m);
    }
  return {mean, var};
}

// GroupNorm(4) + ReLU on the layout above: statistics per channel (channel_mean_var), combined
// per group (equal counts: mean of the means; mean of the variances plus the variance of the
// means), then x * scale + shift per channel, as ATen's GroupNorm applies it. (ATen 1.13's own
// channels-last GroupNorm takes E[x^2] - E[x]^2 in float, which cancels catastrophically when a
// group's mean is large against its spread: errors of order 1 measured.)
at::Tensor group_norm_relu_channels_last(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::Tensor m = memory_order(x).contiguous();
  const int64_t B = m.size(0), C = m.size(5), G = 4;
  const at::Tensor rows = m.view({B, -1, C});
  at::Tensor stats_mean, stats_var;
  if (rows.scalar_type() == at::kFloat) {
    std::tie(stats_mean, stats_var) = channel_mean_var(rows);
  } else {
    std::tie(stats_var, stats_mean) = at::var_mean(rows.to(at::kDouble), {1}, /*unbiased=*/false);
  }
  const at::Tensor gm = stats_mean.view({B, G, C / G}), gv = stats_var.view({B, G, C / G});
  const at::Tensor mean = gm.mean(2, true);
  const at::Tensor var = gv.mean(2, true) + (gm - mean).square().mean(2, true);  // [B, G, 1]
  const at::Tensor rstd = (var + 1e-5).rsqrt_().expand({B, G, C / G}).reshape({B, 1, C});
  const at::Tensor scale = (rstd * w.to(at::kDouble).view({1, 1, C}));
  const at::Tensor shift = b.to(at::kDouble).view({1, 1, C}) - mean.expand({B, G, C / G}).reshape({B, 1, C}) * scale;
  return logical_order(
      at::addcmul(shift.to(rows.scalar_type()), rows, scale.to(rows.scalar_type())).relu_().view(m.sizes()));
}

// HPNLearner.interpolate_support_dims on the layout above: the query dims (ha, wa) are the
// spatial dims of a channels-last image with hb * wb * C channels.
at::Tensor interpolate_query_dims_channels_last(const at::Tensor& x, int64_t oh, int64_t ow) {
  const at::Tensor m = memory_order(x).contiguous();
  const int64_t B = m.size(0), ha = m.size(1), wa = m.size(2), hb = m.size(3), wb = m.size(4), C = m.size(5);
  at::Tensor y = at::upsample_bilinear2d(images_nhwc(m, ha, wa, hb * wb * C), {oh, ow}, /*align_corners=*/true);
  return logical_order(nhwc_rows(y).view({B, oh, ow, hb, wb, C}));
}

// The level's correlations [B, ha, wa, hb, wb] side by side as the channels of one tensor
// [B, ha, wa, hb, wb, n]: one pass over each (ATen's copy into a stride-n destination runs
// element by element, ~5 ns each here).
at::Tensor interleave(const std::vector<at::Tensor>& parts, const std::vector<int64_t>& shape) {
  at::Tensor out = at::empty(shape, parts.front().options());
  const int64_t n = int64_t(parts.size());
  if (out.scalar_type() != at::kFloat) {
    for (int64_t i = 0; i < n; ++i) out.select(-1, i).copy_(parts[size_t(i)]);
    return out;
  }
  std::vector<at::Tensor> src;
  std::vector<const float*> p;
  for (const at::Tensor& t : parts) {
    src.push_back(t.contiguous());
    p.push_back(src.back().data_ptr<float>());
  }
  float* o = out.data_ptr<float>();
  at::parallel_for(0, src.front().numel(), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
      for (int64_t i = 0; i < n; ++i) o[j * n + i] = p[size_t(i)][j];
  });
  return out;
}

}  // namespace

at::Tensor CenterPivotConv4d::forward(const at::Tensor& x) const {
  if (channels_last_inference(x)) return center_pivot_channels_last(*this, x);
  const int64_t pad = kernel / 2;
  // Branch 1: prune the support dims with the stride (indices recomputed for this input), then
  // convolve over the query dims.
  at::Tensor p = stride > 1 ? x.slice(4, 0, x.size(4), stride).slice(5, 0, x.size(5), stride) : x;
  const int64_t B = p.size(0), C = p.size(1), ha = p.size(2), wa = p.size(3), lh = p.size(4), lw = p.size(5);
  auto images = [&](const at::Tensor& t, std::array<int64_t, 6> o) {  // dims o -> [n0*n1*n2, C, h, w]
    return t.permute(o).contiguous().view({-1, C, t.size(o[4]), t.size(o[5])});
  };
  at::Tensor o1 = at::conv2d(images(p, {0, 4, 5, 1, 2, 3}), w1, b1, {1, 1}, {pad, pad});
  o1 = o1.contiguous().view({B, lh, lw, o1.size(1), ha, wa}).permute({0, 3, 4, 5, 1, 2}).contiguous();
  // Branch 2: convolve over the support dims with the stride.
  at::Tensor o2 = at::conv2d(images(x, {0, 2, 3, 1, 4, 5}), w2, b2, {stride, stride}, {pad, pad}).contiguous();
  o2 = o2.view({B, ha, wa, o2.size(1), o2.size(2), o2.size(3)}).permute({0, 3, 1, 2, 4, 5}).contiguous();
  if (o1.sizes() != o2.sizes())
    throw std::invalid_argument("CenterPivotConv4d: branch shapes differ " + shape_str(o1.sizes()) + " vs " +
                                shape_str(o2.sizes()));
  return o1 + o2;
}

at::Tensor Conv4dBlock::forward(at::Tensor x) const {
  for (size_t i = 0; i < convs.size(); ++i) {
    x = convs[i].forward(x);
    x = channels_last_inference(x) ? group_norm_relu_channels_last(x, gn_weight[i], gn_bias[i])
                                   : at::relu(at::group_norm(x, 4, gn_weight[i], gn_bias[i], 1e-5));
  }
  return x;
}

HPNLearner::HPNLearner(const std::array<int64_t, 3>& inch) {
  const int64_t o1 = 16, o2 = 64, o3 = 128;
  encoder_layer4 = make_block(inch[0], {o1, o2, o3}, {3, 3, 3}, {2, 2, 2});
  encoder_layer3 = make_block(inch[1], {o1, o2, o3}, {5, 3, 3}, {4, 2, 2});
  encoder_layer2 = make_block(inch[2], {o1, o2, o3}, {5, 5, 3}, {4, 4, 2});
  encoder_layer4to3 = make_block(o3, {o3, o3, o3}, {3, 3, 3}, {1, 1, 1});
  encoder_layer3to2 = make_block(o3, {o3, o3, o3}, {3, 3, 3}, {1, 1, 1});
  dec1_w0 = zeros({o3, o3, 3, 3});
  dec1_b0 = zeros({o3});
  dec1_w2 = zeros({o2, o3, 3, 3});
  dec1_b2 = zeros({o2});
  dec2_w0 = zeros({o2, o2, 3, 3});
  dec2_b0 = zeros({o2});
  dec2_w2 = zeros({2, o2, 3, 3});
  dec2_b2 = zeros({2});
}

at::Tensor HPNLearner::forward(const std::vector<at::Tensor>& pyr) const {
  if (pyr.size() != 3) throw std::invalid_argument("HPNLearner: expected 3 hypercorrelation levels");
  at::Tensor sqz4 = encoder_layer4.forward(pyr[0]);
  at::Tensor sqz3 = encoder_layer3.forward(pyr[1]);
  at::Tensor sqz2 = encoder_layer2.forward(pyr[2]);
  auto check_support_dims = [](const at::Tensor& a, const at::Tensor& b) {
    if (a.size(4) != b.size(4) || a.size(5) != b.size(5))
      throw std::invalid_argument(
          "HSNet: the squeezed support dimensions of two pyramid levels differ (" + shape_str(a.sizes()) +
          " vs " + shape_str(b.sizes()) + "); this input size is not usable with HSNet (the official "
          "code fails the same way)");
  };
  check_support_dims(sqz4, sqz3);
  check_support_dims(sqz3, sqz2);
  const bool cl = channels_last_inference(sqz2);
  auto interpolate = [cl](const at::Tensor& x, const at::Tensor& like) {
    return cl ? interpolate_query_dims_channels_last(x, like.size(2), like.size(3))
              : interpolate_query_dims(x, like.size(2), like.size(3));
  };
  at::Tensor mix43 = interpolate(sqz4, sqz3) + sqz3;
  mix43 = encoder_layer4to3.forward(mix43);
  at::Tensor mix432 = interpolate(mix43, sqz2) + sqz2;
  mix432 = encoder_layer3to2.forward(mix432);
  const int64_t B = mix432.size(0), C = mix432.size(1), ha = mix432.size(2), wa = mix432.size(3);
  // The mean over the support dims; the decoder then runs on NCHW as the official one does.
  at::Tensor enc = cl ? memory_order(mix432).reshape({B, ha, wa, -1, C}).mean(3).permute({0, 3, 1, 2}).contiguous()
                      : mix432.view({B, C, ha, wa, -1}).mean(-1);
  at::Tensor d = at::relu(at::conv2d(enc, dec1_w0, dec1_b0, {1, 1}, {1, 1}));
  d = at::relu(at::conv2d(d, dec1_w2, dec1_b2, {1, 1}, {1, 1}));
  const int64_t up = d.size(-1) * 2;  // HSNet uses the width for both sides
  d = at::upsample_bilinear2d(d, {up, up}, /*align_corners=*/true);
  d = at::relu(learner_conv(d, dec2_w0, dec2_b0, 1, {&dec2_winograd0, nullptr, nullptr}));
  return at::conv2d(d, dec2_w2, dec2_b2, {1, 1}, {1, 1});
}

std::vector<NamedTensor> HPNLearner::named_tensors() {
  std::vector<NamedTensor> out;
  collect_block(encoder_layer4, out, "encoder_layer4");
  collect_block(encoder_layer3, out, "encoder_layer3");
  collect_block(encoder_layer2, out, "encoder_layer2");
  collect_block(encoder_layer4to3, out, "encoder_layer4to3");
  collect_block(encoder_layer3to2, out, "encoder_layer3to2");
  out.push_back({"decoder1.0.weight", &dec1_w0, true});
  out.push_back({"decoder1.0.bias", &dec1_b0, true});
  out.push_back({"decoder1.2.weight", &dec1_w2, true});
  out.push_back({"decoder1.2.bias", &dec1_b2, true});
  out.push_back({"decoder2.0.weight", &dec2_w0, true});
  out.push_back({"decoder2.0.bias", &dec2_b0, true});
  out.push_back({"decoder2.2.weight", &dec2_w2, true});
  out.push_back({"decoder2.2.bias", &dec2_b2, true});
  return out;
}

namespace {
// ||x||_2 over dim 1 of [B, C, n], kept: as torch.norm, except at float32 CPU inference, where the
// square root of a sum of squares is 4-8x faster than ATen 1.13's norm over a non-innermost dim
// (2.2 vs 0.5 ms for 512 x 2500) and the same to float rounding (~3e-7 relative). (Squares in
// half precision could overflow: those keep torch.norm.)
at::Tensor channel_norm(const at::Tensor& x) {
  if (at::GradMode::is_enabled() || !x.device().is_cpu() || x.scalar_type() != at::kFloat)
    return at::norm(x, 2, {1}, /*keepdim=*/true);
  return (x * x).sum(1, /*keepdim=*/true).sqrt_();
}
}  // namespace

namespace {
// max(q^T s, 0) for q^T [n, C] (a transposed view) and s [C, m]: through oneDNN's matmul at fp32
// CPU inference (2.1x OpenBLAS's Haswell kernels here; the clamp fused), at::mm otherwise.
at::Tensor correlate(const at::Tensor& qt, const at::Tensor& s) {
  if (!at::GradMode::is_enabled() && qt.device().is_cpu() && qt.scalar_type() == at::kFloat &&
      s.scalar_type() == at::kFloat)
    return conv::matmul(qt, s, /*relu=*/true);
  return at::mm(qt, s).clamp_min_(0);
}
}  // namespace

std::vector<at::Tensor> multilayer_correlation(const std::vector<at::Tensor>& qf, const std::vector<at::Tensor>& sf,
                                               const std::array<int64_t, 3>& counts) {
  if (qf.size() != sf.size() || int64_t(qf.size()) != counts[0] + counts[1] + counts[2])
    throw std::invalid_argument("multilayer_correlation: feature counts do not match the pyramid levels");
  const double eps = 1e-5;
  std::vector<at::Tensor> corrs;
  for (size_t i = 0; i < qf.size(); ++i) {
    const int64_t B = sf[i].size(0), hb = sf[i].size(2), wb = sf[i].size(3);
    at::Tensor s = sf[i].flatten(2);  // [B, C, h*w]
    at::Tensor s_norm = channel_norm(s);
    s = s / (s_norm + eps);
    const int64_t ha = qf[i].size(2), wa = qf[i].size(3);
    at::Tensor q = qf[i].flatten(2);
    q = q / (channel_norm(q) + eps);
    // A support position outside the (masked) support has a zero feature, so its correlation
    // column is exactly 0 after the clamp: only the others are multiplied out (the masked support
    // of a typical episode is a fraction of the image). Without a gradient only.
    at::Tensor nonzero = s_norm.squeeze(1).ne(0);  // [B, hb * wb]
    const int64_t kept = nonzero.sum().item<int64_t>();
    if (at::GradMode::is_enabled()) {
      corrs.push_back(at::bmm(q.transpose(1, 2), s).view({B, ha, wa, hb, wb}).clamp_min(0));
      continue;
    }
    if (kept == nonzero.numel()) {
      std::vector<at::Tensor> per_image;
      for (int64_t b = 0; b < B; ++b) per_image.push_back(correlate(q[b].t(), s[b]));
      corrs.push_back(at::stack(per_image).view({B, ha, wa, hb, wb}));
      continue;
    }
    at::Tensor corr = at::zeros({B, ha * wa, hb * wb}, q.options());
    for (int64_t b = 0; b < B; ++b) {
      at::Tensor idx = nonzero[b].nonzero().view({-1});
      if (idx.numel() == 0) continue;
      corr[b].index_copy_(1, idx, correlate(q[b].t(), s[b].index_select(1, idx)));
    }
    corrs.push_back(corr.view({B, ha, wa, hb, wb}));
  }
  // Levels, coarsest first: the last counts[0] features, the counts[1] before them, ...
  std::vector<at::Tensor> out;
  int64_t end = int64_t(corrs.size());
  for (int l = 0; l < 3; ++l) {
    std::vector<at::Tensor> level(corrs.begin() + (end - counts[size_t(l)]), corrs.begin() + end);
    // [B, n, ha, wa, hb, wb]; at inference in the learner's channels-last layout (a permuted view).
    if (channels_last_inference(level.front())) {
      std::vector<int64_t> shape = level.front().sizes().vec();
      shape.push_back(int64_t(level.size()));
      out.push_back(logical_order(interleave(level, shape)));
    } else {
      out.push_back(at::stack(level).transpose(0, 1).contiguous());
    }
    end -= counts[size_t(l)];
  }
  return out;
}

HSNet::HSNet(std::unique_ptr<Backbone> backbone)
    : backbone_(std::move(backbone)), learner_(backbone_->level_counts()) {}

HSNet::HSNet(const std::string& backbone_name) : HSNet(make_backbone(backbone_name)) {}

std::vector<at::Tensor> HSNet::features(const at::Tensor& image) const { return backbone_->hypercolumn(image); }

at::Tensor HSNet::forward_features(const std::vector<at::Tensor>& qf, std::vector<at::Tensor> sf,
                                   const at::Tensor& support_mask) const {
  // HSNet.mask_feature: the mask resized (bilinear, align_corners=True) to each feature.
  at::Tensor m = support_mask.unsqueeze(1).to(sf.front().scalar_type());
  for (auto& f : sf) f = f * at::upsample_bilinear2d(m, {f.size(2), f.size(3)}, /*align_corners=*/true);
  return learner_.forward(multilayer_correlation(qf, sf, backbone_->level_counts()));
}

at::Tensor HSNet::forward(const at::Tensor& query, const at::Tensor& support, const at::Tensor& support_mask) const {
  return forward_features(features(query), features(support), support_mask);
}

std::vector<NamedTensor> HSNet::named_tensors() {
  std::vector<NamedTensor> out;
  for (auto& nt : backbone_->named_tensors()) out.push_back({"backbone." + nt.name, nt.tensor, nt.trainable});
  for (auto& nt : learner_tensors()) out.push_back(nt);
  return out;
}

std::vector<NamedTensor> HSNet::learner_tensors() {
  std::vector<NamedTensor> out;
  for (auto& nt : learner_.named_tensors()) out.push_back({"hpn_learner." + nt.name, nt.tensor, nt.trainable});
  return out;
}

std::vector<std::string> HSNet::unused_prefixes() const {
  std::vector<std::string> p;
  for (const auto& u : backbone_->unused_prefixes()) p.push_back("backbone." + u);
  return p;
}

void HSNet::to(at::Device device, at::ScalarType dtype) {
  backbone_->to(device, dtype);
  for (auto& nt : learner_.named_tensors()) *nt.tensor = nt.tensor->to(device, dtype);
}

at::Tensor upsample_logits(const at::Tensor& logits, std::array<int64_t, 2> size) {
  return at::upsample_bilinear2d(logits, {size[0], size[1]}, /*align_corners=*/true);
}

at::Tensor hsnet_loss(const at::Tensor& logits, const at::Tensor& gt_mask) {
  const int64_t B = logits.size(0);
  return at::cross_entropy_loss(logits.reshape({B, 2, -1}), gt_mask.reshape({B, -1}).to(at::kLong));
}

namespace {
// argmax over HSNet's two classes, without argmax's index bookkeeping (4 % of a 1-shot
// episode's time at 480x640): foreground where its logit is larger; ties go to background, as
// argmax's first maximum does.
at::Tensor foreground_wins(const at::Tensor& logits) { return logits.select(1, 1).gt(logits.select(1, 0)); }
}  // namespace

HSNetPrediction predict_from_logits(const std::vector<at::Tensor>& shot_logits, std::array<int64_t, 2> out_size,
                                    const std::vector<double>& weights) {
  if (shot_logits.empty()) throw std::invalid_argument("predict_from_logits: no shots");
  if (!weights.empty() && weights.size() != shot_logits.size())
    throw std::invalid_argument("predict_from_logits: " + std::to_string(weights.size()) + " weights for " +
                                std::to_string(shot_logits.size()) + " shots");
  const bool weighted = std::any_of(weights.begin(), weights.end(), [](double w) { return w != 1.0; });
  HSNetPrediction pred;
  if (shot_logits.size() == 1) {
    at::Tensor logits = upsample_logits(shot_logits[0], out_size).to(at::kFloat);
    pred.prob = at::softmax(logits, 1).select(1, 1).contiguous();
    pred.mask = foreground_wins(logits).to(at::kByte);
    return pred;
  }
  at::Tensor votes;
  for (size_t k = 0; k < shot_logits.size(); ++k) {
    at::Tensor v = foreground_wins(upsample_logits(shot_logits[k], out_size)).to(at::kLong);
    if (weighted) v = v.to(at::kDouble) * weights[k];  // the max below is then the largest weighted vote
    votes = votes.defined() ? votes + v : v;
  }
  at::Tensor max_vote = std::get<0>(votes.view({votes.size(0), -1}).max(1));
  // At least one (weighted: the smallest weight) vote, so that no vote at all stays background.
  max_vote = weighted ? max_vote.clamp_min(*std::min_element(weights.begin(), weights.end())) : max_vote.clamp_min(1);
  max_vote = max_vote.view({-1, 1, 1});
  pred.prob = votes.to(at::kFloat) / max_vote.to(at::kFloat);
  pred.mask = (pred.prob >= 0.5).to(at::kByte);
  return pred;
}

HSNetPrediction predict_nshot(const HSNet& net, const at::Tensor& query, const at::Tensor& supports,
                              const at::Tensor& masks, std::array<int64_t, 2> out_size,
                              const std::vector<double>& weights) {
  const int64_t K = supports.size(0);
  if (K < 1 || masks.size(0) != K) throw std::invalid_argument("predict_nshot: need K >= 1 supports with masks");
  std::vector<at::Tensor> qf = net.features(query);
  std::vector<at::Tensor> logits;
  for (int64_t k = 0; k < K; ++k)
    logits.push_back(net.forward_features(qf, net.features(supports.narrow(0, k, 1)), masks.narrow(0, k, 1)));
  return predict_from_logits(logits, out_size, weights);
}

}  // namespace difss::fss
