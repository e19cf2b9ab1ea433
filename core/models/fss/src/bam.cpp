// BAM's meta learner, Gram adjustment, ensemble and K-shot reweighting (bam.hpp).
#include <difss/fss/bam.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace difss::fss {

ASPP::ASPP(int64_t c, const at::TensorOptions& o) {
  branch[0] = Conv2d(c, c, 1, true, o);
  branch[1] = Conv2d(c, c, 1, true, o);
  branch[2] = Conv2d(c, c, 3, true, o, 1, 6, 6);
  branch[3] = Conv2d(c, c, 3, true, o, 1, 12, 12);
  branch[4] = Conv2d(c, c, 3, true, o, 1, 18, 18);
}

at::Tensor ASPP::forward(const at::Tensor& x) const {
  const int64_t h = x.size(2), w = x.size(3);
  at::Tensor g = at::relu(branch[0](at::avg_pool2d(x, {h, w})));
  std::vector<at::Tensor> parts{g.expand({-1, -1, h, w})};
  for (size_t i = 1; i < 5; ++i) parts.push_back(at::relu(branch[i](x)));
  return at::cat(parts, 1);
}

void ASPP::collect(std::vector<NamedTensor>& out, const std::string& p) {
  for (size_t i = 0; i < 5; ++i) branch[i].collect(out, p + ".layer6_" + std::to_string(i) + ".0");
}

BAM::BAM(int64_t shots, int64_t classes, int64_t kshot_dim, at::Device device)
    : shots_(shots), trunk_(classes, {3, 4, 6, 3}, device),
      aspp_(256, at::TensorOptions().dtype(at::kFloat).device(device)), heads_(shots, kshot_dim, device) {
  const at::TensorOptions o = at::TensorOptions().dtype(at::kFloat).device(device);
  const int64_t fea_dim = 1024 + 512, r = 256;
  down_query_ = Conv2d(fea_dim, r, 1, false, o);
  down_supp_ = Conv2d(fea_dim, r, 1, false, o);
  init_merge_ = Conv2d(2 * r + 1, r, 1, false, o);
  res1_ = Conv2d(5 * r, r, 1, false, o);
  res2a_ = Conv2d(r, r, 3, false, o, 1, 1);
  res2b_ = Conv2d(r, r, 3, false, o, 1, 1);
  cls_meta_a_ = Conv2d(r, r, 3, false, o, 1, 1);
  cls_meta_b_ = Conv2d(r, 2, 1, true, o);
}

EnsembleHeads::EnsembleHeads(int64_t shots_, int64_t dim, at::Device device) : shots(shots_), kshot_dim(dim) {
  if (shots < 1) throw std::invalid_argument("shots must be >= 1");
  if (dim < 0) throw std::invalid_argument("kshot_trans_dim must be >= 0");
  const at::TensorOptions o = at::TensorOptions().dtype(at::kFloat).device(device);
  gram_merge = Conv2d(2, 1, 1, false, o);
  cls_merge = Conv2d(2, 1, 1, false, o);
  const bool values = device != at::kMeta;
  if (values) {  // the official initial values (what a checkpoint overwrites)
    gram_merge.weight.view({-1})[0] = 1.0;
    cls_merge.weight.view({-1})[0] = 1.0;
  }
  if (shots > 1) {
    if (dim == 0) {
      kshot_a = Conv2d(shots, shots, 1, false, o);
      if (values) kshot_a.weight.fill_(1.0 / double(shots));
    } else {
      kshot_a = Conv2d(shots, dim, 1, true, o);
      kshot_b = Conv2d(dim, shots, 1, true, o);
    }
  }
}

at::Tensor EnsembleHeads::shot_weights(const at::Tensor& est_total, bool scatter_back) const {
  if (shots == 1) return at::ones_like(est_total);
  auto [val1, idx1] = est_total.sort(1);
  at::Tensor w = kshot_a(val1);
  if (kshot_dim > 0) w = kshot_b(at::relu(w));
  if (scatter_back) w = w.gather(1, std::get<1>(idx1.sort(1)));  // idx2 = argsort(idx1)
  return at::softmax(w, 1);
}

