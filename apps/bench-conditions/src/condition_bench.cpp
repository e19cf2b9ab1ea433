#include "condition_bench.hpp"

#include "hed_conditions.hpp"
#include "mask_scribble.hpp"
#include "seg_palette.hpp"
#include "softedge_pidinet.hpp"
#include "canny.hpp"

#include <difss/sdk/tensor_opencv.hpp>
#include <difss/weights/save.hpp>
#include <difss/core/threads.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <memory>
#include <ostream>
#include <sstream>
#include <thread>
#include <ctime>
#include <unistd.h>

namespace difss::bench {

namespace fs = std::filesystem;

namespace {

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of the whole process (all threads): less sensitive to a busy machine than wall time.
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// kB of a /proc/self/status field ("VmHWM", "VmRSS"), or -1.
long status_kb(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false where not allowed.
bool reset_peak() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  return bool(f);
}

template <class T>
std::unique_ptr<sdk::Condition> make(const std::vector<std::pair<std::string, difss_value>>& params) {
  const auto* d = sdk::detail::descriptor_of<T>();
  std::vector<difss_param> raw;
  for (const auto& kv : params) raw.push_back({sizeof(difss_param), kv.first.c_str(), kv.second});
  sdk::Params p(d->src.id, raw.data(), uint32_t(raw.size()));
  p.check_against(d->desc);
  return std::make_unique<T>(sdk::Host(nullptr, d->src.id), p);
}

difss_value int_v(int64_t v) {
  difss_value x{};
  x.type = DIFSS_PARAM_INT;
  x.i = v;
  return x;
}
difss_value path_v(const std::string& s) {
  difss_value x{};
  x.type = DIFSS_PARAM_PATH;
  x.s = s.c_str();
  return x;
}

struct DlView {
  std::vector<int64_t> shape;
  DLTensor t{};
  explicit DlView(const cv::Mat& m) {
    shape = {m.rows, m.cols};
    if (m.channels() > 1) shape.push_back(m.channels());
    t.data = m.data;
    t.device = {kDLCPU, 0};
    t.ndim = int32_t(shape.size());
    t.dtype = sdk::kU8;
    t.shape = shape.data();
  }
};

// Random weights in the official ControlNetHED.pth layout (fp16), written once to a temp file.
std::string random_hed_checkpoint() {
  fs::path file = fs::temp_directory_path() / ("difss-bench-hed-" + std::to_string(::getpid()) + ".safetensors");
  weights::StateDict sd("random ControlNetHED");
  sd.insert("norm", at::full({1, 3, 1, 1}, 120.0).to(at::kHalf));
  const int widths[5] = {64, 128, 256, 512, 512}, counts[5] = {2, 2, 3, 3, 3};
  int64_t in = 3;
  for (int b = 0; b < 5; ++b) {
    for (int i = 0; i < counts[b]; ++i) {
      std::string p = "block" + std::to_string(b + 1) + ".convs." + std::to_string(i) + ".";
      int64_t cin = i == 0 ? in : widths[b];
      sd.insert(p + "weight", (at::randn({widths[b], cin, 3, 3}) * std::sqrt(2.0 / (9 * cin))).to(at::kHalf));
      sd.insert(p + "bias", at::zeros({widths[b]}, at::kHalf));
    }
    std::string p = "block" + std::to_string(b + 1) + ".projection.";
    sd.insert(p + "weight", (at::randn({1, widths[b], 1, 1}) * 0.01).to(at::kHalf));
    sd.insert(p + "bias", at::zeros({1}, at::kHalf));
    in = widths[b];
  }
  weights::save_safetensors(file, sd);
  return file.string();
}

}  // namespace

int run_condition_bench(const ConditionBenchArgs& args, std::ostream& out) {
  // The bench plays the host: it sets LibTorch's thread count (plugins never do).
  difss::configure_threads(args.threads);  // 0 = all cores
  cv::Mat bgr = cv::imread(args.image, cv::IMREAD_COLOR);
  if (bgr.empty()) {
    out << "cannot read image " << args.image << "\n";
    return 1;
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  cv::Mat mask;
  if (!args.mask.empty()) {
    cv::Mat label = cv::imread(args.mask, cv::IMREAD_GRAYSCALE);
    if (label.empty() || label.size() != rgb.size()) {
      out << "cannot read mask " << args.mask << " (or its size differs from the image's)\n";
      return 1;
    }
    mask = (label > 0) / 255;
  } else {  // a centred ellipse
    mask = cv::Mat::zeros(rgb.size(), CV_8U);
    cv::ellipse(mask, cv::Point(rgb.cols / 2, rgb.rows / 2), cv::Size(rgb.cols / 4, rgb.rows / 3), 0, 0, 360,
                cv::Scalar(1), -1);
  }

  std::string hed_ckpt = args.hed_checkpoint, hed_note;
  bool temp_hed = false;
  auto wants = [&](const std::string& id) {
    if (args.only.empty()) return true;
    for (const auto& o : args.only)
      if (o == id || id.size() > o.size() && id.compare(id.size() - o.size(), o.size(), o) == 0 &&
                         id[id.size() - o.size() - 1] == '.')
        return true;
    return false;
  };
  if (hed_ckpt.empty() && (wants("org.difss.condition.hed") || wants("org.difss.condition.scribble"))) {
    hed_ckpt = random_hed_checkpoint();
    temp_hed = true;
    hed_note = " (random weights, official shapes)";
  }

  const int res = args.resolution;
  struct Entry {
    std::string id;
    std::function<std::unique_ptr<sdk::Condition>()> make;
    std::string note;
  };
  std::vector<Entry> entries{
      {"org.difss.condition.canny", [&] { return make<plugins::CannyCondition>({{"resolution", int_v(res)}}); }, ""},
      {"org.difss.condition.seg-palette",
       [&] { return make<plugins::SegPaletteCondition>({{"resolution", int_v(res)}}); }, ""},
      {"org.difss.condition.mask-scribble",
       [&] { return make<plugins::MaskScribbleCondition>({{"resolution", int_v(res)}}); }, ""},
      {"org.difss.condition.hed",
       [&] { return make<plugins::HedCondition>({{"resolution", int_v(res)}, {"checkpoint", path_v(hed_ckpt)}}); },
       hed_note},
      {"org.difss.condition.scribble",
       [&] {
         return make<plugins::ScribbleCondition>({{"resolution", int_v(res)},
                                                  {"image_resolution", int_v(res)},
                                                  {"checkpoint", path_v(hed_ckpt)}});
       },
       hed_note},
      {"org.difss.condition.softedge-pidinet",
       [&] {
         return make<plugins::SoftEdgePidiNetCondition>(
             {{"resolution", int_v(res)}, {"checkpoint", path_v(args.pidinet_checkpoint)}});
       },
       ""},
  };

  out << "condition generators on " << args.image << " (" << rgb.rows << "x" << rgb.cols << "), resolution "
      << res << ", median of " << args.runs << " runs after 1 warm-up, " << at::get_num_threads()
      << " LibTorch threads\n";
  out << std::left << std::setw(38) << "plugin" << std::setw(11) << "output" << std::right << std::setw(10)
      << "load ms" << std::setw(12) << "median ms" << std::setw(10) << "min ms" << std::setw(12) << "CPU ms" << std::setw(14)
      << "peak RSS MB" << "\n";
  const bool per_plugin_peak = reset_peak();
  int status = 0;
  for (const auto& e : entries) {
    if (!wants(e.id)) continue;
    reset_peak();
    std::ostringstream row;
    row << std::left << std::setw(38) << e.id;
    try {
      double t0 = now_ms();
      auto plugin = e.make();
      double load = now_ms() - t0;
      DlView image(rgb), m(mask);
      sdk::ConditionInput in{image.t, m.t, 15, "person", "pascal"};
      sdk::Call call(nullptr);
      std::vector<double> times, cpu;
      cv::Mat last;
      for (int r = 0; r <= args.runs; ++r) {
        double s = now_ms(), c = cpu_ms();
        sdk::OwnedTensor o = plugin->generate(in, call);
        double t = now_ms() - s;
        if (r > 0) {
          times.push_back(t);
          cpu.push_back(cpu_ms() - c);
        }
        if (r == args.runs) last = sdk::as_mat(o.dl()).clone();
      }
      auto median_of = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        if (v.empty()) return 0.0;
        return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
      };
      const double median = median_of(times), cpu_median = median_of(cpu);
      std::sort(times.begin(), times.end());
      std::string size = std::to_string(last.rows) + "x" + std::to_string(last.cols);
      row << std::setw(11) << size << std::right << std::fixed << std::setprecision(1) << std::setw(10) << load
          << std::setw(12) << median << std::setw(10) << (times.empty() ? 0 : times.front()) << std::setw(12)
          << cpu_median << std::setw(14)
          << double(status_kb("VmHWM")) / 1024.0 << e.note;
      if (!args.dump_dir.empty()) {
        fs::create_directories(args.dump_dir);
        cv::Mat bgr_out;
        cv::cvtColor(last, bgr_out, cv::COLOR_RGB2BGR);
        cv::imwrite((fs::path(args.dump_dir) / (e.id.substr(e.id.rfind('.') + 1) + ".png")).string(), bgr_out);
      }
    } catch (const std::exception& ex) {
      row << "FAILED: " << sdk::trim_backtrace(ex.what());
      status = 1;
    }
    out << row.str() << "\n" << std::flush;
  }
  out << "median/min ms: wall time of one control map; CPU ms: median process CPU time (all threads); peak RSS: "
      << (per_plugin_peak ? "VmHWM reset to the current RSS before each plugin (memory kept by earlier plugins "
                            "counts; run with --only for one plugin's own peak)"
                          : "the process's VmHWM (/proc/self/clear_refs not writable)")
      << "\n";
  if (temp_hed) fs::remove(hed_ckpt);
  return status;
}

}  // namespace difss::bench
