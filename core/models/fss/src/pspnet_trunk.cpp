// The PSPNet trunk of BAM / HDMNet (pspnet_trunk.hpp).
#include <difss/fss/pspnet_trunk.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace difss::fss {

PSPNetNames PSPNetNames::pspnet() { return {"ppm", "cls.0", "cls.1", "cls.4"}; }
PSPNetNames PSPNetNames::bam() { return {"learner_base.0", "learner_base.1.0", "learner_base.1.1", "learner_base.1.4"}; }
PSPNetNames PSPNetNames::hdmnet() { return {"ppm", "cls.0", "cls.1", "base_learnear.2"}; }

PSPNetTrunk::PSPNetTrunk(int64_t classes, std::array<int, 4> blocks, at::Device device) : classes_(classes) {
  if (classes < 1) throw std::invalid_argument("PSPNet: classes must be >= 1");
  const at::TensorOptions o = at::TensorOptions().dtype(at::kFloat).device(device);
  // PSPNet.py turns layer3/layer4 into dilated stages: every conv2 gets dilation = padding = 2 / 4
  // and stride 1, the downsample conv stride 1.
  body_ = DeepStemResNet(blocks, DilationRule::pspnet, o);
  for (size_t i = 0; i < 4; ++i) {
    ppm_conv_[i] = Conv2d(2048, 512, 1, false, o);
    ppm_bn_[i] = BatchNorm2d(512, o);
  }
  cls_conv_ = Conv2d(4096, 512, 3, false, o, 1, 1);
  cls_bn_ = BatchNorm2d(512, o);
  classifier_ = Conv2d(512, classes, 1, true, o);
}


at::Tensor PSPNetTrunk::layer0(const at::Tensor& x) const { return body_.stem(x); }

at::Tensor PSPNetTrunk::layer(int index, const at::Tensor& x) const { return body_.layer(index, x); }

at::Tensor PSPNetTrunk::layer4_inside(const at::Tensor& x, const at::Tensor& mask) const {
  const int64_t N = x.size(0), h = x.size(2), w = x.size(3), r = body_.reach(4);
  std::vector<at::Tensor> outs;
  for (int64_t i = 0; i < N; ++i) {
    at::Tensor xi = x.narrow(0, i, 1);
    at::Tensor at_mask = mask[i][0].ne(0).nonzero();  // [n, 2] (row, col)
    if (at_mask.size(0) == 0) {  // an empty mask: nothing is needed; the official values anyway
      outs.push_back(body_.layer(4, xi));
      continue;
    }
    const auto lo = std::get<0>(at_mask.min(0)), hi = std::get<0>(at_mask.max(0));
    const int64_t y0 = std::max<int64_t>(0, lo[0].item<int64_t>() - r), y1 = std::min<int64_t>(h, hi[0].item<int64_t>() + 1 + r);
    const int64_t x0 = std::max<int64_t>(0, lo[1].item<int64_t>() - r), x1 = std::min<int64_t>(w, hi[1].item<int64_t>() + 1 + r);
    if (y0 == 0 && x0 == 0 && y1 == h && x1 == w) {
      outs.push_back(body_.layer(4, xi));
      continue;
    }
    at::Tensor part = body_.layer(4, xi.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0));
    at::Tensor full = at::zeros({1, part.size(1), h, w}, part.options()).contiguous(part.suggest_memory_format());
    full.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0).copy_(part);
    outs.push_back(full);
  }
  return N == 1 ? outs[0] : at::cat(outs);
}

namespace {

// Rows of the bilinear (align_corners) interpolation matrix from n to N samples, shifted by
// `shift` with zero fill (the 3x3 conv's zero padding): [N, n].
at::Tensor interp_matrix(int64_t n, int64_t N, int64_t shift, const at::TensorOptions& o) {
  at::Tensor A = at::zeros({N, n}, o.dtype(at::kDouble).device(at::kCPU));
  auto a = A.accessor<double, 2>();
  for (int64_t i = 0; i < N; ++i) {
    const int64_t r = i + shift;
    if (r < 0 || r >= N) continue;
    if (n == 1) {
      a[i][0] = 1.0;
      continue;
    }
    const double src = double(r) * double(n - 1) / double(N - 1);
    const int64_t i0 = std::min<int64_t>(int64_t(src), n - 1), i1 = std::min<int64_t>(i0 + 1, n - 1);
    const double l = src - double(i0);
    a[i][i0] += 1.0 - l;
    a[i][i1] += l;
  }
  return A.to(o.device(), o.dtype());
}

}  // namespace

