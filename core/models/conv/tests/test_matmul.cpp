// conv::matmul against float64 products, on transposed and strided views, with and without ReLU.
#include <difss/conv/matmul.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

TEST_CASE("conv::matmul matches float64 on plain, transposed and sliced operands", "[conv]") {
  at::manual_seed(2);
  struct Case {
    int64_t m, k, n;
    bool a_transposed, b_transposed, relu;
  };
  // HSNet's correlation shapes (the query transposed), odd sizes, an empty inner dimension.
  for (const Case& c : {Case{250, 512, 97, true, false, true}, Case{33, 70, 5, false, true, false},
                        Case{169, 2048, 60, true, false, true}, Case{7, 1, 9, false, false, false}}) {
    CAPTURE(c.m, c.k, c.n, c.a_transposed, c.b_transposed, c.relu);
    const at::Tensor a = c.a_transposed ? at::randn({c.k, c.m}).t() : at::randn({c.m, c.k});
    const at::Tensor b = c.b_transposed ? at::randn({c.n, c.k}).t() : at::randn({c.k, c.n});
    const at::Tensor got = difss::conv::matmul(a, b, c.relu);
    at::Tensor want = at::mm(a.to(at::kDouble), b.to(at::kDouble));
    if (c.relu) want = want.clamp_min(0);
    const at::Tensor scale = at::mm(a.abs().to(at::kDouble), b.abs().to(at::kDouble)) + 1e-30;
    REQUIRE(got.sizes() == want.sizes());
    CHECK(got.is_contiguous());
    const double err = ((got.to(at::kDouble) - want).abs() / scale).max().item<double>();
    INFO("relative error " << err);
    CHECK(err < 1e-6);  // float accumulation over up to 2048 products: measured up to 2.5e-7
    if (c.relu) CHECK(got.min().item<float>() >= 0);
  }
  // Every other column: neither stride is 1, so the operand is made contiguous first.
  const at::Tensor wide = at::randn({12, 20});
  const at::Tensor a = wide.slice(1, 0, 20, 2), b = at::randn({10, 4});
  CHECK(at::allclose(difss::conv::matmul(a, b), at::mm(a, b), 1e-5, 1e-5));
  CHECK(difss::conv::matmul(at::randn({3, 0}), at::randn({0, 4})).eq(0).all().item<bool>());
  CHECK_THROWS_WITH(difss::conv::matmul(at::randn({3, 4}), at::randn({5, 2})), Catch::Contains("[3, 4] x [5, 2]"));
}
