// What people would rather look at than read: PNG grids of episodes and an index.html with the
// metrics table (with and without auxiliary supports, side by side) and the grids.
#pragma once

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace difss {

struct GridCell {
  std::string title;
  cv::Mat rgb;          // CV_8UC3 RGB image, or
  cv::Mat mask;         // CV_8UC1 0/1/255 mask (drawn over `under` when given)
  cv::Mat under;        // optional RGB image the mask is overlaid on
};

// One row of cells scaled to `height` px, titles above; returns an RGB image.
cv::Mat compose_grid(const std::vector<std::vector<GridCell>>& rows, int height = 128);

// HTML text with &, <, >, " escaped; the reports' <head> (title, style) up to <body>.
std::string html_escape(const std::string& s);
std::string html_head(const std::string& title);

// Writes <run>/index.html from results.json's content and the grid files (relative paths).
void write_html_report(const std::filesystem::path& run_dir, const nlohmann::json& results,
                       const std::vector<std::string>& grid_files);

}  // namespace difss
