// The ablation's page: one table of every variant (mean ± std and per seed) and a plot of mIoU
// against the number of auxiliary supports per real support, drawn with OpenCV (ablation.png).
#include <difss/data/atomic_file.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "difss/core/ablation.hpp"
#include "difss/core/report.hpp"
#include "difss/core/seeds.hpp"

namespace difss {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Point {
  double x, mean, std;
};

// mIoU of a variant as the plot shows it: with aux when it has aux supports, else real only.
bool plotted_value(const json& row, Point& p) {
  const json& m = row["metrics"];
  const char* key = row["per_support"].get<int>() > 0 ? "with_aux" : "real_only";
  if (!m.contains(key)) return false;
  p = {double(row["per_support"].get<int>()), 100 * m[key]["mean_miou"].get<double>(), 100 * m[key]["std_miou"].get<double>()};
  return true;
}

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale = 0.45, cv::Scalar c = cv::Scalar::all(30)) {
  cv::putText(img, s, at, cv::FONT_HERSHEY_SIMPLEX, scale, c, 1, cv::LINE_AA);
}

// Lines of `plot` series (x = aux per support, mean ± std error bars) and the real-only level of
// the first series' variants as a grey band. Written as BGR PNG.
void draw_plot(const fs::path& file, const json& rows) {
  std::map<std::string, std::vector<Point>> series;
  std::vector<std::string> names;
  Point real{0, 0, 0};
  bool have_real = false;
  for (const auto& row : rows) {
    const std::string s = row.value("plot", "");
    if (s.empty()) continue;
    Point p;
    if (!plotted_value(row, p)) continue;
    if (!series.count(s)) names.push_back(s);
    series[s].push_back(p);
    if (!have_real && row["metrics"].contains("real_only")) {
      const json& r = row["metrics"]["real_only"];
      real = {0, 100 * r["mean_miou"].get<double>(), 100 * r["std_miou"].get<double>()};
      have_real = true;
    }
  }
  const int W = 720, H = 440, L = 70, R = 200, T = 40, B = 60;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar::all(255));
  double lo = 1e9, hi = -1e9, xmax = 1;
  for (const auto& [n, pts] : series)
    for (const auto& p : pts) lo = std::min(lo, p.mean - p.std), hi = std::max(hi, p.mean + p.std), xmax = std::max(xmax, p.x);
  if (have_real) lo = std::min(lo, real.mean - real.std), hi = std::max(hi, real.mean + real.std);
  if (lo > hi) lo = 0, hi = 100;
  const double pad = std::max(1.0, 0.1 * (hi - lo));
  lo = std::floor(lo - pad), hi = std::ceil(hi + pad);
  auto X = [&](double x) { return int(L + (W - L - R) * x / xmax); };
  auto Y = [&](double y) { return int(H - B - (H - T - B) * (y - lo) / (hi - lo)); };
  if (have_real) {  // real-only level with its spread
    cv::rectangle(img, {X(0), Y(real.mean + real.std)}, {X(xmax), Y(real.mean - real.std)}, cv::Scalar(225, 225, 225), cv::FILLED);
    cv::line(img, {X(0), Y(real.mean)}, {X(xmax), Y(real.mean)}, cv::Scalar(140, 140, 140), 1, cv::LINE_AA);
    text(img, "real only", {X(xmax) + 6, Y(real.mean) + 4}, 0.4, cv::Scalar(110, 110, 110));
  }
  cv::line(img, {L, T}, {L, H - B}, cv::Scalar::all(0));
  cv::line(img, {L, H - B}, {W - R, H - B}, cv::Scalar::all(0));
  const double step = (hi - lo) > 20 ? 5 : (hi - lo) > 8 ? 2 : 1;
  for (double y = std::ceil(lo / step) * step; y <= hi; y += step) {
    cv::line(img, {L - 4, Y(y)}, {L, Y(y)}, cv::Scalar::all(0));
    char b[16];
    std::snprintf(b, sizeof b, "%.0f", y);
    text(img, b, {L - 34, Y(y) + 4});
  }
  for (int x = 0; x <= int(xmax); ++x) {
    cv::line(img, {X(x), H - B}, {X(x), H - B + 4}, cv::Scalar::all(0));
    text(img, std::to_string(x), {X(x) - 4, H - B + 18});
  }
  text(img, "auxiliary supports per real support", {L + 120, H - 18}, 0.5);
  text(img, "mIoU (%), mean +- std over seeds", {10, 22}, 0.5);
  const cv::Scalar colours[] = {{200, 90, 30}, {40, 40, 200}, {40, 150, 40}, {150, 40, 150}, {0, 140, 200}};  // BGR
  for (size_t k = 0; k < names.size(); ++k) {
    auto pts = series[names[k]];
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
    const cv::Scalar c = colours[k % 5];
    for (size_t i = 0; i < pts.size(); ++i) {
      const cv::Point p(X(pts[i].x) + int(k) * 3, Y(pts[i].mean));
      cv::line(img, {p.x, Y(pts[i].mean - pts[i].std)}, {p.x, Y(pts[i].mean + pts[i].std)}, c, 1, cv::LINE_AA);
      cv::line(img, {p.x - 4, Y(pts[i].mean - pts[i].std)}, {p.x + 4, Y(pts[i].mean - pts[i].std)}, c, 1, cv::LINE_AA);
      cv::line(img, {p.x - 4, Y(pts[i].mean + pts[i].std)}, {p.x + 4, Y(pts[i].mean + pts[i].std)}, c, 1, cv::LINE_AA);
      cv::circle(img, p, 4, c, cv::FILLED, cv::LINE_AA);
      if (i > 0) cv::line(img, {X(pts[i - 1].x) + int(k) * 3, Y(pts[i - 1].mean)}, p, c, 2, cv::LINE_AA);
    }
    cv::line(img, {W - R + 12, T + 20 + 20 * int(k)}, {W - R + 32, T + 20 + 20 * int(k)}, c, 2, cv::LINE_AA);
    text(img, names[k], {W - R + 38, T + 24 + 20 * int(k)}, 0.42);
  }
  cv::imwrite(file.string(), img);
}

