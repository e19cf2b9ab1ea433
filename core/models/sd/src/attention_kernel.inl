// The fused attention kernel, written once with GCC vector extensions and compiled once per
// instruction set: attention_avx2.cpp and attention_avx512.cpp include this file after defining
//   DIFSS_KERNEL_SHAPE  the KernelShape of their build (attention_kernel.hpp)
//   DIFSS_KERNEL_ENTRY  the name of the block function they define
// Everything but the entry point has internal linkage. No standard header may be included here: its inline functions would be compiled with this
// file's -m flags, and the linker could pick those copies for code that runs on any CPU.
//
// Per block of query rows (AttentionBlock): the scaled queries are copied into a small tile, the
// scores of all keys are written panel by panel (one key panel stays in L1 while every row of the
// block meets it), softmax runs row by row on them while they sit in L2 (vectorised exp), and the
// probabilities times the packed values accumulate in register tiles; each output row is divided
// by its probability sum at the end (the softmax's normalisation, moved past the product).

namespace difss::sd::kernels {
namespace {

constexpr int W = DIFSS_KERNEL_SHAPE.lanes;
constexpr int RT = DIFSS_KERNEL_SHAPE.rows;
constexpr int NV = DIFSS_KERNEL_SHAPE.value_vectors;
typedef float vf __attribute__((vector_size(W * 4), aligned(4), may_alias));
typedef int vi __attribute__((vector_size(W * 4), aligned(4), may_alias));
constexpr int64_t kValueRows = 128;  // value rows per pass of the product (their tile stays in L1)

inline vf load(const float* p) { return *reinterpret_cast<const vf*>(p); }
inline void store(float* p, vf v) { *reinterpret_cast<vf*>(p) = v; }
inline vf splat(float x) { return vf{} + x; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }
inline float hmax(vf v) {
  float m = v[0];
  for (int i = 1; i < W; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline float hsum(vf v) {
  float s = 0;
  for (int i = 0; i < W; ++i) s += v[i];
  return s;
}

// e^x for x <= 0 (scores minus their row maximum), within 2 ulp: x = n ln2 + r with |r| <= ln2/2
// (ln2 split in two for an exact n ln2), e^r by Cephes' degree-6 polynomial, 2^n put into the
// exponent bits. Below -87.3 the result is clamped to about 1e-38 rather than flushed: it is
// negligible in a sum that holds at least 1.
inline vf exp_nonpositive(vf x) {
  const vf lo = splat(-87.33654f);
  x = x < lo ? lo : x;
  const vf shifter = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const vf t = x * 1.44269504088896341f + shifter;
  const vf n = t - shifter;
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const vi e = ((vi)t - (vi)shifter) << 23;
  return (vf)((vi)p + e);
}

// s[i][0 .. 2W) = qs[i] . kpanel[:, 0 .. 2W) for the RT rows of one tile.
inline void scores_tile(const float* qs, int64_t D, const float* kpanel, float* s, int64_t ls) {
  vf a0[RT], a1[RT];
#pragma GCC unroll 16
  for (int i = 0; i < RT; ++i) a0[i] = a1[i] = vf{};
  for (int64_t d = 0; d < D; ++d) {
    const vf k0 = load(kpanel + d * 2 * W), k1 = load(kpanel + d * 2 * W + W);
#pragma GCC unroll 16
    for (int i = 0; i < RT; ++i) {
      const float x = qs[i * D + d];
      a0[i] += x * k0;
      a1[i] += x * k1;
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < RT; ++i) {
    store(s + i * ls, a0[i]);
    store(s + i * ls + W, a1[i]);
  }
}

// o[i][0 .. V*W) += sum_{j < J} p[i][j] v[j][0 .. V*W) for the RT rows of one tile.
template <int V>
inline void values_tile(const float* p, int64_t lp, const float* v, int64_t lv, int64_t J, float* o,
                        int64_t lo) {
  vf a[RT][V];
#pragma GCC unroll 16
  for (int i = 0; i < RT; ++i)
#pragma GCC unroll 8
    for (int c = 0; c < V; ++c) a[i][c] = load(o + i * lo + c * W);
  for (int64_t j = 0; j < J; ++j) {
    vf x[V];
#pragma GCC unroll 8
    for (int c = 0; c < V; ++c) x[c] = load(v + j * lv + c * W);
#pragma GCC unroll 16
    for (int i = 0; i < RT; ++i) {
      const float w = p[i * lp + j];
#pragma GCC unroll 8
      for (int c = 0; c < V; ++c) a[i][c] += w * x[c];
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < RT; ++i)
#pragma GCC unroll 8
    for (int c = 0; c < V; ++c) store(o + i * lo + c * W, a[i][c]);
}

template <int V>
void values_tiles(const AttentionBlock& b, int64_t tiles, int64_t j0, int64_t J, int64_t c0) {
  for (int64_t t = 0; t < tiles; ++t)
    values_tile<V>(b.s + t * RT * b.ls + j0, b.ls, b.vp + j0 * b.Dp + c0, b.Dp, J,
                   b.o + t * RT * b.Dp + c0, b.Dp);
}

void run_block(const AttentionBlock& b) {
  const int64_t D = b.D, M = b.M, Mp = b.Mp, Dp = b.Dp;
  const int64_t tiles = (b.rows + RT - 1) / RT, rows_p = tiles * RT;

  // Scaled queries; the rows that pad the last tile are zero (their results are not written).
  for (int64_t i = 0; i < rows_p; ++i)
    for (int64_t d = 0; d < D; ++d) b.qs[i * D + d] = i < b.rows ? b.q[i * b.q_stride + d] * b.scale : 0.0f;

  // Scores, one key panel at a time against every row tile.
  for (int64_t j = 0; j < Mp; j += 2 * W) {
    const float* kpanel = b.kp + j * D;
    for (int64_t t = 0; t < tiles; ++t) scores_tile(b.qs + t * RT * D, D, kpanel, b.s + t * RT * b.ls + j, b.ls);
  }

  // Softmax numerators in place; the padding keys M .. Mp get probability 0.
  const vf neg_inf = splat(-__builtin_inff());
  for (int64_t i = 0; i < rows_p; ++i) {
    float* s = b.s + i * b.ls;
    for (int64_t j = M; j < Mp; ++j) s[j] = -__builtin_inff();
    vf m = neg_inf;
    for (int64_t j = 0; j < Mp; j += W) m = vmax(m, load(s + j));
    const float row_max = hmax(m);
    vf sum = vf{};
    for (int64_t j = 0; j < Mp; j += W) {
      const vf e = exp_nonpositive(load(s + j) - row_max);
      store(s + j, e);
      sum += e;
    }
    for (int64_t j = M; j < Mp; ++j) s[j] = 0.0f;
    b.inv[i] = 1.0f / hsum(sum);
  }

  // Probabilities x values, value rows in passes that keep their tile in L1.
  for (int64_t k = 0; k < rows_p * Dp; ++k) b.o[k] = 0.0f;
  for (int64_t j0 = 0; j0 < Mp; j0 += kValueRows) {
    const int64_t J = Mp - j0 < kValueRows ? Mp - j0 : kValueRows;
    for (int64_t c0 = 0; c0 < Dp; c0 += NV * W) {
      switch ((Dp - c0) / W < NV ? (Dp - c0) / W : NV) {
        case 1: values_tiles<1>(b, tiles, j0, J, c0); break;
        case 2: values_tiles<2>(b, tiles, j0, J, c0); break;
        case 3: values_tiles<(NV >= 3 ? 3 : 1)>(b, tiles, j0, J, c0); break;
        default: values_tiles<NV>(b, tiles, j0, J, c0); break;
      }
    }
  }

  for (int64_t i = 0; i < b.rows; ++i) {
    const float f = b.inv[i];
    for (int64_t d = 0; d < D; ++d) b.out[i * b.out_stride + d] = b.o[i * Dp + d] * f;
  }
}

}  // namespace

void DIFSS_KERNEL_ENTRY(const AttentionBlock& b) { run_block(b); }

}  // namespace difss::sd::kernels
