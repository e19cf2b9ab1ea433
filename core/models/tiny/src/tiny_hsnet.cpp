// The tiny HSNet: configuration, initialisation, loading.
#include <difss/tiny/fss.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>

#include <difss/fss/backbone.hpp>
#include <difss/fss/checkpoint.hpp>
#include <difss/weights/load.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace difss::tiny {

std::string TinyFssConfig::to_json() const {
  return nlohmann::json{{"width", width}, {"layers", layers}, {"image_size", image_size}, {"fold", fold},
                        {"backbone", "resnet (basic blocks)"}, {"model", "hsnet"}}
      .dump();
}

TinyFssConfig TinyFssConfig::from_json(const std::string& text) {
  TinyFssConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.width = j.value("width", c.width);
    if (j.contains("layers")) c.layers = j.at("layers").get<std::array<int, 4>>();
    c.image_size = j.value("image_size", c.image_size);
    c.fold = j.value("fold", c.fold);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("tiny-fss config: ") + e.what());
  }
  if (c.width < 4 || c.width > 256) throw std::invalid_argument("tiny-fss config: width must be 4..256");
  for (int n : c.layers)
    if (n < 1 || n > 8) throw std::invalid_argument("tiny-fss config: layers must be 1..8 blocks each");
  if (c.image_size < 32 || c.image_size > 1024) throw std::invalid_argument("tiny-fss config: image_size must be 32..1024");
  return c;
}

std::unique_ptr<fss::HSNet> make_tiny_hsnet(const TinyFssConfig& c) {
  fss::ResNetConfig rc;
  rc.name = "tiny-resnet";
  rc.block = fss::ResNetConfig::Block::basic;
  rc.layers = c.layers;
  rc.width = c.width;
  return std::make_unique<fss::HSNet>(fss::make_resnet(rc));
}

namespace {
bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
}  // namespace

void init_tiny_hsnet(fss::HSNet& net, uint64_t seed) {
  at::NoGradGuard ng;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const fss::NamedTensor& nt : net.named_tensors()) {
    at::Tensor& t = *nt.tensor;
    const std::string& n = nt.name;
    if (ends_with(n, ".running_mean")) {
      t.zero_();
    } else if (ends_with(n, ".running_var")) {
      t.fill_(1.0);
    } else if (t.dim() >= 2) {
      const double fan_in = double(t.numel() / t.size(0));
      const bool learner = n.rfind("hpn_learner.", 0) == 0;
      // Backbone: He normal (ReLU); learner: uniform +-1/sqrt(fan_in) as torch's Conv default.
      at::Tensor r = learner ? (at::rand(t.sizes(), gen) * 2 - 1) * (1.0 / std::sqrt(fan_in))
                             : at::randn(t.sizes(), gen) * std::sqrt(2.0 / fan_in);
      t.copy_(r);
    } else if (ends_with(n, ".weight")) {  // BatchNorm / GroupNorm scales
      const bool last_bn = n.find(".bn2.") != std::string::npos && n.rfind("backbone.layer", 0) == 0;
      t.fill_(last_bn ? 0.0 : 1.0);
    } else {
      t.zero_();
    }
  }
}

TinyFss load_tiny_fss(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(path + ": file not found");
  weights::StateDict sd = weights::load_safetensors(path);
  auto meta = sd.metadata.find(kMetaFssConfig);
  if (meta == sd.metadata.end())
    throw std::runtime_error(path + std::string(": no \"") + kMetaFssConfig + "\" metadata: not a tiny-fss checkpoint");
  TinyFss out;
  try {
    out.config = TinyFssConfig::from_json(meta->second);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  auto net = make_tiny_hsnet(out.config);
  weights::bind_state_dict(sd, fss::slots_of(net->named_tensors()), fss::bind_options({}, {}));
  out.engine = std::make_unique<fss::HSNetEngine>(std::move(net), out.config.image_size);
  return out;
}

}  // namespace difss::tiny