at::Tensor PSPNetTrunk::cls_features(const at::Tensor& x, bool relu) const {
  // cls.0 is a 3x3 conv over cat(x, up(p1), up(p2), up(p3), up(p6)). The pooled branches are
  // bilinear upsamplings of b x b maps, so their share of the conv is computed at b x b (a channel
  // mix per kernel tap) and then expanded with the (shifted) interpolation matrices: the same sum
  // as the official conv over the upsampled maps, without its 2048 x 512 x 9 MACs per pixel.
  //   branch i, tap (ky, kx): Ay_ky [H, b] . (W_k p) [O, b, b] . Ax_kx^T [b, W]
  // The kx taps and the b columns contract in one matmul (Ax stacked over kx), then the ky taps,
  // the b rows and all four bins in a second one (Ay stacked), written straight into the
  // channels-last layout of the main convolution's output.
  static const int64_t bins[4] = {1, 2, 3, 6};
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const at::Tensor& w = cls_conv_.weight;  // [512, 4096, 3, 3]
  const int64_t O = w.size(0);
  at::Tensor y = at::conv2d(x, w.narrow(1, 0, C).contiguous(x.suggest_memory_format()), {}, {1, 1}, {1, 1});
  std::vector<at::Tensor> lefts, rights;
  for (size_t i = 0; i < 4; ++i) {
    const int64_t b = bins[i];
    at::Tensor p = at::relu(ppm_bn_[i](ppm_conv_[i](at::adaptive_avg_pool2d(x, {b, b}))));  // [B, 512, b, b]
    const int64_t P = p.size(1);
    at::Tensor wk = w.narrow(1, C + int64_t(i) * P, P).permute({2, 3, 0, 1}).reshape({9 * O, P});
    // taps = W_k p as [B, ky, kx, O, b(rows), b(cols)]
    at::Tensor taps = at::matmul(wk, p.reshape({B, P, b * b})).view({B, 3, 3, O, b, b});
    std::vector<at::Tensor> ax, ay;
    for (int64_t k = 0; k < 3; ++k) {
      ax.push_back(interp_matrix(b, W, k - 1, x.options()).t());  // [b, W]
      ay.push_back(interp_matrix(b, H, k - 1, x.options()));      // [H, b]
    }
    // [B, ky, O, rows, (kx, cols)] . [(kx, cols), W] -> [B, ky, O, rows, W]
    at::Tensor r = at::matmul(taps.permute({0, 1, 3, 4, 2, 5}).reshape({B, 3, O, b, 3 * b}), at::cat(ax));
    rights.push_back(r.permute({0, 1, 3, 4, 2}).reshape({B, 3 * b, W * O}));  // [B, (ky, rows), (W, O)]
    lefts.push_back(at::cat(ay, 1));                                           // [H, (ky, rows)]
  }
  at::Tensor pooled = at::matmul(at::cat(lefts, 1), at::cat(rights, 1));  // [B, H, W * O]
  y = y + pooled.view({B, H, W, O}).permute({0, 3, 1, 2});
  y = cls_bn_(y);
  return relu ? y.relu_() : y;
}

at::Tensor PSPNetTrunk::classify(const at::Tensor& f) const { return classifier_(f); }

at::Tensor PSPNetTrunk::base_logits(const at::Tensor& x) const { return classify(cls_features(x, true)); }

std::vector<NamedTensor> PSPNetTrunk::backbone_tensors() {
  std::vector<NamedTensor> out;
  body_.collect(out, "", StemNames::sequential);
  return out;
}

