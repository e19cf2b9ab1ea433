// DCAMA (see dcama.hpp), functional ATen.
#include <difss/fss/dcama.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace difss::fss {

namespace {

at::Tensor zeros(std::vector<int64_t> shape) { return at::zeros(shape, weight_options()); }
at::Tensor ones(int64_t n) { return at::ones({n}, weight_options()); }

at::Tensor bilinear(const at::Tensor& x, int64_t h, int64_t w) {
  return at::upsample_bilinear2d(x, {h, w}, /*align_corners=*/true);
}

class ResNetFeatures final : public DCAMAFeatures {
 public:
  explicit ResNetFeatures(const ResNetConfig& c) : config_(c), net_(make_resnet(c)) {}
  std::string name() const override { return config_.name; }
  std::vector<at::Tensor> extract(const at::Tensor& x) const override { return net_->block_outputs(x); }
  std::array<int64_t, 4> depths() const override {
    return {config_.layers[0], config_.layers[1], config_.layers[2], config_.layers[3]};
  }
  std::array<int64_t, 4> channels() const override {
    const int64_t e = config_.block == ResNetConfig::Block::bottleneck ? 4 : 1;
    return {config_.width * e, config_.width * 2 * e, config_.width * 4 * e, config_.width * 8 * e};
  }
  std::vector<NamedTensor> named_tensors() override { return net_->named_tensors(); }
  std::vector<std::string> unused_prefixes() const override { return net_->unused_prefixes(); }
  void to(at::Device device, at::ScalarType dtype) override { net_->to(device, dtype); }

 private:
  ResNetConfig config_;
  std::unique_ptr<Backbone> net_;
};

class SwinFeatures final : public DCAMAFeatures {
 public:
  explicit SwinFeatures(const SwinConfig& c) : net_(c) {}
  std::string name() const override { return "swin"; }
  std::vector<at::Tensor> extract(const at::Tensor& x) const override { return net_.features(x); }
  std::array<int64_t, 4> depths() const override { return net_.config().depths; }
  std::array<int64_t, 4> channels() const override {
    const int64_t e = net_.config().embed_dim;
    return {e, 2 * e, 4 * e, 8 * e};
  }
  std::vector<NamedTensor> named_tensors() override { return net_.named_tensors(); }
  std::vector<std::string> unused_prefixes() const override { return SwinTransformer::unused_prefixes(); }
  std::vector<std::string> derived_suffixes() const override { return SwinTransformer::derived_suffixes(); }
  void to(at::Device device, at::ScalarType dtype) override { net_.to(device, dtype); }

 private:
  SwinTransformer net_;
};

at::Tensor max_over_shots(const std::vector<std::vector<at::Tensor>>& sf, size_t idx) {
  at::Tensor m = sf[0][idx];
  for (size_t k = 1; k < sf.size(); ++k) m = at::maximum(m, sf[k][idx]);
  return m;
}

at::Tensor conv_relu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, bool relu = true) {
  at::Tensor y = at::conv2d(x, w, b, {1, 1}, {w.size(2) / 2, w.size(3) / 2});
  return relu ? y.relu_() : y;
}

}  // namespace

std::unique_ptr<DCAMAFeatures> make_dcama_resnet(const ResNetConfig& c) { return std::make_unique<ResNetFeatures>(c); }
std::unique_ptr<DCAMAFeatures> make_dcama_swin(const SwinConfig& c) { return std::make_unique<SwinFeatures>(c); }

std::unique_ptr<DCAMAFeatures> make_dcama_features(const std::string& backbone, int64_t image_size) {
  if (backbone == "resnet50") return make_dcama_resnet(ResNetConfig::resnet50());
  if (backbone == "resnet101") return make_dcama_resnet(ResNetConfig::resnet101());
  if (backbone == "swin-b" || backbone == "swin") {
    SwinConfig c = SwinConfig::swin_base_384();
    c.img_size = image_size;
    return make_dcama_swin(c);
  }
  throw std::invalid_argument("unknown DCAMA backbone '" + backbone + "' (expected resnet50, resnet101 or swin-b)");
}

at::Tensor dcama_positional_encoding(int64_t n, int64_t d, at::TensorOptions options) {
  at::Tensor pe = at::zeros({n, d}, at::kFloat);
  at::Tensor position = at::arange(0, n, at::kLong).unsqueeze(1);
  at::Tensor div_term = at::exp(at::arange(0, d, 2, at::kLong) * (-(std::log(10000.0) / double(d))));
  at::Tensor angle = position * div_term;
  pe.slice(1, 0, d, 2).copy_(at::sin(angle));
  pe.slice(1, 1, d, 2).copy_(at::cos(angle));
  return pe.to(options);
}

