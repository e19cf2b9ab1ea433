// A whole file mapped into memory, privately (copy-on-write), shared by the tensors that point
// into it; the descriptor stays open for pread() copies. Internal to difss_weights; torch-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace difss::weights::detail {

class MappedFile {
 public:
  // Throws WeightError naming the file when it cannot be opened or mapped (missing, a
  // directory, empty, ...).
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& file);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // Writable pages (copy-on-write: writes never reach the file). False when the system refused
  // a writable mapping and the file was mapped read-only.
  bool writable() const noexcept { return writable_; }
  std::uint8_t* mutable_data() const noexcept { return data_; }
  // Copies [offset, offset + length) of the file into dst with pread(), bypassing the mapping, so
  // that copying a storage does not also make its mapped pages resident (peak memory stays at
  // one copy). A short read (the file shrank since it was opened) raises WeightError.
  void read(std::uint64_t offset, std::uint64_t length, void* dst) const;

 private:
  MappedFile() = default;
  std::string name_;
  int fd_ = -1;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool writable_ = false;
};

}  // namespace difss::weights::detail
