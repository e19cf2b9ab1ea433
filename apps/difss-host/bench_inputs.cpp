#include "bench_inputs.hpp"

#include <difss/core/errors.hpp>
#include <difss/core/pipeline_dataset.hpp>
#include <difss/data/episodes.hpp>

#include <opencv2/imgproc.hpp>

#include <algorithm>

namespace difss::cli {

namespace {

// A textured background (gradient + noise) with one filled ellipse; `k` moves the ellipse so
// supports and query differ. mask: 1 inside the ellipse, 0 elsewhere.
void synthetic_pair(cv::Size size, int k, cv::Mat* image, cv::Mat* mask) {
  cv::RNG rng(1234 + uint64_t(k));
  cv::Mat noise(size, CV_8UC3);
  rng.fill(noise, cv::RNG::UNIFORM, 0, 64);
  cv::Mat img(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x)
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(60 + 120 * x / std::max(1, size.width)),
                                          uchar(60 + 120 * y / std::max(1, size.height)), 110);
  img += noise;
  const cv::Point centre(size.width * (3 + k % 4) / 10 + size.width / 10, size.height / 2);
  const cv::Size axes(std::max(1, size.width / 5), std::max(1, size.height / 4));
  cv::ellipse(img, centre, axes, 15.0 * k, 0, 360, cv::Scalar(200, 60, 40), cv::FILLED);
  cv::Mat m(size, CV_8UC1, cv::Scalar(0));
  cv::ellipse(m, centre, axes, 15.0 * k, 0, 360, cv::Scalar(1), cv::FILLED);
  *image = img;
  *mask = m;
}

// A mask as an RGB control map (white object on black), for samplers without a condition.
cv::Mat mask_control(const cv::Mat& mask) {
  cv::Mat c(mask.size(), CV_8UC3, cv::Scalar::all(0));
  c.setTo(cv::Scalar::all(255), mask == 1);
  return c;
}

}  // namespace

BenchInputs synthetic_inputs(difss_kind kind, cv::Size size, int shots) {
  BenchInput in;
  synthetic_pair(size, 0, &in.image, &in.mask);
  in.control = mask_control(in.mask);
  for (int k = 1; kind == DIFSS_KIND_SEGMENTER && k <= shots; ++k) {
    cv::Mat img, m;
    synthetic_pair(size, k, &img, &m);
    in.support_images.push_back(img);
    in.support_masks.push_back(m);
  }
  std::string what = "synthetic " + std::to_string(size.width) + "x" + std::to_string(size.height);
  if (kind == DIFSS_KIND_CONDITION) what += " RGB image + blob mask";
  else if (kind == DIFSS_KIND_SAMPLER) what += " control map (blob mask), prompt \"a photo of object\"";
  else what += " query + " + std::to_string(shots) + " support(s) with blob masks";
  return {{in}, what};
}

BenchInputs dataset_inputs(const Pipeline& p, difss_kind kind, size_t count, int shots) {
  auto ds = open_pipeline_dataset(p);
  if (ds->samples().empty()) throw ConfigError(p.where("dataset", "kind") + ": [dataset] has no samples");
  BenchInputs out;
  auto set_class = [&](BenchInput& in, int cls) {
    const data::ClassInfo& ci = ds->class_info(cls);
    in.class_id = cls;
    in.class_name = ci.prompt_name.empty() ? ci.name : ci.prompt_name;
    in.class_set = ds->class_set();
  };
  if (kind == DIFSS_KIND_SEGMENTER) {
    data::EpisodeOptions eo;
    eo.count = count;
    eo.seed = p.seed;
    eo.shots = shots;
    std::vector<data::Episode> episodes;
    try {
      episodes = data::make_episodes(*ds, eo);
    } catch (const std::exception& e) {
      throw ConfigError(p.where("dataset", "shots") + ": cannot draw episodes: " + e.what());
    }
    for (const auto& ep : episodes) {
      BenchInput in;
      set_class(in, ep.class_id);
      in.image = ds->load_image(ep.query);
      for (size_t s : ep.supports) {
        in.support_images.push_back(ds->load_image(s));
        in.support_masks.push_back(ds->load_mask(s, ep.class_id));
      }
      out.items.push_back(std::move(in));
    }
    out.description = std::to_string(out.items.size()) + " episode(s) of " + ds->kind() + " (" + ds->split_source() +
                      "), " + std::to_string(shots) + " support(s) each";
    return out;
  }
  std::unique_ptr<ConditionInstance> condition;
  if (kind == DIFSS_KIND_SAMPLER && p.condition && p.condition->info)
    condition = std::make_unique<ConditionInstance>(*p.condition->info, p.condition->params);
  for (size_t i = 0; i < std::min(count, ds->samples().size()); ++i) {
    BenchInput in;
    set_class(in, ds->samples()[i].class_id);
    in.image = ds->load_image(i);
    in.mask = ds->load_mask(i);
    if (kind == DIFSS_KIND_SAMPLER)
      in.control = condition ? condition->generate(in.image, in.mask, in.class_id, in.class_name, in.class_set)
                             : mask_control(in.mask);
    out.items.push_back(std::move(in));
  }
  out.description = std::to_string(out.items.size()) + " sample(s) of " + ds->kind() + " (" + ds->split_source() + ")";
  if (kind == DIFSS_KIND_SAMPLER)
    out.description += condition ? ", control maps by " + p.condition->plugin : ", masks as control maps";
  return out;
}

}  // namespace difss::cli
