// The committed tiny ControlNet: it loads, is deterministic per (seed, k), and its images follow
// the support masks they are generated from.
#include "catch_torch.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <difss/condition/ade_tables.hpp>
#include <difss/data/synthetic.hpp>
#include <difss/tiny/diffusion.hpp>

#include <filesystem>
#include <fstream>

using namespace difss;

namespace {

const tiny::TinyDiffusion& model() {
  static const tiny::TinyDiffusion m = tiny::load_tiny_diffusion(TINY_CONTROLNET_MODEL);
  return m;
}

// The seg-palette control map of a mask (what org.difss.condition.seg-palette makes for a class
// of set "synthetic": background ADE 0, foreground the ADE colour hashed from the class name).
at::Tensor control_for(const cv::Mat& mask, const std::string& class_name) {
  const auto fg = condition::ade::palette(condition::ade::hashed_index(class_name));
  cv::Mat ctl(mask.size(), CV_8UC3, cv::Scalar(120, 120, 120));
  ctl.setTo(cv::Scalar(fg[0], fg[1], fg[2]), mask == 1);
  return at::from_blob(ctl.data, {ctl.rows, ctl.cols, 3}, at::kByte).clone();
}

double iou(const cv::Mat& a, const cv::Mat& b) {
  const double i = cv::countNonZero((a == 1) & (b == 1)), u = cv::countNonZero((a == 1) | (b == 1));
  return u == 0 ? 1.0 : i / u;
}

cv::Mat as_mat(const at::Tensor& hwc) {
  at::Tensor c = hwc.contiguous();
  return cv::Mat(int(c.size(0)), int(c.size(1)), CV_8UC3, c.data_ptr()).clone();
}

}  // namespace

TEST_CASE("tiny-controlnet: the committed checkpoint loads with its configuration", "[tiny][sampler]") {
  const auto& m = model();
  CHECK(m.resolution == 64);
  CHECK(m.class_names.size() == 20);
  CHECK(m.row_of("striped-circle") == 1);
  CHECK(m.row_of("no such class") == 0);
  REQUIRE(m.model.unet);
  REQUIRE(m.model.control);
  CHECK(m.model.unet->cfg.model_channels == 32);
  CHECK(m.model.cfg.class_embed_classes == 21);
  CHECK(m.schedule.timesteps() == 1000);
}

TEST_CASE("tiny-controlnet: deterministic per (seed, k), independent of the batch", "[tiny][sampler][slow]") {
  cv::Mat rgb, mask;
  data::draw_synthetic(3, data::SyntheticStream::evaluation, 0, {}, &rgb, &mask);
  tiny::TinySampleRequest r;
  r.control = control_for(mask, "dotted-triangle");
  r.row = 3;
  r.seed = 11;
  r.steps = 5;
  r.count = 2;
  int calls = 0;
  const at::Tensor a = tiny::sample_tiny(model(), r, [&](int done, int total) {
    ++calls;
    CHECK(done <= total);
  });
  CHECK(calls == 5);
  const at::Tensor b = tiny::sample_tiny(model(), r);
  CHECK(a.sizes() == at::IntArrayRef({2, 64, 64, 3}));
  CHECK(at::equal(a, b));
  r.count = 1;
  r.batch_size = 1;
  CHECK(at::equal(tiny::sample_tiny(model(), r)[0], a[0]));  // image 0 alone == image 0 of two
  r.seed = 12;
  CHECK_FALSE(at::equal(tiny::sample_tiny(model(), r)[0], a[0]));
  // Cancellation: the step callback may throw; the error comes out of sample_tiny.
  CHECK_THROWS_WITH(tiny::sample_tiny(model(), r, [](int, int) { throw std::runtime_error("cancelled"); }),
                    Catch::Contains("cancelled"));
  r.control = at::zeros({32, 32, 3}, at::kByte);
  CHECK_THROWS_WITH(tiny::sample_tiny(model(), r), Catch::Contains("64"));
}

