#include "train_common.hpp"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <difss/data/atomic_file.hpp>
#include <difss/train/train.hpp>

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <sstream>

#ifndef DIFSS_SOURCE_DIR
#define DIFSS_SOURCE_DIR ""
#endif

namespace difss::train {

double LossLog::mean_last(int n) const {
  if (loss.empty()) return 0;
  const size_t k = std::min(loss.size(), size_t(std::max(1, n)));
  double s = 0;
  for (size_t i = loss.size() - k; i < loss.size(); ++i) s += loss[i];
  return s / double(k);
}

Adam::Adam(std::vector<at::Tensor> params, double wd) : params_(std::move(params)), wd_(wd) {
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p));
    v_.push_back(at::zeros_like(p));
  }
}

void Adam::zero_grad() {
  for (auto& p : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

double Adam::clip_grad_norm(double max_norm) {
  at::NoGradGuard ng;
  double sq = 0;
  for (auto& p : params_)
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm)
    for (auto& p : params_)
      if (p.grad().defined()) p.mutable_grad().mul_(max_norm / (norm + 1e-6));
  return norm;
}

void Adam::step(double lr) {
  at::NoGradGuard ng;
  ++t_;
  const double bc1 = 1 - std::pow(b1_, t_), bc2 = 1 - std::pow(b2_, t_);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const at::Tensor g = p.grad();
    m_[i].mul_(b1_).add_(g, 1 - b1_);
    v_[i].mul_(b2_).addcmul_(g, g, 1 - b2_);
    if (wd_ > 0) p.mul_(1 - lr * wd_);
    const at::Tensor denom = (v_[i] / bc2).sqrt_().add_(eps_);
    p.addcdiv_(m_[i], denom, -lr / bc1);
  }
}

double lr_at(int step, int steps, int warmup, double lr) {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  const double t = double(step - warmup) / double(std::max(1, steps - warmup));
  return lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(3.14159265358979323846 * std::min(1.0, t))));
}

namespace {
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace

Stream::Stream(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index)
    : s_(mix(mix(mix(seed + 0x9E3779B97F4A7C15ULL) ^ purpose) ^ (index * 0x9E3779B97F4A7C15ULL + 1))) {}

std::uint64_t Stream::next() { return mix(s_ += 0x9E3779B97F4A7C15ULL); }

std::uint64_t Stream::below(std::uint64_t n) {
  const std::uint64_t limit = ~std::uint64_t(0) - (~std::uint64_t(0) % n);
  for (;;) {
    const std::uint64_t x = next();
    if (x < limit) return x % n;
  }
}

double Stream::uniform() { return double(next() >> 11) * 0x1.0p-53; }

at::Tensor image_to_tensor(const cv::Mat& rgb, bool unit01) {
  TORCH_CHECK(rgb.type() == CV_8UC3 && rgb.isContinuous(), "image_to_tensor: expected continuous uint8 RGB");
  at::Tensor t = at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::kByte).permute({2, 0, 1}).to(at::kFloat);
  return unit01 ? t.div_(255.0) : t.div_(127.5).sub_(1.0);
}

at::Tensor mask_to_tensor(const cv::Mat& mask01) {
  TORCH_CHECK(mask01.type() == CV_8UC1 && mask01.isContinuous(), "mask_to_tensor: expected continuous uint8");
  return at::from_blob(mask01.data, {mask01.rows, mask01.cols}, at::kByte).eq(1).to(at::kFloat);
}

cv::Mat tensor_to_image(const at::Tensor& hwc) {
  const at::Tensor c = hwc.contiguous();
  cv::Mat m(int(c.size(0)), int(c.size(1)), CV_8UC3);
  std::memcpy(m.data, c.data_ptr<uint8_t>(), size_t(c.numel()));
  return m;
}

double mask_iou(const cv::Mat& a, const cv::Mat& b) {
  const cv::Mat fa = a == 1, fb = b == 1;
  const double inter = cv::countNonZero(fa & fb), uni = cv::countNonZero(fa | fb);
  return uni == 0 ? 1.0 : inter / uni;
}

cv::Mat palette_control(const cv::Mat& mask01, const std::array<uint8_t, 3>& rgb) {
  cv::Mat out(mask01.size(), CV_8UC3, cv::Scalar(120, 120, 120));
  out.setTo(cv::Scalar(rgb[0], rgb[1], rgb[2]), mask01 == 1);
  return out;
}

std::string source_commit() {
  namespace fs = std::filesystem;
  const fs::path git = fs::path(DIFSS_SOURCE_DIR) / ".git";
  auto read_first_line = [](const fs::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
  };
  std::error_code ec;
  if (!fs::is_directory(git, ec)) return "";
  std::string head = read_first_line(git / "HEAD");
  if (head.rfind("ref: ", 0) != 0) return head;
  const std::string ref = head.substr(5);
  if (fs::exists(git / ref, ec)) return read_first_line(git / ref);
  std::ifstream packed(git / "packed-refs");
  for (std::string line; std::getline(packed, line);)
    if (line.size() > 41 && line.compare(41, std::string::npos, ref) == 0) return line.substr(0, 40);
  return "";
}

nlohmann::json manifest_header(const std::string& command, std::uint64_t seed, int threads) {
  return {{"command", command},
          {"seed", seed},
          {"threads", threads},
          {"difss_commit", source_commit()},
          {"libtorch", TORCH_VERSION_MAJOR * 10000 + TORCH_VERSION_MINOR * 100 + TORCH_VERSION_PATCH}};
}

void write_text_file(const std::string& path, const std::string& text) { data::write_file_atomic(path, text); }

// 4x4x4 RGB histogram of the pixels under `mask01`, normalised to sum 1 (zeros when empty).
ColourHistogram colour_histogram(const cv::Mat& rgb, const cv::Mat& mask01) {
  ColourHistogram h{};
  double n = 0;
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x)
      if (mask01.at<uint8_t>(y, x)) {
        const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
        h[size_t((p[0] >> 6) * 16 + (p[1] >> 6) * 4 + (p[2] >> 6))] += 1;
        n += 1;
      }
  if (n > 0)
    for (double& v : h) v /= n;
  return h;
}

double histogram_distance(const ColourHistogram& a, const ColourHistogram& b) {
  double tv = 0;
  for (size_t k = 0; k < a.size(); ++k) tv += std::fabs(a[k] - b[k]);
  return tv / 2;
}

// Mean pairwise total-variation distance (0: identical colour distributions, 1: disjoint).
double histogram_spread(const std::vector<ColourHistogram>& hs) {
  double sum = 0;
  int pairs = 0;
  for (size_t i = 0; i < hs.size(); ++i)
    for (size_t j = i + 1; j < hs.size(); ++j, ++pairs) {
      sum += histogram_distance(hs[i], hs[j]);
    }
  return pairs ? sum / pairs : 0.0;
}

}  // namespace difss::train
