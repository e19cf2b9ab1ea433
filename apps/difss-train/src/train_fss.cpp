// Training the tiny HSNet segmenter (plugins/segmenter/tiny-fss) on `synthetic`.
//
// Episodic, like HSNet's training: every step draws `batch` 1-shot episodes (a query and one
// support of the same class, distinct images) of the fold's 15 BASE classes from the training
// stream; loss = HSNet's cross-entropy of the decoder logits (resized to the input) against the
// query mask. Backbone and learner are trained together from scratch (there is no ImageNet
// backbone to start from); BatchNorm keeps fixed statistics, as HSNet's frozen backbone does.
// Evaluation: 1-shot episodes of the fold's 5 NOVEL classes on the evaluation stream, drawn and
// scored exactly as `difss-host --pipeline` does (data::make_episodes, HSNet's mIoU / FB-IoU).
#include <difss/train/train.hpp>

#include <difss/core/threads.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <difss/data/dataset.hpp>
#include <difss/data/episodes.hpp>
#include <difss/data/metrics.hpp>
#include <difss/data/synthetic.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/tiny/fss.hpp>
#include <difss/weights/save.hpp>

#include <chrono>
#include <filesystem>

#include "train_common.hpp"

namespace difss::train {

namespace {

constexpr std::uint64_t kPurposeEpisode = 0xF55E0001, kPurposeBaseEval = 0xF55E0002;

at::Tensor hwc(const cv::Mat& m) {
  return at::from_blob(m.data, {m.rows, m.cols, m.channels()}, at::kByte).clone();
}
at::Tensor hw(const cv::Mat& m) { return at::from_blob(m.data, {m.rows, m.cols}, at::kByte).clone(); }

struct Episodes {
  at::Tensor query, support, support_mask, query_mask;
};

Episodes make_batch(const FssTrainOptions& o, const std::vector<int>& classes, int step) {
  data::SyntheticDrawOptions draw;
  draw.size = 64;  // the dataset's images (seed 0, as a pipeline sees them); o.seed picks which
  std::vector<at::Tensor> q, s, sm, qm;
  const int64_t S = o.size;
  for (int i = 0; i < o.batch; ++i) {
    Stream r(o.seed, kPurposeEpisode, std::uint64_t(step) * std::uint64_t(o.batch) + std::uint64_t(i));
    const int cls = classes[r.below(classes.size())];
    const std::uint64_t nq = r.next() >> 20, ns = nq ^ (1 + (r.next() >> 40));  // distinct images
    cv::Mat qi, qmask, si, smask;
    data::draw_synthetic(cls, data::SyntheticStream::training, nq, draw, &qi, &qmask);
    data::draw_synthetic(cls, data::SyntheticStream::training, ns, draw, &si, &smask);
    q.push_back(fss::prepare_image(hwc(qi), S, S));
    s.push_back(fss::prepare_image(hwc(si), S, S));
    sm.push_back(fss::prepare_mask(hw(smask), S, S));
    qm.push_back(fss::prepare_mask(hw(qmask), S, S));
  }
  return {at::cat(q), at::cat(s), at::cat(sm), at::cat(qm)};
}

// 1-shot evaluation of `engine` on base classes, evaluation stream (episodes drawn directly).
double base_miou(fss::SegmenterEngine& engine, const std::vector<int>& classes, int episodes) {
  data::IoUAccumulator acc(classes);
  const data::SyntheticDrawOptions draw;
  for (int i = 0; i < episodes; ++i) {
    Stream r(0, kPurposeBaseEval, std::uint64_t(i));
    const int cls = classes[size_t(i) % classes.size()];
    const std::uint64_t nq = r.below(1000), ns = (nq + 1 + r.below(999)) % 1000;
    cv::Mat qi, qmask, si, smask;
    data::draw_synthetic(cls, data::SyntheticStream::evaluation, nq, draw, &qi, &qmask);
    data::draw_synthetic(cls, data::SyntheticStream::evaluation, ns, draw, &si, &smask);
    const fss::Segmentation seg = engine.segment(hwc(qi), {{hwc(si), hw(smask)}});
    cv::Mat pred(qmask.size(), CV_8UC1, seg.mask.data_ptr<uint8_t>());
    acc.add(cls, pred.clone(), qmask);
  }
  return acc.miou();
}

}  // namespace

FssEvaluation evaluate_fss(fss::SegmenterEngine& engine, int fold, int episodes) {
  FssEvaluation ev;
  data::DatasetConfig dc;
  dc.kind = "synthetic";
  dc.split = "val";
  dc.fold = fold;
  dc.shots = 1;
  // HSNet's sequential protocol takes queries in sample order: one image per episode and class.
  dc.options["images_per_class"] = std::to_string(std::max(2, (episodes + 4) / 5));
  const auto ds = data::open_dataset(dc);
  data::IoUAccumulator acc(ds->class_ids());
  data::EpisodeOptions eo;
  eo.count = size_t(episodes);
  eo.seed = 0;
  for (const data::Episode& ep : data::make_episodes(*ds, eo)) {
    const cv::Mat qi = ds->load_image(ep.query), gt = ds->load_mask(ep.query, ep.class_id);
    std::vector<fss::Shot> shots;
    for (size_t s : ep.supports) shots.push_back({hwc(ds->load_image(s)), hw(ds->load_mask(s, ep.class_id))});
    const fss::Segmentation seg = engine.segment(hwc(qi), shots);
    cv::Mat pred(gt.size(), CV_8UC1, seg.mask.data_ptr<uint8_t>());
    acc.add(ep.class_id, pred.clone(), gt);
  }
  ev.novel_miou = acc.miou();
  ev.novel_fbiou = acc.fbiou();
  for (const auto& pc : acc.per_class()) ev.novel_per_class.push_back(pc.iou_fg);
  ev.base_miou = base_miou(engine, data::synthetic_split_classes("trn", fold), episodes);
  return ev;
}

FssEvaluation evaluate_fss_checkpoint(const std::string& checkpoint, int fold, int episodes) {
  tiny::TinyFss m = tiny::load_tiny_fss(checkpoint);
  return evaluate_fss(*m.engine, fold, episodes);
}

FssTrainResult train_fss(const FssTrainOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.steps < 1 || o.batch < 1) throw std::invalid_argument("train fss: steps and batch must be >= 1");
  configure_threads(std::max(1, o.threads));  // no-op when the process has set its threads
  at::manual_seed(o.seed);
  tiny::TinyFssConfig cfg;
  cfg.image_size = o.size;
  cfg.fold = o.fold;
  const std::vector<int> base = data::synthetic_split_classes("trn", o.fold);
  std::unique_ptr<fss::HSNet> net = tiny::make_tiny_hsnet(cfg);
  tiny::init_tiny_hsnet(*net, o.seed);
  std::vector<at::Tensor> params;
  for (const fss::NamedTensor& nt : net->named_tensors())
    if (nt.trainable) {
      nt.tensor->requires_grad_(true);
      params.push_back(*nt.tensor);
    }
  Adam opt(params, 1e-4);
  FssTrainResult r;
  for (int step = 0; step < o.steps; ++step) {
    const Episodes b = make_batch(o, base, step);
    opt.zero_grad();
    const at::Tensor logits = net->forward(b.query, b.support, b.support_mask);
    const at::Tensor loss = fss::hsnet_loss(fss::upsample_logits(logits, {o.size, o.size}), b.query_mask);
    loss.backward();
    opt.clip_grad_norm(5.0);
    opt.step(lr_at(step, o.steps, o.warmup, o.lr));
    r.log.loss.push_back(loss.item<double>());
    if (o.on_step) o.on_step(step, r.log.loss.back());
  }
  r.final_loss = r.log.mean_last(50);
  // The committed file stores float16 (HSNet's learner alone has ~2.6 M parameters); evaluate
  // exactly those weights.
  weights::StateDict sd;
  for (const fss::NamedTensor& nt : net->named_tensors()) {
    const at::Tensor half = nt.tensor->detach().to(at::kHalf).contiguous();
    *nt.tensor = half.to(at::kFloat);
    sd.insert(nt.name, half);
  }
  fss::HSNetEngine engine(std::move(net), o.size);

  if (o.eval_episodes > 0) {
    const FssEvaluation ev = evaluate_fss(engine, o.fold, o.eval_episodes);
    r.novel_miou = ev.novel_miou;
    r.novel_fbiou = ev.novel_fbiou;
    r.base_miou = ev.base_miou;
  }
  if (!o.out.empty()) {
    std::filesystem::create_directories(o.out);
    weights::save_safetensors(std::filesystem::path(o.out) / "tiny_fss.safetensors", sd,
                              {{tiny::kMetaFssConfig, cfg.to_json()}});
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace difss::train