at::Tensor DCAMAAttention::forward(const at::Tensor& query, const at::Tensor& key, const at::Tensor& mask) const {
  const int64_t B = query.size(0), N = query.size(1), C = query.size(2), M = key.size(1), dk = C / heads;
  // Scaled queries (1/sqrt(dk) applied to q rather than to the N x M scores: the same numbers for
  // dk = 64, 256 (a power of two), within an ulp otherwise), heads as batch: [B*h, N, dk].
  at::Tensor q = (at::linear(query, wq, bq) * (1.0 / std::sqrt(double(dk))))
                     .view({B, N, heads, dk}).transpose(1, 2).contiguous().view({B * heads, N, dk});
  at::Tensor kt = at::linear(key, wk, bk).view({B, M, heads, dk}).transpose(1, 2).contiguous()
                      .view({B * heads, M, dk}).transpose(1, 2);  // [B*h, dk, M]
  at::Tensor v = mask.to(query.scalar_type()).reshape({B, M, 1});
  // One head at a time (its keys stay in cache), in slices of query rows, the scores and their
  // softmax in two buffers reused for every slice (fresh ones would be paged in every time).
  const int64_t rows = std::max<int64_t>(1, std::min(N, slice_elements / std::max<int64_t>(1, M)));
  at::Tensor buffers = at::empty({2, rows, M}, query.options());
  at::Tensor sum = at::empty({B, heads, N}, query.options());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const at::Tensor qh = q[b * heads + h], kh = kt[b * heads + h], vb = v[b];
      for (int64_t n0 = 0; n0 < N; n0 += rows) {
        const int64_t n = std::min(rows, N - n0);
        at::Tensor s = buffers[0].narrow(0, 0, n), p = buffers[1].narrow(0, 0, n);
        at::mm_out(s, qh.narrow(0, n0, n), kh);
        at::_softmax_out(p, s, -1, false);
        // Every head weighs the same values (the mask): p @ v, then the mean over heads.
        at::Tensor out = sum[b][h].narrow(0, n0, n).unsqueeze(1);
        at::mm_out(out, p, vb);
      }
    }
  return sum.mean(1);
}

at::Tensor DCAMAConvBlock::forward(at::Tensor x) const {
  for (size_t i = 0; i < 3; ++i) {
    x = at::conv2d(x, w[i], b[i], {1, 1}, {w[i].size(2) / 2, w[i].size(3) / 2});
    x = at::group_norm(x, 4, gn_w[i], gn_b[i], 1e-5);
    x.relu_();
  }
  return x;
}

DCAMALearner::DCAMALearner(const std::array<int64_t, 4>& depths, const std::array<int64_t, 4>& ch) : channels_(ch) {
  int64_t acc = 0;
  for (size_t s = 0; s < 4; ++s) {
    if (depths[s] < 1) throw std::invalid_argument("DCAMA: every stage needs at least one block");
    acc += depths[s];
    stack_ids_[s] = acc;
  }
  for (size_t i = 0; i < 3; ++i) {
    const int64_t c = ch[i + 1];
    if (c % 8 != 0) throw std::invalid_argument("DCAMA: attention width " + std::to_string(c) + " is not a multiple of 8");
    blocks_[i] = {zeros({c, c}), zeros({c}), zeros({c, c}), zeros({c})};
  }
  const int64_t o1 = 16, o2 = 64, o3 = 128;
  auto block = [&](int64_t in, std::array<int64_t, 3> outs, std::array<int64_t, 3> ks) {
    DCAMAConvBlock b;
    for (size_t i = 0; i < 3; ++i) {
      const int64_t cin = i == 0 ? in : outs[i - 1];
      b.w[i] = zeros({outs[i], cin, ks[i], ks[i]});
      b.b[i] = zeros({outs[i]});
      b.gn_w[i] = ones(outs[i]);
      b.gn_b[i] = zeros({outs[i]});
    }
    return b;
  };
  convs_[0] = block(stack_ids_[3] - stack_ids_[2], {o1, o2, o3}, {3, 3, 3});  // 1/32
  convs_[1] = block(stack_ids_[2] - stack_ids_[1], {o1, o2, o3}, {5, 3, 3});  // 1/16
  convs_[2] = block(stack_ids_[1] - stack_ids_[0], {o1, o2, o3}, {5, 5, 3});  // 1/8
  convs_[3] = block(o3, {o3, o3, o3}, {3, 3, 3});
  convs_[4] = block(o3, {o3, o3, o3}, {3, 3, 3});
  auto conv = [](int64_t in, int64_t out) { return std::array<at::Tensor, 2>{zeros({out, in, 3, 3}), zeros({out})}; };
  auto set = [](std::array<at::Tensor, 2>& w, std::array<at::Tensor, 2>& b, std::array<at::Tensor, 2> c0,
                std::array<at::Tensor, 2> c2) {
    w = {c0[0], c2[0]};
    b = {c0[1], c2[1]};
  };
  set(mix1_w_, mix1_b_, conv(o3 + 2 * ch[1] + 2 * ch[0], o3), conv(o3, o2));
  set(mix2_w_, mix2_b_, conv(o2, o2), conv(o2, o1));
  set(mix3_w_, mix3_b_, conv(o1, o1), conv(o1, 2));
}

