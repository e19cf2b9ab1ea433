// A minimal, strict reader of the zip archives torch.save writes: stored (uncompressed)
// entries, optional zip64 records, no encryption, one disk. Works on bytes in memory (the
// mapped file), checks every offset against the input size, copies nothing but names.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace difss::weights::detail {

struct ZipEntry {
  std::string name;
  std::uint64_t local_header = 0;  // offset of the local file header
  std::uint64_t size = 0;          // uncompressed == compressed for stored entries
  std::uint16_t method = 0;        // 0 = stored
  std::uint16_t flags = 0;
};

// A validated byte range of one entry's data.
struct ZipRecord {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

class ZipArchive {
 public:
  // Reads the central directory; throws WeightError naming `source` when it is not a readable
  // zip archive.
  ZipArchive(const std::uint8_t* data, std::size_t size, const std::string& source);

  const std::vector<ZipEntry>& entries() const noexcept { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // Locates the data of `name` (checking its local header, method and bounds). Throws if the
  // entry is missing or unusable.
  ZipRecord record(std::string_view name) const;
  ZipRecord record(const ZipEntry& entry) const;

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  const std::string& source_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string_view, std::size_t> by_name_;
};

}  // namespace difss::weights::detail
