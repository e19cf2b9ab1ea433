// .safetensors -> CheckpointIndex.
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the data buffer; offsets are relative to it. Checked as strictly as the reference (Rust)
// implementation: header within the file and at most 100 MB, dtype known, end - begin equal to
// numel * element size, and the tensors tile the buffer exactly (no gap, no overlap, no tail).
// The JSON reader below knows only this schema and nests at most a few levels.
#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "bytes.hpp"
#include "parsers.hpp"

namespace difss::weights::detail {
namespace {

constexpr std::uint64_t kMaxHeader = 100'000'000;
constexpr std::size_t kMaxDims = 64;

bool valid_utf8(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    std::uint8_t c = p[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

void put_utf8(std::string* out, std::uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Json {
 public:
  Json(const char* p, std::size_t n, const std::string& source) : p_(p), n_(n), source_(source) {}

  [[noreturn]] void error(const std::string& what) const {
    fail(source_, "safetensors header: " + what + " at byte " + std::to_string(i_));
  }
  void ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= n_) error("unexpected end");
    return p_[i_];
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++i_;
  }
  bool at_end() { ws(); return i_ >= n_; }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (i_ >= n_) error("unterminated string");
      char c = p_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') { out.push_back(c); continue; }
      if (i_ >= n_) error("unterminated escape");
      char e = p_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out.push_back(e); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // surrogate pair
            if (i_ + 2 > n_ || p_[i_] != '\\' || p_[i_ + 1] != 'u') error("lone surrogate");
            i_ += 2;
            std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("lone surrogate");
          }
          put_utf8(&out, cp);
          break;
        }
        default: error("bad escape");
      }
    }
  }

  std::uint64_t uint() {
    ws();
    if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') error("expected a non-negative integer");
    std::uint64_t v = 0;
    std::size_t start = i_;
    while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') {
      if (v > (std::uint64_t{1} << 62) / 10) error("integer too large");
      v = v * 10 + static_cast<std::uint64_t>(p_[i_++] - '0');
    }
    if (p_[start] == '0' && i_ - start > 1) error("leading zero");
    if (i_ < n_ && (p_[i_] == '.' || p_[i_] == 'e' || p_[i_] == 'E')) error("expected an integer");
    return v;
  }

  std::vector<std::uint64_t> uint_array(std::size_t max) {
    std::vector<std::uint64_t> out;
    expect('[');
    if (peek() == ']') { ++i_; return out; }
    for (;;) {
      if (out.size() >= max) error("array too long");
      out.push_back(uint());
      char c = peek();
      ++i_;
      if (c == ']') return out;
      if (c != ',') error("expected ',' or ']'");
    }
  }

  // Skips any JSON value (for unknown keys), nesting at most `depth` more levels.
  void skip_value(int depth) {
    if (depth > 8) error("nested too deeply");
    char c = peek();
    if (c == '"') { string(); return; }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      if (peek() == close) { ++i_; return; }
      for (;;) {
        if (c == '{') { string(); expect(':'); }
        skip_value(depth + 1);
        char d = peek();
        ++i_;
        if (d == close) return;
        if (d != ',') error("expected ',' in container");
      }
    }
    // number / true / false / null
    std::size_t start = i_;
    while (i_ < n_ && (std::isalnum(static_cast<unsigned char>(p_[i_])) || p_[i_] == '-' || p_[i_] == '+' || p_[i_] == '.')) ++i_;
    if (i_ == start) error("unexpected character");
  }

 private:
  std::uint32_t hex4() {
    if (i_ + 4 > n_) error("short \\u escape");
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = p_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else error("bad \\u escape");
    }
    return v;
  }

  const char* p_;
  std::size_t n_;
  std::size_t i_ = 0;
  const std::string& source_;
};

bool parse_dtype(const std::string& s, DType* d) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::Bool}};
  for (const auto& [n, v] : kNames)
    if (s == n) { *d = v; return true; }
  return false;
}

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

Entry parse_tensor_info(Json& json, std::string name, const std::string& source) {
  Entry e;
  e.name = std::move(name);
  bool has_dtype = false, has_shape = false, has_offsets = false;
  json.expect('{');
  if (json.peek() != '}') {
    for (;;) {
      std::string key = json.string();
      json.expect(':');
      if (key == "dtype") {
        std::string d = json.string();
        if (!parse_dtype(d, &e.dtype)) fail(source, "tensor '" + e.name + "': unsupported safetensors dtype '" + d + "'");
        has_dtype = true;
      } else if (key == "shape") {
        for (std::uint64_t v : json.uint_array(kMaxDims)) e.shape.push_back(static_cast<std::int64_t>(v));
        has_shape = true;
      } else if (key == "data_offsets") {
        std::vector<std::uint64_t> o = json.uint_array(2);
        if (o.size() != 2) fail(source, "tensor '" + e.name + "': data_offsets must hold two numbers");
        e.begin = o[0];
        e.end = o[1];
        has_offsets = true;
      } else {
        json.skip_value(0);
      }
      if (json.peek() == ',') { json.expect(','); continue; }
      break;
    }
  }
  json.expect('}');
  if (!has_dtype || !has_shape || !has_offsets)
    fail(source, "tensor '" + e.name + "' lacks dtype, shape or data_offsets");
  return e;
}

}  // namespace

