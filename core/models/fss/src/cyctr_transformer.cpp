// CyCTR's cycle-consistent transformer (cyctr_transformer.hpp).
#include <difss/fss/cyctr_transformer.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

namespace difss::fss {

at::Tensor sine_position_encoding(const at::Tensor& padding, int64_t F) {
  const int64_t h = padding.size(1), w = padding.size(2);
  at::Tensor not_mask = padding.logical_not();
  at::Tensor y = not_mask.cumsum(1, at::kFloat), x = not_mask.cumsum(2, at::kFloat);
  const double scale = 2 * M_PI, eps = 1e-6;
  y = y / (y.narrow(1, h - 1, 1) + eps) * scale;
  x = x / (x.narrow(2, w - 1, 1) + eps) * scale;
  at::Tensor dim_t = at::arange(F, padding.options().dtype(at::kFloat));
  dim_t = at::pow(10000, at::floor_divide(dim_t, 2) * 2 / double(F));
  auto encode = [&](const at::Tensor& e) {
    at::Tensor p = e.unsqueeze(-1) / dim_t;  // [B, h, w, F]
    return at::stack({p.slice(3, 0, F, 2).sin(), p.slice(3, 1, F, 2).cos()}, 4).flatten(3);
  };
  return at::cat({encode(y), encode(x)}, 3).permute({0, 3, 1, 2});
}

CyCFFN::CyCFFN(int64_t d, int64_t hidden, const at::TensorOptions& o) : fc1(d, hidden, false, o), fc2(hidden, d, false, o) {}

at::Tensor CyCFFN::operator()(const at::Tensor& x) const { return x + fc2(at::relu(fc1(x))); }

void CyCFFN::collect(std::vector<NamedTensor>& out, const std::string& p) {
  fc1.collect(out, p + ".layers.0.0");
  fc2.collect(out, p + ".layers.1");
}

CycCrossAttention::CycCrossAttention(int64_t d, int64_t h, const at::TensorOptions& o)
    : q_fc(d, d, false, o), k_fc(d, d, false, o), v_fc(d, d, false, o), proj(d, d, false, o), heads(h) {}

at::Tensor CycCrossAttention::forward(const at::Tensor& xq, const at::Tensor& xk, const at::Tensor& xv,
                                      const at::Tensor& ignore, const at::Tensor& fg) const {
  const int64_t B = xq.size(0), N = xq.size(1), C = xq.size(2), Ns = xk.size(1), hd = C / heads;
  at::Tensor q = q_fc(xq).reshape({B, N, heads, hd}).permute({0, 2, 1, 3});
  at::Tensor k = k_fc(xk).reshape({B, Ns, heads, hd}).permute({0, 2, 1, 3});
  at::Tensor v = v_fc(xv).reshape({B, Ns, heads, hd}).permute({0, 2, 1, 3});
  at::Tensor attn = at::matmul(q, k.transpose(-2, -1)) * std::pow(double(hd), -0.5);  // [B, h, N, Ns]
  // Cycle consistency, all heads at once: support token j -> its most similar query i (over N)
  // -> that query's most similar support token j'; consistent when fg[j'] == fg[j].
  at::Tensor k2q = std::get<1>(attn.max(2));                   // [B, h, Ns]
  at::Tensor q2k = std::get<1>(attn.max(3));                   // [B, h, N]
  at::Tensor remap = q2k.gather(2, k2q);                       // [B, h, Ns]
  at::Tensor fg_h = fg.unsqueeze(1).expand({B, heads, Ns});
  at::Tensor consistent = fg_h.eq(fg_h.gather(2, remap));
  at::Tensor masked = ignore.unsqueeze(1).logical_or(consistent.logical_not());  // [B, h, Ns]
  attn = attn + masked.unsqueeze(-2).to(attn.scalar_type()) * -10000.0;
  attn = attn.softmax(-1);
  return proj(at::matmul(attn, v).transpose(1, 2).reshape({B, N, C}));
}

void CycCrossAttention::collect(std::vector<NamedTensor>& out, const std::string& p) {
  q_fc.collect(out, p + ".q_fc");
  k_fc.collect(out, p + ".k_fc");
  v_fc.collect(out, p + ".v_fc");
  proj.collect(out, p + ".proj");
}

SparseSample sparse_sampling(const at::Tensor& tokens, const at::Tensor& fg, const at::Tensor& ignore, int64_t fg_num,
                             int64_t bg_num, at::Generator gen) {
  std::vector<at::Tensor> ks, ms, vs, is;
  const at::TensorOptions lo = at::TensorOptions().dtype(at::kLong);
  for (int64_t b = 0; b < tokens.size(0); ++b) {
    const at::Tensor m = fg[b].cpu(), k = tokens[b], v = ignore[b];
    const at::Tensor fg_pos = m.nonzero().flatten(), bg_pos = m.logical_not().nonzero().flatten();
    const int64_t n_fg = fg_pos.numel(), n_bg = bg_pos.numel();
    // fg_sel / bg_sel: positions drawn within the foreground / background lists.
    at::Tensor fg_sel, bg_sel;
    if (n_fg < fg_num) {
      fg_sel = at::arange(n_fg, lo);
      bg_sel = at::randperm(n_bg, gen, lo).narrow(0, 0, std::min(n_bg, fg_num + bg_num - n_fg));
    } else if (n_bg < bg_num) {
      fg_sel = at::randperm(n_fg, gen, lo).narrow(0, 0, std::min(n_fg, fg_num + bg_num - n_bg));
      bg_sel = at::arange(n_bg, lo);
    } else {
      fg_sel = at::randperm(n_fg, gen, lo).narrow(0, 0, fg_num);
      bg_sel = at::randperm(n_bg, gen, lo).narrow(0, 0, bg_num);
    }
    at::Tensor index = at::cat({fg_pos.index_select(0, fg_sel), bg_pos.index_select(0, bg_sel)});
    // The official labels / ignore flags: the whole list read at the drawn list positions, except
    // for a list taken whole (then read through the boolean mask, i.e. correctly).
    at::Tensor fg_read = n_fg < fg_num ? fg_pos : fg_sel;
    at::Tensor bg_read = n_fg >= fg_num && n_bg < bg_num ? bg_pos : bg_sel;
    at::Tensor label_at = at::cat({fg_read, bg_read}).to(tokens.device());
    index = index.to(tokens.device());
    ks.push_back(k.index_select(0, index));
    ms.push_back(fg[b].index_select(0, label_at));
    vs.push_back(v.index_select(0, label_at));
    is.push_back(index);
  }
  return {at::stack(ks), at::stack(ms), at::stack(vs), at::stack(is)};
}

CyCTransformer::CyCTransformer(int64_t d, int64_t shots, const at::TensorOptions& o, int64_t layers, int64_t points,
                               int64_t per_shot)
    : dims_(d), shots_(shots), layers_(layers), per_shot_(per_shot) {
  if (shots < 1) throw std::invalid_argument("CyCTR: shots must be >= 1");
  const int64_t heads = d % 12 == 0 ? 12 : 8;
  for (int64_t l = 0; l < layers; ++l) {
    self_.emplace_back(d, 1, heads, points, o);
    cross_.emplace_back(d, heads, o);
    for (int i = 0; i < 4; ++i) norms_.emplace_back(d, 1e-5, o);
    for (int i = 0; i < 2; ++i) ffns_.emplace_back(d, 3 * d, o);
  }
  level_embed_ = at::zeros({1, d}, o);
}

namespace {

// Nearest-neighbour resize of [B, C, H, W] to h x w (F.interpolate mode='nearest').
at::Tensor nearest(const at::Tensor& x, int64_t h, int64_t w) { return at::upsample_nearest2d(x, {h, w}); }

}  // namespace

at::Tensor CyCTransformer::forward(const at::Tensor& query, const at::Tensor& padding, const at::Tensor& support,
                                   const at::Tensor& support_mask, const at::Tensor& support_padding, at::Generator gen,
                                   CyCTransformerTrace* trace) const {
  const int64_t B = query.size(0), C = query.size(1), h = query.size(2), w = query.size(3), K = shots_;
  if (support.size(0) != B * K || support_mask.size(0) != B || support_mask.size(1) != K)
    throw std::invalid_argument("CyCTR transformer: expected " + std::to_string(K) + " support(s) per query");
  const std::vector<LevelShape> shapes{{h, w}};

  // Query tokens, padding flags, positions.
  at::Tensor q = query.flatten(2).permute({0, 2, 1});
  at::Tensor pad = nearest(padding.unsqueeze(1).to(query.scalar_type()), h, w).squeeze(1).eq(255);  // [B, h, w]
  at::Tensor pos = sine_position_encoding(pad, C / 2).to(query.scalar_type()).flatten(2).transpose(1, 2) +
                   level_embed_.select(0, 0).view({1, 1, C});
  at::Tensor pad_flat = pad.flatten(1);
  at::Tensor ref = deform_reference_points(shapes, query.options());

  // Support tokens of all shots, concatenated shot after shot: [B, K*h*w, C].
  at::Tensor s = support.view({B, K, C, h * w}).permute({0, 1, 3, 2}).reshape({B, K * h * w, C});
  at::Tensor ignore = nearest(support_padding.to(query.scalar_type()), h, w).eq(255).reshape({B, K * h * w});
  at::Tensor obj = nearest(support_mask.to(query.scalar_type()), h, w).eq(1).cpu();  // [B, K, h, w]
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k) {
      at::Tensor o = obj[b][k];
      // get_supp_flatten_input's guards against an empty foreground or background (NaN).
      if (!o.any().item<bool>()) o.slice(0, h / 2 - 1, h / 2 + 1).slice(1, w / 2 - 1, w / 2 + 1).fill_(true);
      if (o.all().item<bool>()) {
        o[0][0].fill_(false);
        o[h - 1][w - 1].fill_(false);
        o[0][w - 1].fill_(false);
        o[h - 1][0].fill_(false);
      }
    }
  at::Tensor fg = obj.reshape({B, K * h * w}).to(query.device());

