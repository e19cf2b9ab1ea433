// CyCTR (cyctr.hpp).
#include <difss/fss/cyctr.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

#include <difss/fss/pspnet_trunk.hpp>

namespace difss::fss {

namespace {

// generate_prior for one shot: for each query position the maximum cosine similarity (eps 1e-7)
// to the masked support features, min-max normalised over the query. Support positions where
// the mask is 0 give exactly 0 / (0 + eps) = 0 in the official bmm; they are left out of the
// product and stand for one 0 candidate in the maximum.
at::Tensor shot_prior(const at::Tensor& q4, const at::Tensor& s4, const at::Tensor& mask) {
  const int64_t B = q4.size(0), C = q4.size(1), h = q4.size(2), w = q4.size(3);
  const double eps = 1e-7;
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor tq = q4[b].reshape({C, h * w});
    at::Tensor tq_norm = tq.norm(2, {0}, true);  // [1, hw]
    at::Tensor m = mask[b].reshape({h * w});
    at::Tensor rows = m.ne(0).nonzero().flatten();
    at::Tensor best;
    if (rows.numel() == 0) {
      best = at::zeros({h * w}, q4.options());
    } else {
      at::Tensor ts = (s4[b].reshape({C, h * w}).index_select(1, rows) * m.index_select(0, rows)).t();  // [r, C]
      at::Tensor ts_norm = ts.norm(2, {1}, true);                                                    // [r, 1]
      at::Tensor sim = at::mm(ts, tq) / (at::mm(ts_norm, tq_norm) + eps);
      best = std::get<0>(sim.max(0));
      if (rows.numel() < h * w) best = best.clamp_min(0.0);
    }
    at::Tensor mn = best.min(), mx = best.max();
    out.push_back(((best - mn) / (mx - mn + eps)).view({1, 1, h, w}));
  }
  return at::cat(out);
}

}  // namespace

CyCTR::CyCTR(int64_t shots, int64_t dims, at::Device device, int64_t per_shot) : shots_(shots), dims_(dims) {
  if (shots < 1) throw std::invalid_argument("CyCTR: shots must be >= 1");
  const at::TensorOptions o = at::TensorOptions().dtype(at::kFloat).device(device);
  backbone_ = DeepStemResNet({3, 4, 6, 3}, DilationRule::torchvision, o);
  const int64_t in = 1024 + 512, r = dims;
  adjust_supp_ = Conv2d(in, r, 1, false, o);
  adjust_qry_ = Conv2d(in, r, 1, false, o);
  qry_merge_ = Conv2d(2 * r + 1, r, 1, false, o);
  supp_merge_ = Conv2d(2 * r, r, 1, false, o);
  lvl_reduce_ = Conv2d(r, r, 1, false, o);
  lvl_sum_a_ = Conv2d(r, r, 3, false, o, 1, 1);
  lvl_sum_b_ = Conv2d(r, r, 3, false, o, 1, 1);
  cls_a_ = Conv2d(r, r, 3, false, o, 1, 1);
  cls_b_ = Conv2d(r, 2, 1, true, o);
  transformer_ = CyCTransformer(r, shots, o, 2, 9, per_shot);
}

