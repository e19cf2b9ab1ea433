// Training-free matching segmenter (prototype.hpp).
#include <difss/fss/prototype.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace difss::fss {

namespace {

class BackboneExtractor final : public FeatureExtractor {
 public:
  BackboneExtractor(std::shared_ptr<Backbone> bb, std::vector<std::string> layers)
      : bb_(std::move(bb)), layers_(std::move(layers)) {
    if (layers_.empty()) throw std::invalid_argument("no layers given");
    const auto names = bb_->tap_names();
    for (const auto& l : layers_)
      if (std::find(names.begin(), names.end(), l) == names.end()) {
        std::string msg = "unknown layer '" + l + "' of " + bb_->name() + "; layers are:";
        for (const auto& n : names) msg += " " + n;
        throw std::invalid_argument(msg);
      }
  }
  std::vector<at::Tensor> extract(const at::Tensor& images) override {
    auto f = bb_->taps(images, layers_);
    for (auto& t : f) t = t.to(at::kFloat);
    return f;
  }
  std::vector<std::string> layers() const override { return layers_; }

 private:
  std::shared_ptr<Backbone> bb_;
  std::vector<std::string> layers_;
};

at::Tensor l2_normalize(const at::Tensor& x, int64_t dim) {
  return x / (at::norm(x, 2, {dim}, /*keepdim=*/true) + 1e-5);
}

// Masks [K, H, W] resized to a feature's size (bilinear, align_corners=True, as HSNet).
at::Tensor to_feature_size(const at::Tensor& m, int64_t h, int64_t w) {
  return at::upsample_bilinear2d(m.unsqueeze(1), {h, w}, /*align_corners=*/true).squeeze(1);
}

// Best cosine match of every query pixel among the selected support pixels, in chunks of query
// pixels to bound memory. qn: [C, Q] normalised; sn: [C, P] normalised. Returns [Q] (-1 if P = 0).
at::Tensor best_match(const at::Tensor& qn, const at::Tensor& sn) {
  const int64_t Q = qn.size(1);
  if (sn.size(1) == 0) return at::full({Q}, -1.0f, qn.options());
  std::vector<at::Tensor> parts;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 24) / sn.size(1));
  for (int64_t s = 0; s < Q; s += chunk) {
    const int64_t n = std::min(chunk, Q - s);
    parts.push_back(std::get<0>(at::matmul(qn.narrow(1, s, n).t(), sn).max(1)));
  }
  return at::cat(parts);
}

}  // namespace

std::unique_ptr<FeatureExtractor> make_backbone_extractor(std::shared_ptr<Backbone> backbone,
                                                          std::vector<std::string> layers) {
  return std::make_unique<BackboneExtractor>(std::move(backbone), std::move(layers));
}

double otsu_threshold(const at::Tensor& x) {
  at::Tensor v = x.reshape({-1}).to(at::kDouble);
  const double lo = v.min().item<double>(), hi = v.max().item<double>();
  if (!(hi > lo)) return lo;
  const int bins = 256;
  at::Tensor hist = at::histc(v, bins, lo, hi);
  auto h = hist.accessor<double, 1>();
  double total = 0, sum_all = 0;
  for (int i = 0; i < bins; ++i) {
    total += h[i];
    sum_all += i * h[i];
  }
  double w0 = 0, sum0 = 0, best = -1;
  int best_i = 0;
  for (int i = 0; i < bins; ++i) {
    w0 += h[i];
    sum0 += i * h[i];
    const double w1 = total - w0;
    if (w0 <= 0 || w1 <= 0) continue;
    const double m0 = sum0 / w0, m1 = (sum_all - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) best = between, best_i = i;
  }
  // Upper edge of the last bin of the lower class.
  return lo + (hi - lo) * double(best_i + 1) / bins;
}

