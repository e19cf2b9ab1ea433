// Swin Transformer feature pyramid (see swin.hpp), functional ATen.
#include <difss/fss/swin.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

namespace difss::fss {

namespace {

at::Tensor zeros(std::vector<int64_t> shape) { return at::zeros(shape, weight_options()); }
at::Tensor ones(int64_t n) { return at::ones({n}, weight_options()); }

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::layer_norm(x, {x.size(-1)}, w, b, 1e-5);
}

// [B, H, W, C] -> [B * nW, ws * ws, C] (official window_partition, then flattened)
at::Tensor window_partition(const at::Tensor& x, int64_t ws) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  return x.view({B, H / ws, ws, W / ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({-1, ws * ws, C});
}

// [B * nW, ws * ws, C] -> [B, H, W, C]
at::Tensor window_reverse(const at::Tensor& w, int64_t ws, int64_t H, int64_t W) {
  const int64_t C = w.size(-1), B = w.size(0) / ((H / ws) * (W / ws));
  return w.view({B, H / ws, W / ws, ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).contiguous().view({B, H, W, C});
}

// Index into the relative position bias table for every (token i, token j) pair of a window.
at::Tensor relative_position_index(int64_t ws) {
  const int64_t N = ws * ws;
  at::Tensor idx = at::empty({N * N}, at::kLong);
  int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j)
      p[i * N + j] = (i / ws - j / ws + ws - 1) * (2 * ws - 1) + (i % ws - j % ws + ws - 1);
  return idx;
}

// The shifted-window attention mask: -100 between tokens of different image regions.
at::Tensor shifted_window_mask(int64_t res, int64_t ws, int64_t shift) {
  at::Tensor img = at::zeros({1, res, res, 1}, at::kFloat);
  const int64_t cuts[4] = {0, res - ws, res - shift, res};
  float cnt = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      img.slice(1, cuts[a], cuts[a + 1]).slice(2, cuts[b], cuts[b + 1]).fill_(cnt);
      cnt += 1;
    }
  at::Tensor mw = window_partition(img, ws).view({-1, ws * ws});
  at::Tensor diff = mw.unsqueeze(1) - mw.unsqueeze(2);
  return at::zeros_like(diff).masked_fill(diff.ne(0), -100.0);
}

}  // namespace

SwinConfig SwinConfig::swin_base_384() { return {}; }

void SwinConfig::validate() const {
  if (patch_size < 1 || window_size < 1 || embed_dim < 1 || mlp_ratio < 1)
    throw std::invalid_argument("Swin: patch_size, window_size, embed_dim and mlp_ratio must be positive");
  if (img_size % patch_size != 0)
    throw std::invalid_argument("Swin: img_size " + std::to_string(img_size) + " is not a multiple of patch_size " +
                                std::to_string(patch_size));
  int64_t res = img_size / patch_size;
  for (int s = 0; s < 4; ++s) {
    if (depths[size_t(s)] < 1 || num_heads[size_t(s)] < 1 || (embed_dim << s) % num_heads[size_t(s)] != 0)
      throw std::invalid_argument("Swin: stage " + std::to_string(s) + " needs depth >= 1 and heads dividing its width");
    const int64_t ws = std::min(res, window_size);
    if (res < 1 || res % ws != 0 || (s < 3 && res % 2 != 0))
      throw std::invalid_argument("Swin: input " + std::to_string(img_size) + " gives a stage-" + std::to_string(s) +
                                  " resolution of " + std::to_string(res) + ", which windows of " +
                                  std::to_string(window_size) + " (and patch merging) do not tile");
    res /= 2;
  }
}

SwinTransformer::SwinTransformer(const SwinConfig& c) : config_(c) {
  c.validate();
  patch_w_ = zeros({c.embed_dim, 3, c.patch_size, c.patch_size});
  patch_b_ = zeros({c.embed_dim});
  patch_norm_ = {ones(c.embed_dim), zeros({c.embed_dim})};
  int64_t res = c.img_size / c.patch_size;
  for (int s = 0; s < 4; ++s) {
    const int64_t dim = c.embed_dim << s, heads = c.num_heads[size_t(s)];
    for (int64_t b = 0; b < c.depths[size_t(s)]; ++b) {
      Block k;
      k.dim = dim;
      k.heads = heads;
      k.res = res;
      k.window = c.window_size;
      k.shift = b % 2 == 0 ? 0 : c.window_size / 2;
      if (res <= k.window) {  // the official rule: one window, no shift
        k.shift = 0;
        k.window = res;
      }
      k.norm1 = {ones(dim), zeros({dim})};
      k.norm2 = {ones(dim), zeros({dim})};
      k.qkv = {zeros({3 * dim, dim}), zeros({3 * dim})};
      k.proj = {zeros({dim, dim}), zeros({dim})};
      const int64_t hidden = dim * c.mlp_ratio;
      k.fc1 = {zeros({hidden, dim}), zeros({hidden})};
      k.fc2 = {zeros({dim, hidden}), zeros({dim})};
      k.bias_table = zeros({(2 * k.window - 1) * (2 * k.window - 1), heads});
      k.position_index = relative_position_index(k.window);
      if (k.shift > 0) k.attn_mask = shifted_window_mask(res, k.window, k.shift);
      stages_[size_t(s)].blocks.push_back(std::move(k));
    }
    if (s < 3) {
      stages_[size_t(s)].has_down = true;
      stages_[size_t(s)].down_norm = {ones(4 * dim), zeros({4 * dim})};
      stages_[size_t(s)].down_reduction = zeros({2 * dim, 4 * dim});
    }
    res /= 2;
  }
}

