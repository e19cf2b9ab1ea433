// HSNet's mIoU / FB-IoU with exact integer counts; see metrics.hpp.
#include "difss/data/metrics.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace difss::data {

IoUCounts& IoUCounts::operator+=(const IoUCounts& o) {
  for (int k = 0; k < 2; ++k) {
    inter[k] += o.inter[k];
    uni[k] += o.uni[k];
  }
  return *this;
}

bool IoUCounts::operator==(const IoUCounts& o) const {
  return inter[0] == o.inter[0] && inter[1] == o.inter[1] && uni[0] == o.uni[0] && uni[1] == o.uni[1];
}

IoUCounts count_iou(const cv::Mat& pred, const cv::Mat& gt) {
  if (pred.type() != CV_8UC1 || gt.type() != CV_8UC1)
    throw std::invalid_argument("count_iou: prediction and ground truth must be CV_8UC1 masks");
  if (pred.size() != gt.size()) {
    std::ostringstream os;
    os << "count_iou: prediction is " << pred.cols << "x" << pred.rows << " but the ground truth is " << gt.cols << "x"
       << gt.rows << " (resize the prediction to the label size first, e.g. resize_nearest)";
    throw std::invalid_argument(os.str());
  }
  // area_pred[v], area_gt[v], inter[v] for v in {0, 1}, over the pixels whose gt is not 255.
  std::uint64_t ap[2] = {0, 0}, ag[2] = {0, 0}, in[2] = {0, 0};
  for (int y = 0; y < gt.rows; ++y) {
    const std::uint8_t* p = pred.ptr<std::uint8_t>(y);
    const std::uint8_t* g = gt.ptr<std::uint8_t>(y);
    for (int x = 0; x < gt.cols; ++x) {
      const std::uint8_t gv = g[x];
      if (gv == 255) continue;
      if (gv > 1) {
        std::ostringstream os;
        os << "count_iou: ground-truth value " << int(gv) << " at (" << x << "," << y << "); expected 0, 1 or 255";
        throw std::invalid_argument(os.str());
      }
      const int pv = p[x] != 0;
      ++ap[pv];
      ++ag[gv];
      in[pv] += pv == gv;
    }
  }
  IoUCounts c;
  for (int k = 0; k < 2; ++k) {
    c.inter[k] = in[k];
    c.uni[k] = ap[k] + ag[k] - in[k];
  }
  return c;
}

IoUAccumulator::IoUAccumulator(std::vector<int> classes) : classes_(std::move(classes)) {
  std::set<int> seen;
  for (int c : classes_)
    if (!seen.insert(c).second) throw std::invalid_argument("IoUAccumulator: class " + std::to_string(c) + " listed twice");
}

IoUCounts IoUAccumulator::add(int class_id, const cv::Mat& pred, const cv::Mat& gt) {
  const IoUCounts c = count_iou(pred, gt);
  add_counts(class_id, c, 1);
  return c;
}

void IoUAccumulator::add_counts(int class_id, const IoUCounts& counts, std::uint64_t episodes) {
  auto& e = entries_[class_id];
  e.counts += counts;
  e.episodes += episodes;
}

void IoUAccumulator::merge(const IoUAccumulator& other) {
  if (!classes_.empty() && !other.classes_.empty() && classes_ != other.classes_)
    throw std::invalid_argument("IoUAccumulator::merge: the two accumulators evaluate different class lists");
  if (classes_.empty()) classes_ = other.classes_;
  for (const auto& [id, e] : other.entries_) add_counts(id, e.counts, e.episodes);
}

double IoUAccumulator::miou(const std::vector<int>& classes) const {
  if (classes.empty()) return 0.0;
  double sum = 0.0;
  for (int c : classes) {
    const auto it = entries_.find(c);
    if (it == entries_.end()) continue;  // no episodes: IoU 0 (HSNet: 0 / max(0, 1))
    const auto& k = it->second.counts;
    sum += static_cast<double>(k.inter[1]) / static_cast<double>(std::max<std::uint64_t>(k.uni[1], 1));
  }
  return sum / static_cast<double>(classes.size());
}

double IoUAccumulator::fbiou(const std::vector<int>& classes) const {
  IoUCounts total;
  for (int c : classes) {
    const auto it = entries_.find(c);
    if (it != entries_.end()) total += it->second.counts;
  }
  double r = 0.0;
  for (int k = 0; k < 2; ++k)  // HSNet divides without a guard (NaN when empty); difss gives 0
    r += total.uni[k] ? static_cast<double>(total.inter[k]) / static_cast<double>(total.uni[k]) : 0.0;
  return r / 2.0;
}

std::vector<IoUAccumulator::ClassResult> IoUAccumulator::per_class() const {
  std::set<int> ids(classes_.begin(), classes_.end());
  for (const auto& [id, e] : entries_) ids.insert(id);
  std::vector<ClassResult> out;
  for (int id : ids) {
    ClassResult r;
    r.class_id = id;
    const auto it = entries_.find(id);
    if (it != entries_.end()) {
      r.counts = it->second.counts;
      r.episodes = it->second.episodes;
    }
    for (int k = 0; k < 2; ++k) {
      const double v = static_cast<double>(r.counts.inter[k]) / static_cast<double>(std::max<std::uint64_t>(r.counts.uni[k], 1));
      (k ? r.iou_fg : r.iou_bg) = v;
    }
    out.push_back(r);
  }
  return out;
}

std::uint64_t IoUAccumulator::episodes() const {
  std::uint64_t n = 0;
  for (const auto& [id, e] : entries_) n += e.episodes;
  return n;
}

nlohmann::json IoUAccumulator::to_json() const {
  nlohmann::json j;
  j["format"] = "difss-iou";
  j["version"] = 1;
  j["classes"] = classes_;
  auto& pc = j["per_class"] = nlohmann::json::array();
  for (const auto& r : per_class())
    pc.push_back({{"class_id", r.class_id},
                  {"episodes", r.episodes},
                  {"inter_bg", r.counts.inter[0]},
                  {"union_bg", r.counts.uni[0]},
                  {"inter_fg", r.counts.inter[1]},
                  {"union_fg", r.counts.uni[1]},
                  {"iou_bg", r.iou_bg},
                  {"iou_fg", r.iou_fg}});
  j["miou"] = miou();
  j["fbiou"] = fbiou();
  j["episodes"] = episodes();
  return j;
}

IoUAccumulator IoUAccumulator::from_json(const nlohmann::json& doc) {
  if (!doc.is_object() || doc.value("format", "") != "difss-iou" || doc.value("version", 0) != 1)
    throw std::runtime_error("IoU results: not a difss-iou version 1 document");
  try {
    IoUAccumulator acc(doc.at("classes").get<std::vector<int>>());
    for (const auto& r : doc.at("per_class")) {
      IoUCounts c;
      c.inter[0] = r.at("inter_bg").get<std::uint64_t>();
      c.uni[0] = r.at("union_bg").get<std::uint64_t>();
      c.inter[1] = r.at("inter_fg").get<std::uint64_t>();
      c.uni[1] = r.at("union_fg").get<std::uint64_t>();
      if (c.inter[0] > c.uni[0] || c.inter[1] > c.uni[1])
        throw std::runtime_error("IoU results: class " + std::to_string(r.at("class_id").get<int>()) +
                                 " has an intersection larger than its union");
      const auto eps = r.at("episodes").get<std::uint64_t>();
      if (eps || c.uni[0] || c.uni[1]) acc.add_counts(r.at("class_id").get<int>(), c, eps);
    }
    return acc;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("IoU results: ") + e.what());
  }
}

}  // namespace difss::data
