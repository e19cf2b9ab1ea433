// The PFENet family's ResNet v2 (resnet_v2.hpp).
#include <difss/fss/resnet_v2.hpp>

#include <ATen/ATen.h>

#include <stdexcept>
#include <vector>

namespace difss::fss {

namespace {
// On the CPU the backbone runs image by image: one image's activations stay in cache far better
// than a batch's (oneDNN at batch 6 ran 1.3x slower per image than image by image at 473x473,
// 5-shot BAM); other devices take the batch at once.
template <class F>
at::Tensor by_image_on_cpu(const at::Tensor& x, F f) {
  if (!x.device().is_cpu() || x.size(0) == 1) return f(x);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); ++i) parts.push_back(f(x.narrow(0, i, 1)));
  return at::cat(parts);
}
}  // namespace

DeepStemResNet::DeepStemResNet(std::array<int, 4> blocks, DilationRule rule, const at::TensorOptions& o) {
  stem_conv_[0] = Conv2d(3, 64, 3, false, o, 2, 1);
  stem_conv_[1] = Conv2d(64, 64, 3, false, o, 1, 1);
  stem_conv_[2] = Conv2d(64, 128, 3, false, o, 1, 1);
  stem_bn_[0] = BatchNorm2d(64, o);
  stem_bn_[1] = BatchNorm2d(64, o);
  stem_bn_[2] = BatchNorm2d(128, o);
  int64_t inplanes = 128;
  const int64_t stage_stride[4] = {1, 2, 1, 1}, dilation[4] = {1, 1, 2, 4};
  for (int s = 0; s < 4; ++s) {
    if (blocks[size_t(s)] < 1) throw std::invalid_argument("ResNet: every stage needs at least one block");
    const int64_t planes = int64_t(64) << s;
    for (int b = 0; b < blocks[size_t(s)]; ++b) {
      const int64_t stride = b == 0 ? stage_stride[s] : 1;
      // torchvision's rule: a dilated stage's first block keeps the previous stage's dilation.
      const int64_t d = rule == DilationRule::torchvision && b == 0 && s >= 2 ? dilation[s - 1] : dilation[s];
      Bottleneck k;
      k.conv1 = Conv2d(inplanes, planes, 1, false, o);
      k.conv2 = Conv2d(planes, planes, 3, false, o, stride, d, d);
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
}

at::Tensor DeepStemResNet::stem(const at::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != 3) throw std::invalid_argument("ResNet: expected a [B, 3, H, W] image batch");
  return by_image_on_cpu(x, [&](const at::Tensor& img) {
    at::Tensor y = img;
    for (int i = 0; i < 3; ++i) y = (folded_ ? folded_stem_[i](y) : stem_bn_[i](stem_conv_[i](y))).relu_();
    return at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
  });
}

at::Tensor DeepStemResNet::layer(int index, const at::Tensor& x) const {
  if (index < 1 || index > 4) throw std::out_of_range("ResNet: layer index must be 1..4");
  return by_image_on_cpu(x, [&](const at::Tensor& img) {
    at::Tensor y = img;
    for (const Bottleneck& b : (folded_ ? folded_stages_ : stages_)[size_t(index - 1)]) y = b.forward(y);
    return y;
  });
}

int64_t DeepStemResNet::reach(int index) const {
  if (index < 1 || index > 4) throw std::out_of_range("ResNet: layer index must be 1..4");
  int64_t r = 0;
  for (const Bottleneck& b : stages_[size_t(index - 1)]) {
    if (b.conv2.stride != 1) throw std::logic_error("ResNet: reach() of a strided stage");
    r += b.conv2.dilation * (b.conv2.weight.size(-1) / 2);
  }
  return r;
}

void DeepStemResNet::fold_batchnorm() {
  for (int i = 0; i < 3; ++i) {
    folded_stem_[i] = fss::fold_batchnorm(stem_conv_[i], stem_bn_[i]);
    folded_stem_[i].pack();
  }
  for (size_t s = 0; s < 4; ++s) {
    folded_stages_[s].clear();
    for (const Bottleneck& b : stages_[s]) folded_stages_[s].push_back(b.folded());
  }
  folded_ = true;
}

void DeepStemResNet::collect(std::vector<NamedTensor>& out, const std::string& prefix, StemNames names) {
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i + 1);
    // layer0 = Sequential(conv1, bn1, relu1, conv2, bn2, relu2, conv3, bn3, relu3, maxpool)
    stem_conv_[i].collect(out, prefix + (names == StemNames::sequential ? "layer0." + std::to_string(3 * i) : "conv" + n));
    stem_bn_[i].collect(out, prefix + (names == StemNames::sequential ? "layer0." + std::to_string(3 * i + 1) : "bn" + n));
  }
  for (size_t s = 0; s < 4; ++s)
    for (size_t b = 0; b < stages_[s].size(); ++b)
      stages_[s][b].collect(out, prefix + "layer" + std::to_string(s + 1) + "." + std::to_string(b));
}

}  // namespace difss::fss
