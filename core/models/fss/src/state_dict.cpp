#include <difss/fss/state_dict.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace difss::fss {

namespace {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

void list_some(std::ostringstream& o, const char* what, const std::vector<std::string>& v) {
  if (v.empty()) return;
  o << " " << v.size() << " " << what << " (";
  for (size_t i = 0; i < v.size() && i < 5; ++i) o << (i ? ", " : "") << v[i];
  if (v.size() > 5) o << ", ...";
  o << ");";
}

uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

}  // namespace

std::string LoadReport::summary(const std::string& source) const {
  std::ostringstream o;
  o << source << ": state dict does not match the model:";
  list_some(o, "missing", missing);
  list_some(o, "unexpected", unexpected);
  list_some(o, "with a different shape", mismatched);
  o << " " << loaded.size() << " loaded";
  return o.str();
}

LoadReport assign_state_dict(const std::vector<NamedTensor>& model, const StateDict& sd,
                             const LoadOptions& opt, const std::string& source) {
  std::map<std::string, at::Tensor*> by_name;
  for (const auto& nt : model) by_name[nt.name] = nt.tensor;
  std::map<std::string, bool> seen;
  LoadReport rep;
  for (const auto& [raw_key, value] : sd) {
    std::string key = raw_key;
    for (const auto& p : opt.strip_prefixes)
      if (starts_with(key, p)) {
        key = key.substr(p.size());
        break;
      }
    key = opt.add_prefix + key;
    bool ignore = false;
    for (const auto& p : opt.ignore_prefixes) ignore |= starts_with(key, p);
    for (const auto& s : opt.ignore_suffixes) ignore |= ends_with(key, s);
    auto it = by_name.find(key);
    if (it == by_name.end()) {
      (ignore ? rep.ignored : rep.unexpected).push_back(raw_key);
      continue;
    }
    at::Tensor& dst = *it->second;
    if (!value.defined() || dst.sizes() != value.sizes()) {
      rep.mismatched.push_back(key + ": checkpoint " +
                               (value.defined() ? shape_str(value.sizes()) : std::string("undefined")) +
                               " vs model " + shape_str(dst.sizes()));
      seen[key] = true;
      continue;
    }
    // Replace rather than copy_: the member may be shared with nothing else, and replacing
    // keeps an autograd-free leaf. Converted to the member's dtype/device.
    dst = value.to(dst.device(), dst.scalar_type()).contiguous().clone();
    rep.loaded.push_back(key);
    seen[key] = true;
  }
  for (const auto& nt : model)
    if (!seen.count(nt.name) && starts_with(nt.name, opt.expect_prefix)) rep.missing.push_back(nt.name);
  if (opt.strict && !rep.ok()) throw std::invalid_argument(rep.summary(source));
  return rep;
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
