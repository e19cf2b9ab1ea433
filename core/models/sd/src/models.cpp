// Builders (parameter names = official checkpoint keys) and functional forwards of the UNet,
// ControlNet, CLIP text encoder and VAE. The ldm/cldm module each function mirrors is named in
// its comment; the forwards follow the official operation order so that float32 results agree
// to rounding.
#include <difss/sd/models.hpp>

#include <difss/weights/load.hpp>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/ExpandUtils.h>
#include <ATen/core/grad_mode.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace difss::sd {
namespace {

std::string idx(int i) { return std::to_string(i); }

// ---- builders ----------------------------------------------------------------------------------

Linear make_linear(ParamSource& b, const std::string& p, int64_t in, int64_t out, bool bias = true) {
  Linear l;
  l.w = b.param(p + ".weight", {out, in}, Init::Weight);
  if (bias) l.b = b.param(p + ".bias", {out}, Init::Bias);
  return l;
}

Conv make_conv(ParamSource& b, const std::string& p, int64_t in, int64_t out, int64_t k,
               int64_t stride = 1, int64_t padding = -1) {
  Conv c;
  c.w = b.param(p + ".weight", {out, in, k, k}, Init::Weight);
  c.b = b.param(p + ".bias", {out}, Init::Bias);
  c.stride = stride;
  c.padding = padding >= 0 ? padding : k / 2;
  return c;
}

Norm make_norm(ParamSource& b, const std::string& p, int64_t ch, int64_t groups, double eps) {
  Norm n;
  n.w = b.param(p + ".weight", {ch}, Init::NormWeight);
  n.b = b.param(p + ".bias", {ch}, Init::NormBias);
  n.groups = groups;
  n.eps = eps;
  return n;
}

void check_groups(int64_t ch, int64_t groups, const std::string& where) {
  if (groups <= 0 || ch % groups != 0)
    throw std::invalid_argument(where + ": " + std::to_string(ch) +
                                " channels are not divisible by " + std::to_string(groups) +
                                " GroupNorm groups");
}

// openaimodel.ResBlock: in_layers (GroupNorm32, SiLU, conv3x3), emb_layers (SiLU, linear),
// out_layers (GroupNorm32, SiLU, dropout, conv3x3), skip_connection (1x1 conv when needed).
ResBlock make_resblock(ParamSource& b, const std::string& p, int64_t ch, int64_t out,
                       int64_t emb_ch, int64_t groups) {
  check_groups(ch, groups, p);
  check_groups(out, groups, p);
  ResBlock r;
  r.in_norm = make_norm(b, p + ".in_layers.0", ch, groups, 1e-5);
  r.in_conv = make_conv(b, p + ".in_layers.2", ch, out, 3);
  r.emb = make_linear(b, p + ".emb_layers.1", emb_ch, out);
  r.out_norm = make_norm(b, p + ".out_layers.0", out, groups, 1e-5);
  r.out_conv = make_conv(b, p + ".out_layers.3", out, out, 3);
  if (out != ch) r.skip = make_conv(b, p + ".skip_connection", ch, out, 1);
  return r;
}

CrossAttention make_attention(ParamSource& b, const std::string& p, int64_t query_dim,
                              int64_t context_dim, int64_t heads, int64_t dim_head) {
  const int64_t inner = heads * dim_head;
  CrossAttention a;
  a.q = make_linear(b, p + ".to_q", query_dim, inner, false);
  a.k = make_linear(b, p + ".to_k", context_dim, inner, false);
  a.v = make_linear(b, p + ".to_v", context_dim, inner, false);
  a.out = make_linear(b, p + ".to_out.0", inner, query_dim);
  a.heads = heads;
  return a;
}

// attention.SpatialTransformer with BasicTransformerBlocks (attn1 self, attn2 cross, GEGLU FF).
SpatialTransformer make_transformer(ParamSource& b, const std::string& p, const UNetConfig& cfg,
                                    int64_t ch) {
  int heads = 0, dim_head = 0;
  cfg.heads_for(int(ch), heads, dim_head);
  const int64_t inner = int64_t(heads) * dim_head;
  check_groups(ch, cfg.norm_groups, p);
  SpatialTransformer t;
  t.norm = make_norm(b, p + ".norm", ch, cfg.norm_groups, 1e-6);
  t.linear = cfg.use_linear_in_transformer;
  if (t.linear)
    t.proj_in_linear = make_linear(b, p + ".proj_in", ch, inner);
  else
    t.proj_in_conv = make_conv(b, p + ".proj_in", ch, inner, 1);
  for (int d = 0; d < cfg.transformer_depth; ++d) {
    const std::string q = p + ".transformer_blocks." + idx(d);
    TransformerBlock blk;
    blk.attn1 = make_attention(b, q + ".attn1", inner, inner, heads, dim_head);
    blk.ff_in = make_linear(b, q + ".ff.net.0.proj", inner, inner * 4 * 2);
    blk.ff_out = make_linear(b, q + ".ff.net.2", inner * 4, inner);
    blk.attn2 = make_attention(b, q + ".attn2", inner, cfg.context_dim, heads, dim_head);
    blk.norm1 = make_norm(b, q + ".norm1", inner, 0, 1e-5);
    blk.norm2 = make_norm(b, q + ".norm2", inner, 0, 1e-5);
    blk.norm3 = make_norm(b, q + ".norm3", inner, 0, 1e-5);
    t.blocks.push_back(std::move(blk));
  }
  if (t.linear)
    t.proj_out_linear = make_linear(b, p + ".proj_out", inner, ch);
  else
    t.proj_out_conv = make_conv(b, p + ".proj_out", inner, ch, 1);
  return t;
}

UNetLayer layer_res(ResBlock r) {
  UNetLayer l;
  l.kind = UNetLayer::kRes;
  l.res = std::move(r);
  return l;
}
UNetLayer layer_transformer(SpatialTransformer t) {
  UNetLayer l;
  l.kind = UNetLayer::kTransformer;
  l.transformer = std::move(t);
  return l;
}
UNetLayer layer_conv(Conv c, UNetLayer::Kind kind) {
  UNetLayer l;
  l.kind = kind;
  l.conv = std::move(c);
  return l;
}

void check_unet_config(const UNetConfig& c, const std::string& p) {
  if (c.channel_mult.empty() || c.num_res_blocks.size() != c.channel_mult.size())
    throw std::invalid_argument(p + ": num_res_blocks must have one entry per channel_mult level");
  if (c.model_channels <= 0 || c.model_channels % 2 != 0)
    throw std::invalid_argument(p + ": model_channels must be a positive even number");
}

// The encoder half shared by UNetModel and ControlNet: input_blocks and the middle block.
// Returns the channel count of every input block output (input_block_chans).
std::vector<int64_t> build_encoder(const UNetConfig& c, ParamSource& b, const std::string& p,
                                   std::vector<UNetBlock>& input_blocks, UNetBlock& middle,
                                   int64_t& ch_out, int& ds_out) {
  const int64_t te = c.time_embed_dim(), mc = c.model_channels, g = c.norm_groups;
  input_blocks.clear();
  input_blocks.push_back({layer_conv(make_conv(b, p + "input_blocks.0.0", c.in_channels, mc, 3),
                                     UNetLayer::kConv)});
  std::vector<int64_t> chans{mc};
  int64_t ch = mc;
  int ds = 1;
  for (int level = 0; level < c.levels(); ++level) {
    for (int nr = 0; nr < c.num_res_blocks[size_t(level)]; ++nr) {
      const std::string q = p + "input_blocks." + idx(int(input_blocks.size()));
      const int64_t out = int64_t(c.channel_mult[size_t(level)]) * mc;
      UNetBlock blk{layer_res(make_resblock(b, q + ".0", ch, out, te, g))};
      ch = out;
      if (c.attention_at(ds)) blk.push_back(layer_transformer(make_transformer(b, q + ".1", c, ch)));
      input_blocks.push_back(std::move(blk));
      chans.push_back(ch);
    }
    if (level != c.levels() - 1) {
      const std::string q = p + "input_blocks." + idx(int(input_blocks.size()));
      input_blocks.push_back(
          {layer_conv(make_conv(b, q + ".0.op", ch, ch, 3, 2, 1), UNetLayer::kDownsample)});
      chans.push_back(ch);
      ds *= 2;
    }
  }
  middle = {layer_res(make_resblock(b, p + "middle_block.0", ch, ch, te, g)),
            layer_transformer(make_transformer(b, p + "middle_block.1", c, ch)),
            layer_res(make_resblock(b, p + "middle_block.2", ch, ch, te, g))};
  ch_out = ch;
  ds_out = ds;
  return chans;
}

}  // namespace