TEST_CASE("tiny-controlnet: generated images follow the support masks", "[tiny][sampler][slow]") {
  // Supports of fold 0's novel classes (evaluation images). For each, one image from its own
  // control map; measure = IoU between the support mask and the pixels of the generated image
  // coloured like the class's palette (data::synthetic_palette_mask; real images score ~0.94).
  // The same measure against ANOTHER support's mask must be much lower: the object is where the
  // control puts it, not anywhere.
  const std::vector<int> classes = data::synthetic_split_classes("val", 0);
  double own = 0, other = 0;
  const int n = 10;
  std::vector<cv::Mat> masks;
  std::vector<cv::Mat> images;
  for (int i = 0; i < n; ++i) {
    const int cls = classes[size_t(i) % classes.size()];
    cv::Mat rgb, mask;
    data::draw_synthetic(cls, data::SyntheticStream::evaluation, std::uint64_t(i), {}, &rgb, &mask);
    tiny::TinySampleRequest r;
    r.control = control_for(mask, data::synthetic_classes()[size_t(cls - 1)].name);
    r.row = cls;
    r.seed = std::uint64_t(100 + i);
    const cv::Mat gen = as_mat(tiny::sample_tiny(model(), r)[0]);
    const cv::Mat found = data::synthetic_palette_mask(gen, cls);
    masks.push_back(mask);
    images.push_back(found);
    own += iou(found, mask);
  }
  for (int i = 0; i < n; ++i) other += iou(images[size_t(i)], masks[size_t((i + 1) % n)]);
  own /= n;
  other /= n;
  INFO("mean IoU with the own mask " << own << ", with another support's mask " << other);
  CHECK(own > 0.5);
  CHECK(own > other + 0.25);
}

TEST_CASE("tiny-controlnet: the varied-world model knows the shape families and follows the masks",
          "[tiny][sampler][slow]") {
  const tiny::TinyDiffusion m = tiny::load_tiny_diffusion(TINY_CONTROLNET_VARIED_MODEL);
  const auto& classes = data::synthetic_classes(data::SyntheticWorld::varied);
  REQUIRE(m.class_names.size() == classes.size());
  for (size_t i = 0; i < classes.size(); ++i) CHECK(m.class_names[i] == classes[i].name);  // "circle", ...
  // Mask following on novel-class supports: objects are saturated, backgrounds are not
  // (synthetic_palette_mask class 0); own mask vs another support's.
  data::SyntheticDrawOptions draw;
  draw.world = data::SyntheticWorld::varied;
  const int n = 10;
  std::vector<cv::Mat> masks, found;
  double own = 0, other = 0;
  for (int i = 0; i < n; ++i) {
    const int cls = 1 + i % 5;
    cv::Mat rgb, mask;
    data::draw_synthetic(cls, data::SyntheticStream::evaluation, std::uint64_t(i), draw, &rgb, &mask);
    tiny::TinySampleRequest r;
    r.control = control_for(mask, classes[size_t(cls - 1)].name);
    r.row = m.row_of(classes[size_t(cls - 1)].name);
    REQUIRE(r.row == cls);
    r.seed = std::uint64_t(100 + i);
    found.push_back(data::synthetic_palette_mask(as_mat(tiny::sample_tiny(m, r)[0]), 0));
    masks.push_back(mask);
    own += iou(found.back(), mask);
  }
  for (int i = 0; i < n; ++i) other += iou(found[size_t(i)], masks[size_t((i + 1) % n)]);
  INFO("mean IoU with the own mask " << own / n << ", with another support's mask " << other / n);
  // Measured 0.242 vs 0.093: the varied world is much harder for this tiny model (real images
  // score 0.63 on the same measure, distractors included; docs/EMBEDDED_DEFAULT.md).
  CHECK(own / n > 0.15);
  CHECK(own / n > other / n + 0.1);
}

TEST_CASE("tiny-controlnet: unreadable checkpoints are errors naming the file", "[tiny][sampler]") {
  CHECK_THROWS_WITH(tiny::load_tiny_diffusion("/nonexistent/x.safetensors"), Catch::Contains("/nonexistent/x.safetensors"));
  const auto tmp = std::filesystem::temp_directory_path() / "difss-tiny-bad.safetensors";
  std::ofstream(tmp) << "not a safetensors file";
  CHECK_THROWS(tiny::load_tiny_diffusion(tmp.string()));
  std::filesystem::remove(tmp);
}
