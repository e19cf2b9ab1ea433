#include <difss/fss/named_tensors.hpp>

#include <ATen/ATen.h>

#include <cmath>

namespace difss::fss {

namespace {

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

thread_local bool shapes_only = false;

}  // namespace

ShapesOnly::ShapesOnly() : previous_(shapes_only) { shapes_only = true; }
ShapesOnly::~ShapesOnly() { shapes_only = previous_; }

at::TensorOptions weight_options() {
  at::TensorOptions o = at::TensorOptions().dtype(at::kFloat);
  return shapes_only ? o.device(at::kMeta) : o;
}

uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

void move_to_inference_layout(const std::vector<NamedTensor>& model, at::Device device, at::ScalarType dtype) {
  for (const auto& nt : model) {
    *nt.tensor = nt.tensor->to(device, dtype);
    if (nt.tensor->dim() == 4) *nt.tensor = nt.tensor->contiguous(at::MemoryFormat::ChannelsLast);
  }
}

std::map<std::string, std::vector<int64_t>> shapes_of(const std::vector<NamedTensor>& model) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& nt : model) out[nt.name] = nt.tensor->sizes().vec();
  return out;
}

void deterministic_init(const std::vector<NamedTensor>& model, uint32_t seed) {
  for (const auto& nt : model) {
    at::Tensor& t = *nt.tensor;
    const int64_t n = t.numel();
    at::Tensor cpu = at::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat));
    float* p = cpu.data_ptr<float>();
    const uint32_t h = fnv1a32(nt.name) + seed;
    const bool is_var = ends_with(nt.name, ".running_var");
    const bool is_mean = ends_with(nt.name, ".running_mean");
    const bool is_scale = !is_var && !is_mean && t.dim() == 1 && ends_with(nt.name, ".weight");
    double gain = 0;
    if (t.dim() >= 2) gain = std::sqrt(6.0 / double(n / t.size(0)));
    for (int64_t i = 0; i < n; ++i) {
      uint32_t x = lowbias32(uint32_t(uint64_t(i)) + h);
      double u = double(x >> 8) / double(1u << 23) - 1.0;
      double v;
      if (t.dim() >= 2) v = u * gain;
      else if (is_var) v = 1.0 + 0.5 * std::fabs(u);
      else if (is_mean) v = 0.1 * u;
      else if (is_scale) v = 1.0 + 0.1 * u;
      else v = 0.1 * u;
      p[i] = float(v);
    }
    t = cpu.to(t.device(), t.scalar_type());
  }
}

}  // namespace difss::fss