UNet UNet::build(const UNetConfig& c, ParamSource& b, const std::string& p) {
  check_unet_config(c, p);
  UNet m;
  m.cfg = c;
  const int64_t te = c.time_embed_dim(), mc = c.model_channels, g = c.norm_groups;
  m.time1 = make_linear(b, p + "time_embed.0", mc, te);
  m.time2 = make_linear(b, p + "time_embed.2", te, te);
  int64_t ch = 0;
  int ds = 1;
  std::vector<int64_t> chans = build_encoder(c, b, p, m.input_blocks, m.middle, ch, ds);
  for (int level = c.levels() - 1; level >= 0; --level) {
    const int nrb = c.num_res_blocks[size_t(level)];
    for (int i = 0; i <= nrb; ++i) {
      const std::string q = p + "output_blocks." + idx(int(m.output_blocks.size()));
      const int64_t ich = chans.back();
      chans.pop_back();
      const int64_t out = mc * c.channel_mult[size_t(level)];
      UNetBlock blk{layer_res(make_resblock(b, q + ".0", ch + ich, out, te, g))};
      ch = out;
      if (c.attention_at(ds)) blk.push_back(layer_transformer(make_transformer(b, q + ".1", c, ch)));
      if (level != 0 && i == nrb) {
        blk.push_back(layer_conv(make_conv(b, q + "." + idx(int(blk.size())) + ".conv", ch, ch, 3),
                                 UNetLayer::kUpsample));
        ds /= 2;
      }
      m.output_blocks.push_back(std::move(blk));
    }
  }
  check_groups(ch, g, p + "out.0");
  m.out_norm = make_norm(b, p + "out.0", ch, g, 1e-5);
  m.out_conv = make_conv(b, p + "out.2", mc, c.out_channels, 3);
  return m;
}

