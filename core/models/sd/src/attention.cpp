// attention(): ATen's blocked path and the dispatch to the fused per-ISA kernels.
#include <difss/sd/attention.hpp>

#include "attention_kernel.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace difss::sd {
namespace {

enum class Choice { Auto, Aten, Avx2, Avx512 };

std::atomic<int64_t> g_slice_bytes{int64_t(1) << 20};
std::atomic<int64_t> g_min_keys{256};
std::atomic<int> g_choice{int(Choice::Auto)};
std::string g_env_error;                  // a bad DIFSS_ATTENTION_KERNEL; written once, in call_once
std::atomic<bool> g_env_error_active{false};  // cleared by an explicit set_attention_kernel()
std::once_flag g_env_once;

const char* name_of(Choice c) {
  switch (c) {
    case Choice::Auto: return "auto";
    case Choice::Aten: return "aten";
    case Choice::Avx2: return "avx2";
    case Choice::Avx512: return "avx512";
  }
  return "?";
}

bool parse(const std::string& s, Choice& c) {
  for (Choice x : {Choice::Auto, Choice::Aten, Choice::Avx2, Choice::Avx512})
    if (s == name_of(x)) {
      c = x;
      return true;
    }
  return false;
}

// Whether this build has the kernel and the CPU (and OS) can run it.
bool runnable(Choice c) {
#if defined(DIFSS_ATTENTION_KERNELS)
  if (c == Choice::Avx512) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  if (c == Choice::Avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return c == Choice::Aten;
}

std::string available_list() {
  std::string s;
  for (const std::string& k : available_attention_kernels()) s += k + ", ";
  return s + "aten";
}

void read_env() {
  std::call_once(g_env_once, [] {
    const char* v = std::getenv("DIFSS_ATTENTION_KERNEL");
    if (!v || !*v) return;
    Choice c;
    if (!parse(v, c))
      g_env_error = std::string("DIFSS_ATTENTION_KERNEL=") + v + ": expected auto, aten, avx2 or avx512";
    else if (c != Choice::Auto && !runnable(c))
      g_env_error = std::string("DIFSS_ATTENTION_KERNEL=") + v + ": this CPU or build cannot run it (available: " +
                    available_list() + ")";
    else
      g_choice.store(int(c));
    g_env_error_active.store(!g_env_error.empty());
  });
}

Choice resolved() {
  read_env();
  if (g_env_error_active.load()) throw std::invalid_argument(g_env_error);
  const Choice c = Choice(g_choice.load());
  if (c != Choice::Auto) return c;
  if (runnable(Choice::Avx512)) return Choice::Avx512;
  if (runnable(Choice::Avx2)) return Choice::Avx2;
  return Choice::Aten;
}

// ---- ATen's path ----------------------------------------------------------------------------------
//
// Each head's q, k, v are strided column views of the projections (no split-heads copies; BLAS
// reads them with a leading dimension of H*D) and query rows go in blocks whose scores fit in
// attention_slice_bytes(): one gemm with the scale fused as its alpha writes the block's scores,
// softmax runs in place on them while they are in cache, and a second gemm writes the block's
// output straight into the head's columns of the result. The full [N, M] score matrix (1 GiB per
// call at 512x512 in fp32) never exists. With gradients recorded (the tiny models' training) the
// plain differentiable computation runs instead.
at::Tensor attention_aten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                          double scale, const at::Tensor& mask) {
  const int64_t B = q.size(0), N = q.size(1), C = q.size(2), M = k.size(1);
  const int64_t D = C / heads;
  const bool reduced = q.scalar_type() != at::kFloat;
  if (at::GradMode::is_enabled()) {  // training: differentiable ops only (no out= variants)
    auto split = [&](const at::Tensor& t, int64_t L) {  // 'b n (h d) -> (b h) n d'
      return t.reshape({B, L, heads, D}).permute({0, 2, 1, 3}).reshape({B * heads, L, D});
    };
    at::Tensor s = at::bmm(split(q, N), split(k, M).transpose(1, 2));
    if (scale != 1.0) s.mul_(scale);
    if (mask.defined()) s.add_(mask);
    at::Tensor p = reduced ? at::softmax(s, -1, at::kFloat).to(q.scalar_type()) : at::softmax(s, -1);
    return at::bmm(p, split(v, M)).reshape({B, heads, N, D}).permute({0, 2, 1, 3}).reshape({B, N, C});
  }
  const int64_t row_bytes = M * int64_t(sizeof(float)) * (reduced ? 2 : 1);
  const int64_t rows = std::max<int64_t>(1, std::min(N, g_slice_bytes.load() / row_bytes));
  at::Tensor out = at::empty({B, N, C}, q.options());
  at::Tensor scores = at::zeros({rows, M}, q.options());  // zeros: beta = 0 must never meet NaN
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const at::Tensor qh = q[b].narrow(1, h * D, D), kt = k[b].narrow(1, h * D, D).t(),
                       vh = v[b].narrow(1, h * D, D);
      at::Tensor oh = out[b].narrow(1, h * D, D);
      for (int64_t n0 = 0; n0 < N; n0 += rows) {
        const int64_t n = std::min(rows, N - n0);
        at::Tensor s = scores.narrow(0, 0, n);
        at::addmm_out(s, s, qh.narrow(0, n0, n), kt, /*beta=*/0, /*alpha=*/scale);
        if (mask.defined()) s.add_(mask.narrow(0, n0, n));
        const at::Tensor p =
            reduced ? at::softmax(s, -1, at::kFloat).to(q.scalar_type()) : at::_softmax_out(s, s, -1, false);
        at::Tensor o = oh.narrow(0, n0, n);
        at::mm_out(o, p, vh);
      }
    }
  }
  return out;
}