at::Tensor SwinTransformer::Block::forward(const at::Tensor& x) const {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), N = window * window;
  at::Tensor h = layer_norm(x, norm1.weight, norm1.bias).view({B, res, res, C});
  if (shift > 0) h = at::roll(h, {-shift, -shift}, {1, 2});
  at::Tensor win = window_partition(h, window);
  const int64_t Bw = win.size(0), hd = C / heads;
  at::Tensor qkv_ = at::linear(win, qkv.weight, qkv.bias).reshape({Bw, N, 3, heads, hd}).permute({2, 0, 3, 1, 4});
  at::Tensor q = qkv_[0] * std::pow(double(hd), -0.5), k = qkv_[1], v = qkv_[2];
  at::Tensor attn = at::matmul(q, k.transpose(-2, -1));
  at::Tensor bias = bias_table.index_select(0, position_index).view({N, N, heads}).permute({2, 0, 1}).contiguous();
  attn = attn + bias.unsqueeze(0);
  if (attn_mask.defined()) {
    const int64_t nW = attn_mask.size(0);
    attn = (attn.view({Bw / nW, nW, heads, N, N}) + attn_mask.unsqueeze(1).unsqueeze(0)).view({-1, heads, N, N});
  }
  attn = at::softmax(attn, -1);
  at::Tensor out = at::linear(at::matmul(attn, v).transpose(1, 2).reshape({Bw, N, C}), proj.weight, proj.bias);
  out = window_reverse(out.view({-1, window, window, C}), window, res, res);
  if (shift > 0) out = at::roll(out, {shift, shift}, {1, 2});
  at::Tensor y = x + out.view({B, L, C});
  at::Tensor m = at::linear(at::gelu(at::linear(layer_norm(y, norm2.weight, norm2.bias), fc1.weight, fc1.bias)),
                            fc2.weight, fc2.bias);
  return y + m;
}

std::vector<at::Tensor> SwinTransformer::features(const at::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != 3 || x.size(2) != config_.img_size || x.size(3) != config_.img_size)
    throw std::invalid_argument("Swin input must be [B, 3, " + std::to_string(config_.img_size) + ", " +
                                std::to_string(config_.img_size) + "]");
  const int64_t B = x.size(0);
  at::Tensor t = at::conv2d(x, patch_w_, patch_b_, {config_.patch_size, config_.patch_size}).flatten(2).transpose(1, 2);
  t = layer_norm(t, patch_norm_.weight, patch_norm_.bias);
  std::vector<at::Tensor> feats;
  for (const Stage& st : stages_) {
    for (const Block& b : st.blocks) {
      t = b.forward(t);
      feats.push_back(t.view({B, b.res, b.res, b.dim}).permute({0, 3, 1, 2}).contiguous());
    }
    if (st.has_down) {
      const int64_t res = st.blocks.front().res, C = st.blocks.front().dim;
      at::Tensor g = t.view({B, res, res, C});
      auto pick = [&](int64_t r, int64_t c) { return g.slice(1, r, res, 2).slice(2, c, res, 2); };
      g = at::cat({pick(0, 0), pick(1, 0), pick(0, 1), pick(1, 1)}, -1).view({B, -1, 4 * C});
      t = at::linear(layer_norm(g, st.down_norm.weight, st.down_norm.bias), st.down_reduction);
    }
  }
  return feats;
}

std::vector<NamedTensor> SwinTransformer::named_tensors() {
  std::vector<NamedTensor> out;
  auto lin = [&](const std::string& p, Linear& l) {
    out.push_back({p + ".weight", &l.weight, true});
    out.push_back({p + ".bias", &l.bias, true});
  };
  auto norm = [&](const std::string& p, Norm& n) {
    out.push_back({p + ".weight", &n.weight, true});
    out.push_back({p + ".bias", &n.bias, true});
  };
  out.push_back({"patch_embed.proj.weight", &patch_w_, true});
  out.push_back({"patch_embed.proj.bias", &patch_b_, true});
  norm("patch_embed.norm", patch_norm_);
  for (size_t s = 0; s < stages_.size(); ++s) {
    const std::string ls = "layers." + std::to_string(s);
    for (size_t b = 0; b < stages_[s].blocks.size(); ++b) {
      Block& k = stages_[s].blocks[b];
      const std::string p = ls + ".blocks." + std::to_string(b);
      norm(p + ".norm1", k.norm1);
      out.push_back({p + ".attn.relative_position_bias_table", &k.bias_table, true});
      lin(p + ".attn.qkv", k.qkv);
      lin(p + ".attn.proj", k.proj);
      norm(p + ".norm2", k.norm2);
      lin(p + ".mlp.fc1", k.fc1);
      lin(p + ".mlp.fc2", k.fc2);
    }
    if (stages_[s].has_down) {
      out.push_back({ls + ".downsample.reduction.weight", &stages_[s].down_reduction, true});
      norm(ls + ".downsample.norm", stages_[s].down_norm);
    }
  }
  return out;
}

void SwinTransformer::to(at::Device device, at::ScalarType dtype) {
  for (const auto& nt : named_tensors()) *nt.tensor = nt.tensor->to(device, dtype);
  for (Stage& st : stages_)
    for (Block& b : st.blocks) {
      b.position_index = b.position_index.to(device);
      if (b.attn_mask.defined()) b.attn_mask = b.attn_mask.to(device, dtype);
    }
}

}  // namespace difss::fss