ControlNet ControlNet::build(const UNetConfig& c, ParamSource& b, const std::string& p) {
  check_unet_config(c, p);
  if (c.hint_block_strides.size() != c.hint_block_channels.size() + 1)
    throw std::invalid_argument(p + ": hint_block_strides needs one stride per hint conv (" +
                                std::to_string(c.hint_block_channels.size() + 1) + ")");
  ControlNet m;
  m.cfg = c;
  const int64_t te = c.time_embed_dim(), mc = c.model_channels;
  m.time1 = make_linear(b, p + "time_embed.0", mc, te);
  m.time2 = make_linear(b, p + "time_embed.2", te, te);
  std::vector<int64_t> hc{c.hint_channels};
  for (int x : c.hint_block_channels) hc.push_back(x);
  hc.push_back(mc);
  for (size_t k = 0; k + 1 < hc.size(); ++k)
    m.hint.push_back(make_conv(b, p + "input_hint_block." + idx(int(2 * k)), hc[k], hc[k + 1], 3,
                               c.hint_block_strides[k], 1));
  int64_t ch = 0;
  int ds = 1;
  std::vector<int64_t> chans = build_encoder(c, b, p, m.input_blocks, m.middle, ch, ds);
  for (size_t i = 0; i < chans.size(); ++i)
    m.zero_convs.push_back(make_conv(b, p + "zero_convs." + idx(int(i)) + ".0", chans[i], chans[i], 1));
  m.middle_out = make_conv(b, p + "middle_block_out.0", ch, ch, 1);
  return m;
}

ClipText ClipText::build(const ClipTextConfig& c, ParamSource& b, const std::string& p) {
  if (c.width % c.heads != 0)
    throw std::invalid_argument(p + ": width " + std::to_string(c.width) +
                                " is not divisible by heads " + std::to_string(c.heads));
  ClipText m;
  m.cfg = c;
  m.token_embedding =
      b.param(p + "embeddings.token_embedding.weight", {c.vocab_size, c.width}, Init::Embedding);
  m.position_embedding = b.param(p + "embeddings.position_embedding.weight",
                                 {c.max_positions, c.width}, Init::Embedding);
  b.buffer(p + "embeddings.position_ids", {1, c.max_positions});  // stray buffer, tolerated
  for (int l = 0; l < c.layers; ++l) {
    const std::string q = p + "encoder.layers." + idx(l);
    ClipText::Layer L;
    L.k = make_linear(b, q + ".self_attn.k_proj", c.width, c.width);
    L.v = make_linear(b, q + ".self_attn.v_proj", c.width, c.width);
    L.q = make_linear(b, q + ".self_attn.q_proj", c.width, c.width);
    L.out = make_linear(b, q + ".self_attn.out_proj", c.width, c.width);
    L.ln1 = make_norm(b, q + ".layer_norm1", c.width, 0, c.layer_norm_eps);
    L.fc1 = make_linear(b, q + ".mlp.fc1", c.width, c.mlp_width);
    L.fc2 = make_linear(b, q + ".mlp.fc2", c.mlp_width, c.width);
    L.ln2 = make_norm(b, q + ".layer_norm2", c.width, 0, c.layer_norm_eps);
    m.layers.push_back(std::move(L));
  }
  m.final_ln = make_norm(b, p + "final_layer_norm", c.width, 0, c.layer_norm_eps);
  return m;
}

namespace {

VaeResBlock make_vae_block(ParamSource& b, const std::string& p, int64_t in, int64_t out,
                           int64_t groups) {
  check_groups(in, groups, p);
  check_groups(out, groups, p);
  VaeResBlock r;
  r.norm1 = make_norm(b, p + ".norm1", in, groups, 1e-6);
  r.conv1 = make_conv(b, p + ".conv1", in, out, 3);
  r.norm2 = make_norm(b, p + ".norm2", out, groups, 1e-6);
  r.conv2 = make_conv(b, p + ".conv2", out, out, 3);
  if (in != out) r.nin_shortcut = make_conv(b, p + ".nin_shortcut", in, out, 1);
  return r;
}

VaeAttention make_vae_attn(ParamSource& b, const std::string& p, int64_t ch, int64_t groups) {
  check_groups(ch, groups, p);
  VaeAttention a;
  a.norm = make_norm(b, p + ".norm", ch, groups, 1e-6);
  a.q = make_conv(b, p + ".q", ch, ch, 1);
  a.k = make_conv(b, p + ".k", ch, ch, 1);
  a.v = make_conv(b, p + ".v", ch, ch, 1);
  a.proj_out = make_conv(b, p + ".proj_out", ch, ch, 1);
  return a;
}

bool has_attn(const VaeConfig& c, int res) {
  for (int r : c.attn_resolutions)
    if (r == res) return true;
  return false;
}

}  // namespace

// ldm diffusionmodules.model.Decoder + AutoencoderKL.post_quant_conv.
VaeDecoder VaeDecoder::build(const VaeConfig& c, ParamSource& b, const std::string& p) {
  VaeDecoder m;
  m.cfg = c;
  const int n = int(c.ch_mult.size());
  const int64_t g = c.norm_groups;
  int64_t block_in = int64_t(c.ch) * c.ch_mult.back();
  int curr_res = c.resolution >> (n - 1);
  m.conv_in = make_conv(b, p + "decoder.conv_in", c.z_channels, block_in, 3);
  m.mid_block_1 = make_vae_block(b, p + "decoder.mid.block_1", block_in, block_in, g);
  m.mid_attn = make_vae_attn(b, p + "decoder.mid.attn_1", block_in, g);
  m.mid_block_2 = make_vae_block(b, p + "decoder.mid.block_2", block_in, block_in, g);
  m.up.resize(size_t(n));
  for (int level = n - 1; level >= 0; --level) {
    const std::string q = p + "decoder.up." + idx(level);
    const int64_t block_out = int64_t(c.ch) * c.ch_mult[size_t(level)];
    VaeLevel& L = m.up[size_t(level)];
    for (int i = 0; i <= c.num_res_blocks; ++i) {
      L.blocks.push_back(make_vae_block(b, q + ".block." + idx(i), block_in, block_out, g));
      block_in = block_out;
      if (has_attn(c, curr_res)) L.attn.push_back(make_vae_attn(b, q + ".attn." + idx(i), block_in, g));
    }
    if (level != 0) {
      L.resample = make_conv(b, q + ".upsample.conv", block_in, block_in, 3);
      curr_res *= 2;
    }
  }
  m.norm_out = make_norm(b, p + "decoder.norm_out", block_in, g, 1e-6);
  m.conv_out = make_conv(b, p + "decoder.conv_out", block_in, c.out_ch, 3);
  m.post_quant_conv = make_conv(b, p + "post_quant_conv", c.embed_dim, c.z_channels, 1);
  return m;
}

