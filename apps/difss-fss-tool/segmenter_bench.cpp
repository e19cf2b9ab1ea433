#include "segmenter_bench.hpp"
#include <difss/conv/winograd.hpp>
#include <difss/core/threads.hpp>

#include "engine_args.hpp"

#include <difss/profile/op_profile.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <opencv2/core.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/resource.h>

namespace difss::fss {

namespace {

long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.compare(0, k.size(), k) == 0) return std::atol(line.c_str() + k.size());
  return -1;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// A query/support with some structure (a disc on noise), fixed seed.
Shot synthetic_shot(int64_t h, int64_t w, int64_t k) {
  at::Generator gen = at::detail::createCPUGenerator(1234 + uint64_t(k));
  at::Tensor img = at::randint(0, 256, {h, w, 3}, gen, at::TensorOptions().dtype(at::kLong)).to(at::kByte);
  at::Tensor yy = at::arange(h).view({h, 1}).to(at::kFloat), xx = at::arange(w).view({1, w}).to(at::kFloat);
  at::Tensor disc = ((yy - h * 0.5).pow(2) + (xx - w * (0.3 + 0.1 * k)).pow(2)) < (0.25 * h) * (0.25 * h);
  img.index_put_({disc}, at::tensor(std::vector<uint8_t>{200, 60, 40}, at::kByte));
  return {img, disc.to(at::kByte)};
}

std::string default_onnx() {
  const char* env = std::getenv("DIFSS_SHARED_DIR");
  std::filesystem::path shared = env && *env ? env : "../shared";
  return (shared / "weights/mobilenetv2/mobilenetv2-12-int8.onnx").string();
}

}  // namespace

int run_segmenter_bench(int argc, char** argv) {
  CLI::App app{"Speed and memory of the FSS segmenters (synthetic 480x640 inputs)"};
  int threads = 0, episodes = 3;
  std::vector<std::string> configs{"hsnet-r50", "proto-mbv2", "proto-r50"};
  std::vector<int> shots{1, 5};
  std::string onnx = default_onnx(), mbv2_layers, r50_layers = "layer2,layer3";
  int64_t mbv2_size = 0, r50_size = 0;
  bool profile = false;
  std::string conv_algorithm;
  app.add_option("--threads", threads, "intra-op threads (0 = LibTorch's default)");
  app.add_option("--episodes", episodes, "timed episodes per configuration (after one warm-up)")->capture_default_str();
  app.add_option("--config", configs, "hsnet-r50 | proto-mbv2 | proto-r50 | bam | hdmnet (BAM/HDMNet at 473, random weights, K-shot models)")->capture_default_str();
  app.add_option("--shots", shots, "shot counts")->capture_default_str();
  app.add_option("--onnx", onnx, "MobileNetV2 ONNX file")->capture_default_str();
  app.add_option("--mbv2-layers", mbv2_layers, "layers of the ONNX model (default: the plugin's)");
  app.add_option("--mbv2-size", mbv2_size, "input size for the ONNX model (default: the plugin's)");
  app.add_option("--r50-layers", r50_layers, "ResNet-50 layers")->capture_default_str();
  app.add_option("--r50-size", r50_size, "input size for ResNet-50 (default: the plugin's)");
  app.add_flag("--profile", profile, "print where each configuration's time goes, per ATen operator (timed episodes, calling thread)");
  app.add_option("--conv-algorithm", conv_algorithm,
                 "auto | direct | winograd: 3x3 convolutions through oneDNN's Winograd kernels where they pay, never, or "
                 "wherever eligible (as DIFSS_CONV_ALGORITHM; core/models/conv/README.md)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (threads > 0) {
    difss::configure_threads(threads);  // the process's one thread setting
    cv::setNumThreads(threads);
  }
  std::printf("threads: %d (LibTorch), %d (OpenCV); %d timed episodes after 1 warm-up; query/supports 480x640\n",
              at::get_num_threads(), cv::getNumThreads(), episodes);
  try {
    if (!conv_algorithm.empty()) difss::conv::set_conv_algorithm(conv_algorithm);
    std::printf("convolution algorithm: %s\n", difss::conv::conv_setting_summary().c_str());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "difss-fss-tool bench: %s\n", e.what());
    return 2;
  }
  // CPU s/episode (user + system, all threads) is robust on a loaded machine; wall-clock is what a
  // user waits.
  std::printf("%-12s %5s %10s %12s %16s %14s\n", "config", "shots", "episodes/s", "ms/episode", "CPU s/episode", "peak RSS (MB)");
  int failures = 0;
  for (const auto& cfg : configs) {
    for (int K : shots) {
      try {
        reset_peak_rss();
        std::unique_ptr<SegmenterEngine> engine;
        if (cfg == "hsnet-r50") {
          engine = engine_from_args("hsnet", {{"backbone", "resnet50"}, {"test_weights", "true"}, {"image_size", "400"}});
        } else if (cfg == "proto-mbv2") {
          std::map<std::string, std::string> kv{{"backbone", "onnx"}, {"model", onnx}, {"layers", mbv2_layers.empty() ? kDefaultMobileNetV2Layers : mbv2_layers}};
          kv["image_size"] = std::to_string(mbv2_size ? mbv2_size : kDefaultPrototypeSize);
          engine = engine_from_args("prototype", kv);
        } else if (cfg == "proto-r50") {
          engine = engine_from_args("prototype", {{"backbone", "resnet50"}, {"test_weights", "true"}, {"layers", r50_layers},
                                                  {"image_size", std::to_string(r50_size ? r50_size : kDefaultPrototypeSize)}});
        } else if (cfg == "bam" || cfg == "hdmnet") {
          engine = engine_from_args(cfg, {{"test_weights", "true"}, {"shots", std::to_string(K)}});
        } else {
          throw std::invalid_argument("unknown config '" + cfg + "'");
        }
        Shot q = synthetic_shot(480, 640, 0);
        std::vector<Shot> sup;
        for (int k = 1; k <= K; ++k) sup.push_back(synthetic_shot(480, 640, k));
        engine->segment(q.image, sup);  // warm-up
        std::unique_ptr<OpProfile> ops;
        if (profile) ops = std::make_unique<OpProfile>();
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        for (int e = 0; e < episodes; ++e) engine->segment(q.image, sup);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double cpu = (cpu_seconds() - c0) / episodes;
        std::printf("%-12s %5d %10.3f %12.1f %16.2f %14.1f\n", cfg.c_str(), K, episodes / s, 1000 * s / episodes, cpu,
                    status_kb("VmHWM") / 1024.0);
        if (ops) std::printf("%s\n", ops->table(s).c_str());
        std::fflush(stdout);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s, %d shots: %s\n", cfg.c_str(), K, e.what());
        ++failures;
      }
    }
  }
  return failures ? 1 : 0;
}

}  // namespace difss::fss