// ---- the fused kernel -------------------------------------------------------------------------------

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Keys of one head into panels of `panel` keys, each [D][panel] (key-major within the panel).
void pack_keys(const float* k, int64_t stride, int64_t M, int64_t D, int64_t panel, float* kp) {
  const int64_t Mp = round_up(M, panel);
  for (int64_t j0 = 0; j0 < Mp; j0 += panel) {
    float* dst = kp + j0 * D;
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < panel; ++j)
        dst[d * panel + j] = j0 + j < M ? k[(j0 + j) * stride + d] : 0.0f;
  }
}

// Values of one head as [Mp][Dp] rows, padding zero.
void pack_values(const float* v, int64_t stride, int64_t M, int64_t Mp, int64_t D, int64_t Dp, float* vp) {
  for (int64_t j = 0; j < Mp; ++j)
    for (int64_t d = 0; d < Dp; ++d) vp[j * Dp + d] = j < M && d < D ? v[j * stride + d] : 0.0f;
}

at::Tensor attention_fused(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in, int64_t heads,
                           double scale, Choice which) {
  using namespace kernels;
  RECORD_FUNCTION("difss::fused_attention", std::vector<c10::IValue>({q_in, k_in}));  // for --profile
  const KernelShape shape = which == Choice::Avx512 ? kAvx512Shape : kAvx2Shape;
  void (*run)(const AttentionBlock&) = nullptr;
#if defined(DIFSS_ATTENTION_KERNELS)
  run = which == Choice::Avx512 ? &attention_block_avx512 : &attention_block_avx2;
#endif
  // Rows must be unit-stride; the projections' outputs already are (views of q/k/v columns are fine).
  const at::Tensor q = q_in.stride(2) == 1 ? q_in : q_in.contiguous();
  const at::Tensor k = k_in.stride(2) == 1 ? k_in : k_in.contiguous();
  const at::Tensor v = v_in.stride(2) == 1 ? v_in : v_in.contiguous();
  const int64_t B = q.size(0), N = q.size(1), C = q.size(2), M = k.size(1);
  const int64_t D = C / heads, panel = 2 * shape.lanes;
  const int64_t Mp = round_up(M, panel), Dp = round_up(D, shape.lanes);

  // Query rows per block: the scores fit attention_slice_bytes(), a multiple of the register
  // tile, and small enough that every thread gets a block.
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  int64_t rows = std::max<int64_t>(shape.rows, g_slice_bytes.load() / ((Mp + 16) * int64_t(sizeof(float))));
  rows = std::min(rows, round_up((N + threads - 1) / threads, shape.rows));
  rows = std::max<int64_t>(shape.rows, rows / shape.rows * shape.rows);
  const int64_t blocks = (N + rows - 1) / rows;

  at::Tensor out = at::empty({B, N, C}, q.options());
  at::Tensor packed = at::empty({Mp * D + Mp * Dp}, q.options());
  float* kp = packed.data_ptr<float>();
  float* vp = kp + Mp * D;
  // Score rows 64 bytes longer than the keys: at power-of-two lengths the rows a register tile
  // reads together would otherwise all map to the same L1 cache set.
  const int64_t ls = Mp + 16;
  const int64_t seg_qs = round_up(rows * D, 16), seg_s = rows * ls, seg_o = rows * Dp, seg_inv = round_up(rows, 16);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      pack_keys(k.data_ptr<float>() + b * k.stride(0) + h * D, k.stride(1), M, D, panel, kp);
      pack_values(v.data_ptr<float>() + b * v.stride(0) + h * D, v.stride(1), M, Mp, D, Dp, vp);
      const float* qh = q.data_ptr<float>() + b * q.stride(0) + h * D;
      float* oh = out.data_ptr<float>() + b * out.stride(0) + h * D;
      at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
        // The order of the segments keeps each 64-byte aligned (Mp and Dp are multiples of 16).
        at::Tensor scratch = at::empty({seg_s + seg_o + seg_qs + seg_inv}, q.options());
        AttentionBlock blk;
        blk.s = scratch.data_ptr<float>();
        blk.o = blk.s + seg_s;
        blk.qs = blk.o + seg_o;
        blk.inv = blk.qs + seg_qs;
        blk.kp = kp;
        blk.vp = vp;
        blk.M = M, blk.Mp = Mp, blk.D = D, blk.Dp = Dp, blk.ls = ls;
        blk.scale = float(scale);
        blk.q_stride = q.stride(1);
        blk.out_stride = out.stride(1);
        for (int64_t i = first; i < last; ++i) {
          const int64_t n0 = i * rows;
          blk.rows = std::min(rows, N - n0);
          blk.q = qh + n0 * q.stride(1);
          blk.out = oh + n0 * out.stride(1);
          run(blk);
        }
      });
    }
  }
  return out;
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads, double scale,
                     const at::Tensor& mask) {
  // The fused kernel reads raw memory: it takes only shapes it is sure of (q [B, N, C], k and v
  // [B, M, C], C a multiple of heads); anything else goes to ATen, which checks and reports.
  const bool shapes = q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && heads > 0 && q.size(2) % heads == 0 &&
                      k.size(0) == q.size(0) && v.size(0) == q.size(0) && v.size(1) == k.size(1) &&
                      k.size(2) == q.size(2) && v.size(2) == q.size(2) && q.size(1) > 0;
  const bool fused_case = shapes && !at::GradMode::is_enabled() && !mask.defined() && q.device().is_cpu() &&
                          q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat &&
                          v.scalar_type() == at::kFloat && k.device().is_cpu() && v.device().is_cpu() &&
                          k.size(1) >= g_min_keys.load();
  if (fused_case) {
    const Choice which = resolved();  // throws for a bad DIFSS_ATTENTION_KERNEL
    if (which != Choice::Aten) return attention_fused(q, k, v, heads, scale, which);
  }
  return attention_aten(q, k, v, heads, scale, mask);
}

