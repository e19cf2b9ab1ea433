// Training the tiny HSNet segmenter (plugins/segmenter/tiny-fss) on `synthetic`.
//
// Episodic, like HSNet's training: every step draws `batch` 1-shot episodes (a query and one
// support of the same class, distinct images) of the fold's 15 BASE classes from the training
// stream; loss = HSNet's cross-entropy of the decoder logits (resized to the input) against the
// query mask. Backbone and learner are trained together from scratch (there is no ImageNet
// backbone to start from); BatchNorm keeps fixed statistics, as HSNet's frozen backbone does.
// Evaluation: 1-shot episodes of the fold's 5 NOVEL classes on the evaluation stream, run by the
// host's runner (difss::evaluate_segmenter: the tiny-fss plugin on the written checkpoint), so
// drawn and scored exactly as `difss-host --pipeline` does.
#include <difss/train/train.hpp>

#include <difss/core/threads.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <difss/core/evaluate.hpp>
#include <difss/data/metrics.hpp>
#include <difss/data/synthetic.hpp>
#include <difss/fss/image_prep.hpp>
#include <difss/tiny/fss.hpp>
#include <difss/weights/save.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>

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
  draw.world = data::synthetic_world(o.world);
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
double base_miou(fss::SegmenterEngine& engine, const std::vector<int>& classes, int episodes, data::SyntheticWorld world) {
  data::IoUAccumulator acc(classes);
  data::SyntheticDrawOptions draw;
  draw.world = world;
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

// A fresh folder under the system's temporary directory, removed with this object.
struct TempFolder {
  std::filesystem::path path;
  TempFolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "difss-tiny-eval-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary folder for the evaluation run");
    path = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

FssEvaluation evaluate_fss_checkpoint(const std::string& checkpoint, int fold, int episodes,
                                      const std::vector<std::string>& plugin_paths, const std::string& world) {
  // Novel classes: the runner's evaluation loop over the tiny-fss plugin with this checkpoint.
  SegmenterEvaluation e;
  e.name = "tiny-fss-evaluation";
  e.segmenter = "org.difss.segmenter.tiny-fss";
  e.params = {{"checkpoint", std::filesystem::absolute(checkpoint).string()}};
  e.dataset = "synthetic";
  e.split = "val";
  e.fold = fold;
  e.shots = 1;
  e.episodes = size_t(episodes);
  e.seed = 0;
  e.support_sampling = "hsnet";
  // HSNet's sequential protocol takes queries in sample order: one image per episode and class.
  e.options["images_per_class"] = std::to_string(std::max(2, (episodes + 4) / 5));
  e.options["query_order"] = "sequential";
  if (world != "classic") e.options["world"] = world;  // classic: the options the committed numbers used
  const TempFolder run_dir;
  e.output = run_dir.path / "run";
  DiscoveryOptions discovery;
  for (const auto& p : plugin_paths) discovery.plugin_paths.emplace_back(p);
  Registry registry;
  registry.discover(discovery);
  const nlohmann::json real = evaluate_segmenter(e, registry).at("metrics").at("real_only");
  FssEvaluation ev;
  ev.novel_miou = real.at("miou");
  ev.novel_fbiou = real.at("fbiou");
  for (const auto& pc : real.at("per_class")) ev.novel_per_class.push_back(pc.at("iou_fg"));
  // Base classes: images drawn directly from the evaluation stream (no dataset split holds them).
  tiny::TinyFss m = tiny::load_tiny_fss(checkpoint);
  ev.base_miou = base_miou(*m.engine, data::synthetic_split_classes("trn", fold), episodes, data::synthetic_world(world));
  return ev;
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
  // The evaluation runs the plugin on the written file: with no --out, a temporary one.
  std::optional<TempFolder> scratch;
  if (o.out.empty() && o.eval_episodes > 0) scratch.emplace();
  const std::filesystem::path folder = scratch ? scratch->path : std::filesystem::path(o.out);
  if (!folder.empty()) {
    std::filesystem::create_directories(folder);
    weights::save_safetensors(folder / "tiny_fss.safetensors", sd, {{tiny::kMetaFssConfig, cfg.to_json()}});
  }
  if (o.eval_episodes > 0) {
    const FssEvaluation ev =
        evaluate_fss_checkpoint((folder / "tiny_fss.safetensors").string(), o.fold, o.eval_episodes, o.plugin_paths, o.world);
    r.novel_miou = ev.novel_miou;
    r.novel_fbiou = ev.novel_fbiou;
    r.base_miou = ev.base_miou;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace difss::train
