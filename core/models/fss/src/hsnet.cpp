// HSNet: hypercorrelation, center-pivot 4D convolutions, HPNLearner, K-shot vote (hsnet.hpp).
#include <difss/fss/hsnet.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <array>
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

}  // namespace

at::Tensor CenterPivotConv4d::forward(const at::Tensor& x) const {
  const int64_t pad = kernel / 2;
  // Branch 1: prune the support dims with the stride (indices recomputed for this input), then
  // convolve over the query dims.
  at::Tensor p = stride > 1 ? x.slice(4, 0, x.size(4), stride).slice(5, 0, x.size(5), stride) : x;
  const int64_t B = p.size(0), C = p.size(1), ha = p.size(2), wa = p.size(3), lh = p.size(4), lw = p.size(5);
  // Each branch is thousands of small images with few channels: at inference they are laid out
  // channels-last (the same one copy as NCHW), where oneDNN's convolution runs 1.6-3x faster than
  // on NCHW (the same ATen op at HSNet's shapes, one thread). Training keeps NCHW.
  const bool nhwc = !at::GradMode::is_enabled() && x.device().is_cpu();
  // t's dims (n0, n1, n2, C, h, w) are at positions o -> images [n0*n1*n2, C, h, w]
  auto images = [&](const at::Tensor& t, std::array<int64_t, 6> o, int64_t h, int64_t w) {
    if (!nhwc) return t.permute(o).contiguous().view({-1, C, h, w});
    return t.permute({o[0], o[1], o[2], o[4], o[5], o[3]}).contiguous().view({-1, h, w, C}).permute({0, 3, 1, 2});
  };
  auto unflatten = [&](const at::Tensor& y, int64_t n1, int64_t n2) {  // [B*n1*n2, O, h, w] -> [B, n1, n2, O, h, w]
    const int64_t O = y.size(1), h = y.size(2), w = y.size(3);
    if (!nhwc || !y.is_contiguous(at::MemoryFormat::ChannelsLast)) return y.contiguous().view({B, n1, n2, O, h, w});
    return y.permute({0, 2, 3, 1}).view({B, n1, n2, h, w, O}).permute({0, 1, 2, 5, 3, 4});
  };
  at::Tensor o1 = at::conv2d(images(p, {0, 4, 5, 1, 2, 3}, ha, wa), w1, b1, {1, 1}, {pad, pad});
  o1 = unflatten(o1, lh, lw).permute({0, 3, 4, 5, 1, 2}).contiguous();
  // Branch 2: convolve over the support dims with the stride.
  const int64_t hb = x.size(4), wb = x.size(5);
  at::Tensor o2 = at::conv2d(images(x, {0, 2, 3, 1, 4, 5}, hb, wb), w2, b2, {stride, stride}, {pad, pad});
  o2 = unflatten(o2, ha, wa).permute({0, 3, 1, 2, 4, 5}).contiguous();
  if (o1.sizes() != o2.sizes())
    throw std::invalid_argument("CenterPivotConv4d: branch shapes differ " + shape_str(o1.sizes()) + " vs " +
                                shape_str(o2.sizes()));
  return o1 + o2;
}

at::Tensor Conv4dBlock::forward(at::Tensor x) const {
  for (size_t i = 0; i < convs.size(); ++i) {
    x = convs[i].forward(x);
    x = at::relu(at::group_norm(x, 4, gn_weight[i], gn_bias[i], 1e-5));
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
  at::Tensor mix43 = interpolate_query_dims(sqz4, sqz3.size(2), sqz3.size(3)) + sqz3;
  mix43 = encoder_layer4to3.forward(mix43);
  at::Tensor mix432 = interpolate_query_dims(mix43, sqz2.size(2), sqz2.size(3)) + sqz2;
  mix432 = encoder_layer3to2.forward(mix432);
  const int64_t B = mix432.size(0), C = mix432.size(1), ha = mix432.size(2), wa = mix432.size(3);
  at::Tensor enc = mix432.view({B, C, ha, wa, -1}).mean(-1);
  at::Tensor d = at::relu(at::conv2d(enc, dec1_w0, dec1_b0, {1, 1}, {1, 1}));
  d = at::relu(at::conv2d(d, dec1_w2, dec1_b2, {1, 1}, {1, 1}));
  const int64_t up = d.size(-1) * 2;  // HSNet uses the width for both sides
  d = at::upsample_bilinear2d(d, {up, up}, /*align_corners=*/true);
  d = at::relu(at::conv2d(d, dec2_w0, dec2_b0, {1, 1}, {1, 1}));
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

std::vector<at::Tensor> multilayer_correlation(const std::vector<at::Tensor>& qf, const std::vector<at::Tensor>& sf,
                                               const std::array<int64_t, 3>& counts) {
  if (qf.size() != sf.size() || int64_t(qf.size()) != counts[0] + counts[1] + counts[2])
    throw std::invalid_argument("multilayer_correlation: feature counts do not match the pyramid levels");
  const double eps = 1e-5;
  std::vector<at::Tensor> corrs;
  for (size_t i = 0; i < qf.size(); ++i) {
    const int64_t B = sf[i].size(0), C = sf[i].size(1), hb = sf[i].size(2), wb = sf[i].size(3);
    at::Tensor s = sf[i].reshape({B, C, -1});
    at::Tensor s_norm = at::norm(s, 2, {1}, /*keepdim=*/true);
    s = s / (s_norm + eps);
    const int64_t ha = qf[i].size(2), wa = qf[i].size(3);
    at::Tensor q = qf[i].reshape({B, C, -1});
    q = q / (at::norm(q, 2, {1}, true) + eps);
    // A support position outside the (masked) support has a zero feature, so its correlation
    // column is exactly 0 after the clamp: only the others are multiplied out (the masked support
    // of a typical episode is a fraction of the image). Without a gradient only.
    at::Tensor nonzero = s_norm.squeeze(1).ne(0);  // [B, hb * wb]
    const int64_t kept = nonzero.sum().item<int64_t>();
    if (at::GradMode::is_enabled() || kept == nonzero.numel()) {
      corrs.push_back(at::bmm(q.transpose(1, 2), s).view({B, ha, wa, hb, wb}).clamp_min(0));
      continue;
    }
    at::Tensor corr = at::zeros({B, ha * wa, hb * wb}, q.options());
    for (int64_t b = 0; b < B; ++b) {
      at::Tensor idx = nonzero[b].nonzero().view({-1});
      if (idx.numel() == 0) continue;
      corr[b].index_copy_(1, idx, at::mm(q[b].t(), s[b].index_select(1, idx)).clamp_min_(0));
    }
    corrs.push_back(corr.view({B, ha, wa, hb, wb}));
  }
  // Levels, coarsest first: the last counts[0] features, the counts[1] before them, ...
  std::vector<at::Tensor> out;
  int64_t end = int64_t(corrs.size());
  for (int l = 0; l < 3; ++l) {
    std::vector<at::Tensor> level(corrs.begin() + (end - counts[size_t(l)]), corrs.begin() + end);
    out.push_back(at::stack(level).transpose(0, 1).contiguous());
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
    pred.mask = logits.argmax(1).to(at::kByte);
    return pred;
  }
  at::Tensor votes;
  for (size_t k = 0; k < shot_logits.size(); ++k) {
    at::Tensor v = upsample_logits(shot_logits[k], out_size).argmax(1);
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
