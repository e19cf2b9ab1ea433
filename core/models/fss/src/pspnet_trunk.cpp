// The PSPNet trunk of BAM / HDMNet (pspnet_trunk.hpp).
#include <difss/fss/pspnet_trunk.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace difss::fss {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, bool with_bias, const at::TensorOptions& o, int64_t stride_,
               int64_t padding_, int64_t dilation_)
    : weight(at::zeros({out, in, kernel, kernel}, o)), stride(stride_), padding(padding_), dilation(dilation_) {
  if (with_bias) bias = at::zeros({out}, o);
}

at::Tensor Conv2d::operator()(const at::Tensor& x) const {
  return at::conv2d(x, weight, bias, {stride, stride}, {padding, padding}, {dilation, dilation});
}

void Conv2d::collect(std::vector<NamedTensor>& out, const std::string& p) {
  out.push_back({p + ".weight", &weight, true});
  if (bias.defined()) out.push_back({p + ".bias", &bias, true});
}

BatchNorm2d::BatchNorm2d(int64_t c, const at::TensorOptions& o)
    : weight(at::ones({c}, o)), bias(at::zeros({c}, o)), running_mean(at::zeros({c}, o)), running_var(at::ones({c}, o)) {}

at::Tensor BatchNorm2d::operator()(const at::Tensor& x) const {
  return at::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/false, /*momentum=*/0.1,
                        /*eps=*/1e-5, /*cudnn_enabled=*/true);
}

void BatchNorm2d::collect(std::vector<NamedTensor>& out, const std::string& p) {
  out.push_back({p + ".weight", &weight, true});
  out.push_back({p + ".bias", &bias, true});
  out.push_back({p + ".running_mean", &running_mean, false});
  out.push_back({p + ".running_var", &running_var, false});
}

at::Tensor Bottleneck::forward(const at::Tensor& x) const {
  // In place on fresh intermediates, as the official inplace ReLUs and `out += residual`.
  at::Tensor y = bn1(conv1(x)).relu_();
  y = bn2(conv2(y)).relu_();
  y = bn3(conv3(y));
  y.add_(has_downsample ? downsample_bn(downsample(x)) : x);
  return y.relu_();
}

void Bottleneck::collect(std::vector<NamedTensor>& out, const std::string& p) {
  conv1.collect(out, p + ".conv1");
  bn1.collect(out, p + ".bn1");
  conv2.collect(out, p + ".conv2");
  bn2.collect(out, p + ".bn2");
  conv3.collect(out, p + ".conv3");
  bn3.collect(out, p + ".bn3");
  if (has_downsample) {
    downsample.collect(out, p + ".downsample.0");
    downsample_bn.collect(out, p + ".downsample.1");
  }
}

PSPNetNames PSPNetNames::pspnet() { return {"ppm", "cls.0", "cls.1", "cls.4"}; }
PSPNetNames PSPNetNames::bam() { return {"learner_base.0", "learner_base.1.0", "learner_base.1.1", "learner_base.1.4"}; }
PSPNetNames PSPNetNames::hdmnet() { return {"ppm", "cls.0", "cls.1", "base_learnear.2"}; }

PSPNetTrunk::PSPNetTrunk(int64_t classes, std::array<int, 4> blocks, at::Device device) : classes_(classes) {
  if (classes < 1) throw std::invalid_argument("PSPNet: classes must be >= 1");
  const at::TensorOptions o = at::TensorOptions().dtype(at::kFloat).device(device);
  stem_conv_[0] = Conv2d(3, 64, 3, false, o, 2, 1);
  stem_conv_[1] = Conv2d(64, 64, 3, false, o, 1, 1);
  stem_conv_[2] = Conv2d(64, 128, 3, false, o, 1, 1);
  stem_bn_[0] = BatchNorm2d(64, o);
  stem_bn_[1] = BatchNorm2d(64, o);
  stem_bn_[2] = BatchNorm2d(128, o);
  int64_t inplanes = 128;
  // PSPNet.py turns layer3/layer4 into dilated stages: every conv2 gets dilation = padding = 2 / 4
  // and stride 1, the downsample conv stride 1.
  const int64_t stage_stride[4] = {1, 2, 1, 1}, dilation[4] = {1, 1, 2, 4};
  for (int s = 0; s < 4; ++s) {
    if (blocks[size_t(s)] < 1) throw std::invalid_argument("PSPNet: every stage needs at least one block");
    const int64_t planes = int64_t(64) << s;
    for (int b = 0; b < blocks[size_t(s)]; ++b) {
      const int64_t stride = b == 0 ? stage_stride[s] : 1;
      Bottleneck k;
      k.conv1 = Conv2d(inplanes, planes, 1, false, o);
      k.conv2 = Conv2d(planes, planes, 3, false, o, stride, dilation[s], dilation[s]);
      k.conv3 = Conv2d(planes, planes * 4, 1, false, o);
      k.bn1 = BatchNorm2d(planes, o);
      k.bn2 = BatchNorm2d(planes, o);
      k.bn3 = BatchNorm2d(planes * 4, o);
      // resnet.py decides on a downsample with the original strides (layer3/4: 2).
      if (b == 0 && (s > 0 || inplanes != planes * 4)) {
        k.has_downsample = true;
        k.downsample = Conv2d(inplanes, planes * 4, 1, false, o, stride);
        k.downsample_bn = BatchNorm2d(planes * 4, o);
      }
      inplanes = planes * 4;
      stages_[size_t(s)].push_back(std::move(k));
    }
  }
  for (size_t i = 0; i < 4; ++i) {
    ppm_conv_[i] = Conv2d(2048, 512, 1, false, o);
    ppm_bn_[i] = BatchNorm2d(512, o);
  }
  cls_conv_ = Conv2d(4096, 512, 3, false, o, 1, 1);
  cls_bn_ = BatchNorm2d(512, o);
  classifier_ = Conv2d(512, classes, 1, true, o);
}

