// ResNet and VGG-16 with torchvision's layout, functional ATen (see backbone.hpp).
#include <difss/fss/backbone.hpp>
#include <difss/fss/layers.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <stdexcept>

namespace difss::fss {

void Backbone::to(at::Device device, at::ScalarType dtype) {
  for (const auto& nt : named_tensors()) *nt.tensor = nt.tensor->to(device, dtype);
  weights_changed();
}

std::vector<at::Tensor> Backbone::block_outputs(const at::Tensor&) const {
  throw std::logic_error("backbone '" + name() + "' has no residual blocks to tap");
}

namespace {

at::Tensor zeros(std::vector<int64_t> shape) { return at::zeros(shape, weight_options()); }
at::Tensor ones(int64_t n) { return at::ones({n}, weight_options()); }

struct Conv {
  at::Tensor weight;  // no bias in ResNets
  int64_t stride = 1, padding = 0;
  Conv() = default;
  Conv(int64_t in, int64_t out, int64_t k, int64_t stride_, int64_t pad)
      : weight(zeros({out, in, k, k})), stride(stride_), padding(pad) {}
  at::Tensor operator()(const at::Tensor& x) const {
    return at::conv2d(x, weight, {}, {stride, stride}, {padding, padding});
  }
};

struct BN {
  at::Tensor weight, bias, running_mean, running_var;
  BN() = default;
  explicit BN(int64_t c) : weight(ones(c)), bias(zeros({c})), running_mean(zeros({c})), running_var(ones(c)) {}
  at::Tensor operator()(const at::Tensor& x) const {
    return at::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/false,
                          /*momentum=*/0.1, /*eps=*/1e-5, /*cudnn_enabled=*/true);
  }
  void collect(std::vector<NamedTensor>& out, const std::string& p) {
    out.push_back({p + ".weight", &weight, true});
    out.push_back({p + ".bias", &bias, true});
    out.push_back({p + ".running_mean", &running_mean, false});
    out.push_back({p + ".running_var", &running_var, false});
  }
};

// conv followed by eval-mode BN as one convolution with bias (layers.hpp's fold, then packed).
Conv2d fold(const Conv& c, const BN& bn) {
  Conv2d plain;
  plain.weight = c.weight;
  plain.stride = c.stride;
  plain.padding = c.padding;
  BatchNorm2d b;
  b.weight = bn.weight, b.bias = bn.bias, b.running_mean = bn.running_mean, b.running_var = bn.running_var;
  Conv2d f = fold_batchnorm(plain, b);
  f.pack();
  return f;
}

// A residual block with its BatchNorms folded (ResNet::fold_for_inference).
struct FoldedBlock {
  bool bottleneck = true, has_down = false;
  Conv2d conv1, conv2, conv3, down;
  at::Tensor forward_pre_relu(const at::Tensor& x) const {
    at::Tensor y = conv1(x).relu_();
    if (bottleneck) y = conv3(conv2(y).relu_());
    else y = conv2(y);
    return y.add_(has_down ? down(x) : x);  // y + shortcut, as the unfolded block adds them
  }
};

struct Block {
  bool bottleneck = true;
  Conv conv1, conv2, conv3;
  BN bn1, bn2, bn3;
  bool has_down = false;
  Conv down;
  BN down_bn;

