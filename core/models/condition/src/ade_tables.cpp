#include <difss/condition/ade_tables.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace difss::condition::ade {

namespace {
#include "ade_tables.inc"

static_assert(kAdeCount == kClassCount, "ADE table size");
static_assert(kFssCount == kFssClassCount, "FSS-1000 table size");

// lower case, trimmed, '_' -> ' ', runs of spaces collapsed
std::string normalise(const std::string& s) {
  std::string out;
  for (char c : s) {
    char x = (c == '_') ? ' ' : char(std::tolower(static_cast<unsigned char>(c)));
    if (x == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(x);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void check(int i, int n, const char* what) {
  if (i < 0 || i >= n)
    throw std::out_of_range(std::string(what) + " index " + std::to_string(i) + " outside 0.." +
                            std::to_string(n - 1));
}
}  // namespace

Rgb palette(int ade_index) {
  check(ade_index, kAdeCount, "ADE palette");
  const auto& c = kAdePalette[ade_index];
  return {c[0], c[1], c[2]};
}

const char* class_name(int ade_index) {
  check(ade_index, kAdeCount, "ADE class");
  return kAdeNames[ade_index];
}

int index_of_class_name(const std::string& name) {
  static const std::unordered_map<std::string, int> by_name = [] {
    std::unordered_map<std::string, int> m;
    for (int i = 0; i < kAdeCount; ++i) m.emplace(normalise(kAdeNames[i]), i);  // first wins
    return m;
  }();
  auto it = by_name.find(normalise(name));
  return it == by_name.end() ? -1 : it->second;
}

int pascal_to_ade(int id) { return id >= 0 && id <= 20 ? kPascalToAde[id] : -1; }
int coco_to_ade(int id) { return id >= 0 && id <= 80 ? kCocoToAde[id] : -1; }

const char* fss1000_name(int i) {
  check(i, kFssCount, "FSS-1000 class");
  return kFssNames[i];
}

int fss1000_to_ade(int i) {
  check(i, kFssCount, "FSS-1000 class");
  return kFssToAde[i];
}

int fss1000_index_of(const std::string& name) {
  static const std::unordered_map<std::string, int> by_name = [] {
    std::unordered_map<std::string, int> m;
    for (int i = 0; i < kFssCount; ++i) m.emplace(normalise(kFssNames[i]), i);
    return m;
  }();
  auto it = by_name.find(normalise(name));
  return it == by_name.end() ? -1 : it->second;
}

int hashed_index(const std::string& name) {
  uint32_t h = 2166136261u;
  for (unsigned char c : normalise(name)) {
    h ^= c;
    h *= 16777619u;
  }
  return 1 + int(h % uint32_t(kAdeCount - 1));
}

}  // namespace difss::condition::ade
