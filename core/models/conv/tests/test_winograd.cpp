// WinogradConv against float64 references and ATen's direct convolution; the algorithm setting.
// On a CPU without oneDNN's Winograd kernels (no AVX-512) the numeric cases check instead that
// nothing asks for Winograd and that a forced call fails with a clear error.
#include <difss/conv/winograd.hpp>

#include "conv_settings.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace difss::conv;

namespace {

struct Errors {
  double winograd = 0, direct = 0;  // max |y - y64| / scale
};

// Error relative to the magnitude of the sum each output is: |y - y64| / conv(|x|, |w|) (+ |b|),
// the scale a float accumulation's rounding grows with.
Errors measure(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, bool channels_last) {
  const at::Tensor xin = channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
  const at::Tensor y = WinogradConv().forward(xin, w, b);
  CHECK(y.sizes() == at::IntArrayRef({x.size(0), w.size(0), x.size(2), x.size(3)}));
  CHECK(y.is_contiguous(channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
  const at::Tensor b64 = b.defined() ? b.to(at::kDouble) : b;
  const at::Tensor y64 = at::conv2d(x.to(at::kDouble), w.to(at::kDouble), b64, 1, 1);
  at::Tensor scale = at::conv2d(x.abs().to(at::kDouble), w.abs().to(at::kDouble), {}, 1, 1);
  if (b.defined()) scale = scale + b64.abs().view({1, -1, 1, 1});
  const at::Tensor direct = at::conv2d(xin, w, b, 1, 1);
  Errors e;
  e.winograd = ((y.to(at::kDouble) - y64).abs() / scale).max().item<double>();
  e.direct = ((direct.to(at::kDouble) - y64).abs() / scale).max().item<double>();
  return e;
}

}  // namespace

TEST_CASE("conv algorithm setting", "[conv]") {
  test::RestoreConvSettings guard;
  for (const char* name : {"auto", "direct", "winograd"}) {
    set_conv_algorithm(name);
    CHECK(conv_algorithm() == name);
  }
  try {
    set_conv_algorithm("fast");
    FAIL("a bad name was accepted");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.find("'fast'") != std::string::npos);
    CHECK(what.find("auto, direct, winograd") != std::string::npos);
  }
  CHECK_THROWS_AS(set_winograd_min_pixels(-1), std::invalid_argument);
  CHECK_THROWS_AS(set_winograd_strip_bytes(0), std::invalid_argument);

  CHECK(winograd_shape_ok(64, 128, 3, 1, 1));
  CHECK_FALSE(winograd_shape_ok(64, 128, 1, 1, 0));   // 1x1
  CHECK_FALSE(winograd_shape_ok(64, 128, 3, 2, 1));   // strided
  CHECK_FALSE(winograd_shape_ok(64, 128, 3, 1, 0));   // unpadded
  CHECK_FALSE(winograd_shape_ok(72, 128, 3, 1, 1));   // channels not a multiple of 16
  CHECK_FALSE(winograd_shape_ok(4, 512, 3, 1, 1));    // the VAE's conv_in

  set_conv_algorithm("direct");
  CHECK_FALSE(winograd_wanted(128, 128, 1, 512, 512));
  set_conv_algorithm("auto");
  set_winograd_min_pixels(256 * 256);
  const bool a = winograd_available();
  CHECK(winograd_wanted(512, 512, 1, 256, 256) == a);   // large images (the VAE's upsampling conv)
  CHECK_FALSE(winograd_wanted(512, 512, 1, 255, 256));  // below the size floor, large weights
  CHECK_FALSE(winograd_wanted(320, 320, 8, 64, 64));    // the UNet's first level at CFG batch 8
  CHECK_FALSE(winograd_wanted(32, 128, 1, 512, 512));   // too few channels
  CHECK(winograd_wanted(128, 128, 4, 50, 50) == a);     // small weights, 10000 pixels per call
  CHECK(winograd_wanted(64, 64, 1, 100, 100) == a);
  CHECK(winograd_wanted(128, 128, 1, 50, 50) == a);
  CHECK_FALSE(winograd_wanted(128, 128, 1, 40, 50));    // small weights, too few pixels
  CHECK_FALSE(winograd_wanted(128, 128, 2500, 2, 2));   // images too small for 4x4 tiles
  CHECK_FALSE(winograd_wanted(256, 128, 4, 50, 50));    // 4.7 MB of transformed weights
  set_conv_algorithm("winograd");
  CHECK(winograd_wanted(16, 16, 1, 4, 4) == a);
}

TEST_CASE("Winograd convolution vs float64 and the direct algorithm", "[conv]") {
  if (!winograd_available()) {
    WARN("Winograd not available, checking the refusal instead: " << winograd_unavailable_reason());
    CHECK_FALSE(winograd_unavailable_reason().empty());
    test::RestoreConvSettings guard;
    set_conv_algorithm("winograd");
    CHECK_FALSE(winograd_wanted(128, 128, 1, 512, 512));
    CHECK_THROWS_AS(WinogradConv().forward(at::randn({1, 16, 8, 8}), at::randn({16, 16, 3, 3}), {}),
                    std::runtime_error);
    return;
  }
  at::manual_seed(7);
  struct Case {
    int64_t n, c, o, h, w;
    bool bias, channels_last;
  };
  // Odd sizes leave partial 4x4 output tiles on both edges; several image and channel blocks.
  const std::vector<Case> cases = {{1, 64, 128, 37, 29, true, true},   {2, 128, 64, 20, 33, false, false},
                                   {1, 256, 256, 16, 16, true, false}, {1, 512, 32, 9, 7, true, true},
                                   {3, 16, 16, 5, 6, false, true}};
  test::RestoreConvSettings guard;
  // Whole images, then strips: 4 rows of the 64-channel case, 8 of the 16-channel one (the last
  // strip shorter), so strips at the top edge, inside and at the bottom edge all run.
  for (const int64_t strip_bytes : {int64_t(12) << 20, int64_t(4 * 64 * 29 * 4), int64_t(8 * 3 * 16 * 6 * 4)})
  for (const Case& k : cases) {
    set_winograd_strip_bytes(strip_bytes);
    CAPTURE(strip_bytes, k.n, k.c, k.o, k.h, k.w, k.bias, k.channels_last);
    const at::Tensor x = at::randn({k.n, k.c, k.h, k.w});
    const at::Tensor w = at::randn({k.o, k.c, 3, 3}) * (1.0 / std::sqrt(9.0 * double(k.c)));
    const at::Tensor b = k.bias ? at::randn({k.o}) : at::Tensor();
    const Errors e = measure(x, w, b, k.channels_last);
    INFO("relative error: winograd " << e.winograd << ", direct " << e.direct);
    // Measured 0.9e-7 to 1.1e-6 (direct: 0.4e-7 to 3.3e-7; Winograd/direct up to 21x). F(4x4, 3x3)'s
    // transforms have entries up to 8, so its rounding is several times the direct algorithm's.
    CHECK(e.winograd < 3e-6);
    CHECK(e.winograd < 60 * std::max(e.direct, 1e-8));
  }
}

TEST_CASE("Winograd convolution follows its weights and can release them", "[conv]") {
  if (!winograd_available()) {
    WARN("Winograd not available: " << winograd_unavailable_reason());
    CHECK_FALSE(winograd_wanted(128, 128, 1, 512, 512));
    return;
  }
  at::manual_seed(3);
  const at::Tensor x = at::randn({1, 32, 12, 12});
  at::Tensor w = at::randn({48, 32, 3, 3}) * 0.1;
  const at::Tensor b = at::randn({48});
  WinogradConv conv;
  CHECK(conv.weight_bytes() == 0);
  const at::Tensor y1 = conv.forward(x, w, b);
  CHECK(conv.weight_bytes() >= int64_t(w.nbytes()));  // 6x6 transformed taps per 3x3 kernel
  CHECK(at::allclose(y1, at::conv2d(x, w, b, 1, 1), 1e-4, 1e-5));

  w.mul_(-2.0);  // an in-place update must be seen
  const at::Tensor y2 = conv.forward(x, w, b);
  CHECK(at::allclose(y2, at::conv2d(x, w, b, 1, 1), 1e-4, 1e-5));
  const at::Tensor w2 = at::randn({48, 32, 3, 3});  // and another tensor
  CHECK(at::allclose(conv.forward(x, w2, {}), at::conv2d(x, w2, {}, 1, 1), 1e-4, 1e-4));

  // Another input size gets its own primitive; the old one still runs.
  const at::Tensor x2 = at::randn({2, 32, 7, 9});
  CHECK(at::allclose(conv.forward(x2, w2, {}), at::conv2d(x2, w2, {}, 1, 1), 1e-4, 1e-4));

  {  // weights and inputs made under InferenceMode carry no version counter
    c10::InferenceMode inference;
    at::Tensor wi = at::randn({48, 32, 3, 3});
    const at::Tensor xi = at::randn({1, 32, 12, 12});
    CHECK(at::allclose(conv.forward(xi, wi, b), at::conv2d(xi, wi, b, 1, 1), 1e-4, 1e-4));
    // Weights replaced by a new tensor of the same size (which the allocator would like to put
    // where the old one was): the cache holds the old tensor, so the new one is seen as new.
    wi = at::Tensor();
    const at::Tensor wj = at::randn({48, 32, 3, 3});
    CHECK(at::allclose(conv.forward(xi, wj, b), at::conv2d(xi, wj, b, 1, 1), 1e-4, 1e-4));
  }
  conv.release();
  CHECK(conv.weight_bytes() == 0);
  CHECK(at::allclose(conv.forward(x, w, b), y2, 0, 0));  // made again, same numbers

  // Concurrent calls on one convolution agree with a single-threaded one, bit for bit.
  std::vector<at::Tensor> out(3);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < out.size(); ++i) threads.emplace_back([&, i] { out[i] = conv.forward(x, w, b); });
  for (auto& t : threads) t.join();
  for (const at::Tensor& o : out) CHECK(at::equal(o, y2));

  CHECK_THROWS_WITH(conv.forward(x.to(at::kDouble), w, b), Catch::Contains("float32"));
  CHECK_THROWS_WITH(conv.forward(x, at::randn({16, 32, 5, 5}), {}), Catch::Contains("[O, C, 3, 3]"));
}
