// Byte-level builders for hand-made checkpoints in tests: pickles, legacy torch.save streams,
// stored zip archives, safetensors files. Deliberately independent of the code under test.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace difss::weights::test {

using Bytes = std::string;

inline void put_le(Bytes& b, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

inline Bytes read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::filesystem::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

// Emits pickle opcodes.
struct Pickle {
  Bytes b;
  Pickle& proto(int v = 2) { b += '\x80'; b += static_cast<char>(v); return *this; }
  Pickle& op(char c) { b += c; return *this; }
  Pickle& raw(const Bytes& s) { b += s; return *this; }
  Pickle& mark() { return op('('); }
  Pickle& stop() { return op('.'); }
  Pickle& none() { return op('N'); }
  Pickle& empty_dict() { return op('}'); }
  Pickle& empty_list() { return op(']'); }
  Pickle& empty_tuple() { return op(')'); }
  Pickle& tuple() { return op('t'); }
  Pickle& reduce() { return op('R'); }
  Pickle& setitem() { return op('s'); }
  Pickle& setitems() { return op('u'); }
  Pickle& append() { return op('a'); }
  Pickle& appends() { return op('e'); }
  Pickle& newfalse() { return op('\x89'); }
  Pickle& binpersid() { return op('Q'); }
  Pickle& global(const std::string& module, const std::string& name) {
    b += 'c';
    b += module + "\n" + name + "\n";
    return *this;
  }
  Pickle& str(const std::string& s) { b += 'X'; put_le(b, s.size(), 4); b += s; return *this; }
  Pickle& int1(int v) { b += 'K'; b += static_cast<char>(v); return *this; }
  Pickle& int4(std::int32_t v) { b += 'J'; put_le(b, static_cast<std::uint32_t>(v), 4); return *this; }
  Pickle& long8(std::int64_t v) { b += '\x8a'; b += '\x08'; put_le(b, static_cast<std::uint64_t>(v), 8); return *this; }
  Pickle& binput(int i) { b += 'q'; b += static_cast<char>(i); return *this; }
  Pickle& binget(int i) { b += 'h'; b += static_cast<char>(i); return *this; }
  Pickle& ints(const std::vector<std::int64_t>& v) {
    mark();
    for (std::int64_t x : v) long8(x);
    return tuple();
  }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, sizes, strides,
  // False, OrderedDict())
  Pickle& tensor(const std::string& storage_type, const std::string& key, std::int64_t numel, std::int64_t offset,
                 const std::vector<std::int64_t>& sizes, const std::vector<std::int64_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().str("storage").global("torch", storage_type).str(key).str("cpu").long8(numel).tuple();
    binpersid();
    long8(offset);
    ints(sizes);
    ints(strides);
    newfalse();
    global("collections", "OrderedDict").empty_tuple().reduce();
    tuple();
    return reduce();
  }
};

// A legacy (torch < 1.6) torch.save stream around `main_pickle`; storages as (key, numel, data).
struct LegacyStorage {
  std::string key;
  std::uint64_t numel;
  Bytes data;
};
inline Bytes legacy_file(const Bytes& main_pickle, const std::vector<LegacyStorage>& storages) {
  Bytes out;
  out += Bytes("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  out += Bytes("\x80\x02M\xe9\x03.", 6);
  out += Pickle().proto().empty_dict().stop().b;
  out += main_pickle;
  Pickle keys;
  keys.proto().empty_list().mark();
  for (const auto& s : storages) keys.str(s.key);
  keys.appends().stop();
  out += keys.b;
  for (const auto& s : storages) {
    put_le(out, s.numel, 8);
    out += s.data;
  }
  return out;
}

// A stored (uncompressed) zip archive, laid out like torch.save's. With zip64, every size and
// offset goes through the zip64 extra field and end records, as in archives over 4 GiB.
inline Bytes zip_file(const std::vector<std::pair<std::string, Bytes>>& entries, std::uint16_t method = 0,
                      bool zip64 = false) {
  const std::uint64_t kMax32 = 0xFFFFFFFFu;
  Bytes out, cd;
  for (const auto& [name, data] : entries) {
    std::uint64_t offset = out.size();
    put_le(out, 0x04034b50, 4);
    put_le(out, 20, 2);
    put_le(out, 0, 2);
    put_le(out, method, 2);
    put_le(out, 0, 4);  // time, date
    put_le(out, 0, 4);  // crc (not checked by torch nor by difss)
    put_le(out, data.size(), 4);
    put_le(out, data.size(), 4);
    put_le(out, name.size(), 2);
    put_le(out, 0, 2);
    out += name;
    out += data;
    put_le(cd, 0x02014b50, 4);
    put_le(cd, zip64 ? 45 : 20, 2);
    put_le(cd, zip64 ? 45 : 20, 2);
    put_le(cd, 0, 2);
    put_le(cd, method, 2);
    put_le(cd, 0, 4);
    put_le(cd, 0, 4);
    put_le(cd, zip64 ? kMax32 : data.size(), 4);
    put_le(cd, zip64 ? kMax32 : data.size(), 4);
    put_le(cd, name.size(), 2);
    put_le(cd, zip64 ? 28 : 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 2);
    put_le(cd, 0, 4);
    put_le(cd, zip64 ? kMax32 : offset, 4);
    cd += name;
    if (zip64) {
      put_le(cd, 1, 2);
      put_le(cd, 24, 2);
      put_le(cd, data.size(), 8);
      put_le(cd, data.size(), 8);
      put_le(cd, offset, 8);
    }
  }
  std::uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    std::uint64_t eocd64 = out.size();
    put_le(out, 0x06064b50, 4);
    put_le(out, 44, 8);
    put_le(out, 45, 2);
    put_le(out, 45, 2);
    put_le(out, 0, 4);
    put_le(out, 0, 4);
    put_le(out, entries.size(), 8);
    put_le(out, entries.size(), 8);
    put_le(out, cd.size(), 8);
    put_le(out, cd_offset, 8);
    put_le(out, 0x07064b50, 4);
    put_le(out, 0, 4);
    put_le(out, eocd64, 8);
    put_le(out, 1, 4);
  }
  put_le(out, 0x06054b50, 4);
  put_le(out, 0, 4);
  put_le(out, zip64 ? 0xFFFF : entries.size(), 2);
  put_le(out, zip64 ? 0xFFFF : entries.size(), 2);
  put_le(out, zip64 ? kMax32 : cd.size(), 4);
  put_le(out, zip64 ? kMax32 : cd_offset, 4);
  put_le(out, 0, 2);
  return out;
}

// A torch.save-like zip: "<prefix>/data.pkl" + "<prefix>/data/<key>" + "<prefix>/version".
inline Bytes torch_zip(const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages,
                       const std::string& prefix = "archive", bool zip64 = false) {
  std::vector<std::pair<std::string, Bytes>> entries{{prefix + "/data.pkl", pickle}};
  for (const auto& [key, data] : storages) entries.emplace_back(prefix + "/data/" + key, data);
  entries.emplace_back(prefix + "/version", "3\n");
  return zip_file(entries, 0, zip64);
}

// A safetensors file from a header text (padded to 8 bytes) and a data section.
inline Bytes safetensors_file(std::string header, const Bytes& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  Bytes out;
  put_le(out, header.size(), 8);
  return out + header + data;
}

inline Bytes floats(const std::vector<float>& v) {
  return Bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// A one-tensor state dict {'w': float tensor over storage '0'} as a pickle.
inline Bytes one_tensor_pickle(std::int64_t numel, std::int64_t offset, const std::vector<std::int64_t>& sizes,
                               const std::vector<std::int64_t>& strides, const std::string& type = "FloatStorage") {
  Pickle p;
  p.proto().global("collections", "OrderedDict").empty_tuple().reduce();
  p.mark().str("w").tensor(type, "0", numel, offset, sizes, strides).setitems().stop();
  return p.b;
}

}  // namespace difss::weights::test