at::Tensor EnsembleHeads::ensemble(const at::Tensor& meta_out, const at::Tensor& base_out, const at::Tensor& est_val) const {
  at::Tensor meta_soft = meta_out.softmax(1), base_soft = base_out.softmax(1);
  at::Tensor base_map = base_soft.narrow(1, 1, base_soft.size(1) - 1).sum(1, true);
  at::Tensor est_map = est_val.expand_as(meta_soft.narrow(1, 1, 1));
  at::Tensor meta_bg = gram_merge(at::cat({meta_soft.narrow(1, 0, 1), est_map}, 1));
  at::Tensor meta_fg = gram_merge(at::cat({meta_soft.narrow(1, 1, 1), est_map}, 1));
  at::Tensor merge_bg = cls_merge(at::cat({meta_bg, base_map}, 1));
  return at::cat({merge_bg, meta_fg}, 1);
}

void EnsembleHeads::collect(std::vector<NamedTensor>& out) {
  gram_merge.collect(out, "gram_merge");
  cls_merge.collect(out, "cls_merge");
  if (shots == 1) return;
  if (kshot_dim == 0) {
    kshot_a.collect(out, "kshot_rw");
  } else {
    kshot_a.collect(out, "kshot_rw.0");
    kshot_b.collect(out, "kshot_rw.2");
  }
}