PrototypeResult match_features(const std::vector<at::Tensor>& qf, const std::vector<at::Tensor>& sf,
                               const at::Tensor& fg, const at::Tensor& valid, std::array<int64_t, 2> out,
                               const PrototypeOptions& opt, const std::vector<double>& shot_weights) {
  if (qf.empty() || qf.size() != sf.size()) throw std::invalid_argument("match_features: layer counts differ");
  const int64_t K = sf[0].size(0);
  if (fg.size(0) != K || valid.size(0) != K) throw std::invalid_argument("match_features: masks and shots differ");
  if (!shot_weights.empty() && int64_t(shot_weights.size()) != K)
    throw std::invalid_argument("match_features: " + std::to_string(shot_weights.size()) + " weights for " +
                                std::to_string(K) + " shots");
  const bool weighted = std::any_of(shot_weights.begin(), shot_weights.end(), [](double w) { return w != 1.0; });
  const at::Tensor shot_w = weighted ? at::tensor(shot_weights, at::kDouble).to(at::kFloat) : at::Tensor();
  at::Tensor sum_fg, sum_bg;
  for (size_t l = 0; l < qf.size(); ++l) {
    const int64_t C = qf[l].size(1), h = qf[l].size(2), w = qf[l].size(3);
    const int64_t hs = sf[l].size(2), ws = sf[l].size(3);
    if (sf[l].size(1) != C) throw std::invalid_argument("match_features: channel counts differ");
    at::Tensor qn = l2_normalize(qf[l][0].reshape({C, h * w}), 0);           // [C, Q]
    at::Tensor s = sf[l].reshape({K, C, hs * ws});                               // [K, C, P]
    at::Tensor m = to_feature_size(fg, hs, ws).reshape({K, 1, hs * ws});
    at::Tensor v = to_feature_size(valid, hs, ws).reshape({K, 1, hs * ws});
    at::Tensor wfg = m * v, wbg = (1 - m) * v;
    at::Tensor s_fg, s_bg;
    if (opt.matching != PrototypeOptions::Matching::nearest) {
      // Per side: the unit prototype (mean fusion) or the per-shot unit prototypes (max fusion).
      auto protos = [&](const at::Tensor& wt) -> at::Tensor {
        at::Tensor area = wt.sum({1, 2});                                           // [K]
        at::Tensor proto = (s * wt).sum(2) / (area.unsqueeze(1) + 1e-6);             // [K, C]
        at::Tensor has = area > 1e-3;
        if (!has.any().item<bool>()) return at::Tensor();
        if (opt.fusion == PrototypeOptions::Fusion::mean) {
          if (!weighted) return l2_normalize(proto.index({has}).mean(0, true), 1);
          const at::Tensor w = shot_w.index({has}).unsqueeze(1);                      // [K', 1]
          return l2_normalize((proto.index({has}) * w).sum(0, true) / w.sum(), 1);
        }
        return l2_normalize(proto.index({has}), 1);                                  // [K', C]
      };
      auto sim = [&](const at::Tensor& p) {
        if (!p.defined()) return at::full({h * w}, -1.0f, qn.options());
        return std::get<0>(at::matmul(p, qn).max(0));                               // [Q]
      };
      at::Tensor pf = protos(wfg), pb = protos(wbg);
      s_fg = sim(pf);
      if (opt.matching == PrototypeOptions::Matching::hybrid) {
        at::Tensor sn = l2_normalize(s, 1).permute({1, 0, 2}).reshape({C, K * hs * ws});
        s_bg = best_match(qn, sn.index({at::indexing::Slice(), wbg.reshape({-1}) >= 0.5}));
        pb = at::Tensor();  // no refinement of a nearest-neighbour background
      } else {
        s_bg = sim(pb);
      }
      at::Tensor qraw = qf[l][0].reshape({C, h * w}).to(at::kFloat);
      for (int round = 0; round < opt.refine && pf.defined() && pb.defined(); ++round) {
        at::Tensor pred = s_fg > s_bg;
        const int64_t nf = pred.sum().item<int64_t>();
        if (nf == 0 || nf == h * w) break;
        at::Tensor qfg = l2_normalize(qraw.index({at::indexing::Slice(), pred}).mean(1).unsqueeze(0), 1);
        at::Tensor qbg = l2_normalize(qraw.index({at::indexing::Slice(), ~pred}).mean(1).unsqueeze(0), 1);
        at::Tensor rf = l2_normalize(0.5 * pf + 0.5 * qfg, 1), rb = l2_normalize(0.3 * pb + 0.7 * qbg, 1);
        s_fg = sim(rf);
        s_bg = sim(rb);
      }
    } else {
      at::Tensor sn = l2_normalize(s, 1).permute({1, 0, 2}).reshape({C, K * hs * ws});  // [C, K*P]
      at::Tensor sel_fg = wfg.reshape({-1}) >= 0.5, sel_bg = wbg.reshape({-1}) >= 0.5;
      s_fg = best_match(qn, sn.index({at::indexing::Slice(), sel_fg}));
      s_bg = best_match(qn, sn.index({at::indexing::Slice(), sel_bg}));
    }
    auto up = [&](const at::Tensor& x) {
      return at::upsample_bilinear2d(x.view({1, 1, h, w}), {out[0], out[1]}, /*align_corners=*/true)[0][0];
    };
    at::Tensor uf = up(s_fg), ub = up(s_bg);
    sum_fg = sum_fg.defined() ? sum_fg + uf : uf;
    sum_bg = sum_bg.defined() ? sum_bg + ub : ub;
  }
  const double L = double(qf.size());
  PrototypeResult r;
  r.s_fg = (sum_fg / L).contiguous();
  r.score = ((sum_fg - sum_bg) / L).contiguous();
  at::Tensor margin;
  switch (opt.rule) {
    case PrototypeOptions::Rule::fg_vs_bg: margin = r.score; break;
    case PrototypeOptions::Rule::otsu: margin = r.s_fg - otsu_threshold(r.s_fg); break;
    case PrototypeOptions::Rule::threshold: margin = r.s_fg - opt.threshold; break;
  }
  r.mask = (margin > 0).to(at::kByte).contiguous();
  r.prob = at::sigmoid(margin * opt.temperature).contiguous();
  // sigmoid can round to exactly 0.5 for tiny margins; keep mask == (prob > 0.5) exact.
  r.prob = at::where(r.mask.to(at::kBool), r.prob.clamp_min(std::nextafter(0.5f, 1.0f)),
                     r.prob.clamp_max(0.5f));
  return r;
}

}  // namespace difss::fss
