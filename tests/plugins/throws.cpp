// A segmenter whose calls fail in the ways real plugins do: a std::exception, an exception not
// derived from std::exception, and an output that breaks the port contract. The host must
// report each with the plugin id and message and keep running.
#include <difss/sdk/plugin.hpp>

namespace {

class ThrowingSegmenter : public difss::sdk::Segmenter {
 public:
  static difss::sdk::Descriptor describe() {
    difss::sdk::Descriptor d;
    d.id = "org.difss.test.throwing-segmenter";
    d.name = "Always fails (test)";
    d.description = "Fails inside segment() as chosen by `mode`. For tests.";
    d.version = "0.1.0";
    d.param(difss::sdk::ParamDef::enumeration("mode", {"std", "non-std", "bad-output", "in-create"},
                                              "std", "How to fail."));
    d.input("query", "image", "Query image.");
    d.output("prob", "prob", "Never produced.");
    d.output("mask", "mask", "Never produced.");
    return d;
  }
  ThrowingSegmenter(const difss::sdk::Host&, const difss::sdk::Params& p) : mode_(p.string("mode")) {
    if (mode_ == "in-create") throw std::runtime_error("weights file is corrupt (simulated)");
  }
  difss::sdk::SegmenterOutput segment(const difss::sdk::SegmenterInput&, difss::sdk::Call&) override {
    if (mode_ == "std") throw std::runtime_error("simulated failure inside segment()");
    if (mode_ == "non-std") throw 42;
    difss::sdk::SegmenterOutput o;  // bad-output: a [1] float and a 3-D mask
    o.prob = difss::sdk::OwnedTensor::allocate(difss::sdk::kF32, {1});
    o.mask = difss::sdk::OwnedTensor::allocate(difss::sdk::kU8, {2, 2, 2});
    return o;
  }

 private:
  std::string mode_;
};

}  // namespace

DIFSS_PLUGIN_LIBRARY("difss-test-throws", ThrowingSegmenter)