BAMOutput BAM::forward(const at::Tensor& x, const at::Tensor& s_x, const at::Tensor& s_y, BAMTrace* trace) const {
  if (x.dim() != 4 || s_x.dim() != 5 || s_y.dim() != 4)
    throw std::invalid_argument("BAM: expected query [B, 3, S, S], supports [B, K, 3, S, S], masks [B, K, S, S]");
  const int64_t B = x.size(0), K = s_x.size(1), S = x.size(2);
  if (K != shots_)
    throw std::invalid_argument("BAM: this model was built for " + std::to_string(shots_) + " shot(s) (kshot_rw), got " +
                                std::to_string(K) + " support(s)");
  if (s_x.size(0) != B || s_y.size(0) != B || s_y.size(1) != K || x.size(3) != S || s_x.size(3) != S ||
      s_x.size(4) != S || s_y.size(2) != S || s_y.size(3) != S)
    throw std::invalid_argument("BAM: the query, supports and masks must share one square size");

  // Query and supports through layer0..layer3 in one batch: rows [0, B) query, then B*K supports.
  // Channels-last activations for oneDNN (see move_to_inference_layout).
  at::Tensor all = at::cat({x, s_x.reshape({B * K, 3, S, S})}).contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor f2 = trunk_.layer(2, trunk_.layer(1, trunk_.layer0(all)));
  at::Tensor f3 = trunk_.layer(3, f2);
  const int64_t s = f3.size(2);
  at::Tensor mask_full = s_y.reshape({B * K, 1, S, S}).eq(1).to(x.scalar_type());
  at::Tensor mask = resize_bilinear_ac(mask_full, s, f3.size(3));
  // The supports' layer4 feeds only the prior, which reads it inside the mask: computed there
  // (layer4_inside), unless a trace asks for the official values everywhere.
  at::Tensor q4 = trunk_.layer(4, f3.narrow(0, 0, B));
  at::Tensor s3 = f3.narrow(0, B, B * K) * mask;
  at::Tensor s4 = trunk_.layer4_inside(s3, mask);

  at::Tensor f23 = at::cat({f3, f2}, 1);
  at::Tensor query_feat = at::relu(down_query_(f23.narrow(0, 0, B)));
  at::Tensor supp_feat = at::relu(down_supp_(f23.narrow(0, B, B * K)));
  at::Tensor supp_pro = weighted_gap(supp_feat, mask);  // [B*K, 256, 1, 1]

  // Gram distances (low_fea = layer2) and the shots' weights.
  at::Tensor q_gram = gram_matrix(f2.narrow(0, 0, B));
  at::Tensor s2 = f2.narrow(0, B, B * K).reshape({B, K, f2.size(1), f2.size(2), f2.size(3)});
  std::vector<at::Tensor> est;
  for (int64_t k = 0; k < K; ++k) est.push_back(gram_distance(q_gram, s2.select(1, k)).reshape({B, 1, 1, 1}));
  at::Tensor est_total = at::cat(est, 1);
  at::Tensor weight_soft = heads_.shot_weights(est_total, /*scatter_back=*/true);
  at::Tensor est_val = (weight_soft * est_total).sum(1, true);

  // Prior masks from layer4, weighted over the shots.
  // (The official code resizes the full mask to layer4's size: layer3's, i.e. `mask`.)
  at::Tensor s4k = s4.reshape({B, K, s4.size(1), s4.size(2), s4.size(3)});
  at::Tensor mk = mask.reshape({B, K, 1, s4.size(2), s4.size(3)});
  std::vector<at::Tensor> priors;
  for (int64_t k = 0; k < K; ++k) {
    at::Tensor p = prior_mask(q4, s4k.select(1, k), mk.select(1, k));
    priors.push_back(resize_bilinear_ac(p, f3.size(2), f3.size(3)));
  }
  at::Tensor prior = (weight_soft * at::cat(priors, 1)).sum(1, true);

  // Weighted prototype: [B, 256, K, 1] weighted over K.
  at::Tensor pro = supp_pro.reshape({B, K, 256, 1}).permute({0, 2, 1, 3});
  pro = (weight_soft.permute({0, 2, 1, 3}) * pro).sum(2, true);

  at::Tensor merge = at::relu(init_merge_(at::cat({query_feat, pro.expand_as(query_feat), prior}, 1)));
  at::Tensor base_out = trunk_.base_logits(q4);
  at::Tensor meta = at::relu(res1_(aspp_.forward(merge)));
  meta = at::relu(res2b_(at::relu(res2a_(meta)))) + meta;
  at::Tensor meta_out = cls_meta_b_(at::relu(cls_meta_a_(meta)));

  at::Tensor final_feat = heads_.ensemble(meta_out, base_out, est_val);

  if (trace) {
    trace->query_layer4 = q4;
    trace->support_layer4 = trunk_.layer(4, s3);
    trace->query_feat = query_feat;
    trace->support_feat = supp_feat;
    trace->est_shots = est_total.reshape({B, K});
    trace->weight_soft = weight_soft.reshape({B, K});
    trace->est_val = est_val.reshape({B});
    trace->prior = prior;
    trace->prototype = pro.reshape({B, 256, 1, 1});
    trace->merge_feat = merge;
    trace->base_logits = base_out;
    trace->meta_logits = meta_out;
    trace->final_feat = final_feat;
  }
  // zoom_factor 8: int((S - 1) / 8 * 8 + 1) = S, the input size.
  return {resize_bilinear_ac(final_feat, S, S), resize_bilinear_ac(meta_out, S, S), resize_bilinear_ac(base_out, S, S)};
}

std::vector<NamedTensor> BAM::named_tensors() {
  std::vector<NamedTensor> out = trunk_.named_tensors(PSPNetNames::bam());
  down_query_.collect(out, "down_query.0");
  down_supp_.collect(out, "down_supp.0");
  init_merge_.collect(out, "init_merge.0");
  aspp_.collect(out, "ASPP_meta");
  res1_.collect(out, "res1_meta.0");
  res2a_.collect(out, "res2_meta.0");
  res2b_.collect(out, "res2_meta.2");
  cls_meta_a_.collect(out, "cls_meta.0");
  cls_meta_b_.collect(out, "cls_meta.3");
  heads_.collect(out);
  return out;
}

void BAM::to(at::Device device, at::ScalarType dtype) {
  move_to_inference_layout(named_tensors(), device, dtype);
  trunk_.fold_batchnorm();
}

}  // namespace difss::fss