std::string pct(const json& v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", 100 * v.get<double>());
  return b;
}

}  // namespace

void write_ablation_report(const fs::path& dir, const json& r) {
  draw_plot(dir / "ablation.png", r["variants"]);
  std::ostringstream h;
  h << html_head(r.value("name", "ablation")) << "<h1>" << html_escape(r.value("name", "ablation")) << "</h1>";
  if (r.contains("note")) h << "<p class=\"note\">" << html_escape(r["note"].get<std::string>()) << "</p>";
  h << "<p>Base pipeline " << html_escape(r.value("base_pipeline", "")) << "; every variant at " << r.value("repeats", 1)
    << " seeds (other episodes and other auxiliary samples per seed); mean ± sample std, then each seed's mIoU.</p>";
  h << "<img src=\"ablation.png\" alt=\"mIoU against auxiliary supports per real support\">";
  h << "<table><tr><th>variant</th><th>real shots</th><th>aux / support</th><th>control</th><th>aux_weight</th>"
       "<th>mIoU real only</th><th>mIoU with aux</th><th>with aux − real (paired)</th><th>per seed (with aux, else real)</th>"
       "<th>baselines: all object / none</th></tr>";
  std::string group;
  for (const auto& row : r["variants"]) {
    if (row["group"] != group) {
      group = row["group"].get<std::string>();
      h << "<tr><th colspan=\"10\">" << html_escape(group) << "</th></tr>";
    }
    const json& m = row["metrics"];
    auto cell = [&](const char* k) { return m.contains(k) ? mean_std_text(m[k]) : std::string("–"); };
    h << "<tr><td><a href=\"" << html_escape(row["folder"].get<std::string>()) << "/index.html\">"
      << html_escape(row["label"].get<std::string>()) << "</a></td><td>" << row["shots"] << "</td><td>"
      << row["per_support"] << "</td><td>" << html_escape(row.value("condition", "")) << "</td><td>"
      << row["aux_weight"].dump() << "</td><td>" << cell("real_only") << "</td><td>" << cell("with_aux") << "</td><td>"
      << (row.contains("aux_minus_real") ? mean_std_text(row["aux_minus_real"]) : "–") << "</td><td>";
    const char* k = m.contains("with_aux") ? "with_aux" : "real_only";
    if (m.contains(k))
      for (const auto& s : m[k]["per_seed"]) h << pct(s["miou"]) << " ";
    h << "</td><td>" << cell("baseline_all_foreground") << " / " << cell("baseline_all_background") << "</td></tr>";
  }
  h << "</table><p class=\"note\">Each variant's own report (episode grids with its auxiliary supports, per-class "
       "numbers) is linked from its name, one folder per seed inside.</p></body></html>\n";
  data::write_file_atomic(dir / "index.html", h.str());
}

}  // namespace difss
