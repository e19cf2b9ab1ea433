// WinogradConv and the algorithm setting: oneDNN's Winograd primitive wrapped around ATen tensors.
#include <difss/conv/winograd.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "conv_state.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace difss::conv {
namespace {

enum class Algorithm { Auto, Direct, Winograd };

constexpr const char* kEnvVar = "DIFSS_CONV_ALGORITHM";

std::atomic<int> g_algorithm{int(Algorithm::Auto)};
std::atomic<int64_t> g_min_pixels{256 * 256};
std::atomic<int64_t> g_strip_bytes{int64_t(12) << 20};
std::string g_env_error;  // a bad DIFSS_CONV_ALGORITHM; written once, in call_once
std::atomic<bool> g_env_error_active{false};  // cleared by an explicit set_conv_algorithm()
std::once_flag g_env_once;

bool parse(const std::string& s, Algorithm& out) {
  if (s == "auto") out = Algorithm::Auto;
  else if (s == "direct") out = Algorithm::Direct;
  else if (s == "winograd") out = Algorithm::Winograd;
  else return false;
  return true;
}

void read_environment() {
  std::call_once(g_env_once, [] {
    const char* v = std::getenv(kEnvVar);
    if (!v || !*v) return;
    Algorithm a;
    if (parse(v, a)) {
      g_algorithm = int(a);
    } else {
      g_env_error = std::string(kEnvVar) + "='" + v + "' is not a convolution algorithm; expected " +
                    "one of auto, direct, winograd";
      g_env_error_active = true;
    }
  });
}

Algorithm current() {
  read_environment();
  if (g_env_error_active) throw std::invalid_argument(g_env_error);
  return Algorithm(g_algorithm.load());
}

// A Winograd convolution of `in_rows` input rows (a horizontal strip of the image, or all of it)
// with `pad_top` / `pad_bottom` zero rows: 1 at the image's edges, 0 inside, where the strip's
// input already holds the neighbouring rows. The primitive's scratchpad is ours (user mode).
dnnl::convolution_forward::primitive_desc make_pd(int64_t n, int64_t c, int64_t in_rows, int64_t w,
                                                  int64_t o, bool bias, int64_t pad_top,
                                                  int64_t pad_bottom) {
  const int64_t out_rows = in_rows + pad_top + pad_bottom - 2;
  const dnnl::memory::desc src({n, c, in_rows, w}, dt::f32, tag::any),
      dst({n, o, out_rows, w}, dt::f32, tag::any), wei({o, c, 3, 3}, dt::f32, tag::any),
      b({o}, dt::f32, tag::x);
  const dnnl::memory::dims stride{1, 1}, pad_l{pad_top, 1}, pad_r{pad_bottom, 1};
  const auto alg = dnnl::algorithm::convolution_winograd;
  const auto prop = dnnl::prop_kind::forward_inference;
  auto d = bias ? dnnl::convolution_forward::desc(prop, alg, src, wei, b, dst, stride, pad_l, pad_r)
                : dnnl::convolution_forward::desc(prop, alg, src, wei, dst, stride, pad_l, pad_r);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
}

int64_t strip_rows(int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t row_bytes = std::max<int64_t>(1, n * c * w * int64_t(sizeof(float)));
  const int64_t rows = std::max<int64_t>(4, g_strip_bytes.load() / row_bytes / 4 * 4);  // whole 4x4 tiles
  return std::min(rows, h);
}

struct Probe {
  bool ok = false;
  std::string why;
};
const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    try {
      make_pd(1, 64, 32, 32, 64, true, 1, 1);
      r.ok = true;
    } catch (const dnnl::error& e) {
      r.why = std::string("oneDNN has no fp32 Winograd convolution for this CPU (it needs AVX-512): ") +
              e.what();
    } catch (const std::exception& e) {
      r.why = std::string("oneDNN could not be probed: ") + e.what();
    }
    return r;
  }();
  return p;
}

}  // namespace

