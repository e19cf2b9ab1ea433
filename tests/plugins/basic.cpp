#include "basic.hpp"

#include <difss/sdk/tensor_opencv.hpp>

#include <opencv2/imgproc.hpp>

#include <cmath>

namespace difss::test {

sdk::Descriptor MaskCondition::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.test.mask-condition";
  d.name = "Mask as control map (test)";
  d.description = "The support mask painted `value` on black, RGB. For tests.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::integer("value", 255, 1, 255, "Grey level of the foreground."));
  d.param(sdk::ParamDef::boolean("decline_odd_classes", false,
                                 "Decline supports of odd class ids with DIFSS_SKIP (tests the host's skip)."));
  d.input("image", "image", "Support image.");
  d.input("mask", "mask", "Support mask.");
  d.output("control", "image", "Mask as an RGB image.");
  return d;
}

MaskCondition::MaskCondition(const sdk::Host&, const sdk::Params& p)
    : value_(int(p.integer("value"))), decline_odd_(p.boolean("decline_odd_classes")) {}

sdk::OwnedTensor MaskCondition::generate(const sdk::ConditionInput& in, sdk::Call&) {
  sdk::require_port(in.image, "image", "image");
  sdk::require_port(in.mask, "mask", "mask");
  if (decline_odd_ && in.class_id % 2 == 1)
    throw sdk::Error(DIFSS_SKIP, "class " + std::to_string(in.class_id) + " is declined (test)");
  cv::Mat m = sdk::as_mat(in.mask);
  cv::Mat out(m.size(), CV_8UC3, cv::Scalar::all(0));
  out.setTo(cv::Scalar::all(value_), m == 1);
  return sdk::to_owned(out);
}

sdk::Descriptor NoiseSampler::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.test.noise-sampler";
  d.name = "Noisy copies (test)";
  d.description = "Images = control map + seeded Gaussian noise, `steps` fake denoising steps "
                  "with progress and cancellation. For tests.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::integer("steps", 3, 1, 1000, "Fake steps (progress units)."));
  d.param(sdk::ParamDef::real("amplitude", 20.0, 0.0, 255.0, "Noise standard deviation."));
  d.input("control", "image", "Control map.");
  d.output("images", "images", "count images of the control map's size.");
  return d;
}

NoiseSampler::NoiseSampler(const sdk::Host& host, const sdk::Params& p)
    : host_(host), steps_(int(p.integer("steps"))), amplitude_(p.real("amplitude")) {}

sdk::OwnedTensor NoiseSampler::sample(const sdk::SamplerInput& in, sdk::Call& call) {
  sdk::require_port(in.control, "control", "image");
  cv::Mat ctl = sdk::as_mat(in.control);
  int h = ctl.rows, w = ctl.cols;
  sdk::OwnedTensor out = sdk::OwnedTensor::allocate(sdk::kU8, {int64_t(in.count), h, w, 3});
  for (int s = 0; s < steps_; ++s) {
    call.check_cancelled();
    call.progress("step", uint64_t(s + 1), uint64_t(steps_));
  }
  for (uint32_t k = 0; k < in.count; ++k) {
    cv::RNG rng(in.seed * 1000003ULL + k + 1);  // image k depends only on (seed, k)
    cv::Mat noise(h, w, CV_32FC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, amplitude_);
    cv::Mat f;
    ctl.convertTo(f, CV_32FC3);
    cv::Mat dst(h, w, CV_8UC3, out.data<uint8_t>() + size_t(k) * h * w * 3);
    cv::Mat(f + noise).convertTo(dst, CV_8UC3);
  }
  host_.debug("sampled " + std::to_string(in.count) + " images for '" + in.prompt + "'");
  return out;
}

sdk::Descriptor ColorSegmenter::describe() {
  sdk::Descriptor d;
  d.id = "org.difss.test.color-segmenter";
  d.name = "Mean-colour segmenter (test)";
  d.description = "Foreground probability exp(-|c - mu|^2 / scale^2) around the supports' mean "
                  "foreground colour. For tests; not a real FSS model.";
  d.version = "1.0.0";
  d.param(sdk::ParamDef::real("scale", 60.0, 1.0, 1000.0, "Colour distance scale."));
  d.input("query", "image", "Query image.");
  d.input("support_images", "image", "Support images.");
  d.input("support_masks", "mask", "Support masks.");
  d.output("prob", "prob", "Foreground probability.");
  d.output("mask", "mask", "prob > 0.5.");
  return d;
}

ColorSegmenter::ColorSegmenter(const sdk::Host&, const sdk::Params& p) : scale_(p.real("scale")) {}

sdk::SegmenterOutput ColorSegmenter::segment(const sdk::SegmenterInput& in, sdk::Call&) {
  sdk::require_port(in.query, "query", "image");
  cv::Scalar sum(0, 0, 0);
  double n = 0;
  for (size_t k = 0; k < in.shots(); ++k) {
    sdk::require_port(*in.support_images[k], "support_images", "image");
    sdk::require_port(*in.support_masks[k], "support_masks", "mask");
    cv::Mat img = sdk::as_mat(*in.support_images[k]), m = sdk::as_mat(*in.support_masks[k]);
    if (img.size() != m.size())
      throw sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "support " + std::to_string(k) + ": mask size differs from image size");
    double c = cv::countNonZero(m == 1);
    if (c > 0) {
      sum += cv::mean(img, m == 1) * c;
      n += c;
    }
  }
  cv::Mat q = sdk::as_mat(in.query), qf;
  q.convertTo(qf, CV_32FC3);
  cv::Mat prob(q.size(), CV_32F, cv::Scalar(0));
  if (n > 0) {
    cv::Scalar mu = sum / n;
    cv::Mat diff = qf - mu, sq;
    cv::multiply(diff, diff, sq);
    std::vector<cv::Mat> ch;
    cv::split(sq, ch);
    cv::Mat d2 = ch[0] + ch[1] + ch[2];
    cv::exp(-d2 / (scale_ * scale_), prob);
  }
  sdk::SegmenterOutput o;
  cv::Mat mask = prob > 0.5f;
  mask /= 255;
  o.prob = sdk::to_owned(prob);
  o.mask = sdk::to_owned(mask);
  return o;
}

}  // namespace difss::test
