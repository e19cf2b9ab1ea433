// Bounds-checked little-endian reading over a byte span, and overflow-checked arithmetic.
// Internal to difss_weights' parsers (torch-free).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "difss/weights/error.hpp"

namespace difss::weights::detail {

[[noreturn]] inline void fail(const std::string& source, std::string problem) {
  throw WeightError(source, std::move(problem));
}

inline std::uint64_t load_le(const std::uint8_t* p, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// a + b and a * b on uint64 that report overflow instead of wrapping.
inline bool add_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t* out) noexcept {
  return __builtin_add_overflow(a, b, out);
}
inline bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t* out) noexcept {
  return __builtin_mul_overflow(a, b, out);
}

// True when [offset, offset + length) lies inside [0, size).
inline bool range_ok(std::uint64_t offset, std::uint64_t length, std::uint64_t size) noexcept {
  return offset <= size && length <= size - offset;
}

// A cursor over [data, data + size) that throws WeightError (naming `what`) on any overrun.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, const std::string& source, const char* what)
      : data_(data), size_(size), source_(source), what_(what) {}

  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return size_ - pos_; }
  bool at_end() const noexcept { return pos_ >= size_; }
  const std::uint8_t* here() const noexcept { return data_ + pos_; }

  void need(std::uint64_t n) const {
    if (n > remaining())
      fail(source_, std::string(what_) + " is truncated: needs " + std::to_string(n) +
                        " more bytes at offset " + std::to_string(pos_) + " but only " +
                        std::to_string(remaining()) + " remain");
  }
  std::uint8_t u8() { need(1); return data_[pos_++]; }
  std::uint64_t le(int n) {
    need(static_cast<std::uint64_t>(n));
    std::uint64_t v = load_le(data_ + pos_, n);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }
  const std::uint8_t* take(std::uint64_t n) {
    need(n);
    const std::uint8_t* p = data_ + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }
  std::string_view take_view(std::uint64_t n) {
    return {reinterpret_cast<const char*>(take(n)), static_cast<std::size_t>(n)};
  }
  // A '\n'-terminated line (without the newline), as the text pickle opcodes use.
  std::string_view line() {
    const void* nl = std::memchr(data_ + pos_, '\n', remaining());
    if (!nl) fail(source_, std::string(what_) + " is truncated: unterminated text argument at offset " +
                               std::to_string(pos_));
    std::size_t n = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - (data_ + pos_));
    std::string_view v = take_view(n);
    ++pos_;
    return v;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& source_;
  const char* what_;
};

}  // namespace difss::weights::detail
