// Example difss plugin: the support image with its background inverted, as a control map.
// A whole plugin is this class plus the DIFSS_PLUGIN_LIBRARY line; see docs/PLUGIN_GUIDE.md.
#include <difss/sdk/plugin.hpp>

namespace {

class InvertCondition : public difss::sdk::Condition {
 public:
  static difss::sdk::Descriptor describe() {
    difss::sdk::Descriptor d;
    d.id = "org.example.condition.invert";
    d.name = "Inverted background (example)";
    d.description = "Copies the support image and inverts every background pixel.";
    d.version = "0.1.0";
    d.param(difss::sdk::ParamDef::boolean("invert_foreground", false,
                                          "Invert the foreground instead of the background."));
    d.input("image", "image", "Support image.");
    d.input("mask", "mask", "Support mask.");
    d.output("control", "image", "The image with one side inverted.");
    return d;
  }

  InvertCondition(const difss::sdk::Host& host, const difss::sdk::Params& p)
      : fg_(p.boolean("invert_foreground")) {
    host.info("example plugin created");
  }

  difss::sdk::OwnedTensor generate(const difss::sdk::ConditionInput& in, difss::sdk::Call&) override {
    difss::sdk::require_port(in.image, "image", "image");
    difss::sdk::require_port(in.mask, "mask", "mask");
    const int64_t h = in.image.shape[0], w = in.image.shape[1];
    if (in.mask.shape[0] != h || in.mask.shape[1] != w)
      throw difss::sdk::Error(DIFSS_ERR_INVALID_ARGUMENT, "mask and image sizes differ");
    auto out = difss::sdk::OwnedTensor::allocate(difss::sdk::kU8, {h, w, 3});
    const auto* src = static_cast<const uint8_t*>(in.image.data);
    const auto* m = static_cast<const uint8_t*>(in.mask.data);
    uint8_t* dst = out.data<uint8_t>();
    for (int64_t i = 0; i < h * w; ++i) {
      bool invert = (m[i] == 1) == fg_;
      for (int c = 0; c < 3; ++c) dst[i * 3 + c] = invert ? uint8_t(255 - src[i * 3 + c]) : src[i * 3 + c];
    }
    return out;
  }

 private:
  bool fg_;
};

}  // namespace

DIFSS_PLUGIN_LIBRARY("example-invert", InvertCondition)
