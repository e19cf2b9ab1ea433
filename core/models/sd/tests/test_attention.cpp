// The fused attention kernels (one per instruction set the CPU has) against a float64 reference
// and against ATen's fp32 path, over the shapes that stress their tiling: query rows that do not
// fill a register tile, key counts that do not fill a key panel, head widths that do not fill a
// vector, one wide head (the VAE's), strided inputs, large score magnitudes.
#include "catch_torch.hpp"

#include <c10/core/InferenceMode.h>

#include <difss/sd/attention.hpp>

#include "attention_settings.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

using namespace difss::sd;

namespace {

using RestoreSettings = test::RestoreAttentionSettings;

// softmax(q k^T scale) v per head, in float64.
at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads, double scale) {
  const int64_t B = q.size(0), N = q.size(1), C = q.size(2), M = k.size(1), D = C / heads;
  auto split = [&](const at::Tensor& t, int64_t L) {
    return t.to(at::kDouble).reshape({B, L, heads, D}).permute({0, 2, 1, 3});
  };
  at::Tensor p = at::softmax(at::matmul(split(q, N), split(k, M).transpose(-1, -2)) * scale, -1);
  return at::matmul(p, split(v, M)).permute({0, 2, 1, 3}).reshape({B, N, C});
}

struct Case {
  int64_t B, N, M, heads, D;
  double q_gain;  // scales q: larger scores, sharper softmax
  bool strided;   // q, k, v as column views of one [B, L, 3C] projection
};

}  // namespace

TEST_CASE("attention: each fused kernel matches float64 and ATen's fp32 path", "[sd][attention]") {
  c10::InferenceMode guard;
  RestoreSettings restore;
  const std::vector<std::string> kernels = available_attention_kernels();
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) REQUIRE(!kernels.empty());
#endif
  std::string names;
  for (const std::string& k : kernels) names += " " + k;
  WARN("fused attention kernels this CPU runs, each tested here:" << (names.empty() ? " none" : names));
  set_fused_attention_min_keys(1);
  const Case cases[] = {
      {2, 37, 300, 3, 40, 1.0, false},   // SD's head width 40; rows and keys leave tails
      {1, 130, 1030, 2, 80, 1.0, true},  // strided views, 80-wide heads
      {1, 9, 64, 1, 160, 3.0, false},    // one register tile, 160-wide head, sharper scores
      {1, 64, 200, 1, 512, 1.0, false},  // the VAE's single 512-wide head
      {2, 20, 33, 4, 20, 8.0, true},     // width 20 (not a vector multiple), near-one-hot rows
      {1, 1, 1, 1, 8, 1.0, false},       // one query, one key
      {1, 24, 300, 2, 40, 30.0, false},  // score gaps beyond exp's range: clamped, never NaN
  };
  at::manual_seed(7);
  for (const Case& c : cases) {
    const int64_t C = c.heads * c.D;
    at::Tensor q, k, v;
    if (c.strided) {
      at::Tensor proj_q = at::randn({c.B, c.N, 3 * C}) * c.q_gain, proj_kv = at::randn({c.B, c.M, 3 * C});
      q = proj_q.narrow(2, C, C);
      k = proj_kv.narrow(2, 0, C);
      v = proj_kv.narrow(2, 2 * C, C).transpose(1, 2).contiguous().transpose(1, 2);  // not unit-stride rows
      REQUIRE(!q.is_contiguous());
      REQUIRE(v.stride(2) != 1);
    } else {
      q = at::randn({c.B, c.N, C}) * c.q_gain;
      k = at::randn({c.B, c.M, C});
      v = at::randn({c.B, c.M, C});
    }
    const double scale = 1.0 / std::sqrt(double(c.D));
    const at::Tensor want = reference(q, k, v, c.heads, scale);
    set_attention_kernel("aten");
    const at::Tensor aten = attention(q, k, v, c.heads, scale);
    const double aten_err = (aten.to(at::kDouble) - want).abs().max().item<double>();
    for (const std::string& name : kernels) {
      set_attention_kernel(name);
      REQUIRE(attention_kernel_in_use() == name);
      const at::Tensor got = attention(q, k, v, c.heads, scale);
      REQUIRE(got.sizes() == want.sizes());
      const double err = (got.to(at::kDouble) - want).abs().max().item<double>();
      INFO(name << " B=" << c.B << " N=" << c.N << " M=" << c.M << " heads=" << c.heads << " D=" << c.D
                << ": max abs error vs float64 " << err << " (ATen fp32: " << aten_err << ")");
      CHECK(std::isfinite(err));
      // Outputs are averages of unit-variance values; fp32 rounding of the scores grows with their
      // magnitude (q_gain): ATen's path measures 1e-7 .. 2.6e-6 on these cases.
      CHECK(err <= 2e-6 * c.q_gain);
      CHECK(err <= 4 * aten_err + 1e-7);
    }
  }
}

