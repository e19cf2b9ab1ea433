#include <difss/fss/bench.hpp>
#include <difss/core/threads.hpp>

#include "engine_args.hpp"

#include <difss/data/dataset.hpp>
#include <difss/data/episodes.hpp>
#include <difss/data/metrics.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace difss::fss {

namespace {
at::Tensor from_mat(const cv::Mat& m) {
  cv::Mat c = m.isContinuous() ? m : m.clone();
  std::vector<int64_t> shape{c.rows, c.cols};
  if (c.channels() > 1) shape.push_back(c.channels());
  return at::from_blob(c.data, shape, at::kByte).clone();
}
cv::Mat to_mat(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return cv::Mat(int(c.size(0)), int(c.size(1)), CV_8UC1, c.data_ptr()).clone();
}
}  // namespace

int run_segmenter_eval(int argc, char** argv) {
  CLI::App app{"Evaluates a few-shot segmenter (mIoU, FB-IoU as HSNet) on fixed episodes"};
  std::string kind = "prototype", dataset_kind, root, sampling = "distinct", json_out;
  std::vector<std::string> params, options;
  int shots = 1;
  size_t episodes = 0;
  uint64_t seed = 0;
  int threads = 0;
  app.add_option("--segmenter", kind, "hsnet | prototype")->capture_default_str();
  app.add_option("--param,-p", params, "segmenter setting key=value (plugin parameter names)");
  app.add_option("--dataset", dataset_kind, "dataset kind (yolo-seg, folder, pascal5i, ...)")->required();
  app.add_option("--root", root, "dataset root")->required();
  app.add_option("--option,-o", options, "dataset option key=value");
  app.add_option("--shots", shots, "K")->capture_default_str();
  app.add_option("--episodes", episodes, "episode count (0 = the dataset's default)")->capture_default_str();
  app.add_option("--seed", seed, "episode seed")->capture_default_str();
  app.add_option("--sampling", sampling, "support sampling: hsnet | distinct")->capture_default_str();
  app.add_option("--json", json_out, "write the per-class results here");
  app.add_option("--threads", threads, "intra-op threads of LibTorch and OpenCV (0 = their defaults)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (threads > 0) {
    difss::configure_threads(threads);  // the process's one thread setting
    cv::setNumThreads(threads);
  }
  try {
    std::map<std::string, std::string> kv;
    for (const auto& p : params) kv.insert(split_key_value(p));
    data::DatasetConfig cfg;
    cfg.kind = dataset_kind;
    cfg.root = root;
    cfg.shots = shots;
    for (const auto& o : options) cfg.options.insert(split_key_value(o));
    auto ds = data::open_dataset(cfg);
    auto eps = data::make_episodes(*ds, episodes ? episodes : ds->default_episode_count(), seed, shots,
                                   data::parse_support_sampling(sampling));
    auto engine = engine_from_args(kind, kv);
    std::vector<int> classes;
    for (const auto& c : ds->classes()) classes.push_back(c.id);
    data::IoUAccumulator acc(classes), all_fg(classes), all_bg(classes);
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& ep : eps) {
      at::Tensor q = from_mat(ds->load_image(ep.query));
      std::vector<Shot> sh;
      for (size_t s : ep.supports) sh.push_back({from_mat(ds->load_image(s)), from_mat(ds->load_mask(s, ep.class_id))});
      cv::Mat gt = ds->load_mask(ep.query, ep.class_id);
      Segmentation r = engine->segment(q, sh);
      acc.add(ep.class_id, to_mat(r.mask), gt);
      all_fg.add(ep.class_id, cv::Mat(gt.size(), CV_8UC1, cv::Scalar(1)), gt);
      all_bg.add(ep.class_id, cv::Mat(gt.size(), CV_8UC1, cv::Scalar(0)), gt);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("dataset %s (%s), %zu classes, %zu episodes, %d-shot, seed %llu, %s sampling\n", dataset_kind.c_str(),
                root.c_str(), classes.size(), eps.size(), shots, (unsigned long long)seed, sampling.c_str());
    std::printf("  %-14s mIoU %6.2f  FB-IoU %6.2f   (%.2f episodes/s)\n", kind.c_str(), 100 * acc.miou(), 100 * acc.fbiou(),
                double(eps.size()) / secs);
    std::printf("  %-14s mIoU %6.2f  FB-IoU %6.2f\n", "all-foreground", 100 * all_fg.miou(), 100 * all_fg.fbiou());
    std::printf("  %-14s mIoU %6.2f  FB-IoU %6.2f\n", "all-background", 100 * all_bg.miou(), 100 * all_bg.fbiou());
    if (!json_out.empty()) {
      nlohmann::json j;
      j["segmenter"] = kind;
      j["params"] = kv;
      j["result"] = acc.to_json();
      j["all_foreground"] = all_fg.to_json();
      j["all_background"] = all_bg.to_json();
      std::ofstream(json_out) << j.dump(1) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace difss::fss