void set_attention_kernel(const std::string& name) {
  read_env();
  Choice c;
  if (!parse(name, c))
    throw std::invalid_argument("attention kernel '" + name + "': expected auto, aten, avx2 or avx512");
  if (c != Choice::Auto && !runnable(c))
    throw std::invalid_argument("attention kernel '" + name + "': this CPU or build cannot run it (available: " +
                                available_list() + ")");
  g_env_error_active.store(false);  // an explicit choice replaces a bad environment value
  g_choice.store(int(c));
}

std::string attention_kernel() {
  read_env();
  return name_of(Choice(g_choice.load()));
}

std::string attention_kernel_in_use() { return name_of(resolved()); }

std::vector<std::string> available_attention_kernels() {
  std::vector<std::string> out;
  for (Choice c : {Choice::Avx512, Choice::Avx2})
    if (runnable(c)) out.push_back(name_of(c));
  return out;
}

void set_fused_attention_min_keys(int64_t keys) { g_min_keys.store(std::max<int64_t>(keys, 1)); }
int64_t fused_attention_min_keys() { return g_min_keys.load(); }

void set_attention_slice_bytes(int64_t bytes) { g_slice_bytes.store(std::max<int64_t>(bytes, 256)); }
int64_t attention_slice_bytes() { return g_slice_bytes.load(); }

}  // namespace difss::sd