at::Tensor DCAMALearner::forward(const std::vector<at::Tensor>& qf, const std::vector<std::vector<at::Tensor>>& sf,
                                 const at::Tensor& support_masks, std::vector<at::Tensor>* coarse_out) const {
  const size_t total = size_t(stack_ids_[3]);
  if (qf.size() != total) throw std::invalid_argument("DCAMA: expected " + std::to_string(total) + " query features");
  if (sf.empty()) throw std::invalid_argument("DCAMA: at least one support is required");
  for (const auto& s : sf)
    if (s.size() != total) throw std::invalid_argument("DCAMA: every support needs " + std::to_string(total) + " features");
  const int64_t B = qf[0].size(0), K = int64_t(sf.size());
  if (support_masks.dim() != 4 || support_masks.size(0) != B || support_masks.size(1) != K)
    throw std::invalid_argument("DCAMA: support masks must be [B, K, H, W] with B = query batch, K = shots");
  const at::Tensor masks = support_masks.to(qf[0].scalar_type())
                               .reshape({B * K, 1, support_masks.size(2), support_masks.size(3)});

  // Per-layer coarse masks from the 1/8 scale on (stage-1 features only feed the skip connection).
  std::vector<at::Tensor> coarse;
  at::Tensor pe;
  for (size_t idx = size_t(stack_ids_[0]); idx < total; ++idx) {
    const int64_t C = qf[idx].size(1), h = qf[idx].size(2), w = qf[idx].size(3), hw = h * w;
    if (!pe.defined() || pe.size(0) != hw || pe.size(1) != C) pe = dcama_positional_encoding(hw, C, qf[idx].options());
    at::Tensor query = qf[idx].reshape({B, C, hw}).permute({0, 2, 1}) + pe;
    std::vector<at::Tensor> keys;
    for (int64_t k = 0; k < K; ++k) keys.push_back(sf[size_t(k)][idx].reshape({B, C, hw}).permute({0, 2, 1}) + pe);
    at::Tensor key = K == 1 ? keys[0] : at::cat(keys, 1);  // [B, K*hw, C]: shot after shot
    at::Tensor mask = bilinear(masks, h, w).view({B, K * hw});
    const size_t block = int64_t(idx) < stack_ids_[1] ? 0 : int64_t(idx) < stack_ids_[2] ? 1 : 2;
    coarse.push_back(blocks_[block].forward(query, key, mask).view({B, 1, h, w}));
  }
  if (coarse_out) *coarse_out = coarse;

  const int64_t s0 = stack_ids_[0];
  auto group = [&](int64_t from, int64_t to) {
    return at::cat(std::vector<at::Tensor>(coarse.begin() + (from - s0), coarse.begin() + (to - s0)), 1);
  };
  at::Tensor c1 = convs_[0].forward(group(stack_ids_[2], stack_ids_[3]));  // 1/32
  at::Tensor c2 = convs_[1].forward(group(stack_ids_[1], stack_ids_[2]));  // 1/16
  at::Tensor c3 = convs_[2].forward(group(stack_ids_[0], stack_ids_[1]));  // 1/8
  at::Tensor mix = convs_[3].forward(bilinear(c1, c2.size(2), c2.size(3)) + c2);
  mix = convs_[4].forward(bilinear(mix, c3.size(2), c3.size(3)) + c3);

  // Skip connections: the last 1/8 and 1/4 features of the query and of the supports (max over shots).
  const size_t i8 = size_t(stack_ids_[1] - 1), i4 = size_t(stack_ids_[0] - 1);
  at::Tensor coarse8 = at::cat({mix, qf[i8], max_over_shots(sf, i8)}, 1);
  at::Tensor fine4 = at::cat({qf[i4], max_over_shots(sf, i4)}, 1);
  at::Tensor out = conv_relu(mixer1_first_conv(coarse8, fine4), mix1_w_[1], mix1_b_[1]);
  out = bilinear(out, 2 * out.size(2), 2 * out.size(3));
  out = conv_relu(conv_relu(out, mix2_w_[0], mix2_b_[0]), mix2_w_[1], mix2_b_[1]);
  out = bilinear(out, 2 * out.size(2), 2 * out.size(3));
  return conv_relu(conv_relu(out, mix3_w_[0], mix3_b_[0]), mix3_w_[1], mix3_b_[1], /*relu=*/false);
}