void set_conv_algorithm(const std::string& name) {
  Algorithm a;
  if (!parse(name, a))
    throw std::invalid_argument("convolution algorithm '" + name +
                                "' is not one of auto, direct, winograd");
  read_environment();
  g_algorithm = int(a);
  g_env_error_active = false;
}

std::string conv_algorithm() {
  switch (current()) {
    case Algorithm::Auto: return "auto";
    case Algorithm::Direct: return "direct";
    case Algorithm::Winograd: return "winograd";
  }
  return "auto";
}

bool winograd_available() { return probe().ok; }
std::string winograd_unavailable_reason() { return probe().why; }

void set_winograd_min_pixels(int64_t pixels) {
  if (pixels < 0) throw std::invalid_argument("winograd_min_pixels must be >= 0");
  g_min_pixels = pixels;
}
int64_t winograd_min_pixels() { return g_min_pixels.load(); }

void set_winograd_strip_bytes(int64_t bytes) {
  if (bytes <= 0) throw std::invalid_argument("winograd_strip_bytes must be > 0");
  g_strip_bytes = bytes;
}
int64_t winograd_strip_bytes() { return g_strip_bytes.load(); }

bool winograd_shape_ok(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                       int64_t padding) {
  return kernel == 3 && stride == 1 && padding == 1 && in_channels > 0 && out_channels > 0 &&
         in_channels % 16 == 0 && out_channels % 16 == 0;
}

bool winograd_wanted(int64_t in_channels, int64_t out_channels, int64_t n, int64_t h, int64_t w) {
  const Algorithm a = current();
  if (a == Algorithm::Direct || !winograd_available()) return false;
  if (a == Algorithm::Winograd) return true;
  if (in_channels < 64 || out_channels < 64) return false;
  // Measured on one core, 128 -> 128 channels: 1.5x at 4 images of 25x25, 2x at one of 50x50,
  // but 0.5x on 2x2 images (a 4x4 output tile for 4 outputs).
  constexpr int64_t kSmallWeightBytes = int64_t(4) << 20, kMinImagePixels = 256, kMinCallPixels = 2048;
  const bool small_weights = in_channels * out_channels * 36 * int64_t(sizeof(float)) <= kSmallWeightBytes;
  return h * w >= g_min_pixels.load() ||
         (small_weights && h * w >= kMinImagePixels && n * h * w >= kMinCallPixels);
}

bool winograd_applies(const at::Tensor& x, const at::Tensor& weight, int64_t stride, int64_t padding) {
  return !at::GradMode::is_enabled() && x.dim() == 4 && weight.dim() == 4 && x.device().is_cpu() &&
         x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat &&
         weight.size(2) == weight.size(3) &&
         winograd_shape_ok(weight.size(1), weight.size(0), weight.size(2), stride, padding) &&
         winograd_wanted(weight.size(1), weight.size(0), x.size(0), x.size(2), x.size(3));
}

std::string conv_setting_summary() {
  return conv_algorithm() + (winograd_available() ? " (Winograd available)"
                                                  : " (Winograd unavailable: " + winograd_unavailable_reason() + ")");
}

// ---- WinogradConv --------------------------------------------------------------------------------

struct WinogradConv::State : ConvState {};

WinogradConv::WinogradConv() : state_(std::make_shared<State>()) {}