// ldm diffusionmodules.model.Encoder + AutoencoderKL.quant_conv.
VaeEncoder VaeEncoder::build(const VaeConfig& c, ParamSource& b, const std::string& p) {
  VaeEncoder m;
  m.cfg = c;
  const int n = int(c.ch_mult.size());
  const int64_t g = c.norm_groups;
  m.conv_in = make_conv(b, p + "encoder.conv_in", c.in_channels, c.ch, 3);
  int curr_res = c.resolution;
  int64_t block_in = c.ch;
  for (int level = 0; level < n; ++level) {
    const std::string q = p + "encoder.down." + idx(level);
    VaeLevel L;
    block_in = int64_t(c.ch) * (level == 0 ? 1 : c.ch_mult[size_t(level - 1)]);
    const int64_t block_out = int64_t(c.ch) * c.ch_mult[size_t(level)];
    for (int i = 0; i < c.num_res_blocks; ++i) {
      L.blocks.push_back(make_vae_block(b, q + ".block." + idx(i), block_in, block_out, g));
      block_in = block_out;
      if (has_attn(c, curr_res)) L.attn.push_back(make_vae_attn(b, q + ".attn." + idx(i), block_in, g));
    }
    if (level != n - 1) {
      L.resample = make_conv(b, q + ".downsample.conv", block_in, block_in, 3, 2, 0);
      curr_res /= 2;
    }
    m.down.push_back(std::move(L));
  }
  m.mid_block_1 = make_vae_block(b, p + "encoder.mid.block_1", block_in, block_in, g);
  m.mid_attn = make_vae_attn(b, p + "encoder.mid.attn_1", block_in, g);
  m.mid_block_2 = make_vae_block(b, p + "encoder.mid.block_2", block_in, block_in, g);
  m.norm_out = make_norm(b, p + "encoder.norm_out", block_in, g, 1e-6);
  const int64_t zc = c.double_z ? 2 * c.z_channels : c.z_channels;
  m.conv_out = make_conv(b, p + "encoder.conv_out", block_in, zc, 3);
  m.quant_conv = make_conv(b, p + "quant_conv", zc, c.double_z ? 2 * c.embed_dim : c.embed_dim, 1);
  return m;
}

ClassEmbed ClassEmbed::build(int classes, int dim, ParamSource& b, const std::string& p) {
  ClassEmbed m;
  m.embedding = b.param(p + "embedding.weight", {classes, dim}, Init::Embedding);
  return m;
}

ScheduleBuffers ScheduleBuffers::build(const ScheduleConfig& c, ParamSource& b) {
  ScheduleBuffers s;
  const int64_t T = c.timesteps;
  for (const char* name :
       {"betas", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1",
        "posterior_mean_coef2", "logvar"})
    b.buffer(name, {T});
  s.alphas_cumprod = b.buffer("alphas_cumprod", {T});
  return s;
}

ControlLDM ControlLDM::build(const ModelConfig& cfg, ParamSource& b) {
  ControlLDM m;
  m.cfg = cfg;
  if (cfg.has_unet) m.unet = UNet::build(cfg.unet, b, prefix::unet);
  if (cfg.has_control) m.control = ControlNet::build(cfg.control, b, prefix::control);
  if (cfg.has_vae) {
    m.vae_decoder = VaeDecoder::build(cfg.vae, b, prefix::vae);
    if (cfg.has_vae_encoder) m.vae_encoder = VaeEncoder::build(cfg.vae, b, prefix::vae);
  }
  if (cfg.has_text_encoder) m.clip = ClipText::build(cfg.clip, b, prefix::clip);
  if (cfg.class_embed_classes > 0)
    m.class_embed = ClassEmbed::build(cfg.class_embed_classes, cfg.unet.context_dim, b,
                                      prefix::class_embed);
  m.schedule = ScheduleBuffers::build(cfg.schedule, b);
  return m;
}

// ---- forwards ------------------------------------------------------------------------------------