at::Tensor DCAMALearner::mixer1_first_conv(const at::Tensor& coarse, const at::Tensor& fine) const {
  // Official: conv3x3(cat(upsample2x(coarse), fine)) + ReLU. Channel mixing commutes with the
  // (per-channel, linear) bilinear upsampling, so the coarse part is mixed at the coarse
  // resolution, one 1x1 product per kernel tap, and only then upsampled and shifted into place:
  // the same sum (up to float rounding) with a quarter of that part's multiply-adds.
  const at::Tensor& w = mix1_w_[0];  // [O, Cc + Cf, 3, 3]
  const int64_t O = w.size(0), Cc = coarse.size(1), H = 2 * coarse.size(2), W = 2 * coarse.size(3);
  at::Tensor taps = w.narrow(1, 0, Cc).permute({2, 3, 0, 1}).reshape({9 * O, Cc, 1, 1});
  at::Tensor y = at::constant_pad_nd(bilinear(at::conv2d(coarse, taps), H, W), {1, 1, 1, 1});
  at::Tensor out = at::conv2d(fine, w.narrow(1, Cc, w.size(1) - Cc), mix1_b_[0], {1, 1}, {1, 1});
  for (int64_t t = 0; t < 9; ++t) out.add_(y.narrow(1, t * O, O).narrow(2, t / 3, H).narrow(3, t % 3, W));
  return out.relu_();
}

std::vector<NamedTensor> DCAMALearner::named_tensors() {
  std::vector<NamedTensor> out;
  auto add = [&](const std::string& n, at::Tensor& t) { out.push_back({n, &t, true}); };
  for (size_t i = 0; i < 3; ++i) {
    const std::string p = "DCAMA_blocks." + std::to_string(i) + ".linears.";
    add(p + "0.weight", blocks_[i].wq);
    add(p + "0.bias", blocks_[i].bq);
    add(p + "1.weight", blocks_[i].wk);
    add(p + "1.bias", blocks_[i].bk);
  }
  for (size_t c = 0; c < 5; ++c)
    for (size_t i = 0; i < 3; ++i) {
      const std::string p = "conv" + std::to_string(c + 1) + ".";
      add(p + std::to_string(3 * i) + ".weight", convs_[c].w[i]);
      add(p + std::to_string(3 * i) + ".bias", convs_[c].b[i]);
      add(p + std::to_string(3 * i + 1) + ".weight", convs_[c].gn_w[i]);
      add(p + std::to_string(3 * i + 1) + ".bias", convs_[c].gn_b[i]);
    }
  auto mixer = [&](const std::string& p, std::array<at::Tensor, 2>& w, std::array<at::Tensor, 2>& b) {
    add(p + ".0.weight", w[0]);
    add(p + ".0.bias", b[0]);
    add(p + ".2.weight", w[1]);
    add(p + ".2.bias", b[1]);
  };
  mixer("mixer1", mix1_w_, mix1_b_);
  mixer("mixer2", mix2_w_, mix2_b_);
  mixer("mixer3", mix3_w_, mix3_b_);
  return out;
}

DCAMA::DCAMA(std::unique_ptr<DCAMAFeatures> features)
    : features_(std::move(features)), learner_(features_->depths(), features_->channels()) {}

at::Tensor DCAMA::forward(const at::Tensor& query, const at::Tensor& supports, const at::Tensor& masks) const {
  if (supports.dim() != 5 || supports.size(0) != query.size(0))
    throw std::invalid_argument("DCAMA: supports must be [B, K, 3, H, W] with the query's batch size");
  std::vector<std::vector<at::Tensor>> sf;
  for (int64_t k = 0; k < supports.size(1); ++k) sf.push_back(features(supports.select(1, k)));
  return learner_.forward(features(query), sf, masks);
}

std::vector<NamedTensor> DCAMA::named_tensors() {
  std::vector<NamedTensor> out;
  for (auto& nt : features_->named_tensors()) out.push_back({"feature_extractor." + nt.name, nt.tensor, nt.trainable});
  for (auto& nt : learner_tensors()) out.push_back(nt);
  return out;
}

std::vector<NamedTensor> DCAMA::learner_tensors() {
  std::vector<NamedTensor> out;
  for (auto& nt : learner_.named_tensors()) out.push_back({"model." + nt.name, nt.tensor, nt.trainable});
  return out;
}

std::vector<std::string> DCAMA::unused_prefixes() const {
  std::vector<std::string> p{"model.pe."};
  for (const auto& u : features_->unused_prefixes()) p.push_back("feature_extractor." + u);
  return p;
}

std::vector<std::string> DCAMA::derived_suffixes() const { return features_->derived_suffixes(); }

void DCAMA::to(at::Device device, at::ScalarType dtype) {
  features_->to(device, dtype);
  for (auto& nt : learner_.named_tensors()) *nt.tensor = nt.tensor->to(device, dtype);
}

}  // namespace difss::fss
