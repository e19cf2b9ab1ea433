#include "zip_reader.hpp"

#include <algorithm>

#include "bytes.hpp"

namespace difss::weights::detail {
namespace {

constexpr std::uint32_t kLocalHeaderSig = 0x04034b50;
constexpr std::uint32_t kCentralHeaderSig = 0x02014b50;
constexpr std::uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint32_t kZip64EndSig = 0x06064b50;
constexpr std::size_t kEocdSize = 22;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kLocalHeaderSize = 30;

struct Directory {
  std::uint64_t entries = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// Finds the end-of-central-directory record: the last signature within the final 64 KiB + 22
// bytes whose comment fits in the file.
std::size_t find_eocd(const std::uint8_t* data, std::size_t size, const std::string& source) {
  if (size < kEocdSize) fail(source, "too small to be a zip archive (" + std::to_string(size) + " bytes; truncated?)");
  std::size_t lowest = size > kEocdSize + 0xFFFF ? size - kEocdSize - 0xFFFF : 0;
  for (std::size_t pos = size - kEocdSize + 1; pos-- > lowest;) {
    if (load_le(data + pos, 4) != kEndOfCentralDirSig) continue;
    std::uint64_t comment = load_le(data + pos + 20, 2);
    if (pos + kEocdSize + comment <= size) return pos;
  }
  fail(source, "zip end-of-central-directory record not found (truncated or not a zip archive)");
}

Directory read_directory(const std::uint8_t* data, std::size_t size, const std::string& source) {
  std::size_t eocd = find_eocd(data, size, source);
  const std::uint8_t* e = data + eocd;
  if (load_le(e + 4, 2) != 0 || load_le(e + 6, 2) != 0)
    fail(source, "multi-disk zip archives are not supported");
  Directory dir;
  dir.entries = load_le(e + 10, 2);
  dir.size = load_le(e + 12, 4);
  dir.offset = load_le(e + 16, 4);
  std::uint64_t limit = eocd;  // the central directory ends before the EOCD record
  // zip64: a locator just before the EOCD points at the zip64 end record.
  if (eocd >= 20 && load_le(data + eocd - 20, 4) == kZip64LocatorSig) {
    std::uint64_t at = load_le(data + eocd - 20 + 8, 8);
    limit = eocd - 20;
    if (!range_ok(at, 56, limit) || load_le(data + at, 4) != kZip64EndSig)
      fail(source, "zip64 end-of-central-directory record missing or out of range");
    dir.entries = load_le(data + at + 32, 8);
    dir.size = load_le(data + at + 40, 8);
    dir.offset = load_le(data + at + 48, 8);
    limit = at;
  }
  if (!range_ok(dir.offset, dir.size, limit))
    fail(source, "zip central directory (offset " + std::to_string(dir.offset) + ", " +
                     std::to_string(dir.size) + " bytes) lies outside the archive (truncated?)");
  if (dir.entries > dir.size / kCentralHeaderSize)
    fail(source, "zip central directory claims " + std::to_string(dir.entries) +
                     " entries but holds only " + std::to_string(dir.size) + " bytes");
  return dir;
}

// Reads the zip64 extended-information extra field: the 64-bit values replace, in this order,
// those of the fixed header that hold 0xFFFFFFFF.
void apply_zip64_extra(Cursor extra, std::uint64_t* uncompressed, std::uint64_t* compressed,
                       std::uint64_t* local_header, const std::string& source) {
  while (extra.remaining() >= 4) {
    std::uint64_t id = extra.le(2);
    std::uint64_t len = extra.le(2);
    if (len > extra.remaining()) fail(source, "zip extra field overruns its entry");
    if (id != 1) {
      extra.take(len);
      continue;
    }
    Cursor field(extra.take(len), static_cast<std::size_t>(len), source, "zip64 extra field");
    if (*uncompressed == 0xFFFFFFFFu) *uncompressed = field.le(8);
    if (*compressed == 0xFFFFFFFFu) *compressed = field.le(8);
    if (*local_header == 0xFFFFFFFFu) *local_header = field.le(8);
    return;
  }
}

}  // namespace

ZipArchive::ZipArchive(const std::uint8_t* data, std::size_t size, const std::string& source)
    : data_(data), size_(size), source_(source) {
  Directory dir = read_directory(data, size, source);
  Cursor cd(data + dir.offset, static_cast<std::size_t>(dir.size), source, "zip central directory");
  entries_.reserve(static_cast<std::size_t>(dir.entries));
  for (std::uint64_t i = 0; i < dir.entries; ++i) {
    const std::uint8_t* h = cd.take(kCentralHeaderSize);
    if (load_le(h, 4) != kCentralHeaderSig)
      fail(source, "zip central directory entry " + std::to_string(i) + " has a bad signature");
    ZipEntry entry;
    entry.flags = static_cast<std::uint16_t>(load_le(h + 8, 2));
    entry.method = static_cast<std::uint16_t>(load_le(h + 10, 2));
    std::uint64_t compressed = load_le(h + 20, 4);
    std::uint64_t uncompressed = load_le(h + 24, 4);
    std::uint64_t name_len = load_le(h + 28, 2);
    std::uint64_t extra_len = load_le(h + 30, 2);
    std::uint64_t comment_len = load_le(h + 32, 2);
    entry.local_header = load_le(h + 42, 4);
    entry.name.assign(cd.take_view(name_len));
    Cursor extra(cd.take(extra_len), static_cast<std::size_t>(extra_len), source, "zip extra field");
    apply_zip64_extra(extra, &uncompressed, &compressed, &entry.local_header, source);
    cd.take(comment_len);
    if (entry.method == 0 && compressed != uncompressed)
      fail(source, "zip entry '" + entry.name + "' is stored but its sizes differ");
    entry.size = entry.method == 0 ? uncompressed : compressed;
    entries_.push_back(std::move(entry));
  }
  by_name_.reserve(entries_.size());
  for (std::size_t i = 0; i < entries_.size(); ++i) by_name_[entries_[i].name] = i;  // last wins
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

ZipRecord ZipArchive::record(std::string_view name) const {
  const ZipEntry* entry = find(name);
  if (!entry) fail(source_, "zip archive has no entry '" + std::string(name) + "'");
  return record(*entry);
}

ZipRecord ZipArchive::record(const ZipEntry& entry) const {
  if (entry.flags & 1u) fail(source_, "zip entry '" + entry.name + "' is encrypted");
  if (entry.method != 0)
    fail(source_, "zip entry '" + entry.name + "' is compressed (method " +
                      std::to_string(entry.method) +
                      "); torch.save writes stored entries only and so does this reader");
  if (!range_ok(entry.local_header, kLocalHeaderSize, size_) ||
      load_le(data_ + entry.local_header, 4) != kLocalHeaderSig)
    fail(source_, "zip entry '" + entry.name + "' has no valid local header at offset " +
                      std::to_string(entry.local_header));
  const std::uint8_t* h = data_ + entry.local_header;
  std::uint64_t offset = entry.local_header + kLocalHeaderSize + load_le(h + 26, 2) + load_le(h + 28, 2);
  if (!range_ok(offset, entry.size, size_))
    fail(source_, "zip entry '" + entry.name + "' (" + std::to_string(entry.size) +
                      " bytes at offset " + std::to_string(offset) +
                      ") extends past the end of the file (" + std::to_string(size_) +
                      " bytes; truncated?)");
  return {offset, entry.size};
}

}  // namespace difss::weights::detail