namespace {

// A linear layer over many rows runs as oneDNN's 1x1 convolution on a channels-last view: the
// rows [M, K] of x are, bit for bit, an NHWC image [1, K, M, 1], and the NHWC result [1, N, M, 1]
// is the rows [M, N] of the answer. oneDNN's brgemm kernels reach 160-210 GFLOP/s on one AVX-512
// core where OpenBLAS's sgemm (Haswell kernels, 0.3.21) gives 90-120 (measured with the same ATen
// ops on SD1.5's projection and feed-forward shapes; results within float rounding, ~1e-5).
// Below kMinRows rows (time embeddings, one prompt's 77 tokens) BLAS stays: the per-call weight
// reorder would cost more than it saves; so it does below kMinWidth features in or out (the
// embedded default's tiny UNet, whose outputs stay bit for bit what they were). Training and other
// dtypes/devices keep at::linear.
constexpr int64_t kMinRows = 256, kMinWidth = 256;

at::Tensor linear(const at::Tensor& x, const Linear& l) {
  const int64_t K = x.size(-1), M = K > 0 ? x.numel() / K : 0, N = l.w.size(0);
  if (M < kMinRows || K < kMinWidth || N < kMinWidth || at::GradMode::is_enabled() || !at::hasMKLDNN() ||
      !x.device().is_cpu() || x.scalar_type() != at::kFloat || l.w.scalar_type() != at::kFloat)
    return at::linear(x, l.w, l.b);
  const at::Tensor rows = x.reshape({M, K}).contiguous();
  const at::Tensor image = rows.as_strided({1, K, M, 1}, {M * K, 1, K, K});
  at::Tensor y = at::mkldnn_convolution(image, l.w.view({N, K, 1, 1}), l.b, {0, 0}, {1, 1}, {1, 1}, 1);
  if (!y.is_contiguous(at::MemoryFormat::ChannelsLast)) y = y.contiguous(at::MemoryFormat::ChannelsLast);
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = N;
  return y.as_strided({M, N}, {N, 1}).view(sizes);
}

// fp32 CPU inference 3x3 convolutions go through oneDNN's Winograd kernels where the setting
// (DIFSS_CONV_ALGORITHM, difss::conv) asks for them: under "auto" the VAE decoder's 256² and 512²
// levels (not the UNet's or ControlNet's), 1.8-2.7x faster per convolution at a few float
// roundings more (core/models/conv).
at::Tensor conv(const at::Tensor& x, const Conv& c) {
  if (conv::winograd_applies(x, c.w, c.stride, c.padding)) return c.winograd.forward(x, c.w, c.b);
  if (c.packed.defined() && !at::GradMode::is_enabled() && x.device().is_cpu() &&
      x.scalar_type() == c.w.scalar_type())
    return at::mkldnn_convolution(x, c.packed, c.b, {c.padding, c.padding}, {c.stride, c.stride}, {1, 1}, 1);
  return at::conv2d(x, c.w, c.b, {c.stride, c.stride}, {c.padding, c.padding});
}

// Element-wise steps on a tensor the caller has just produced and owns alone: in place when no
// gradient is recorded (no extra buffer, one memory pass less), out of place when training.
// a + b and a * b are commutative in IEEE arithmetic, so the results are bit-identical.
at::Tensor silu_fresh(at::Tensor t) { return at::GradMode::is_enabled() ? at::silu(t) : at::silu_(t); }
// In place only where the out-of-place result would have `fresh`'s shape and dtype.
bool can_update(const at::Tensor& fresh, const at::Tensor& other) {
  return !at::GradMode::is_enabled() && fresh.scalar_type() == other.scalar_type() &&
         at::infer_size(fresh.sizes(), other.sizes()) == fresh.sizes().vec();
}
at::Tensor add_fresh(at::Tensor fresh, const at::Tensor& other) {
  return can_update(fresh, other) ? fresh.add_(other) : fresh + other;
}
at::Tensor mul_fresh(at::Tensor fresh, const at::Tensor& other) {
  return can_update(fresh, other) ? fresh.mul_(other) : fresh * other;
}

// GroupNorm / LayerNorm in float32 (ldm's GroupNorm32 does x.float() ... .type(x.dtype)).
at::Tensor norm(const at::Tensor& x, const Norm& n) {
  const bool cast = x.scalar_type() != at::kFloat;
  at::Tensor xf = cast ? x.to(at::kFloat) : x;
  at::Tensor y = n.groups > 0 ? at::group_norm(xf, n.groups, n.w, n.b, n.eps)
                              : at::layer_norm(xf, {xf.size(-1)}, n.w, n.b, n.eps);
  return cast ? y.to(x.scalar_type()) : y;
}

// attention.CrossAttention (context == x for self-attention).
at::Tensor cross_attention(const at::Tensor& x, const at::Tensor& ctx, const CrossAttention& a) {
  at::Tensor q = linear(x, a.q), k = linear(ctx, a.k), v = linear(ctx, a.v);
  const int64_t dim_head = q.size(-1) / a.heads;
  at::Tensor o = attention(q, k, v, a.heads, std::pow(double(dim_head), -0.5));
  return linear(o, a.out);
}

// attention.FeedForward with GEGLU: ff_out(gelu(gate) * value), [value, gate] = ff_in(x).chunk(2).
at::Tensor geglu(const at::Tensor& x, const TransformerBlock& blk) {
  at::Tensor f = linear(x, blk.ff_in);
  auto halves = f.chunk(2, -1);
  return linear(mul_fresh(at::gelu(halves[1]), halves[0]), blk.ff_out);
}

// The feed-forward is row-wise, so at inference it runs over blocks of kFeedForwardRows token rows:
// its 8x-wide hidden activations (GEGLU: ff_in's output, the gate's GELU) then exist for one block
// at a time. At 512x512 with 4 images (CFG batch 8) they were 0.5 GiB at once at the 64x64 level.
constexpr int64_t kFeedForwardRows = 4096;

at::Tensor feed_forward(const at::Tensor& x, const TransformerBlock& blk) {
  const int64_t C = x.size(-1), rows = x.numel() / std::max<int64_t>(C, 1);
  if (at::GradMode::is_enabled() || rows <= kFeedForwardRows) return geglu(x, blk);
  const at::Tensor flat = x.reshape({rows, C});
  at::Tensor out = at::empty({rows, blk.ff_out.w.size(0)}, x.options());
  for (int64_t r0 = 0; r0 < rows; r0 += kFeedForwardRows) {
    const int64_t n = std::min(kFeedForwardRows, rows - r0);
    out.narrow(0, r0, n).copy_(geglu(flat.narrow(0, r0, n), blk));
  }
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = out.size(1);
  return out.view(sizes);
}

at::Tensor transformer_forward(const SpatialTransformer& t, const at::Tensor& x,
                               const at::Tensor& context) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor y = norm(x, t.norm);
  if (!t.linear) y = conv(y, t.proj_in_conv);
  y = y.permute({0, 2, 3, 1}).reshape({b, h * w, y.size(1)});  // 'b c h w -> b (h w) c'
  if (t.linear) y = linear(y, t.proj_in_linear);
  for (const TransformerBlock& blk : t.blocks) {
    at::Tensor n1 = norm(y, blk.norm1);
    y = add_fresh(cross_attention(n1, n1, blk.attn1), y);
    y = add_fresh(cross_attention(norm(y, blk.norm2), context, blk.attn2), y);
    y = add_fresh(feed_forward(norm(y, blk.norm3), blk), y);
  }
  if (t.linear) y = linear(y, t.proj_out_linear);
  y = y.reshape({b, h, w, y.size(-1)}).permute({0, 3, 1, 2}).contiguous();
  if (!t.linear) y = conv(y, t.proj_out_conv);
  (void)c;
  return y + x;
}

