// Features from any ONNX network through OpenCV's dnn module (float or int8 QDQ-quantised, e.g.
// the ONNX Model Zoo's mobilenetv2-12-int8.onnx), taken at layers chosen by name.
//
// Layer names are OpenCV's (the ONNX node names, shown without OpenCV's "onnx_node!" prefix;
// both spellings are accepted). int8 outputs are dequantised with the layer's output scale and
// zero point, found on the layer itself (ConvolutionInt8, PoolingInt8, ...) or, for layers that
// do not expose them (EltwiseInt8 = residual additions), on a consumer's input quantisation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <difss/fss/prototype.hpp>

namespace difss::fss {

// Throws std::invalid_argument naming the file when it cannot be read, and listing the network's
// layer names when one of `layers` is not among them.
std::unique_ptr<FeatureExtractor> make_onnx_extractor(const std::string& onnx_path,
                                                      const std::vector<std::string>& layers);

// Layer names of an ONNX network as make_onnx_extractor accepts them, in network order.
std::vector<std::string> onnx_layer_names(const std::string& onnx_path);

}  // namespace difss::fss
