// OwnedTensor: sole owner of a DLManagedTensor (calls its deleter exactly once), and helpers
// to allocate plain CPU tensors and to check borrowed DLTensor inputs against the port
// conventions of difss.h. No LibTorch, no OpenCV.
#pragma once

#include <dlpack/dlpack.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <difss/sdk/error.hpp>

namespace difss::sdk {

class OwnedTensor {
 public:
  OwnedTensor() = default;
  explicit OwnedTensor(DLManagedTensor* t) : t_(t) {}
  OwnedTensor(const OwnedTensor&) = delete;
  OwnedTensor& operator=(const OwnedTensor&) = delete;
  OwnedTensor(OwnedTensor&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
  OwnedTensor& operator=(OwnedTensor&& o) noexcept {
    if (this != &o) {
      reset();
      t_ = o.t_;
      o.t_ = nullptr;
    }
    return *this;
  }
  ~OwnedTensor() { reset(); }

  void reset() {
    if (t_ && t_->deleter) t_->deleter(t_);
    t_ = nullptr;
  }
  DLManagedTensor* release() {
    auto* t = t_;
    t_ = nullptr;
    return t;
  }
  explicit operator bool() const { return t_ != nullptr; }
  DLManagedTensor* get() const { return t_; }
  const DLTensor& dl() const { return t_->dl_tensor; }
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(static_cast<char*>(t_->dl_tensor.data) + t_->dl_tensor.byte_offset);
  }

  // A new contiguous CPU tensor of the given dtype and shape, zero-filled.
  static OwnedTensor allocate(DLDataType dtype, std::vector<int64_t> shape) {
    struct Holder {
      DLManagedTensor m;
      std::vector<int64_t> shape;
      std::unique_ptr<uint8_t[]> data;
    };
    size_t n = 1;
    for (int64_t d : shape) {
      if (d < 0) throw Error(DIFSS_ERR_INVALID_ARGUMENT, "negative tensor dimension");
      n *= size_t(d);
    }
    size_t bytes = n * ((dtype.bits * dtype.lanes + 7) / 8);
    auto h = std::make_unique<Holder>();
    h->shape = std::move(shape);
    h->data.reset(new uint8_t[bytes ? bytes : 1]());
    DLTensor& t = h->m.dl_tensor;
    t.data = h->data.get();
    t.device = {kDLCPU, 0};
    t.ndim = int32_t(h->shape.size());
    t.dtype = dtype;
    t.shape = h->shape.data();
    t.strides = nullptr;  // contiguous
    t.byte_offset = 0;
    h->m.manager_ctx = h.get();
    h->m.deleter = [](DLManagedTensor* self) { delete static_cast<Holder*>(self->manager_ctx); };
    return OwnedTensor(&h.release()->m);
  }

 private:
  DLManagedTensor* t_ = nullptr;
};

inline constexpr DLDataType kU8{kDLUInt, 8, 1};
inline constexpr DLDataType kF32{kDLFloat, 32, 1};

inline bool same_dtype(DLDataType a, DLDataType b) {
  return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}

inline bool is_contiguous(const DLTensor& t) {
  if (!t.strides) return true;
  int64_t expected = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] != 1 && t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

inline std::string shape_string(const DLTensor& t) {
  std::string s = "[";
  for (int i = 0; i < t.ndim; ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

// Checks a borrowed input against a port convention ("image", "mask", "prob", "images");
// throws Error(INVALID_ARGUMENT) naming the port and what was expected.
inline void require_port(const DLTensor& t, const std::string& port, const std::string& format) {
  auto fail = [&](const std::string& what) {
    throw Error(DIFSS_ERR_INVALID_ARGUMENT,
                "input '" + port + "': expected " + what + ", got ndim " + std::to_string(t.ndim) +
                    " shape " + shape_string(t));
  };
  if (t.device.device_type != kDLCPU) fail("a CPU tensor");
  if (!is_contiguous(t)) fail("a contiguous tensor");
  if (format == DIFSS_FORMAT_IMAGE) {
    if (t.ndim != 3 || t.shape[2] != 3 || !same_dtype(t.dtype, kU8)) fail("uint8 [H, W, 3] RGB");
  } else if (format == DIFSS_FORMAT_MASK) {
    if (t.ndim != 2 || !same_dtype(t.dtype, kU8)) fail("uint8 [H, W] mask");
  } else if (format == DIFSS_FORMAT_PROB) {
    if (t.ndim != 2 || !same_dtype(t.dtype, kF32)) fail("float32 [H, W]");
  } else if (format == DIFSS_FORMAT_IMAGES) {
    if (t.ndim != 4 || t.shape[3] != 3 || !same_dtype(t.dtype, kU8)) fail("uint8 [N, H, W, 3]");
  }
  for (int i = 0; i < t.ndim; ++i)
    if (t.shape[i] <= 0) fail("non-empty dimensions");
}

}  // namespace difss::sdk
