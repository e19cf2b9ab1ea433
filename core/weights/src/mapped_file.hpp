// A whole file mapped into memory, privately, shared by the tensors that point into it; the
// descriptor stays open for pread() copies. The one file-mapping layer of the project (model
// libraries reach it through LoadOptions::memory and release_mapped_pages()). Internal to
// difss_weights; torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace difss::weights::detail {

class MappedFile {
 public:
  enum class Access {
    CopyOnWrite,  // writable pages whose writes never reach the file
    ReadOnly,     // read-only pages: writing through a tensor faults, but resident pages can be
                  // given back at any time (drop_pages) since they always equal the file
  };
  // Throws WeightError naming the file when it cannot be opened or mapped (missing, a
  // directory, empty, ...).
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& file,
                                          Access access = Access::CopyOnWrite);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // Writable pages (copy-on-write: writes never reach the file). False for Access::ReadOnly and
  // when the system refused a writable mapping and the file was mapped read-only.
  bool writable() const noexcept { return writable_; }
  std::uint8_t* mutable_data() const noexcept { return data_; }
  // Copies [offset, offset + length) of the file into dst with pread(), bypassing the mapping, so
  // that copying a storage does not also make its mapped pages resident (peak memory stays at
  // one copy). A short read (the file shrank since it was opened) raises WeightError.
  void read(std::uint64_t offset, std::uint64_t length, void* dst) const;

  // Drops the resident pages of [begin, end) when that range lies inside a live read-only
  // mapping (MADV_DONTNEED: the pages come back from the page cache on the next touch). False,
  // and nothing done, for any other memory: on anonymous or written copy-on-write pages the
  // advice would lose data.
  static bool drop_pages(const void* begin, const void* end);

 private:
  MappedFile() = default;
  std::string name_;
  int fd_ = -1;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool writable_ = false;
};

}  // namespace difss::weights::detail
