// Multi-scale deformable attention: the native CPU loop against the grid_sample composition of the
// official fallback (random inputs, sampling points outside the maps included) and against numbers
// of the official ms_deform_attn_core_pytorch itself (tests/data/README.md).
#include "catch_torch.hpp"
#include "shared_data.hpp"

#include <difss/fss/msdeform_attn.hpp>
#include <difss/weights/load.hpp>

#include <ATen/ATen.h>

#include <algorithm>

using namespace difss;

namespace {

struct Case {
  std::vector<fss::LevelShape> shapes;
  int64_t N, M, D, Lq, P;
};

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("Deformable attention: the native loop equals the grid_sample composition", "[msdeform]") {
  at::manual_seed(11);
  for (const Case& c : {Case{{{13, 13}}, 1, 8, 32, 169, 9},  // CyCTR's shape at 97x97
                        Case{{{5, 7}, {3, 4}, {1, 1}}, 2, 3, 5, 11, 4},
                        Case{{{8, 2}}, 3, 1, 1, 6, 1}}) {
    int64_t S = 0;
    for (const auto& s : c.shapes) S += s[0] * s[1];
    const int64_t L = int64_t(c.shapes.size());
    at::Tensor value = at::randn({c.N, S, c.M, c.D});
    // Locations in [-0.5, 1.5): about half of the points sample partly or wholly outside the map.
    at::Tensor loc = at::rand({c.N, c.Lq, c.M, L, c.P, 2}) * 2.0 - 0.5;
    // A few exact edges and far-away points.
    loc.select(4, 0).select(3, 0).select(2, 0).fill_(0.0);
    if (c.P > 1) loc.select(4, 1).select(3, 0).select(2, 0).fill_(1.0);
    if (c.P > 2) loc.select(4, 2).select(3, 0).select(2, 0).fill_(-7.0);
    at::Tensor aw = at::rand({c.N, c.Lq, c.M, L, c.P});
    at::Tensor ours = fss::ms_deform_attn_core(value, c.shapes, loc, aw);
    at::Tensor ref = fss::ms_deform_attn_grid_sample(value, c.shapes, loc, aw);
    REQUIRE(ours.sizes() == at::IntArrayRef({c.N, c.Lq, c.M * c.D}));
    const double d = max_diff(ours, ref), scale = std::max(1.0, ref.abs().max().item<double>());
    WARN("deformable attention, " << L << " level(s), " << c.M << " heads, " << c.P << " points: max-abs diff vs grid_sample "
                                  << d << " (values up to " << ref.abs().max().item<double>() << ")");
    CHECK(d <= 1e-6 * scale);  // float rounding of up to 4 * L * P products summed in another order
    CHECK(ours.abs().max().item<double>() > 0.1);  // not trivially zero
  }
}

TEST_CASE("Deformable attention: points wholly outside contribute zero, as grid_sample's zero padding", "[msdeform]") {
  at::Tensor value = at::ones({1, 4 * 4, 1, 2});
  std::vector<fss::LevelShape> shapes{{4, 4}};
  at::Tensor aw = at::ones({1, 3, 1, 1, 1});
  at::Tensor loc = at::tensor({-0.2f, 0.5f, 0.5f, 0.05f, 0.5f, 0.5f}).view({1, 3, 1, 1, 1, 2});
  at::Tensor out = fss::ms_deform_attn_core(value, shapes, loc, aw);
  CHECK(out[0][0][0].item<float>() == 0.0f);  // x = -0.2 * 4 - 0.5 = -1.3: no corner inside
  CHECK(out[0][1][0].item<float>() == Approx(0.7).margin(1e-5));  // y = -0.3: only the lower corners inside, weight 0.7
  CHECK(out[0][2][0].item<float>() == Approx(1.0));
  CHECK(at::allclose(out, fss::ms_deform_attn_grid_sample(value, shapes, loc, aw), 1e-6, 1e-6));
}

TEST_CASE("Deformable attention matches the official pure-PyTorch fallback's numbers", "[msdeform]") {
  weights::StateDict ref =
      weights::load_safetensors(test::source_dir() / "plugins/segmenter/cyctr/tests/data/msdeform_op.safetensors");
  std::vector<fss::LevelShape> shapes{{5, 6}, {3, 4}};
  at::Tensor out = fss::ms_deform_attn_core(ref.at("value"), shapes, ref.at("locations"), ref.at("weights"));
  const double d = max_diff(out, ref.at("output"));
  WARN("deformable attention vs ms_deform_attn_core_pytorch: max-abs diff " << d);
  CHECK(d <= 1e-6);
  CHECK(max_diff(fss::ms_deform_attn_grid_sample(ref.at("value"), shapes, ref.at("locations"), ref.at("weights")),
                 ref.at("output")) <= 1e-6);
}

TEST_CASE("Deformable attention refuses inconsistent shapes", "[msdeform]") {
  at::Tensor value = at::zeros({1, 10, 2, 4});
  at::Tensor loc = at::zeros({1, 3, 2, 1, 4, 2}), aw = at::zeros({1, 3, 2, 1, 4});
  CHECK_THROWS_AS(fss::ms_deform_attn_core(value, {{3, 3}}, loc, aw), std::invalid_argument);
  CHECK_THROWS_AS(fss::ms_deform_attn_core(value, {{2, 5}}, loc, at::zeros({1, 3, 2, 1, 3})), std::invalid_argument);
  CHECK_NOTHROW(fss::ms_deform_attn_core(value, {{2, 5}}, loc, aw));
}