  // Output before the final ReLU (HSNet taps it there).
  at::Tensor forward_pre_relu(const at::Tensor& x) const {
    at::Tensor y = at::relu(bn1(conv1(x)));
    if (bottleneck) {
      y = at::relu(bn2(conv2(y)));
      y = bn3(conv3(y));
    } else {
      y = bn2(conv2(y));
    }
    return y + (has_down ? down_bn(down(x)) : x);
  }
  FoldedBlock folded() const {
    FoldedBlock f;
    f.bottleneck = bottleneck;
    f.has_down = has_down;
    f.conv1 = fold(conv1, bn1);
    f.conv2 = fold(conv2, bn2);
    if (bottleneck) f.conv3 = fold(conv3, bn3);
    if (has_down) f.down = fold(down, down_bn);
    return f;
  }
  void collect(std::vector<NamedTensor>& out, const std::string& p) {
    out.push_back({p + ".conv1.weight", &conv1.weight, true});
    bn1.collect(out, p + ".bn1");
    out.push_back({p + ".conv2.weight", &conv2.weight, true});
    bn2.collect(out, p + ".bn2");
    if (bottleneck) {
      out.push_back({p + ".conv3.weight", &conv3.weight, true});
      bn3.collect(out, p + ".bn3");
    }
    if (has_down) {
      out.push_back({p + ".downsample.0.weight", &down.weight, true});
      down_bn.collect(out, p + ".downsample.1");
    }
  }
};

class ResNet final : public Backbone {
 public:
  explicit ResNet(const ResNetConfig& c) : config_(c) {
    if (c.width < 1) throw std::invalid_argument("ResNet: width must be >= 1");
    for (int n : c.layers)
      if (n < 1) throw std::invalid_argument("ResNet: every stage needs at least one block");
    const bool bott = c.block == ResNetConfig::Block::bottleneck;
    const int64_t expansion = bott ? 4 : 1;
    conv1_ = Conv(3, c.width, 7, 2, 3);
    bn1_ = BN(c.width);
    int64_t inplanes = c.width;
    for (int s = 0; s < 4; ++s) {
      const int64_t planes = c.width << s;
      for (int b = 0; b < c.layers[s]; ++b) {
        const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        Block k;
        k.bottleneck = bott;
        if (bott) {
          k.conv1 = Conv(inplanes, planes, 1, 1, 0);
          k.conv2 = Conv(planes, planes, 3, stride, 1);
          k.conv3 = Conv(planes, planes * 4, 1, 1, 0);
          k.bn1 = BN(planes);
          k.bn2 = BN(planes);
          k.bn3 = BN(planes * 4);
        } else {
          k.conv1 = Conv(inplanes, planes, 3, stride, 1);
          k.conv2 = Conv(planes, planes, 3, 1, 1);
          k.bn1 = BN(planes);
          k.bn2 = BN(planes);
        }
        if (stride != 1 || inplanes != planes * expansion) {
          k.has_down = true;
          k.down = Conv(inplanes, planes * expansion, 1, stride, 0);
          k.down_bn = BN(planes * expansion);
        }
        inplanes = planes * expansion;
        stages_[s].push_back(std::move(k));
      }
    }
  }

  std::string name() const override { return config_.name; }

  std::vector<at::Tensor> hypercolumn(const at::Tensor& x) const override {
    return run_blocks(x, 1);  // stage 1 is not correlated
  }

  std::vector<at::Tensor> block_outputs(const at::Tensor& x) const override { return run_blocks(x, 0); }

  int fold_for_inference() override {
    drop_folded();
    fold_requested_ = true;
    // Float32 CPU weights only: LibTorch 1.13's oneDNN bf16 path needs AVX-512 (BW, VL, DQ), and
    // other devices and dtypes run the unfolded computation. A later to() folds again if it can.
    if (!conv1_.weight.device().is_cpu() || conv1_.weight.scalar_type() != at::kFloat) return 0;
    folded_stem_ = fold(conv1_, bn1_);
    int n = 1;
    for (int s = 0; s < 4; ++s) {
      for (const Block& b : stages_[s]) {
        folded_[s].push_back(b.folded());
        n += (b.bottleneck ? 3 : 2) + (b.has_down ? 1 : 0);
      }
    }
    return n;
  }

  void unfold() override {
    fold_requested_ = false;
    drop_folded();
  }

  std::array<int64_t, 3> level_counts() const override {
    return {config_.layers[3], config_.layers[2], config_.layers[1]};
  }

  std::vector<std::string> tap_names() const override {
    std::vector<std::string> n{"stem"};
    for (int s = 0; s < 4; ++s) {
      n.push_back("layer" + std::to_string(s + 1));
      for (int b = 0; b < config_.layers[s]; ++b)
        n.push_back("layer" + std::to_string(s + 1) + "." + std::to_string(b));
    }
    return n;
  }

  std::vector<at::Tensor> taps(const at::Tensor& x, const std::vector<std::string>& names) const override {
    std::vector<std::string> all = tap_names();
    std::vector<size_t> pos;
    size_t last = 0;
    for (const auto& n : names) {
      auto it = std::find(all.begin(), all.end(), n);
      if (it == all.end()) throw std::invalid_argument(unknown_tap(n, all));
      pos.push_back(size_t(it - all.begin()));
      last = std::max(last, pos.back());
    }
    std::vector<at::Tensor> out(names.size());
    auto record = [&](size_t idx, const at::Tensor& t) {
      for (size_t i = 0; i < pos.size(); ++i)
        if (pos[i] == idx) out[i] = t;
    };
    const bool folded = use_folded(x);
    at::Tensor f = stem(x);
    size_t idx = 0;
    record(idx, f);
    for (int s = 0; s < 4 && idx < last; ++s) {
      const size_t stage_idx = ++idx;
      for (size_t i = 0; i < stages_[s].size(); ++i) {
        f = at::relu(folded ? folded_[s][i].forward_pre_relu(f) : stages_[s][i].forward_pre_relu(f));
        record(++idx, f);
      }
      record(stage_idx, f);
    }
    return out;
  }

