#include "difss/core/report.hpp"

#include <difss/data/atomic_file.hpp>

#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <sstream>

namespace difss {

namespace {

cv::Mat render_cell(const GridCell& c, int height) {
  cv::Mat img;
  if (!c.mask.empty()) {
    cv::Mat base = c.under.empty() ? cv::Mat(c.mask.size(), CV_8UC3, cv::Scalar::all(0)) : c.under.clone();
    if (base.size() != c.mask.size()) cv::resize(base, base, c.mask.size());
    cv::Mat overlay = base.clone();
    overlay.setTo(cv::Scalar(255, 40, 40), c.mask == 1);
    overlay.setTo(cv::Scalar(128, 128, 128), c.mask == 255);
    cv::addWeighted(base, 0.45, overlay, 0.55, 0, img);
  } else {
    img = c.rgb;
  }
  if (img.empty()) img = cv::Mat(height, height, CV_8UC3, cv::Scalar::all(40));
  int w = std::max(1, int(double(img.cols) * height / std::max(1, img.rows)));
  cv::Mat scaled;
  cv::resize(img, scaled, cv::Size(w, height), 0, 0, cv::INTER_AREA);
  const int title_h = 18;
  cv::Mat cell(height + title_h, std::max(w, 60), CV_8UC3, cv::Scalar::all(255));
  scaled.copyTo(cell(cv::Rect(0, title_h, w, height)));
  cv::putText(cell, c.title, {3, 13}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar::all(0), 1, cv::LINE_AA);
  return cell;
}

std::string pct(const nlohmann::json& v) {
  if (!v.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v.get<double>() * 100.0);
  return buf;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string html_head(const std::string& title) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
         "</title><style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 10px;text-align:right}"
         "th{background:#eee}td:first-child,th:first-child{text-align:left}.note{color:#555}"
         "img{max-width:100%;border:1px solid #ddd;margin:6px 0}</style></head><body>";
}

cv::Mat compose_grid(const std::vector<std::vector<GridCell>>& rows, int height) {
  std::vector<cv::Mat> lines;
  int width = 0;
  for (const auto& row : rows) {
    std::vector<cv::Mat> cells;
    for (const auto& c : row) {
      cells.push_back(render_cell(c, height));
      cells.push_back(cv::Mat(height + 18, 4, CV_8UC3, cv::Scalar::all(255)));
    }
    cv::Mat line;
    cv::hconcat(cells, line);
    width = std::max(width, line.cols);
    lines.push_back(line);
  }
  for (auto& l : lines)
    if (l.cols < width) cv::copyMakeBorder(l, l, 0, 0, 0, width - l.cols, cv::BORDER_CONSTANT, cv::Scalar::all(255));
  cv::Mat out;
  cv::vconcat(lines, out);
  return out;
}

void write_html_report(const std::filesystem::path& run_dir, const nlohmann::json& r,
                       const std::vector<std::string>& grid_files) {
  std::ostringstream h;
  h << html_head("difss run " + r.value("name", ""));
  h << "<h1>difss run: " << html_escape(r.value("name", "")) << "</h1>";
  if (r.contains("note")) h << "<p class=\"note\">" << html_escape(r["note"].get<std::string>()) << "</p>";
  const auto& m = r["metrics"];
  h << "<h2>Metrics</h2><table><tr><th>supports</th><th>mIoU (%)</th><th>FB-IoU (%)</th><th>episodes</th></tr>";
  const std::pair<const char*, const char*> rows[] = {{"real_only", "real only"},
                                                      {"with_aux", "real + auxiliary"},
                                                      {"baseline_all_foreground", "baseline: every pixel object"},
                                                      {"baseline_all_background", "baseline: no pixel object"}};
  for (const auto& [key, label] : rows) {
    if (!m.contains(key)) continue;
    h << "<tr><td>" << label << "</td><td>"
      << pct(m[key]["miou"]) << "</td><td>" << pct(m[key]["fbiou"]) << "</td><td>"
      << m[key].value("episodes", 0) << "</td></tr>";
  }
  h << "</table>";
  h << "<p>" << html_escape(r["dataset"].value("kind", "")) << ", " << r["counts"].value("episodes", 0)
    << " episodes, " << r["counts"].value("skipped", 0) << " skipped, "
    << r["pipeline"]["dataset"].value("shots", 1) << "-shot real + "
    << r.value("aux_per_support", 0) << " auxiliary per support.</p>";
  if (m.contains("real_only") && m["real_only"].contains("per_class")) {
    h << "<h2>Per class (foreground IoU %)</h2><table><tr><th>class</th><th>episodes</th><th>real only</th><th>real + aux</th></tr>";
    const auto& a = m["real_only"]["per_class"];
    for (size_t i = 0; i < a.size(); ++i) {
      std::string aux = "–";
      if (m.contains("with_aux")) aux = pct(m["with_aux"]["per_class"][i]["iou_fg"]);
      h << "<tr><td>" << html_escape(a[i].value("name", std::to_string(a[i].value("class_id", 0)))) << "</td><td>"
        << a[i].value("episodes", 0) << "</td><td>" << pct(a[i]["iou_fg"]) << "</td><td>" << aux << "</td></tr>";
    }
    h << "</table>";
  }
  if (!grid_files.empty()) {
    h << "<h2>Episodes</h2><p class=\"note\">support | control map | auxiliary supports | query | "
         "prediction (real only) | prediction (real + aux) | ground truth</p>";
    for (const auto& g : grid_files)
      h << "<div><div>" << html_escape(g) << "</div><img src=\"" << html_escape(g) << "\"></div>";
  }
  h << "<h2>Configuration</h2><pre>" << html_escape(r["pipeline"].dump(2)) << "</pre></body></html>\n";
  data::write_file_atomic(run_dir / "index.html", h.str());
}

}  // namespace difss
