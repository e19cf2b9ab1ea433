// DirectConv against float64 references and at::conv2d, on the shapes HSNet's learner runs.
#include <difss/conv/direct.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <vector>

using difss::conv::DirectConv;

TEST_CASE("DirectConv matches float64 and ATen on strided, padded, channels-last and NCHW inputs", "[conv]") {
  at::manual_seed(11);
  struct Case {
    int64_t n, c, h, w, o, k, stride;
    bool bias, channels_last;
  };
  // HSNet's first center-pivot convolutions (4 and 16 input channels, 5x5, stride 4), the 2x2
  // support images, a 1x1 and an odd-sized NCHW case.
  const std::vector<Case> cases = {{50, 4, 50, 50, 16, 5, 4, true, true},  {16, 4, 50, 50, 16, 5, 1, true, true},
                                   {40, 16, 13, 13, 64, 5, 4, true, true}, {300, 128, 2, 2, 128, 3, 1, true, true},
                                   {30, 64, 4, 4, 128, 3, 2, false, true}, {2, 32, 9, 7, 48, 1, 1, true, true},
                                   {2, 24, 11, 9, 40, 3, 2, true, false}};
  for (const Case& k : cases) {
    CAPTURE(k.n, k.c, k.h, k.w, k.o, k.k, k.stride, k.bias, k.channels_last);
    at::Tensor x = at::randn({k.n, k.c, k.h, k.w});
    if (k.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor w = at::randn({k.o, k.c, k.k, k.k}) * (1.0 / std::sqrt(double(k.c * k.k * k.k)));
    const at::Tensor b = k.bias ? at::randn({k.o}) : at::Tensor();
    const int64_t pad = k.k / 2;
    DirectConv conv;
    const at::Tensor y = conv.forward(x, w, b, k.stride, pad);
    const at::Tensor want = at::conv2d(x, w, b, k.stride, pad);
    REQUIRE(y.sizes() == want.sizes());
    CHECK(y.is_contiguous(k.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
    const at::Tensor b64 = k.bias ? b.to(at::kDouble) : at::Tensor();
    const at::Tensor y64 = at::conv2d(x.to(at::kDouble), w.to(at::kDouble), b64, k.stride, pad);
    at::Tensor scale = at::conv2d(x.abs().to(at::kDouble), w.abs().to(at::kDouble), {}, k.stride, pad);
    if (k.bias) scale = scale + b64.abs().view({1, -1, 1, 1});
    const double err = ((y.to(at::kDouble) - y64).abs() / scale).max().item<double>();
    const double aten = ((want.to(at::kDouble) - y64).abs() / scale).max().item<double>();
    INFO("relative error " << err << ", ATen's " << aten);
    // Float accumulation over at most 1152 products: measured up to 3.5e-7, as ATen's.
    CHECK(err < 1e-6);
    CHECK(conv.weight_bytes() >= int64_t(w.nbytes()));
  }
}

TEST_CASE("DirectConv follows its weights, reuses primitives per shape, refuses bad input", "[conv]") {
  at::manual_seed(5);
  const at::Tensor x = at::randn({8, 16, 10, 10}).contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor w = at::randn({32, 16, 3, 3});
  DirectConv conv;
  const at::Tensor y1 = conv.forward(x, w, {}, 1, 1);
  CHECK(at::allclose(y1, at::conv2d(x, w, {}, 1, 1), 1e-4, 1e-4));
  w.mul_(0.5);  // seen through the version counter
  CHECK(at::allclose(conv.forward(x, w, {}, 1, 1), y1 * 0.5, 1e-4, 1e-4));
  const at::Tensor x2 = at::randn({3, 16, 7, 12}).contiguous(at::MemoryFormat::ChannelsLast);
  CHECK(at::allclose(conv.forward(x2, w, {}, 2, 1), at::conv2d(x2, w, {}, 2, 1), 1e-4, 1e-4));
  conv.release();
  CHECK(conv.weight_bytes() == 0);
  CHECK_THROWS_WITH(conv.forward(x.to(at::kDouble), w, {}, 1, 1), Catch::Contains("float32"));
  CHECK_THROWS_WITH(conv.forward(at::randn({1, 16, 2, 2}), at::randn({4, 16, 5, 5}), {}, 1, 0),
                    Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(conv.forward(x, w, {}, 0, 1), Catch::Contains("stride >= 1"));
}