  std::vector<NamedTensor> named_tensors() override {
    std::vector<NamedTensor> out;
    out.push_back({"conv1.weight", &conv1_.weight, true});
    bn1_.collect(out, "bn1");
    for (int s = 0; s < 4; ++s)
      for (size_t b = 0; b < stages_[s].size(); ++b)
        stages_[s][b].collect(out, "layer" + std::to_string(s + 1) + "." + std::to_string(b));
    return out;
  }

  std::vector<std::string> unused_prefixes() const override { return {"fc."}; }

  static std::string unknown_tap(const std::string& n, const std::vector<std::string>& all) {
    std::string msg = "unknown layer '" + n + "'; layers are:";
    for (const auto& a : all) msg += " " + a;
    return msg;
  }

 protected:
  void weights_changed() override {
    if (fold_requested_) fold_for_inference();
  }

 private:
  void drop_folded() {
    folded_stem_ = Conv2d();
    for (auto& st : folded_) st.clear();
  }

  void check_input(const at::Tensor& x) const {
    if (x.dim() != 4 || x.size(1) != 3)
      throw std::invalid_argument("backbone input must be [B, 3, H, W], got " + std::to_string(x.dim()) + "-d");
  }

  // Every block's output before its final ReLU, from stage `first` on.
  std::vector<at::Tensor> run_blocks(const at::Tensor& x, int first) const {
    std::vector<at::Tensor> feats;
    if (use_folded(x) && folded_stem_.packed.defined()) {
      check_input(x);
      // Folded and packed: the activations stay in oneDNN's own blocked layout (ATen's opaque
      // MKLDNN tensors) from the stem to the last block, so that no convolution reorders its input
      // and output (ResNet-50 at 400x400, one thread: 182-213 ms with NCHW activations, ~150 in
      // this layout); only the outputs returned are converted back to NCHW.
      at::Tensor f = folded_stem_(x.contiguous().to_mkldnn()).relu_();
      f = at::max_pool2d(f, {3, 3}, {2, 2}, {1, 1});
      for (int s = 0; s < 4; ++s)
        for (const FoldedBlock& b : folded_[s]) {
          at::Tensor y = b.forward_pre_relu(f);
          if (s >= first) feats.push_back(y.to_dense());
          f = y.relu_();
        }
      return feats;
    }
    const bool folded = use_folded(x);
    at::Tensor f = stem(x);
    for (int s = 0; s < 4; ++s)
      for (size_t i = 0; i < stages_[s].size(); ++i) {
        at::Tensor y = folded ? folded_[s][i].forward_pre_relu(f) : stages_[s][i].forward_pre_relu(f);
        if (s >= first) feats.push_back(y);
        f = at::relu(y);
      }
    return feats;
  }

  // The folded copies (float32 CPU weights only) run at float32 CPU inference.
  bool use_folded(const at::Tensor& x) const {
    return fold_requested_ && !at::GradMode::is_enabled() && x.device().is_cpu() &&
           x.scalar_type() == conv1_.weight.scalar_type() && folded_stem_.weight.defined();
  }

  at::Tensor stem(const at::Tensor& x) const {
    check_input(x);
    if (use_folded(x)) {
      // ATen 1.13's NCHW max pool runs ~12x slower than its channels-last one (18 vs 1.5 ms for
      // 64 x 200 x 200): the round trip through channels-last costs 4 ms; a max is exact either way.
      const at::Tensor y = folded_stem_(x).relu_().contiguous(at::MemoryFormat::ChannelsLast);
      return at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1}).contiguous();
    }
    return at::max_pool2d(at::relu(bn1_(conv1_(x))), {3, 3}, {2, 2}, {1, 1});
  }

  ResNetConfig config_;
  Conv conv1_;
  BN bn1_;
  std::array<std::vector<Block>, 4> stages_;
  bool fold_requested_ = false;
  Conv2d folded_stem_;
  std::array<std::vector<FoldedBlock>, 4> folded_;
};

