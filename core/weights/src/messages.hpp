// Small text helpers for the error messages of the tensor side of difss_weights.
#pragma once
#include <c10/util/ArrayRef.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace difss::weights::detail {

// The first line of a (multi-line) c10::Error message.
inline std::string first_line(const char* what) {
  std::string s(what);
  std::size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// "[2, 3]"
inline std::string shape_text(c10::ArrayRef<std::int64_t> s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// "a, b, c (and 7 more)"
inline std::string list_text(const std::vector<std::string>& names, std::size_t max = 12) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += " (and " + std::to_string(names.size() - max) + " more)";
  return out;
}

}  // namespace difss::weights::detail