at::Tensor WinogradConv::forward(const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& bias) const {
  RECORD_FUNCTION("difss::winograd_conv", std::vector<c10::IValue>({x, weight}));  // for --profile
  if (x.dim() != 4 || weight.dim() != 4 || weight.size(2) != 3 || weight.size(3) != 3 ||
      x.size(1) != weight.size(1) || !x.device().is_cpu() || !weight.device().is_cpu() ||
      x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat ||
      (bias.defined() && (bias.numel() != weight.size(0) || bias.scalar_type() != at::kFloat)))
    throw std::runtime_error("WinogradConv: expected float32 CPU x [N, C, H, W], weight [O, C, 3, 3]"
                             " and bias [O]; got x " + std::string(c10::str(x.sizes())) + " " +
                             std::string(c10::toString(x.scalar_type())) + ", weight " +
                             std::string(c10::str(weight.sizes())));
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), o = weight.size(0);
  const ConvOperands ops = conv_operands(x, weight, bias, h, w);
  const bool channels_last = ops.channels_last;
  const at::Tensor &xin = ops.x, &wc = ops.weight, &bc = ops.bias, &out = ops.out;
  if (out.numel() == 0) return out;

  // The strips' primitives and the weights they read, made under the lock; run outside it.
  struct Strip {
    int64_t first_out, out_rows, first_in, in_rows;
    std::shared_ptr<const ConvPrimitive> primitive;
    std::shared_ptr<const ConvWeights> weights;
  };
  std::vector<Strip> strips;
  const int64_t rows = strip_rows(n, c, h, w);
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (int64_t r0 = 0; r0 < h; r0 += rows) {
      const int64_t r1 = std::min(h, r0 + rows), a0 = std::max<int64_t>(r0 - 1, 0),
                    a1 = std::min(r1 + 1, h);
      Strip s{r0, r1 - r0, a0, a1 - a0, nullptr, nullptr};
      const int64_t top = r0 == 0 ? 1 : 0, bottom = r1 == h ? 1 : 0;
      s.primitive = state_->primitive(
          {n, c, s.in_rows, w, o, bc.defined(), top, bottom},
          [&] { return make_pd(n, c, s.in_rows, w, o, bc.defined(), top, bottom); },
          [&] {
            return "WinogradConv: oneDNN cannot run a Winograd convolution of " + std::to_string(c) + " -> " +
                   std::to_string(o) + " channels on " + std::to_string(n) + " x " +
                   std::to_string(s.in_rows) + " x " + std::to_string(w) + " inputs";
          });
      s.weights = state_->transformed(wc, s.primitive->pd.weights_desc());
      strips.push_back(std::move(s));
    }
  }

  dnnl::engine& engine = cpu_engine();
  dnnl::stream stream(engine);
  size_t src_bytes = 0, dst_bytes = 0, scratch_bytes = 0;
  for (const Strip& s : strips) {
    src_bytes = std::max(src_bytes, s.primitive->pd.src_desc().get_size());
    dst_bytes = std::max(dst_bytes, s.primitive->pd.dst_desc().get_size());
    scratch_bytes = std::max(scratch_bytes, s.primitive->pd.scratchpad_desc().get_size());
  }
  at::Tensor src_buf = buffer(src_bytes), dst_buf = buffer(dst_bytes), scratch_buf = buffer(scratch_bytes);
  for (const Strip& s : strips) {
    const auto& pd = s.primitive->pd;
    dnnl::memory in_user = rows_of(xin, channels_last, s.first_in, s.in_rows);
    dnnl::memory src(pd.src_desc(), engine, src_buf.data_ptr());
    dnnl::reorder(in_user, src).execute(stream, in_user, src);
    dnnl::memory dst(pd.dst_desc(), engine, dst_buf.data_ptr());
    dnnl::memory wei(s.weights->desc, engine, s.weights->buffer.data_ptr());
    dnnl::memory scratch(pd.scratchpad_desc(), engine, scratch_buf.data_ptr());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src},
                                               {DNNL_ARG_WEIGHTS, wei},
                                               {DNNL_ARG_DST, dst},
                                               {DNNL_ARG_SCRATCHPAD, scratch}};
    if (bc.defined())
      args.emplace(DNNL_ARG_BIAS, dnnl::memory({{o}, dt::f32, tag::x}, engine, bc.data_ptr()));
    s.primitive->conv.execute(stream, args);
    dnnl::memory out_user = rows_of(out, channels_last, s.first_out, s.out_rows);
    dnnl::reorder(dst, out_user).execute(stream, dst, out_user);
  }
  stream.wait();
  return out;
}

int64_t WinogradConv::weight_bytes() const { return state_->weight_bytes(); }

void WinogradConv::release() const { state_->release(); }

}  // namespace difss::conv