  SparseSample sample;
  size_t ln = 0, ff = 0;
  for (int64_t l = 0; l < layers_; ++l) {
    const MSDeformAttn& sa = self_[size_t(l)];
    q = norms_[ln++](q + sa.forward(q + pos, ref, q, shapes, pad_flat));
    q = norms_[ln++](ffns_[ff++](q));
    if (l == 0) sample = sparse_sampling(s, fg, ignore, per_shot_ * K, per_shot_ * K, gen);
    q = norms_[ln++](cross_[size_t(l)].forward(q, sample.tokens, sample.tokens, sample.ignore, sample.fg) + q);
    q = norms_[ln++](ffns_[ff++](q));
  }
  if (trace) {
    trace->sample = sample;
    trace->position = pos;
  }
  return q.permute({0, 2, 1}).reshape({B, C, h, w});
}

void CyCTransformer::collect(std::vector<NamedTensor>& out, const std::string& p) {
  for (size_t l = 0; l < self_.size(); ++l) {
    cross_[l].collect(out, p + ".cross_layers." + std::to_string(l));
    self_[l].collect(out, p + ".qry_self_layers." + std::to_string(l));
  }
  for (size_t i = 0; i < norms_.size(); ++i) norms_[i].collect(out, p + ".layer_norms." + std::to_string(i));
  for (size_t i = 0; i < ffns_.size(); ++i) ffns_[i].collect(out, p + ".ffns." + std::to_string(i));
  out.push_back({p + ".level_embed", &level_embed_, true});
}

}  // namespace difss::fss