at::Tensor resblock_forward(const ResBlock& r, const at::Tensor& x, const at::Tensor& emb) {
  at::Tensor h = conv(silu_fresh(norm(x, r.in_norm)), r.in_conv);
  at::Tensor e = linear(at::silu(emb), r.emb).to(h.scalar_type());
  h = add_fresh(h, e.unsqueeze(-1).unsqueeze(-1));
  h = conv(silu_fresh(norm(h, r.out_norm)), r.out_conv);
  return add_fresh(h, r.skip ? conv(x, *r.skip) : x);  // skip + h: the same sum either way
}

void release(const Linear& l) {
  weights::release_mapped_pages(l.w);
  weights::release_mapped_pages(l.b);
}
void release(const CrossAttention& a) {
  for (const Linear* l : {&a.q, &a.k, &a.v, &a.out}) release(*l);
}
// A packed convolution runs from its packed copy; its mapped original already went at load.
void release(const Conv& c) {
  if (!c.packed.defined()) weights::release_mapped_pages(c.w);
}

// See UNet::release_weights_after_block (models.hpp).
void release_block(const UNetBlock& blk) {
  for (const UNetLayer& l : blk) {
    switch (l.kind) {
      case UNetLayer::kConv:
      case UNetLayer::kDownsample:
      case UNetLayer::kUpsample: release(l.conv); break;
      case UNetLayer::kRes:
        release(l.res.emb);
        release(l.res.in_conv);
        release(l.res.out_conv);
        break;
      case UNetLayer::kTransformer: {
        const SpatialTransformer& t = l.transformer;
        release(t.proj_in_linear);
        release(t.proj_out_linear);
        release(t.proj_in_conv);
        release(t.proj_out_conv);
        for (const TransformerBlock& b : t.blocks) {
          release(b.attn1);
          release(b.attn2);
          release(b.ff_in);
          release(b.ff_out);
        }
        break;
      }
    }
  }
}

at::Tensor block_forward(const UNetBlock& blk, at::Tensor h, const at::Tensor& emb,
                         const at::Tensor& context, bool release_after = false) {
  struct ReleaseAfter {  // also when the forward throws (cancelled runs)
    const UNetBlock& blk;
    bool on;
    ~ReleaseAfter() {
      if (on) release_block(blk);
    }
  } release{blk, release_after && !at::GradMode::is_enabled()};
  for (const UNetLayer& l : blk) {
    switch (l.kind) {
      case UNetLayer::kConv:
      case UNetLayer::kDownsample: h = conv(h, l.conv); break;
      case UNetLayer::kUpsample:
        h = conv(at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2}), l.conv);
        break;
      case UNetLayer::kRes: h = resblock_forward(l.res, h, emb); break;
      case UNetLayer::kTransformer: h = transformer_forward(l.transformer, h, context); break;
    }
  }
  return h;
}

at::Tensor time_embed(const Linear& l1, const Linear& l2, const at::Tensor& t, int64_t mc,
                      at::ScalarType dtype) {
  at::Tensor e = timestep_embedding(t, mc).to(l1.w.device(), dtype);
  return linear(at::silu(linear(e, l1)), l2);
}

}  // namespace

namespace {

bool pack(Conv& c) {
  if (!at::hasMKLDNN() || !c.w.defined() || !c.w.device().is_cpu() ||
      (c.w.scalar_type() != at::kFloat && c.w.scalar_type() != at::kBFloat16))
    return false;
  c.packed = at::mkldnn_reorder_conv2d_weight(c.w.to_mkldnn(), {c.padding, c.padding},
                                              {c.stride, c.stride}, {1, 1}, 1);
  // The packed copy is what runs from now on. A float32 original mapped from the checkpoint gives
  // its pages back at once, so loading never holds both copies of all weights (6.4 GiB peak for
  // SD1.5 + ControlNet before, when they were released together after the last one).
  weights::release_mapped_pages(c.w);
  return true;
}

int pack_block(UNetBlock& blk) {
  int n = 0;
  for (UNetLayer& l : blk) {
    switch (l.kind) {
      case UNetLayer::kConv:
      case UNetLayer::kDownsample:
      case UNetLayer::kUpsample: n += pack(l.conv); break;
      case UNetLayer::kRes:
        n += pack(l.res.in_conv) + pack(l.res.out_conv);
        if (l.res.skip) n += pack(*l.res.skip);
        break;
      case UNetLayer::kTransformer:
        if (!l.transformer.linear) n += pack(l.transformer.proj_in_conv) + pack(l.transformer.proj_out_conv);
        break;
    }
  }
  return n;
}

}  // namespace

