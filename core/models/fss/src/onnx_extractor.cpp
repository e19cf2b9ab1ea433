// ONNX networks as feature extractors through OpenCV's dnn module (onnx_extractor.hpp).
#include <difss/fss/onnx_extractor.hpp>

#include <ATen/ATen.h>

#include <opencv2/dnn.hpp>
#include <opencv2/dnn/all_layers.hpp>

#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>

namespace difss::fss {

namespace {

const std::string kPrefix = "onnx_node!";

std::string short_name(const std::string& n) {
  return n.compare(0, kPrefix.size(), kPrefix) == 0 ? n.substr(kPrefix.size()) : n;
}

cv::dnn::Net read_net(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw std::invalid_argument(path + ": file not found");
  try {
    return cv::dnn::readNetFromONNX(path);
  } catch (const cv::Exception& e) {
    throw std::invalid_argument(path + ": not a network OpenCV's dnn module can read: " + e.msg);
  }
}

// Scale and zero point of an int8 layer's output.
bool output_quantisation(const cv::dnn::Layer* l, float& sc, int& zp) {
  using namespace cv::dnn;
  if (auto c = dynamic_cast<const ConvolutionLayerInt8*>(l)) return sc = c->output_sc, zp = c->output_zp, true;
  if (auto c = dynamic_cast<const PoolingLayerInt8*>(l)) return sc = c->output_sc, zp = c->output_zp, true;
  if (auto c = dynamic_cast<const InnerProductLayerInt8*>(l)) return sc = c->output_sc, zp = c->output_zp, true;
  if (auto c = dynamic_cast<const BatchNormLayerInt8*>(l)) return sc = c->output_sc, zp = c->output_zp, true;
  return false;
}
bool input_quantisation(const cv::dnn::Layer* l, float& sc, int& zp) {
  using namespace cv::dnn;
  if (auto c = dynamic_cast<const ConvolutionLayerInt8*>(l)) return sc = c->input_sc, zp = c->input_zp, true;
  if (auto c = dynamic_cast<const PoolingLayerInt8*>(l)) return sc = c->input_sc, zp = c->input_zp, true;
  if (auto c = dynamic_cast<const InnerProductLayerInt8*>(l)) return sc = c->input_sc, zp = c->input_zp, true;
  if (auto c = dynamic_cast<const BatchNormLayerInt8*>(l)) return sc = c->input_sc, zp = c->input_zp, true;
  return false;
}

class OnnxExtractor final : public FeatureExtractor {
 public:
  OnnxExtractor(const std::string& path, const std::vector<std::string>& layers) : net_(read_net(path)) {
    if (layers.empty()) throw std::invalid_argument(path + ": no layers given");
    const std::vector<cv::String> all = net_.getLayerNames();
    for (const auto& want : layers) {
      std::string full;
      for (const auto& n : all)
        if (n == want || short_name(n) == want) full = n;
      if (full.empty()) {
        std::string msg = path + ": no layer named '" + want + "'; layers are:";
        for (const auto& n : all) msg += " " + short_name(n);
        throw std::invalid_argument(msg);
      }
      names_.push_back(full);
      layers_.push_back(short_name(full));
      quant_.push_back(find_quantisation(full));
    }
  }

  std::vector<at::Tensor> extract(const at::Tensor& images) override {
    // cv::dnn::Net is not re-entrant; one forward at a time per extractor.
    std::lock_guard<std::mutex> lock(mu_);
    at::Tensor x = images.to(at::kFloat).contiguous();
    std::vector<std::vector<at::Tensor>> per_layer(names_.size());
    for (int64_t n = 0; n < x.size(0); ++n) {
      at::Tensor one = x.narrow(0, n, 1).contiguous();
      const int sizes[4] = {1, int(one.size(1)), int(one.size(2)), int(one.size(3))};
      cv::Mat blob(4, sizes, CV_32F, one.data_ptr<float>());
      std::vector<cv::Mat> outs;
      try {
        net_.setInput(blob);
        net_.forward(outs, names_);
      } catch (const cv::Exception& e) {
        throw std::invalid_argument("OpenCV dnn forward failed for an input of " + std::to_string(sizes[2]) + "x" +
                                    std::to_string(sizes[3]) + ": " + e.msg);
      }
      for (size_t l = 0; l < outs.size(); ++l) per_layer[l].push_back(to_tensor(outs[l], l));
    }
    std::vector<at::Tensor> res;
    for (auto& v : per_layer) res.push_back(at::cat(v));
    return res;
  }
  std::vector<std::string> layers() const override { return layers_; }

 private:
  struct Quant {
    bool known = false;
    float sc = 1;
    int zp = 0;
  };

  Quant find_quantisation(const std::string& name) {
    Quant q;
    const int id = net_.getLayerId(name);
    cv::Ptr<cv::dnn::Layer> layer = net_.getLayer(id);
    if (output_quantisation(layer.get(), q.sc, q.zp)) return q.known = true, q;
    // Else from a consumer that records its input quantisation.
    for (const auto& other : net_.getLayerNames()) {
      const int oid = net_.getLayerId(other);
      for (const auto& in : net_.getLayerInputs(oid))
        if (in.get() == layer.get() && input_quantisation(net_.getLayer(oid).get(), q.sc, q.zp)) return q.known = true, q;
    }
    return q;  // float layers need none; int8 outputs without it are refused at run time
  }

  at::Tensor to_tensor(const cv::Mat& m, size_t l) const {
    if (m.dims != 4) throw std::invalid_argument("layer '" + layers_[l] + "' does not output a 4-d feature map");
    std::vector<int64_t> shape{m.size[0], m.size[1], m.size[2], m.size[3]};
    cv::Mat c = m.isContinuous() ? m : m.clone();
    if (c.depth() == CV_32F) return at::from_blob(c.data, shape, at::kFloat).clone();
    if (c.depth() == CV_8S) {
      if (!quant_[l].known)
        throw std::invalid_argument("cannot dequantise the int8 output of layer '" + layers_[l] +
                                    "' (no scale/zero point found); choose a convolution layer");
      at::Tensor q = at::from_blob(c.data, shape, at::kChar).to(at::kFloat);
      return (q - float(quant_[l].zp)) * quant_[l].sc;
    }
    throw std::invalid_argument("layer '" + layers_[l] + "' has an unsupported output depth");
  }

  cv::dnn::Net net_;
  std::vector<cv::String> names_;
  std::vector<std::string> layers_;
  std::vector<Quant> quant_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<FeatureExtractor> make_onnx_extractor(const std::string& path, const std::vector<std::string>& layers) {
  return std::make_unique<OnnxExtractor>(path, layers);
}

std::vector<std::string> onnx_layer_names(const std::string& path) {
  cv::dnn::Net net = read_net(path);
  std::vector<std::string> out;
  for (const auto& n : net.getLayerNames()) out.push_back(short_name(n));
  return out;
}

}  // namespace difss::fss