CheckpointIndex parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& source,
                                  const ParseOptions& options) {
  if (size < 8) fail(source, "too small for a safetensors file (" + std::to_string(size) + " bytes)");
  std::uint64_t n = load_le(data, 8);
  if (n > kMaxHeader) fail(source, "safetensors header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > size - 8)
    fail(source, "safetensors header length " + std::to_string(n) + " exceeds the file size " +
                     std::to_string(size) + " (truncated?)");
  const std::uint8_t* header = data + 8;
  if (!valid_utf8(header, static_cast<std::size_t>(n))) fail(source, "safetensors header is not valid UTF-8");
  const std::uint64_t data_start = 8 + n;
  const std::uint64_t data_size = size - data_start;

  CheckpointIndex index;
  index.format = Format::Safetensors;
  Json json(reinterpret_cast<const char*>(header), static_cast<std::size_t>(n), source);
  std::vector<Entry> entries;
  std::unordered_set<std::string> names;
  bool seen_metadata = false;
  json.expect('{');
  if (json.peek() != '}') {
    for (;;) {
      std::string key = json.string();
      json.expect(':');
      if (key == "__metadata__") {
        if (seen_metadata) json.error("duplicate __metadata__");
        seen_metadata = true;
        if (json.peek() == 'n') {
          json.skip_value(0);  // null
        } else {
          json.expect('{');
          if (json.peek() != '}') {
            for (;;) {
              std::string k = json.string();
              json.expect(':');
              if (json.peek() != '"') json.error("__metadata__ values must be strings");
              index.metadata.emplace_back(std::move(k), json.string());
              if (json.peek() == ',') { json.expect(','); continue; }
              break;
            }
          }
          json.expect('}');
        }
      } else {
        if (!names.insert(key).second) fail(source, "duplicate tensor name '" + key + "' in safetensors header");
        entries.push_back(parse_tensor_info(json, key, source));
      }
      if (json.peek() == ',') { json.expect(','); continue; }
      break;
    }
  }
  json.expect('}');
  if (!json.at_end()) json.error("trailing characters after the header object");

  // Sizes, then the tiling of the data buffer.
  for (const Entry& e : entries) {
    std::uint64_t numel = 1, nbytes;
    for (std::int64_t d : e.shape)
      if (mul_overflows(numel, static_cast<std::uint64_t>(d), &numel))
        fail(source, "tensor '" + e.name + "': shape element count overflows");
    if (mul_overflows(numel, dtype_size(e.dtype), &nbytes) || e.end < e.begin || e.end - e.begin != nbytes)
      fail(source, "tensor '" + e.name + "': data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                       ") do not match its shape and dtype " + dtype_name(e.dtype) + " (" +
                       (e.end >= e.begin ? std::to_string(e.end - e.begin) : std::string("negative")) + " bytes, expected " +
                       std::to_string(numel) + " elements)");
    if (e.end > data_size)
      fail(source, "tensor '" + e.name + "': data_offsets end " + std::to_string(e.end) + " lies past the data (" +
                       std::to_string(data_size) + " bytes; truncated?)");
  }
  std::vector<const Entry*> by_offset;
  by_offset.reserve(entries.size());
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t expected = 0;
  for (const Entry* e : by_offset) {
    if (e->begin != expected)
      fail(source, "tensor '" + e->name + "': data_offsets start at " + std::to_string(e->begin) + " but the previous tensor ends at " +
                       std::to_string(expected) + (e->begin < expected ? " (overlap)" : " (gap)"));
    expected = e->end;
  }
  if (expected != data_size)
    fail(source, "tensors cover " + std::to_string(expected) + " bytes of a " + std::to_string(data_size) +
                     "-byte data section (truncated or trailing bytes)");

  index.storages.reserve(entries.size());
  index.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    if (options.filter && !options.filter(e.name)) continue;
    StorageRecord s;
    s.key = e.name;
    s.dtype = e.dtype;
    s.numel = (e.end - e.begin) / dtype_size(e.dtype);
    s.offset = data_start + e.begin;
    TensorRecord t;
    t.name = std::move(e.name);
    t.storage = index.storages.size();
    t.dtype = e.dtype;
    t.sizes = std::move(e.shape);
    t.strides.assign(t.sizes.size(), 1);
    std::uint64_t stride = 1;
    for (std::size_t i = t.sizes.size(); i-- > 1;) {
      if (mul_overflows(stride, static_cast<std::uint64_t>(std::max<std::int64_t>(t.sizes[i], 1)), &stride) ||
          stride > (std::uint64_t{1} << 62))
        fail(source, "tensor '" + t.name + "': shape too large");
      t.strides[i - 1] = static_cast<std::int64_t>(stride);
    }
    index.storages.push_back(std::move(s));
    index.tensors.push_back(std::move(t));
  }
  return index;
}

}  // namespace difss::weights::detail