std::vector<NamedTensor> PSPNetTrunk::named_tensors(const PSPNetNames& n) {
  std::vector<NamedTensor> out = backbone_tensors();
  // ppm.features[i] = Sequential(AdaptiveAvgPool2d, Conv2d, BatchNorm2d, ReLU)
  for (size_t i = 0; i < 4; ++i) {
    ppm_conv_[i].collect(out, n.ppm + ".features." + std::to_string(i) + ".1");
    ppm_bn_[i].collect(out, n.ppm + ".features." + std::to_string(i) + ".2");
  }
  cls_conv_.collect(out, n.cls_conv);
  cls_bn_.collect(out, n.cls_bn);
  classifier_.collect(out, n.classifier);
  return out;
}

void PSPNetTrunk::to(at::Device device, at::ScalarType dtype) {
  for (const auto& nt : named_tensors(PSPNetNames::pspnet())) *nt.tensor = nt.tensor->to(device, dtype);
}

at::Tensor resize_bilinear_ac(const at::Tensor& x, int64_t h, int64_t w) {
  return at::upsample_bilinear2d(x, {h, w}, /*align_corners=*/true);
}

at::Tensor weighted_gap(const at::Tensor& feat, const at::Tensor& mask) {
  const int64_t h = feat.size(2), w = feat.size(3);
  at::Tensor area = at::avg_pool2d(mask, {h, w}) * double(h * w) + 0.0005;
  return at::avg_pool2d(feat * mask, {h, w}) * double(h * w) / area;
}

at::Tensor gram_matrix(const at::Tensor& feat) {
  const int64_t b = feat.size(0), c = feat.size(1);
  at::Tensor f = feat.reshape({b, c, -1});
  at::Tensor ft = f.permute({0, 2, 1});
  at::Tensor n = f.norm(2, {2}, true);
  at::Tensor nt = ft.norm(2, {1}, true);
  return at::bmm(f, ft) / (at::bmm(n, nt) + 1e-7);
}

at::Tensor gram_distance(const at::Tensor& query_gram, const at::Tensor& support_feat) {
  at::Tensor diff = query_gram - gram_matrix(support_feat);
  // norm_max = ||ones(C, C)||_F = C
  at::Tensor norm_max = at::ones_like(query_gram).norm(2, {1, 2});
  return diff.norm(2, {1, 2}) / norm_max;
}

at::Tensor prior_mask(const at::Tensor& q, const at::Tensor& s_feat, const at::Tensor& s_mask, bool normalise) {
  const int64_t b = q.size(0), c = q.size(1), sp = q.size(2);
  if (q.size(3) != sp) throw std::invalid_argument("prior mask: the official code assumes square features");
  const double eps = 1e-7;
  at::Tensor tq = q.reshape({b, c, -1});
  at::Tensor tq_norm = tq.norm(2, {1}, true);
  at::Tensor ts = (s_feat * s_mask).reshape({b, c, -1});
  // The official code takes the maximum over every support position. A position outside the mask
  // has a zero feature, hence similarity 0 / (0 + eps) = 0 exactly, so only the positions inside it
  // are multiplied out (a fifth of the work for a mask on a fifth of the image) and 0 joins the
  // maximum when any position is outside.
  at::Tensor inside = s_mask.reshape({b, -1}).ne(0);
  std::vector<at::Tensor> best;
  for (int64_t i = 0; i < b; ++i) {
    at::Tensor idx = inside[i].nonzero().view({-1});
    if (idx.numel() == 0) {
      best.push_back(at::zeros({sp * sp}, q.options()));
      continue;
    }
    at::Tensor rows = ts[i].index_select(1, idx).t();  // [kept, c]
    at::Tensor sim = at::mm(rows, tq[i]) / (at::mm(rows.norm(2, {1}, true), tq_norm[i]) + eps);
    at::Tensor m = std::get<0>(sim.max(0));
    best.push_back(idx.numel() < inside.size(1) ? m.clamp_min_(0) : m);
  }
  at::Tensor sim = at::stack(best);
  if (normalise) {
    at::Tensor mn = std::get<0>(sim.min(1)).unsqueeze(1), mx = std::get<0>(sim.max(1)).unsqueeze(1);
    sim = (sim - mn) / (mx - mn + eps);
  }
  return sim.reshape({b, 1, sp, sp});
}

}  // namespace difss::fss
