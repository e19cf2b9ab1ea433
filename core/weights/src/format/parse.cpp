// Format sniffing, dispatch, and the small DType tables.
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>

#include "bytes.hpp"
#include "difss/weights/index.hpp"
#include "parsers.hpp"

namespace difss::weights {

std::size_t dtype_size(DType d) noexcept {
  switch (d) {
    case DType::F64: case DType::I64: case DType::C64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
    case DType::C128: return 16;
  }
  return 1;
}

const char* dtype_name(DType d) noexcept {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
    case DType::C64: return "C64";
    case DType::C128: return "C128";
  }
  return "?";
}

const char* format_name(Format f) noexcept {
  switch (f) {
    case Format::TorchZip: return "torch-zip";
    case Format::TorchLegacy: return "torch-legacy";
    case Format::Safetensors: return "safetensors";
  }
  return "?";
}

std::uint64_t TensorRecord::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::int64_t d : sizes) n *= static_cast<std::uint64_t>(d);
  return n;
}

Format detect_format(const std::uint8_t* data, std::size_t size, const std::string& source) {
  if (size == 0) detail::fail(source, "file is empty");
  if (size >= 4 && data[0] == 'P' && data[1] == 'K' &&
      ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6)))
    return Format::TorchZip;
  if (size >= 2 && data[0] == 0x80 && data[1] >= 1 && data[1] <= 5) return Format::TorchLegacy;
  if (size >= 9 && data[8] == '{') return Format::Safetensors;
  if (size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0)
    detail::fail(source, "this is a tar archive (torch.save before 0.1.10?); that format is not supported");
  char first[64] = {0};
  std::size_t shown = size < 8 ? size : 8;
  for (std::size_t i = 0; i < shown; ++i) std::snprintf(first + 3 * i, 4, " %02x", data[i]);
  detail::fail(source, std::string("unrecognised checkpoint format (first bytes:") + first +
                           "): expected a torch.save zip, a legacy torch.save pickle or a .safetensors file");
}

CheckpointIndex parse_checkpoint_as(Format format, const std::uint8_t* data, std::size_t size,
                                    const std::string& source, const ParseOptions& options) {
  try {
    switch (format) {
      case Format::TorchZip: return detail::parse_torch_zip(data, size, source, options);
      case Format::TorchLegacy: return detail::parse_torch_legacy(data, size, source, options);
      case Format::Safetensors: return detail::parse_safetensors(data, size, source, options);
    }
  } catch (const std::bad_alloc&) {
    detail::fail(source, "out of memory while parsing the checkpoint structure");
  } catch (const std::length_error&) {
    detail::fail(source, "a size in the checkpoint structure is too large");
  }
  detail::fail(source, "unknown format");
}

CheckpointIndex parse_checkpoint(const std::uint8_t* data, std::size_t size, const std::string& source,
                                 const ParseOptions& options) {
  return parse_checkpoint_as(detect_format(data, size, source), data, size, source, options);
}

}  // namespace difss::weights
