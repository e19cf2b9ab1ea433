#include <difss/fss/checkpoint.hpp>

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#if DIFSS_FSS_HAVE_WEIGHTS
#include <difss/weights/error.hpp>
#include <difss/weights/load.hpp>
#endif

#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace difss::fss {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::invalid_argument(path + ": " + what);
}
}  // namespace

StateDict read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open file");
  f.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(f.tellg());
  f.seekg(0);
  if (size < 8) fail(path, "too short for a .safetensors file");
  unsigned char len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | len_bytes[i];
  if (hlen > size - 8 || hlen > (uint64_t(100) << 20)) fail(path, "header length " + std::to_string(hlen) + " exceeds the file");
  std::string header(size_t(hlen), '\0');
  f.read(header.data(), std::streamsize(hlen));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const std::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(path, "header is not a JSON object");
  const uint64_t data_start = 8 + hlen, data_size = size - data_start;
  StateDict sd;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (metadata && it->is_object())
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) (*metadata)[m.key()] = m->get<std::string>();
      continue;
    }
    const auto& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail(path, "tensor '" + it.key() + "' lacks dtype/shape/data_offsets");
    const std::string dt = e["dtype"].get<std::string>();
    at::ScalarType st;
    size_t esize;
    if (dt == "F32") st = at::kFloat, esize = 4;
    else if (dt == "F16") st = at::kHalf, esize = 2;
    else if (dt == "BF16") st = at::kBFloat16, esize = 2;
    else if (dt == "F64") st = at::kDouble, esize = 8;
    else if (dt == "I64") st = at::kLong, esize = 8;
    else if (dt == "I32") st = at::kInt, esize = 4;
    else if (dt == "U8") st = at::kByte, esize = 1;
    else if (dt == "BOOL") st = at::kBool, esize = 1;
    else fail(path, "tensor '" + it.key() + "' has unsupported dtype " + dt);
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      const int64_t v = d.get<int64_t>();
      if (v < 0 || (v > 0 && numel > (uint64_t(1) << 40) / uint64_t(v))) fail(path, "tensor '" + it.key() + "' has a bad shape");
      shape.push_back(v);
      numel *= uint64_t(v);
    }
    const uint64_t b = e["data_offsets"][0].get<uint64_t>(), en = e["data_offsets"][1].get<uint64_t>();
    if (b > en || en > data_size || en - b != numel * esize)
      fail(path, "tensor '" + it.key() + "' data_offsets do not match its shape or the file size");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
    f.seekg(std::streamoff(data_start + b));
    f.read(static_cast<char*>(t.data_ptr()), std::streamsize(en - b));  // little-endian host
    if (!f) fail(path, "truncated while reading tensor '" + it.key() + "'");
    sd[it.key()] = t;
  }
  return sd;
}

StateDict load_state_dict_file(const std::string& path) {
  if (path.empty()) throw std::invalid_argument("no checkpoint path given");
#if DIFSS_FSS_HAVE_WEIGHTS
  try {
    weights::StateDict sd = weights::load(path);
    StateDict out;
    for (const auto& item : sd) out[item.name] = item.tensor;
    return out;
  } catch (const weights::WeightError& e) {
    throw std::invalid_argument(e.what());
  }
#else
  std::ifstream probe(path, std::ios::binary);
  if (!probe) fail(path, "cannot open file");
  char magic[2] = {0, 0};
  probe.read(magic, 2);
  // torch.save files start with "PK" (zip) or the pickle protocol byte 0x80 (legacy format).
  const bool torch_file = (magic[0] == 'P' && magic[1] == 'K') || uint8_t(magic[0]) == 0x80;
  if (!torch_file) return read_safetensors(path);
  fail(path, "is a torch.save file; reading it needs the core weight readers (difss_weights), "
             "which this build lacks. Convert it to .safetensors");
#endif
}

}  // namespace difss::fss
