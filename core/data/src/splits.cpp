// HSNet split lists and the derivation rule; see splits.hpp.
#include "difss/data/splits.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "difss/data/image_io.hpp"

namespace difss::data {
namespace {

constexpr std::uintmax_t kMaxListBytes = 512ull << 20;

std::string read_all(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error("list file '" + path.string() + "' does not exist or is not a file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxListBytes)
    throw std::runtime_error("list file '" + path.string() + "' is unreadable or larger than 512 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open list file '" + path.string() + "'");
  std::string s(static_cast<std::size_t>(size), '\0');
  in.read(s.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size)
    throw std::runtime_error("cannot read list file '" + path.string() + "'");
  return s;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool parse_int(const std::string& s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

// ---- restricted pickle reader: dict[int, list[str]] only, nothing is ever executed ----
struct PValue {
  enum Kind { Int, Str, List, Dict, Mark } kind = Int;
  long long i = 0;
  std::string s;
  std::shared_ptr<std::vector<PValue>> list;
  std::shared_ptr<std::vector<std::pair<PValue, PValue>>> dict;
};

class PickleReader {
 public:
  PickleReader(const std::string& bytes, const std::string& source) : b_(bytes), src_(source) {}

  PValue run() {
    while (pos_ < b_.size()) {
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(b_[pos_++]);
      switch (op) {
        case 0x80: take(1); break;                 // PROTO
        case 0x95: take(8); break;                 // FRAME
        case '}': push_dict(); break;              // EMPTY_DICT
        case ']': push_list(); break;              // EMPTY_LIST
        case '(': { PValue m; m.kind = PValue::Mark; stack_.push_back(m); break; }  // MARK
        case 'K': push_int(u(1)); break;           // BININT1
        case 'M': push_int(u(2)); break;           // BININT2
        case 'J': push_int(static_cast<std::int32_t>(u(4))); break;  // BININT
        case 'X': push_str(u(4)); break;           // BINUNICODE
        case 0x8c: push_str(u(1)); break;          // SHORT_BINUNICODE
        case 0x8d: push_str(u(8)); break;          // BINUNICODE8
        case 'T': push_str(u(4)); break;           // BINSTRING
        case 'U': push_str(u(1)); break;           // SHORT_BINSTRING
        case 'q': memo_put(u(1)); break;           // BINPUT
        case 'r': memo_put(u(4)); break;           // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'h': memo_get(u(1)); break;           // BINGET
        case 'j': memo_get(u(4)); break;           // LONG_BINGET
        case 'a': append(true); break;                // APPEND
        case 'e': append(false); break;                // APPENDS
        case 's': setitems(true); break;              // SETITEM
        case 'u': setitems(false); break;              // SETITEMS
        case '.':                                  // STOP
          if (stack_.size() != 1) fail(at, "malformed pickle (stack size at STOP)");
          return stack_.back();
        default: {
          char buf[96];
          std::snprintf(buf, sizeof buf, "unsupported pickle opcode 0x%02x", op);
          fail(at, buf);
        }
      }
    }
    fail(pos_, "truncated pickle (no STOP opcode)");
  }

 private:
  [[noreturn]] void fail(std::size_t at, const std::string& what) const {
    throw std::runtime_error("cannot read HSNet split '" + src_ + "': " + what + " at byte " +
                             std::to_string(at) + " (expected a pickled dict[int, list[str]])");
  }
  std::uint64_t u(int n) {
    take(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(b_[pos_ - n + k]);
    return v;
  }
  void take(std::size_t n) {
    if (n > b_.size() - pos_) fail(pos_, "truncated pickle");
    pos_ += n;
  }
  void push_int(long long v) { PValue x; x.kind = PValue::Int; x.i = v; stack_.push_back(std::move(x)); }
  void push_str(std::uint64_t n) {
    if (n > b_.size() - pos_) fail(pos_, "string longer than the data");
    PValue x; x.kind = PValue::Str; x.s = b_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    stack_.push_back(std::move(x));
  }
  void push_list() { PValue x; x.kind = PValue::List; x.list = std::make_shared<std::vector<PValue>>(); stack_.push_back(std::move(x)); }
  void push_dict() { PValue x; x.kind = PValue::Dict; x.dict = std::make_shared<std::vector<std::pair<PValue, PValue>>>(); stack_.push_back(std::move(x)); }
  void memo_put(std::uint64_t k) {
    if (stack_.empty()) fail(pos_, "memo store on an empty stack");
    if (memo_.size() > 50'000'000) fail(pos_, "too many memo entries");
    memo_[k] = stack_.back();
  }
  void memo_get(std::uint64_t k) {
    const auto it = memo_.find(k);
    if (it == memo_.end()) fail(pos_, "memo key " + std::to_string(k) + " missing");
    stack_.push_back(it->second);
  }
  std::size_t mark_pos() {
    for (std::size_t k = stack_.size(); k-- > 0;)
      if (stack_[k].kind == PValue::Mark) return k;
    fail(pos_, "no MARK on the stack");
  }
  // APPEND: [.., list, x]; APPENDS: [.., list, MARK, x1..xn]. Same shape for SETITEM(S).
  std::pair<std::size_t, std::size_t> target_and_items(bool single, std::size_t n_single) {
    if (single) {
      if (stack_.size() < n_single + 1) fail(pos_, "too few values on the stack");
      const std::size_t items = stack_.size() - n_single;
      return {items - 1, items};
    }
    const std::size_t m = mark_pos();
    if (m < 1) fail(pos_, "MARK without a container below it");
    return {m - 1, m + 1};
  }
  void append(bool single) {
    const auto [at, from] = target_and_items(single, 1);
    PValue& target = stack_[at];
    if (target.kind != PValue::List) fail(pos_, "APPEND to a non-list");
    for (std::size_t k = from; k < stack_.size(); ++k) {
      if (stack_[k].kind == PValue::Mark) fail(pos_, "stray MARK");
      target.list->push_back(stack_[k]);
    }
    stack_.resize(at + 1);
  }
  void setitems(bool single) {
    const auto [at, from] = target_and_items(single, 2);
    if ((stack_.size() - from) % 2) fail(pos_, "SETITEMS with an odd number of values");
    PValue& target = stack_[at];
    if (target.kind != PValue::Dict) fail(pos_, "SETITEM on a non-dict");
    for (std::size_t k = from; k < stack_.size(); k += 2) {
      if (stack_[k].kind == PValue::Mark || stack_[k + 1].kind == PValue::Mark) fail(pos_, "stray MARK");
      target.dict->emplace_back(stack_[k], stack_[k + 1]);
    }
    stack_.resize(at + 1);
  }

  const std::string& b_;
  std::string src_;
  std::size_t pos_ = 0;
  std::vector<PValue> stack_;
  std::map<std::uint64_t, PValue> memo_;
};

}  // namespace

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::istringstream in(read_all(path));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<ImageClassPair> read_hsnet_pascal_list(const std::filesystem::path& path) {
  std::vector<ImageClassPair> out;
  std::size_t n = 0;
  for (const auto& line : read_lines(path)) {
    ++n;
    const auto sep = line.rfind("__");
    int cls = 0;
    if (sep == std::string::npos || sep == 0 || !parse_int(line.substr(sep + 2), cls) || cls < 1 || cls > 255)
      throw std::runtime_error("HSNet PASCAL list '" + path.string() + "': line " + std::to_string(n) +
                               " '" + line + "' is not 'IMAGEID__CC' (CC = class 1..20)");
    out.push_back({line.substr(0, sep), cls});
  }
  return out;
}

std::vector<std::pair<int, std::vector<std::string>>> parse_pickled_class_lists(
    const std::string& bytes, const std::string& source) {
  PickleReader reader(bytes, source);
  const PValue top = reader.run();
  auto bad = [&source](const std::string& what) {
    return std::runtime_error("cannot read HSNet split '" + source + "': " + what +
                              " (expected a pickled dict[int, list[str]])");
  };
  if (top.kind != PValue::Dict) throw bad("the top object is not a dict");
  std::vector<std::pair<int, std::vector<std::string>>> out;
  for (const auto& [k, v] : *top.dict) {
    if (k.kind != PValue::Int) throw bad("a key is not an int");
    if (v.kind != PValue::List) throw bad("the value of key " + std::to_string(k.i) + " is not a list");
    std::vector<std::string> items;
    items.reserve(v.list->size());
    for (const auto& e : *v.list) {
      if (e.kind != PValue::Str) throw bad("an item of key " + std::to_string(k.i) + " is not a string");
      items.push_back(e.s);
    }
    out.emplace_back(static_cast<int>(k.i), std::move(items));
  }
  return out;
}

std::vector<std::pair<int, std::vector<std::string>>> read_hsnet_coco_split(
    const std::filesystem::path& path) {
  const std::string bytes = read_all(path);
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x80)
    return parse_pickled_class_lists(bytes, path.string());
  std::vector<std::pair<int, std::vector<std::string>>> out;
  std::map<int, std::size_t> where;
  std::istringstream in(bytes);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty()) continue;
    const auto sp = line.find_first_of(" \t");
    int cls = 0;
    if (sp == std::string::npos || !parse_int(line.substr(0, sp), cls) || cls > 255)
      throw std::runtime_error("HSNet COCO list '" + path.string() + "': line " + std::to_string(n) + " '" +
                               line + "' is not 'CLASS IMAGEPATH' (CLASS = 0-based class 0..79)");
    const std::string img = trim(line.substr(sp + 1));
    auto it = where.find(cls);
    if (it == where.end()) {
      it = where.emplace(cls, out.size()).first;
      out.emplace_back(cls, std::vector<std::string>{});
    }
    out[it->second].second.push_back(img);
  }
  return out;
}

std::vector<std::int64_t> label_histogram(const cv::Mat& labels) {
  if (labels.type() != CV_8UC1) throw std::invalid_argument("label_histogram: expected a CV_8UC1 label map");
  std::vector<std::int64_t> h(256, 0);
  for (int y = 0; y < labels.rows; ++y) {
    const std::uint8_t* p = labels.ptr<std::uint8_t>(y);
    for (int x = 0; x < labels.cols; ++x) ++h[p[x]];
  }
  return h;
}

std::vector<int> classes_present(const cv::Mat& labels, const std::vector<int>& candidates,
                                 std::int64_t min_pixels) {
  const auto h = label_histogram(labels);
  std::vector<int> out;
  for (int c : candidates)
    if (c >= 0 && c < 256 && h[static_cast<std::size_t>(c)] > 0 && h[static_cast<std::size_t>(c)] >= min_pixels)
      out.push_back(c);
  return out;
}

std::vector<ImageClassPair> derive_label_pairs(const std::filesystem::path& mask_dir,
                                               const std::vector<std::string>& image_ids,
                                               const std::vector<int>& classes,
                                               std::int64_t min_pixels) {
  std::vector<std::pair<std::string, ImageClassPair>> keyed;
  for (const auto& id : image_ids) {
    const cv::Mat labels = read_label_png(mask_dir / (id + ".png"));
    for (int c : classes_present(labels, classes, min_pixels)) {
      char cc[8];
      std::snprintf(cc, sizeof cc, "%02d", c);
      keyed.push_back({id + "__" + cc, ImageClassPair{id, c}});
    }
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ImageClassPair> out;
  out.reserve(keyed.size());
  for (auto& k : keyed) out.push_back(std::move(k.second));
  return out;
}

}  // namespace difss::data