at::Tensor PSPNetTrunk::layer0(const at::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != 3) throw std::invalid_argument("PSPNet: expected a [B, 3, H, W] image batch");
  at::Tensor y = x;
  for (int i = 0; i < 3; ++i) y = stem_bn_[i](stem_conv_[i](y)).relu_();
  return at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
}

at::Tensor PSPNetTrunk::layer(int index, const at::Tensor& x) const {
  if (index < 1 || index > 4) throw std::out_of_range("PSPNet: layer index must be 1..4");
  at::Tensor y = x;
  for (const Bottleneck& b : stages_[size_t(index - 1)]) y = b.forward(y);
  return y;
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
  static const int64_t bins[4] = {1, 2, 3, 6};
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const at::Tensor& w = cls_conv_.weight;  // [512, 4096, 3, 3]
  const int64_t O = w.size(0);
  at::Tensor y = at::conv2d(x, w.narrow(1, 0, C).contiguous(), {}, {1, 1}, {1, 1});
  for (size_t i = 0; i < 4; ++i) {
    const int64_t b = bins[i];
    at::Tensor p = at::relu(ppm_bn_[i](ppm_conv_[i](at::adaptive_avg_pool2d(x, {b, b}))));  // [B, 512, b, b]
    const int64_t P = p.size(1);
    // taps[k] = W_k p: [B, 9, O, b, b]
    at::Tensor wk = w.narrow(1, C + int64_t(i) * P, P).permute({2, 3, 0, 1}).reshape({9 * O, P});
    at::Tensor q = at::matmul(wk, p.reshape({B, P, b * b})).view({B, 9, O, b, b});
    at::Tensor acc = at::zeros({B, O, H, W}, x.options());
    for (int64_t ky = 0; ky < 3; ++ky) {
      at::Tensor ay = interp_matrix(b, H, ky - 1, x.options());  // [H, b]
      for (int64_t kx = 0; kx < 3; ++kx) {
        at::Tensor ax = interp_matrix(b, W, kx - 1, x.options());  // [W, b]
        at::Tensor t = at::matmul(q.select(1, ky * 3 + kx), ax.t());  // [B, O, b, W]
        acc.add_(at::matmul(ay, t));                                 // [B, O, H, W]
      }
    }
    y = y + acc;
  }
  y = cls_bn_(y);
  return relu ? y.relu_() : y;
}

at::Tensor PSPNetTrunk::classify(const at::Tensor& f) const { return classifier_(f); }

at::Tensor PSPNetTrunk::base_logits(const at::Tensor& x) const { return classify(cls_features(x, true)); }

std::vector<NamedTensor> PSPNetTrunk::backbone_tensors() {
  std::vector<NamedTensor> out;
  // layer0 = Sequential(conv1, bn1, relu1, conv2, bn2, relu2, conv3, bn3, relu3, maxpool)
  for (int i = 0; i < 3; ++i) {
    stem_conv_[i].collect(out, "layer0." + std::to_string(3 * i));
    stem_bn_[i].collect(out, "layer0." + std::to_string(3 * i + 1));
  }
  for (size_t s = 0; s < 4; ++s)
    for (size_t b = 0; b < stages_[s].size(); ++b)
      stages_[s][b].collect(out, "layer" + std::to_string(s + 1) + "." + std::to_string(b));
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
  at::Tensor ts = (s_feat * s_mask).reshape({b, c, -1}).permute({0, 2, 1});
  at::Tensor ts_norm = ts.norm(2, {2}, true);
  at::Tensor sim = at::bmm(ts, tq) / (at::bmm(ts_norm, tq_norm) + eps);
  sim = std::get<0>(sim.max(1)).reshape({b, sp * sp});
  if (normalise) {
    at::Tensor mn = std::get<0>(sim.min(1)).unsqueeze(1), mx = std::get<0>(sim.max(1)).unsqueeze(1);
    sim = (sim - mn) / (mx - mn + eps);
  }
  return sim.reshape({b, 1, sp, sp});
}

}  // namespace difss::fss
