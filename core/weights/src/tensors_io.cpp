// The LibTorch half of reading and writing: CheckpointIndex -> at::Tensor, StateDict -> file.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>

#include "difss/weights/error.hpp"
#include "difss/weights/load.hpp"
#include "difss/weights/save.hpp"
#include "mapped_file.hpp"
#include "messages.hpp"

// Storage bytes are little-endian in every supported format; they are used as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "difss_weights assumes a little-endian host");

namespace difss::weights {
namespace {

using detail::MappedFile;

at::ScalarType scalar_type(DType d) {
  switch (d) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::Bool: return at::kBool;
    case DType::C64: return at::kComplexFloat;
    case DType::C128: return at::kComplexDouble;
  }
  return at::kFloat;
}

bool safetensors_dtype(at::ScalarType t, DType* d) {
  switch (t) {
    case at::kDouble: *d = DType::F64; return true;
    case at::kFloat: *d = DType::F32; return true;
    case at::kHalf: *d = DType::F16; return true;
    case at::kBFloat16: *d = DType::BF16; return true;
    case at::kLong: *d = DType::I64; return true;
    case at::kInt: *d = DType::I32; return true;
    case at::kShort: *d = DType::I16; return true;
    case at::kChar: *d = DType::I8; return true;
    case at::kByte: *d = DType::U8; return true;
    case at::kBool: *d = DType::Bool; return true;
    default: return false;
  }
}

using detail::first_line;

ParseOptions parse_options(const LoadOptions& o) {
  ParseOptions p;
  p.entry = o.entry;
  p.allow_inert_globals = o.allow_inert_globals;
  p.filter = o.filter;
  return p;
}

// One storage as an at::Storage: pointing into the mapping, or copied out of the input.
// `mode` is Copy, Map or MapReadOnly (Auto resolved by the caller).
at::Storage make_storage(const StorageRecord& s, const std::uint8_t* base, const std::shared_ptr<MappedFile>& map,
                         MemoryMode mode) {
  const at::TensorOptions options = at::TensorOptions().dtype(scalar_type(s.dtype));
  const auto numel = static_cast<std::int64_t>(s.numel);
  const std::uint64_t nbytes = s.nbytes();
  const std::uint8_t* src = base + s.offset;
  const bool aligned = reinterpret_cast<std::uintptr_t>(src) % dtype_size(s.dtype) == 0;
  // A copy-on-write mapping the system refused to make writable is read-only: copy then.
  const bool viewable = map && (map->writable() || mode == MemoryMode::MapReadOnly);
  if (mode != MemoryMode::Copy && viewable && aligned && s.dtype != DType::Bool && numel > 0) {
    std::shared_ptr<MappedFile> keep = map;  // the mapping lives as long as any tensor uses it
    at::Tensor t = at::from_blob(map->mutable_data() + s.offset, {numel}, [keep](void*) mutable { keep.reset(); },
                                 options);
    return t.storage();
  }
  at::Tensor t = at::empty({numel}, options);
  if (nbytes > 0) {
    if (map)
      map->read(s.offset, nbytes, t.data_ptr());  // straight into the tensor, mapping untouched
    else
      std::memcpy(t.data_ptr(), src, static_cast<std::size_t>(nbytes));
  }
  if (s.dtype == DType::Bool) {  // a byte other than 0/1 is no valid bool: normalise
    auto* p = static_cast<std::uint8_t*>(t.data_ptr());
    for (std::uint64_t i = 0; i < nbytes; ++i) p[i] = p[i] != 0;
  }
  return t.storage();
}

StateDict materialize(const CheckpointIndex& index, const std::uint8_t* base, const std::shared_ptr<MappedFile>& map,
                      MemoryMode mode, const std::string& source) {
  StateDict sd(source);
  sd.format = index.format;
  sd.entry = index.entry;
  sd.extras = index.extras;
  for (const auto& [k, v] : index.metadata) sd.metadata[k] = v;
  std::vector<at::Storage> storages(index.storages.size());
  std::vector<bool> made(index.storages.size(), false);
  std::string current;
  try {
    for (const TensorRecord& t : index.tensors) {
      current = t.name;
      if (!made[t.storage]) {
        storages[t.storage] = make_storage(index.storages[t.storage], base, map, mode);
        made[t.storage] = true;
      }
      at::Tensor view = at::empty({0}, at::TensorOptions().dtype(scalar_type(t.dtype)));
      view.set_(storages[t.storage], static_cast<std::int64_t>(t.storage_offset), t.sizes, t.strides);
      sd.insert(t.name, std::move(view));
    }
  } catch (const c10::Error& e) {
    throw WeightError(source, "tensor '" + current + "': " + first_line(e.what()));
  } catch (const std::bad_alloc&) {
    throw WeightError(source, "out of memory while reading tensor '" + current + "'");
  }
  return sd;
}

StateDict load_file(const std::filesystem::path& file, const LoadOptions& options, int required) {
  const std::string source = file.string();
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<MappedFile> map = MappedFile::open(
      file, options.memory == MemoryMode::MapReadOnly ? MappedFile::Access::ReadOnly : MappedFile::Access::CopyOnWrite);
  const Format format = detect_format(map->data(), map->size(), source);
  if (required == 0 && format == Format::Safetensors)
    throw WeightError(source, "expected a torch.save checkpoint but this is a .safetensors file (use load())");
  if (required == 1 && format != Format::Safetensors)
    throw WeightError(source, std::string("expected a .safetensors file but this is a ") + format_name(format) +
                                  " checkpoint (use load())");
  CheckpointIndex index = parse_checkpoint(map->data(), map->size(), source, parse_options(options));
  MemoryMode mode = options.memory;
  if (mode == MemoryMode::Auto) mode = format == Format::Safetensors ? MemoryMode::Map : MemoryMode::Copy;
  const bool use_map = mode != MemoryMode::Copy;
  StateDict sd = materialize(index, map->data(), map, mode, source);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  spdlog::debug("difss_weights: {} tensors ({} elements) from {} [{}{}] in {:.1f} ms", sd.size(), sd.numel(), source,
                format_name(format), use_map ? ", mapped" : "", ms);
  return sd;
}

// ---- safetensors writer ----------------------------------------------------------------------

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& target) : target_(target) {
    static std::atomic<unsigned> counter{0};
    path_ = target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(counter++));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create temporary file " + path_.string());
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  void write(const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, std::min<std::size_t>(n, std::size_t{1} << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail("write failed");
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
  void commit() {
    if (::fsync(fd_) != 0) fail("fsync failed");
    if (::close(fd_) != 0) { fd_ = -1; fail("close failed"); }
    fd_ = -1;
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail("cannot rename the temporary file into place");
    committed_ = true;
    std::filesystem::path dir = target_.parent_path().empty() ? "." : target_.parent_path();
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {  // make the rename durable too (best effort)
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    int err = errno;
    throw WeightError(target_.string(), what + ": " + std::strerror(err));
  }
  std::filesystem::path target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

std::function<bool(const std::string&)> keep_prefixes(std::vector<std::string> prefixes) {
  return [prefixes = std::move(prefixes)](const std::string& name) {
    for (const std::string& p : prefixes)
      if (name.compare(0, p.size(), p) == 0) return true;
    return false;
  };
}

StateDict load(const std::filesystem::path& file, const LoadOptions& options) { return load_file(file, options, -1); }
StateDict load_pth(const std::filesystem::path& file, const LoadOptions& options) { return load_file(file, options, 0); }
StateDict load_safetensors(const std::filesystem::path& file, const LoadOptions& options) {
  return load_file(file, options, 1);
}

StateDict load_from_memory(const void* data, std::size_t size, const std::string& name, const LoadOptions& options) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  CheckpointIndex index = parse_checkpoint(bytes, size, name, parse_options(options));
  return materialize(index, bytes, nullptr, MemoryMode::Copy, name);
}

bool release_mapped_pages(const at::Tensor& tensor) {
  if (!tensor.defined() || !tensor.device().is_cpu() || !tensor.has_storage() || tensor.numel() == 0) return false;
  // The tensor's own extent when contiguous, else its whole storage.
  const auto* begin = static_cast<const std::uint8_t*>(tensor.is_contiguous() ? tensor.data_ptr() : tensor.storage().data());
  const std::size_t bytes = tensor.is_contiguous() ? static_cast<std::size_t>(tensor.numel()) * tensor.element_size()
                                                   : tensor.storage().nbytes();
  return MappedFile::drop_pages(begin, begin + bytes);
}

void release_mapped_pages(const std::vector<at::Tensor>& tensors) {
  for (const at::Tensor& t : tensors) release_mapped_pages(t);
}

CheckpointIndex inspect(const std::filesystem::path& file, const LoadOptions& options) {
  std::shared_ptr<MappedFile> map = MappedFile::open(file);
  return parse_checkpoint(map->data(), map->size(), file.string(), parse_options(options));
}

void save_safetensors(const std::filesystem::path& file, const StateDict& sd,
                      const std::map<std::string, std::string>& metadata) {
  const std::string target = file.string();
  struct Out {
    std::string name;
    at::Tensor tensor;
    DType dtype;
    std::uint64_t nbytes;
  };
  std::vector<Out> out;
  out.reserve(sd.size());
  try {
    for (const auto& item : sd) {
      if (item.name == "__metadata__") throw WeightError(target, "a tensor cannot be named '__metadata__'");
      if (!item.tensor.defined()) throw WeightError(target, "tensor '" + item.name + "' is undefined");
      DType d;
      if (!safetensors_dtype(item.tensor.scalar_type(), &d))
        throw WeightError(target, "tensor '" + item.name + "' has dtype " + std::string(c10::toString(item.tensor.scalar_type())) +
                                      ", which safetensors (F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL) cannot hold");
      at::Tensor t = item.tensor.detach().cpu().contiguous();
      out.push_back({item.name, t, d, static_cast<std::uint64_t>(t.numel()) * dtype_size(d)});
    }
  } catch (const c10::Error& e) {
    throw WeightError(target, "cannot prepare tensors: " + first_line(e.what()));
  }
  // Largest elements first keeps every tensor aligned to its element size.
  std::stable_sort(out.begin(), out.end(), [](const Out& a, const Out& b) {
    std::size_t sa = dtype_size(a.dtype), sb = dtype_size(b.dtype);
    return sa != sb ? sa > sb : a.name < b.name;
  });
  std::map<std::string, std::string> meta = sd.metadata;
  for (const auto& [k, v] : metadata) meta[k] = v;
  std::string header = "{";
  if (!meta.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : meta) {
      header += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
      first = false;
    }
    header += "}";
  }
  std::uint64_t offset = 0;
  for (const Out& o : out) {
    if (header.size() > 1) header += ",";
    header += json_string(o.name) + ":{\"dtype\":\"" + dtype_name(o.dtype) + "\",\"shape\":[";
    for (std::int64_t i = 0; i < o.tensor.dim(); ++i) header += (i ? "," : "") + std::to_string(o.tensor.size(i));
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + o.nbytes) + "]}";
    offset += o.nbytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i));

  TempFile tmp(file);
  tmp.write(len, sizeof len);
  tmp.write(header.data(), header.size());
  for (const Out& o : out)
    if (o.nbytes) tmp.write(o.tensor.data_ptr(), static_cast<std::size_t>(o.nbytes));
  tmp.commit();
}

}  // namespace difss::weights
