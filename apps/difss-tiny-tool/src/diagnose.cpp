// `difss-tiny-tool diagnose`: why auxiliary supports do or do not help the tiny segmenter on the
// synthetic varied world. Over 1-shot episodes of the fold's novel classes (evaluation stream):
//   - the segmenter's appearance sensitivity: 1-shot IoU of the episodes whose support and query
//     objects have the most alike colours (lowest third of the colour-histogram distance) vs the
//     least alike (highest third);
//   - generated supports as supports: the IoU with ONE generated image (its control = the real
//     support's mask) in place of the real support, and the IoU with a second REAL image of the
//     class in its place (what a perfect generator would give);
//   - the colour distance from the query to the real support, to the closest of 4 generated
//     images, and to the closest of 4 other real images of the class (does the generator cover
//     the query's appearance the way more real images do?).
#include <difss/train/train.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/condition/ade_tables.hpp>
#include <difss/core/threads.hpp>
#include <difss/data/metrics.hpp>
#include <difss/data/synthetic.hpp>
#include <difss/tiny/diffusion.hpp>
#include <difss/tiny/fss.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "train_common.hpp"

namespace difss::train {

namespace {

constexpr std::uint64_t kPurposeDiagnose = 0xD1A60001;

at::Tensor hwc(const cv::Mat& m) { return at::from_blob(m.data, {m.rows, m.cols, 3}, at::kByte).clone(); }
at::Tensor hw(const cv::Mat& m) { return at::from_blob(m.data, {m.rows, m.cols}, at::kByte).clone(); }

double iou_of(fss::HSNetEngine& e, const cv::Mat& q, const cv::Mat& qm, const cv::Mat& s, const cv::Mat& sm) {
  const fss::Segmentation seg = e.segment(hwc(q), {{hwc(s), hw(sm)}});
  const cv::Mat pred(qm.size(), CV_8UC1, seg.mask.data_ptr<uint8_t>());
  return mask_iou(pred.clone(), qm);
}

double mean(const std::vector<double>& v) { return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

}  // namespace

int run_diagnose(const DiagnoseOptions& o) {
  configure_threads(1);
  c10::InferenceMode guard;
  tiny::TinyFss seg = tiny::load_tiny_fss(o.segmenter);
  tiny::TinyDiffusion gen = tiny::load_tiny_diffusion(o.generator);
  data::SyntheticDrawOptions draw;
  draw.world = data::synthetic_world(o.world);
  const std::vector<int> classes = data::synthetic_split_classes("val", o.fold);
  struct Row {
    double dist_support, iou_real, iou_generated, iou_other_real, dist_best_generated, dist_best_real;
  };
  std::vector<Row> rows;
  for (int i = 0; i < o.episodes; ++i) {
    Stream r(o.seed, kPurposeDiagnose, std::uint64_t(i));
    const int cls = classes[size_t(i) % classes.size()];
    auto image = [&](std::uint64_t n, cv::Mat& rgb, cv::Mat& m) {
      data::draw_synthetic(cls, data::SyntheticStream::evaluation, n, draw, &rgb, &m);
    };
    const std::uint64_t base = 10000 + 10 * std::uint64_t(i);
    cv::Mat q, qm, s, sm, s2, sm2;
    image(base, q, qm);
    image(base + 1, s, sm);
    image(base + 2, s2, sm2);
    const auto hq = colour_histogram(q, qm);
    Row row{};
    row.dist_support = histogram_distance(hq, colour_histogram(s, sm));
    row.iou_real = iou_of(*seg.engine, q, qm, s, sm);
    row.iou_other_real = iou_of(*seg.engine, q, qm, s2, sm2);
    const std::string name = gen.class_names[size_t(cls - 1)];
    const cv::Mat ctl = palette_control(sm, condition::ade::palette(condition::ade::hashed_index(name)));
    tiny::TinySampleRequest req;
    req.control = at::from_blob(ctl.data, {ctl.rows, ctl.cols, 3}, at::kByte).clone();
    req.row = cls;
    req.count = 4;
    req.seed = r.next();
    const at::Tensor imgs = tiny::sample_tiny(gen, req);
    row.dist_best_generated = row.dist_best_real = 1e9;
    for (int k = 0; k < 4; ++k) {
      const cv::Mat g = tensor_to_image(imgs[k]);
      if (k == 0) row.iou_generated = iou_of(*seg.engine, q, qm, g, sm);
      row.dist_best_generated = std::min(row.dist_best_generated, histogram_distance(hq, colour_histogram(g, sm)));
      cv::Mat o_rgb, o_m;
      image(base + 3 + std::uint64_t(k), o_rgb, o_m);
      row.dist_best_real = std::min(row.dist_best_real, histogram_distance(hq, colour_histogram(o_rgb, o_m)));
    }
    rows.push_back(row);
  }
  std::vector<Row> sorted = rows;
  std::sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) { return a.dist_support < b.dist_support; });
  const size_t third = sorted.size() / 3;
  std::vector<double> alike, unlike;
  for (size_t k = 0; k < third; ++k) alike.push_back(sorted[k].iou_real), unlike.push_back(sorted[sorted.size() - 1 - k].iou_real);
  auto col = [&](double Row::*f) {
    std::vector<double> v;
    for (const Row& r : rows) v.push_back(r.*f);
    return mean(v);
  };
  const nlohmann::json j = {
      {"episodes", rows.size()},
      {"world", o.world},
      {"what", "1-shot episodes of the fold's novel classes (evaluation stream); IoU = foreground IoU of one "
               "episode; distance = total-variation distance of 4x4x4 RGB histograms inside the masks"},
      {"iou_real_support", col(&Row::iou_real)},
      {"iou_real_support_alike_third", mean(alike)},
      {"iou_real_support_unlike_third", mean(unlike)},
      {"iou_generated_image_as_support", col(&Row::iou_generated)},
      {"iou_other_real_image_as_support", col(&Row::iou_other_real)},
      {"distance_query_to_support", col(&Row::dist_support)},
      {"distance_query_to_closest_of_4_generated", col(&Row::dist_best_generated)},
      {"distance_query_to_closest_of_4_other_real", col(&Row::dist_best_real)}};
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

}  // namespace difss::train
