// The one translation unit with <torch/script.h> (slow to compile; keep it alone).
#include "torchscript_segmenter.hpp"

#include <difss/fss/engines.hpp>
#include <difss/fss/hsnet.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/sdk/tensor_torch.hpp>

#include <torch/script.h>

#include <filesystem>
#include <mutex>

namespace difss::plugins {

namespace {
std::array<double, 3> parse3(const std::string& key, const std::string& text) {
  auto items = fss::split_list(text);
  std::array<double, 3> v{};
  if (items.size() != 3) throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter '" + key + "' needs 3 comma-separated numbers, got \"" + text + "\"");
  for (size_t i = 0; i < 3; ++i) {
    try {
      size_t n = 0;
      v[i] = std::stod(items[i], &n);
      if (n != items[i].size()) throw std::invalid_argument(items[i]);
    } catch (const std::exception&) {
      throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter '" + key + "': '" + items[i] + "' is not a number");
    }
  }
  return v;
}
std::string shape_str(at::IntArrayRef s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}
// BAM's test Resize (HDMNet's stretches instead): long side to S, short side scaled, both rounded down to multiples of 8.
std::array<int64_t, 2> letterbox_size(int64_t h, int64_t w, int64_t S) {
  int64_t nh, nw;
  if (h >= w) nh = S, nw = int64_t(double(w) * (double(S) / double(h)));
  else nw = S, nh = int64_t(double(h) * (double(S) / double(w)));
  nh = std::max<int64_t>(8, nh / 8 * 8);
  nw = std::max<int64_t>(8, nw / 8 * 8);
  return {nh, nw};
}

// Image [1,3,S,S]: the resized image top-left, zero pixels (before normalisation) elsewhere.
at::Tensor letterbox_image(const at::Tensor& hwc, int64_t S, const fss::Normalization& n) {
  auto sz = letterbox_size(hwc.size(0), hwc.size(1), S);
  at::Tensor u8 = at::zeros({S, S, 3}, at::kByte);
  u8.narrow(0, 0, sz[0]).narrow(1, 0, sz[1]).copy_(fss::resize_image_u8(hwc, sz[0], sz[1]));
  return fss::prepare_image(u8, S, S, n);
}

// Mask [1,S,S]: the resized mask top-left, padding = 255 (background for the model).
at::Tensor letterbox_mask(const at::Tensor& mask, int64_t S) {
  auto sz = letterbox_size(mask.size(0), mask.size(1), S);
  at::Tensor m = at::full({S, S}, 255, at::kByte);
  at::Tensor r = at::upsample_nearest2d(mask.to(at::kFloat).unsqueeze(0).unsqueeze(0), {sz[0], sz[1]})[0][0].to(at::kByte);
  m.narrow(0, 0, sz[0]).narrow(1, 0, sz[1]).copy_(r);
  return fss::prepare_mask(m, S, S);
}

}  // namespace

struct TorchScriptSegmenter::Impl {
  torch::jit::Module module;
  std::mutex mu;
  int64_t size = 473, shots = 1;
  std::string output;
  bool letterbox = false;
  fss::Normalization norm;
  at::Device device = at::kCPU;
};

sdk::Descriptor TorchScriptSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.segmenter.torchscript";
  d.name = "TorchScript few-shot segmenter";
  d.description =
      "Runs a torch.jit.trace'd few-shot segmenter. Contract: forward(query float32 [1,3,S,S], "
      "support_images float32 [1,K,3,S,S], support_masks float32 [1,K,S,S] with 1 = object, 0 = else) "
      "-> [1,2,h,w] logits (or the first element of a tuple), S = image_size and K = shots fixed at "
      "tracing; images resized to S x S (antialiased bilinear), /255, normalised with mean/std. The "
      "output is resized bilinearly (align_corners) to the query's size. A model traced with 1 shot "
      "serves K shots by HSNet's vote (prob = vote fraction).";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::path("model", "", "The traced module (.pt from torch.jit.trace(...).save)."));
  d.param(sdk::ParamDef::integer("image_size", 473, 32, 2048, "S, the square input size the module was traced with."));
  d.param(sdk::ParamDef::integer("shots", 1, 1, 64, "K, the number of supports the module was traced with."));
  d.param(sdk::ParamDef::enumeration("output", {"logits2", "prob1", "logit1"}, "logits2",
                                     "Output: 2-channel logits (softmax), 1-channel probability, or 1-channel logit (sigmoid)."));
  d.param(sdk::ParamDef::enumeration("resize", {"stretch", "letterbox"}, "stretch",
                                     "stretch: every image to S x S (HSNet, HDMNet); letterbox: long side to S rounded down to a "
                                     "multiple of 8, top-left on a zero canvas, mask padding ignored (BAM's "
                                     "evaluation Resize); the output is cropped back before resizing."));
  d.param(sdk::ParamDef::string("mean", "0.485,0.456,0.406", "Per-channel mean on RGB/255."));
  d.param(sdk::ParamDef::string("std", "0.229,0.224,0.225", "Per-channel standard deviation on RGB/255."));
  d.param(sdk::ParamDef::enumeration("device", {"cpu", "cuda"}, "cpu", "Where the module runs."));
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "K support images.");
  d.input("support_masks", "mask", "K support masks (1 = object; 0 and 255 = not).");
  d.output("prob", "prob", "Foreground probability at the query's size (vote fraction when voting).");
  d.output("mask", "mask", "prob >= 0.5 (1 shot: argmax of the logits).");
  return d;
}