// torchvision vgg16 "features": 13 3x3 convs (with bias) + ReLU, 5 max pools.
class VGG16 final : public Backbone {
 public:
  VGG16() {
    const int cfg[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, -1, 512, 512, 512, -1, 512, 512, 512, -1};
    int64_t in = 3;
    int idx = 0;
    for (int c : cfg) {
      Module m;
      m.index = idx;
      if (c < 0) {
        m.kind = Module::pool;
        modules_.push_back(m);
        idx += 1;
      } else {
        m.kind = Module::conv;
        m.weight = zeros({c, in, 3, 3});
        m.bias = zeros({c});
        modules_.push_back(m);
        Module r;
        r.kind = Module::relu;
        r.index = idx + 1;
        modules_.push_back(r);
        idx += 2;
        in = c;
      }
    }
  }
  std::string name() const override { return "vgg16"; }

  std::vector<at::Tensor> hypercolumn(const at::Tensor& x) const override {
    static const int ids[] = {17, 19, 21, 24, 26, 28, 30};
    std::vector<std::string> names;
    for (int i : ids) names.push_back("features." + std::to_string(i));
    return taps(x, names);
  }
  std::array<int64_t, 3> level_counts() const override { return {1, 3, 3}; }

  std::vector<std::string> tap_names() const override {
    std::vector<std::string> n;
    for (const auto& m : modules_) n.push_back("features." + std::to_string(m.index));
    return n;
  }

  std::vector<at::Tensor> taps(const at::Tensor& x, const std::vector<std::string>& names) const override {
    if (x.dim() != 4 || x.size(1) != 3) throw std::invalid_argument("backbone input must be [B, 3, H, W]");
    std::vector<std::string> all = tap_names();
    std::vector<int> want;
    int last = -1;
    for (const auto& n : names) {
      auto it = std::find(all.begin(), all.end(), n);
      if (it == all.end()) throw std::invalid_argument(tap_error(n, all));
      want.push_back(int(it - all.begin()));
      last = std::max(last, want.back());
    }
    std::vector<at::Tensor> out(names.size());
    at::Tensor f = x;
    for (int i = 0; i <= last; ++i) {
      const Module& m = modules_[size_t(i)];
      if (m.kind == Module::conv) f = at::conv2d(f, m.weight, m.bias, {1, 1}, {1, 1});
      else if (m.kind == Module::relu) f = at::relu(f);
      else f = at::max_pool2d(f, {2, 2}, {2, 2});
      for (size_t k = 0; k < want.size(); ++k)
        if (want[k] == i) out[k] = f;
    }
    return out;
  }

  std::vector<NamedTensor> named_tensors() override {
    std::vector<NamedTensor> out;
    for (auto& m : modules_)
      if (m.kind == Module::conv) {
        out.push_back({"features." + std::to_string(m.index) + ".weight", &m.weight, true});
        out.push_back({"features." + std::to_string(m.index) + ".bias", &m.bias, true});
      }
    return out;
  }
  std::vector<std::string> unused_prefixes() const override { return {"classifier."}; }

 private:
  static std::string tap_error(const std::string& n, const std::vector<std::string>& all) {
    std::string msg = "unknown layer '" + n + "'; layers are:";
    for (const auto& a : all) msg += " " + a;
    return msg;
  }
  struct Module {
    enum Kind { conv, relu, pool } kind = conv;
    int index = 0;
    at::Tensor weight, bias;
  };
  std::vector<Module> modules_;
};

}  // namespace

ResNetConfig ResNetConfig::resnet18() { return {"resnet18", Block::basic, {2, 2, 2, 2}, 64}; }
ResNetConfig ResNetConfig::resnet34() { return {"resnet34", Block::basic, {3, 4, 6, 3}, 64}; }
ResNetConfig ResNetConfig::resnet50() { return {"resnet50", Block::bottleneck, {3, 4, 6, 3}, 64}; }
ResNetConfig ResNetConfig::resnet101() { return {"resnet101", Block::bottleneck, {3, 4, 23, 3}, 64}; }

std::unique_ptr<Backbone> make_resnet(const ResNetConfig& config) { return std::make_unique<ResNet>(config); }
std::unique_ptr<Backbone> make_vgg16() { return std::make_unique<VGG16>(); }

std::unique_ptr<Backbone> make_backbone(const std::string& name) {
  if (name == "resnet18") return make_resnet(ResNetConfig::resnet18());
  if (name == "resnet34") return make_resnet(ResNetConfig::resnet34());
  if (name == "resnet50") return make_resnet(ResNetConfig::resnet50());
  if (name == "resnet101") return make_resnet(ResNetConfig::resnet101());
  if (name == "vgg16") return make_vgg16();
  throw std::invalid_argument("unknown backbone '" + name +
                              "' (expected resnet18, resnet34, resnet50, resnet101 or vgg16)");
}

}  // namespace difss::fss