at::Tensor CyCTR::forward(const at::Tensor& x, const at::Tensor& s_x, const at::Tensor& s_y, const at::Tensor& padding,
                          const at::Tensor& s_padding, at::Generator gen, CyCTRTrace* trace) const {
  if (x.dim() != 4 || s_x.dim() != 5 || s_y.dim() != 4 || padding.dim() != 3 || s_padding.dim() != 4)
    throw std::invalid_argument(
        "CyCTR: expected query [B, 3, S, S], supports [B, K, 3, S, S], masks [B, K, S, S], padding [B, S, S], "
        "support padding [B, K, S, S]");
  const int64_t B = x.size(0), K = s_x.size(1), S = x.size(2);
  if (K != shots_)
    throw std::invalid_argument("CyCTR: this model was built for " + std::to_string(shots_) + " shot(s), got " +
                                std::to_string(K) + " support(s)");
  if ((S - 1) % 8 != 0 || x.size(3) != S || s_x.size(0) != B || s_x.size(3) != S || s_x.size(4) != S ||
      s_y.size(0) != B || s_y.size(1) != K || s_y.size(2) != S || s_y.size(3) != S)
    throw std::invalid_argument("CyCTR: the query, supports and masks must share one square size 8k + 1");

  // Backbone, query and supports in one batch: rows [0, B) query, then B*K supports. Channels-last
  // activations: oneDNN's convolutions then skip the layout reorders (about 1.5x faster on the CPU).
  at::Tensor all = at::cat({x, s_x.reshape({B * K, 3, S, S})}).contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor f2 = backbone_.layer(2, backbone_.layer(1, backbone_.stem(all)));
  at::Tensor f3 = backbone_.layer(3, f2);
  at::Tensor f4 = backbone_.layer(4, f3);
  const int64_t h = f3.size(2), w = f3.size(3);
  at::Tensor f23 = at::cat({f2, f3}, 1);
  at::Tensor query_feat = at::relu(adjust_qry_(f23.narrow(0, 0, B)));
  at::Tensor supp_feat = at::relu(adjust_supp_(f23.narrow(0, B, B * K)));

  // Masks at the feature size (bilinear, align_corners), shot-major within each batch item.
  at::Tensor mask = resize_bilinear_ac(s_y.reshape({B * K, 1, S, S}).eq(1).to(x.scalar_type()), h, w);
  at::Tensor shot_pp = weighted_gap(supp_feat, mask).view({B, K, dims_, 1, 1});
  at::Tensor proto = shot_pp.select(1, 0);
  if (K > 1) {
    for (int64_t k = 1; k < K; ++k) proto = proto + shot_pp.select(1, k);
    proto = proto / double(K);
  }

  at::Tensor q4 = f4.narrow(0, 0, B);
  at::Tensor s4 = f4.narrow(0, B, B * K).reshape({B, K, f4.size(1), h, w});
  at::Tensor mk = mask.view({B, K, 1, h, w});
  std::vector<at::Tensor> priors;
  for (int64_t k = 0; k < K; ++k) priors.push_back(shot_prior(q4, s4.select(1, k), mk.select(1, k)));
  at::Tensor prior = at::cat(priors, 1).mean(1, true);

  at::Tensor merged_q = at::relu(qry_merge_(at::cat({query_feat, proto.expand({B, dims_, h, w}), prior}, 1)));
  at::Tensor merged_s =
      at::relu(supp_merge_(at::cat({supp_feat, shot_pp.view({B * K, dims_, 1, 1}).expand({B * K, dims_, h, w})}, 1)));

  CyCTransformerTrace* tt = trace ? &trace->transformer : nullptr;
  at::Tensor t = transformer_.forward(merged_q, padding, merged_s, s_y, s_padding, gen, tt);
  at::Tensor fused = at::relu(lvl_reduce_(t));
  fused = at::relu(lvl_sum_b_(at::relu(lvl_sum_a_(fused)))) + fused;
  at::Tensor logits = cls_b_(at::relu(cls_a_(fused)));

  if (trace) {
    trace->query_layer4 = q4;
    trace->query_feat = query_feat;
    trace->support_feat = supp_feat;
    trace->prototype = proto;
    trace->prior = prior;
    trace->merged_query = merged_q;
    trace->merged_support = merged_s;
    trace->transformer_out = t;
    trace->logits_at_feat = logits;
  }
  return resize_bilinear_ac(logits, S, S);
}

std::vector<NamedTensor> CyCTR::named_tensors() {
  std::vector<NamedTensor> out;
  backbone_.collect(out, "backbone.body.", StemNames::attributes);
  adjust_supp_.collect(out, "adjust_feature_supp.0");
  adjust_qry_.collect(out, "adjust_feature_qry.0");
  qry_merge_.collect(out, "qry_merge_feat.0");
  supp_merge_.collect(out, "supp_merge_feat.0");
  transformer_.collect(out, "transformer");
  lvl_reduce_.collect(out, "merge_multi_lvl_reduce.0");
  lvl_sum_a_.collect(out, "merge_multi_lvl_sum.0");
  lvl_sum_b_.collect(out, "merge_multi_lvl_sum.2");
  cls_a_.collect(out, "cls.0");
  cls_b_.collect(out, "cls.3");
  return out;
}

std::vector<std::string> CyCTR::training_only_prefixes() {
  return {"addtional_proj.", "pred_supp_qry_proj.", "supp_init_merge.", "supp_beta_conv.", "supp_cls."};
}

void CyCTR::to(at::Device device, at::ScalarType dtype) {
  move_to_inference_layout(named_tensors(), device, dtype);
  backbone_.fold_batchnorm();
}

}  // namespace difss::fss