TorchScriptSegmenter::TorchScriptSegmenter(const sdk::Host& host, const sdk::Params& p)
    : host_(host), impl_(std::make_unique<Impl>()) {
  const std::string path = p.string("model");
  if (path.empty()) throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'model' is required (a torch.jit.trace'd .pt)");
  if (!std::filesystem::is_regular_file(path)) throw sdk::Error(DIFSS_ERR_NOT_FOUND, "parameter 'model': file not found: " + path);
  impl_->size = p.integer("image_size");
  impl_->shots = p.integer("shots");
  impl_->output = p.string("output");
  impl_->letterbox = p.string("resize") == "letterbox";
  impl_->norm.mean = parse3("mean", p.string("mean"));
  impl_->norm.std = parse3("std", p.string("std"));
  for (double s : impl_->norm.std)
    if (!(s > 0)) throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "parameter 'std' must be positive");
  if (p.string("device") == "cuda") {
    if (!at::hasCUDA()) throw sdk::Error(DIFSS_ERR_UNSUPPORTED, "parameter 'device' = \"cuda\" but no CUDA device is usable");
    impl_->device = at::Device(at::kCUDA);
  }
  try {
    impl_->module = torch::jit::load(path, impl_->device);
  } catch (const c10::Error& e) {
    throw sdk::Error(DIFSS_ERR_IO, "parameter 'model': " + path + " is not a loadable TorchScript module: " +
                                       sdk::trim_backtrace(e.what()));
  }
  impl_->module.eval();
}

TorchScriptSegmenter::~TorchScriptSegmenter() = default;

sdk::SegmenterOutput TorchScriptSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call& call) {
  sdk::require_port(in.query, "query", "image");
  const int64_t K = int64_t(in.shots()), S = impl_->size, T = impl_->shots;
  std::vector<fss::Shot> shots;
  for (int64_t k = 0; k < K; ++k) {
    sdk::require_port(*in.support_images[size_t(k)], "support_images[" + std::to_string(k) + "]", "image");
    sdk::require_port(*in.support_masks[size_t(k)], "support_masks[" + std::to_string(k) + "]", "mask");
    shots.push_back({sdk::as_tensor(*in.support_images[size_t(k)]), sdk::as_tensor(*in.support_masks[size_t(k)])});
  }
  try {
    fss::check_segmenter_inputs(sdk::as_tensor(in.query), shots);
  } catch (const std::invalid_argument& e) {
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, e.what());
  }
  if (K != T && T != 1)
    throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "the module was traced with shots = " + std::to_string(T) + " but " +
                                                     std::to_string(K) + " supports were given (only a 1-shot module can vote over K shots)");
  c10::InferenceMode guard;
  const auto dev = impl_->device;
  const bool lb = impl_->letterbox;
  const at::Tensor query = sdk::as_tensor(in.query);
  at::Tensor q = (lb ? letterbox_image(query, S, impl_->norm) : fss::prepare_image(query, S, S, impl_->norm)).to(dev);
  std::vector<at::Tensor> imgs, masks;
  for (const auto& s : shots) {
    imgs.push_back(lb ? letterbox_image(s.image, S, impl_->norm) : fss::prepare_image(s.image, S, S, impl_->norm));
    masks.push_back(lb ? letterbox_mask(s.mask, S) : fss::prepare_mask(s.mask, S, S));
  }
  const at::Tensor all_imgs = at::cat(imgs).to(dev), all_masks = at::cat(masks).to(dev);
  // One call with all K shots, or K calls of a 1-shot module.
  const int64_t calls = (T == K) ? 1 : K;
  std::vector<at::Tensor> logits;
  for (int64_t c = 0; c < calls; ++c) {
    call.check_cancelled();
    const int64_t first = calls == 1 ? 0 : c, n = calls == 1 ? K : 1;
    std::vector<torch::jit::IValue> args{q, all_imgs.narrow(0, first, n).unsqueeze(0), all_masks.narrow(0, first, n).unsqueeze(0)};
    torch::jit::IValue r;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      try {
        r = impl_->module.forward(args);
      } catch (const c10::Error& e) {
        throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "the TorchScript module failed (check image_size/shots against how it was traced): " +
                                                         sdk::trim_backtrace(e.what()));
      }
    }
    if (r.isTuple()) r = r.toTupleRef().elements().at(0);
    if (!r.isTensor()) throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "the module must return a tensor (or a tuple starting with one)");
    at::Tensor out = r.toTensor().to(at::kCPU, at::kFloat);
    const int64_t want_c = impl_->output == "logits2" ? 2 : 1;
    if (out.dim() != 4 || out.size(0) != 1 || out.size(1) != want_c)
      throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "the module returned " + shape_str(out.sizes()) + "; output = \"" + impl_->output +
                                                       "\" expects [1, " + std::to_string(want_c) + ", h, w]");
    if (want_c == 1) {  // as 2-channel logits whose softmax is the probability / sigmoid of the logit
      at::Tensor logit = impl_->output == "prob1" ? at::logit(out.clamp(1e-6, 1 - 1e-6)) : out;
      out = at::cat({at::zeros_like(logit), logit}, 1);
    }
    if (lb) {  // back to the canvas, then the query's part of it
      auto sz = letterbox_size(query.size(0), query.size(1), S);
      out = fss::upsample_logits(out, {S, S}).narrow(2, 0, sz[0]).narrow(3, 0, sz[1]);
    }
    logits.push_back(out);
  }
  fss::HSNetPrediction p = fss::predict_from_logits(logits, {in.query.shape[0], in.query.shape[1]});
  sdk::SegmenterOutput o;
  o.prob = sdk::to_owned(p.prob[0].contiguous());
  o.mask = sdk::to_owned(p.mask[0].contiguous());
  return o;
}

}  // namespace difss::plugins