TEST_CASE("attention: blocks smaller than a register tile and more threads than blocks agree",
          "[sd][attention]") {
  c10::InferenceMode guard;
  RestoreSettings restore;
  set_fused_attention_min_keys(1);
  at::manual_seed(3);
  const at::Tensor q = at::randn({1, 100, 80}), k = at::randn({1, 700, 80}), v = at::randn({1, 700, 80});
  const at::Tensor want = reference(q, k, v, 2, 0.15);
  const int threads = at::get_num_threads();
  for (const std::string& name : available_attention_kernels()) {
    set_attention_kernel(name);
    for (int t : {1, 3})  // 3 threads: more than the blocks at the largest slice
      for (int64_t bytes : {int64_t(256), int64_t(40000), int64_t(1) << 24}) {
        at::set_num_threads(t);
        set_attention_slice_bytes(bytes);
        const double err = (attention(q, k, v, 2, 0.15).to(at::kDouble) - want).abs().max().item<double>();
        INFO(name << ", " << t << " threads, slice " << bytes << " bytes: max abs error " << err);
        CHECK(err <= 2e-6);
      }
  }
  at::set_num_threads(threads);
}

TEST_CASE("attention: the fused path is taken only where it applies", "[sd][attention]") {
  c10::InferenceMode guard;
  RestoreSettings restore;
  at::manual_seed(5);
  const at::Tensor q = at::randn({1, 40, 64}), k = at::randn({1, 300, 64}), v = at::randn({1, 300, 64});
  const at::Tensor mask = at::zeros({40, 300});  // masks (CLIP's causal one) stay on ATen
  set_attention_kernel("aten");
  const at::Tensor aten = attention(q, k, v, 4, 0.25), aten_masked = attention(q, k, v, 4, 0.25, mask);
  for (const std::string& name : available_attention_kernels()) {
    set_attention_kernel(name);
    set_fused_attention_min_keys(301);  // too few keys: ATen's path, bit for bit
    CHECK(at::equal(attention(q, k, v, 4, 0.25), aten));
    set_fused_attention_min_keys(300);
    CHECK(!at::equal(attention(q, k, v, 4, 0.25), aten));  // the kernel rounds differently
    CHECK(at::equal(attention(q, k, v, 4, 0.25, mask), aten_masked));
  }
}

TEST_CASE("attention: shapes the kernel cannot take go to ATen, which reports them", "[sd][attention]") {
  c10::InferenceMode guard;
  RestoreSettings restore;
  set_fused_attention_min_keys(1);
  for (const std::string& name : available_attention_kernels()) {
    set_attention_kernel(name);
    const at::Tensor q = at::randn({2, 10, 32}), k = at::randn({2, 20, 32});
    CHECK_THROWS(attention(q, k, at::randn({2, 19, 32}), 4, 0.5));  // values for 19 keys, not 20
    CHECK_THROWS(attention(q, at::randn({2, 20, 16}), at::randn({2, 20, 16}), 4, 0.5));  // other width
  }
}

TEST_CASE("attention: settings reject what this CPU or build cannot do, naming it", "[sd][attention]") {
  RestoreSettings restore;
  CHECK_THROWS_WITH(set_attention_kernel("avx1024"), Catch::Contains("expected auto, aten, avx2 or avx512"));
  set_attention_kernel("aten");
  CHECK(attention_kernel() == "aten");
  CHECK(attention_kernel_in_use() == "aten");
  set_attention_kernel("auto");
  const std::vector<std::string> kernels = available_attention_kernels();
  CHECK(attention_kernel_in_use() == (kernels.empty() ? std::string("aten") : kernels.front()));
  for (const char* name : {"avx2", "avx512"})
    if (std::find(kernels.begin(), kernels.end(), name) == kernels.end())
      CHECK_THROWS_WITH(set_attention_kernel(name), Catch::Contains("cannot run it"));
}
