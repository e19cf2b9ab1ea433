// Conversions between DLPack and at::Tensor for plugins that use LibTorch.
//   as_tensor(dl)   zero-copy at::Tensor view of a borrowed input (valid during the call)
//   to_owned(t)     hands an at::Tensor to the host without copying (at::toDLPack keeps the
//                   storage alive until the host calls the deleter); makes it contiguous first.
#pragma once

#include <ATen/DLConvertor.h>
#include <ATen/Functions.h>

#include <difss/sdk/owned_tensor.hpp>

namespace difss::sdk {

inline at::Tensor as_tensor(const DLTensor& t) {
  if (t.device.device_type != kDLCPU)
    throw Error(DIFSS_ERR_UNSUPPORTED, "as_tensor: only CPU inputs are supported");
  at::ScalarType st;
  if (same_dtype(t.dtype, kU8)) st = at::kByte;
  else if (same_dtype(t.dtype, kF32)) st = at::kFloat;
  else if (t.dtype.code == kDLInt && t.dtype.bits == 64) st = at::kLong;
  else throw Error(DIFSS_ERR_INVALID_ARGUMENT, "as_tensor: unsupported dtype");
  std::vector<int64_t> sizes(t.shape, t.shape + t.ndim);
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  if (t.strides) {
    std::vector<int64_t> strides(t.strides, t.strides + t.ndim);
    return at::from_blob(data, sizes, strides, at::TensorOptions().dtype(st));
  }
  return at::from_blob(data, sizes, at::TensorOptions().dtype(st));
}

inline OwnedTensor to_owned(const at::Tensor& t) {
  return OwnedTensor(at::toDLPack(t.contiguous()));
}

}  // namespace difss::sdk