int pack_conv_weights(UNet& unet) {
  int n = pack(unet.out_conv);
  for (UNetBlock& b : unet.input_blocks) n += pack_block(b);
  n += pack_block(unet.middle);
  for (UNetBlock& b : unet.output_blocks) n += pack_block(b);
  return n;
}

int pack_conv_weights(ControlNet& control) {
  int n = pack(control.middle_out);
  for (Conv& c : control.hint) n += pack(c);
  for (Conv& c : control.zero_convs) n += pack(c);
  for (UNetBlock& b : control.input_blocks) n += pack_block(b);
  n += pack_block(control.middle);
  return n;
}

at::Tensor timestep_embedding(const at::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  at::Tensor freqs = at::exp(at::arange(0, half, at::TensorOptions().dtype(at::kFloat)) *
                             (-std::log(10000.0)) / double(half));
  at::Tensor args = t.to(at::kCPU, at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  at::Tensor emb = at::cat({at::cos(args), at::sin(args)}, -1);
  if (dim % 2) emb = at::cat({emb, at::zeros_like(emb.slice(1, 0, 1))}, -1);
  return emb;
}

at::Tensor unet_forward(const UNet& m, const at::Tensor& x, const at::Tensor& t,
                        const at::Tensor& context, const std::vector<at::Tensor>* control) {
  const at::ScalarType dt = m.time1.w.scalar_type();
  at::Tensor emb = time_embed(m.time1, m.time2, t, m.cfg.model_channels, dt);
  at::Tensor ctx = context.to(dt);
  if (control && control->size() != m.input_blocks.size() + 1)
    throw std::invalid_argument("UNet: expected " + std::to_string(m.input_blocks.size() + 1) +
                                " control residuals, got " + std::to_string(control->size()));
  std::vector<at::Tensor> hs;
  hs.reserve(m.input_blocks.size());
  at::Tensor h = x.to(dt);
  for (const UNetBlock& blk : m.input_blocks) {
    h = block_forward(blk, h, emb, ctx, m.release_weights_after_block);
    hs.push_back(h);
  }
  h = block_forward(m.middle, h, emb, ctx, m.release_weights_after_block);
  size_t ci = control ? control->size() : 0;
  if (control) h = add_fresh(h, (*control)[--ci]);
  for (const UNetBlock& blk : m.output_blocks) {
    at::Tensor skip = hs.back();
    hs.pop_back();
    if (control) skip = add_fresh(skip, (*control)[--ci]);
    h = block_forward(blk, at::cat({h, skip}, 1), emb, ctx, m.release_weights_after_block);
  }
  h = conv(silu_fresh(norm(h, m.out_norm)), m.out_conv);
  return h.to(x.scalar_type());
}

at::Tensor controlnet_hint(const ControlNet& m, const at::Tensor& hint) {
  at::Tensor h = hint.to(m.time1.w.device(), m.time1.w.scalar_type());
  for (size_t k = 0; k < m.hint.size(); ++k) {
    h = conv(h, m.hint[k]);
    if (k + 1 < m.hint.size()) h = at::silu(h);
  }
  return h;
}

std::vector<at::Tensor> controlnet_forward(const ControlNet& m, const at::Tensor& x,
                                           const at::Tensor& guided_hint, const at::Tensor& t,
                                           const at::Tensor& context) {
  const at::ScalarType dt = m.time1.w.scalar_type();
  at::Tensor emb = time_embed(m.time1, m.time2, t, m.cfg.model_channels, dt);
  at::Tensor ctx = context.to(dt);
  std::vector<at::Tensor> outs;
  outs.reserve(m.zero_convs.size() + 1);
  at::Tensor h = x.to(dt);
  for (size_t i = 0; i < m.input_blocks.size(); ++i) {
    h = block_forward(m.input_blocks[i], h, emb, ctx, m.release_weights_after_block);
    if (i == 0) h = h + guided_hint.to(dt);
    outs.push_back(conv(h, m.zero_convs[i]));
  }
  h = block_forward(m.middle, h, emb, ctx, m.release_weights_after_block);
  outs.push_back(conv(h, m.middle_out));
  return outs;
}

at::Tensor clip_text_forward(const ClipText& m, const at::Tensor& ids) {
  const int64_t B = ids.size(0), L = ids.size(1), W = m.cfg.width;
  if (L > m.cfg.max_positions)
    throw std::invalid_argument("CLIP text encoder: " + std::to_string(L) +
                                " tokens exceed the " + std::to_string(m.cfg.max_positions) +
                                " positions");
  at::Tensor flat = ids.reshape({-1}).to(m.token_embedding.device(), at::kLong);
  if (flat.numel() > 0 && (flat.min().item<int64_t>() < 0 ||
                           flat.max().item<int64_t>() >= m.token_embedding.size(0)))
    throw std::invalid_argument("CLIP text encoder: token id outside the vocabulary of " +
                                std::to_string(m.token_embedding.size(0)));
  at::Tensor x = m.token_embedding.index_select(0, flat).reshape({B, L, W}) +
                 m.position_embedding.slice(0, 0, L).unsqueeze(0);
  at::Tensor mask = at::full({L, L}, -std::numeric_limits<float>::infinity(),
                             at::TensorOptions().dtype(at::kFloat).device(x.device()))
                        .triu(1);
  if (x.scalar_type() != at::kFloat) mask = mask.to(x.scalar_type());
  const int64_t heads = m.cfg.heads;
  const double scale = std::pow(double(W / heads), -0.5);
  for (const ClipText::Layer& l : m.layers) {
    at::Tensor h = norm(x, l.ln1);
    at::Tensor q = linear(h, l.q) * scale;  // HF: q_proj(x) * scale, then q k^T + causal mask
    at::Tensor a = attention(q, linear(h, l.k), linear(h, l.v), heads, 1.0, mask);
    x = x + linear(a, l.out);
    h = linear(norm(x, l.ln2), l.fc1);
    h = h * at::sigmoid(h * 1.702);  // quick_gelu
    x = x + linear(h, l.fc2);
  }
  return norm(x, m.final_ln);
}

namespace {

// norm -> SiLU -> conv, one buffer alive at a time when no gradient is recorded (the VAE runs at
// 512x512 with 128..512 channels: each activation is 128..256 MiB).
at::Tensor norm_silu_conv(const at::Tensor& x, const Norm& n, const Conv& c) {
  at::Tensor h = norm(x, n);
  h = at::GradMode::is_enabled() ? at::silu(h) : at::silu_(h);
  return conv(h, c);
}

at::Tensor vae_block(const VaeResBlock& r, const at::Tensor& x) {
  at::Tensor h = norm_silu_conv(x, r.norm1, r.conv1);
  h = norm_silu_conv(h, r.norm2, r.conv2);
  at::Tensor skip = r.nin_shortcut ? conv(x, *r.nin_shortcut) : x;
  return at::GradMode::is_enabled() ? skip + h : h.add_(skip);  // x + h, bit for bit
}

at::Tensor vae_attn(const VaeAttention& a, const at::Tensor& x) {
  at::Tensor h = norm(x, a.norm);
  const int64_t b = x.size(0), c = x.size(1), hh = x.size(2), ww = x.size(3);
  auto tokens = [&](const at::Tensor& t) { return t.reshape({b, c, hh * ww}).transpose(1, 2); };
  at::Tensor o = attention(tokens(conv(h, a.q)), tokens(conv(h, a.k)), tokens(conv(h, a.v)), 1,
                           std::pow(double(c), -0.5));
  o = o.transpose(1, 2).reshape({b, c, hh, ww});
  return x + conv(o, a.proj_out);
}

// The VAE's activations in channels-last (NHWC) memory on the CPU at inference: oneDNN's
// convolutions read and write them as they are, where a plain NCHW tensor is reordered into
// oneDNN's blocked layout and back around every call (a 128-256 MiB copy each at 512x512).
// Measured (difss-sd-tool bench --vae, one thread): the decode's time is unchanged (11.7-12.5 s vs
// 11.9-12.0 s), its peak RSS falls from 1.52 to 1.16 GiB. GroupNorm, SiLU, adds, nearest
// upsampling and the attention's token views all keep (or read) the layout. Training keeps NCHW.
at::Tensor vae_layout(const at::Tensor& x) {
  if (at::GradMode::is_enabled() || !x.device().is_cpu()) return x;
  return x.contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace

at::Tensor vae_decode(const VaeDecoder& m, const at::Tensor& z) {
  const at::ScalarType dt = m.conv_in.w.scalar_type();
  at::Tensor h = (z.to(at::kFloat) * (1.0 / m.cfg.scale_factor)).to(m.conv_in.w.device(), dt);
  h = conv(h, m.post_quant_conv);
  h = vae_layout(conv(h, m.conv_in));
  h = vae_block(m.mid_block_1, h);
  h = vae_attn(m.mid_attn, h);
  h = vae_block(m.mid_block_2, h);
  for (int level = int(m.up.size()) - 1; level >= 0; --level) {
    const VaeLevel& L = m.up[size_t(level)];
    for (size_t i = 0; i < L.blocks.size(); ++i) {
      h = vae_block(L.blocks[i], h);
      if (!L.attn.empty()) h = vae_attn(L.attn[i], h);
    }
    if (L.resample) {
      at::Tensor up = at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2});
      h = at::Tensor();  // free the low-resolution input before the convolution
      h = conv(up, *L.resample);
    }
  }
  h = norm_silu_conv(h, m.norm_out, m.conv_out);
  return h.to(at::kFloat);
}

at::Tensor vae_encode(const VaeEncoder& m, const at::Tensor& x) {
  const at::ScalarType dt = m.conv_in.w.scalar_type();
  at::Tensor h = vae_layout(conv(x.to(m.conv_in.w.device(), dt), m.conv_in));
  for (const VaeLevel& L : m.down) {
    for (size_t i = 0; i < L.blocks.size(); ++i) {
      h = vae_block(L.blocks[i], h);
      if (!L.attn.empty()) h = vae_attn(L.attn[i], h);
    }
    if (L.resample) h = conv(at::constant_pad_nd(h, {0, 1, 0, 1}, 0), *L.resample);
  }
  h = vae_block(m.mid_block_1, h);
  h = vae_attn(m.mid_attn, h);
  h = vae_block(m.mid_block_2, h);
  h = conv(at::silu(norm(h, m.norm_out)), m.conv_out);
  h = conv(h, m.quant_conv);
  at::Tensor mean = h.slice(1, 0, m.cfg.embed_dim);
  return mean.to(at::kFloat) * m.cfg.scale_factor;
}

at::Tensor class_context(const ClassEmbed& m, const at::Tensor& ids) {
  at::Tensor flat = ids.reshape({-1}).to(m.embedding.device(), at::kLong);
  if (flat.numel() > 0 &&
      (flat.min().item<int64_t>() < 0 || flat.max().item<int64_t>() >= m.embedding.size(0)))
    throw std::invalid_argument("class embedding: class id outside [0, " +
                                std::to_string(m.embedding.size(0)) + ")");
  return m.embedding.index_select(0, flat).unsqueeze(1);
}

}  // namespace difss::sd
