#include "mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "difss/weights/error.hpp"

namespace difss::weights::detail {

namespace {
// The live read-only mappings: drop_pages() advises only inside them.
std::mutex g_read_only_mutex;
std::vector<std::weak_ptr<MappedFile>> g_read_only;

void register_read_only(const std::shared_ptr<MappedFile>& m) {
  std::lock_guard<std::mutex> lock(g_read_only_mutex);
  g_read_only.erase(std::remove_if(g_read_only.begin(), g_read_only.end(),
                                   [](const std::weak_ptr<MappedFile>& w) { return w.expired(); }),
                    g_read_only.end());
  g_read_only.push_back(m);
}
}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::filesystem::path& file, Access access) {
  const std::string name = file.string();
  int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw WeightError(name, err == ENOENT ? std::string("file not found") : std::string("cannot open: ") + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw WeightError(name, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw WeightError(name, S_ISDIR(st.st_mode) ? "is a directory, not a checkpoint file" : "is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw WeightError(name, "file is empty");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->name_ = name;
  m->fd_ = fd;  // kept open for read(); closed by the destructor
  m->size_ = static_cast<std::size_t>(st.st_size);
  // Writable copy-on-write pages let tensors that point into the mapping be modified in place
  // like any tensor; MAP_NORESERVE avoids charging the whole file against the commit limit.
  void* p = MAP_FAILED;
  if (access == Access::CopyOnWrite)
    p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  m->writable_ = p != MAP_FAILED;
  if (p == MAP_FAILED) p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) throw WeightError(name, std::string("cannot map: ") + std::strerror(errno));
  m->data_ = static_cast<std::uint8_t*>(p);
  if (!m->writable_) register_read_only(m);
  return m;
}

bool MappedFile::drop_pages(const void* begin, const void* end) {
  auto b = reinterpret_cast<std::uintptr_t>(begin), e = reinterpret_cast<std::uintptr_t>(end);
  std::vector<std::shared_ptr<MappedFile>> live;
  {
    std::lock_guard<std::mutex> lock(g_read_only_mutex);
    for (const auto& w : g_read_only)
      if (auto m = w.lock()) live.push_back(std::move(m));
  }
  for (const auto& m : live) {
    const auto mb = reinterpret_cast<std::uintptr_t>(m->data_), me = mb + m->size_;
    if (b < mb || e > me) continue;
    // Whole pages inside the range only: a page shared with a neighbour stays.
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    b = (b + page - 1) / page * page;
    e = e / page * page;
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
    return true;
  }
  return false;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::read(std::uint64_t offset, std::uint64_t length, void* dst) const {
  auto* out = static_cast<char*>(dst);
  while (length > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(length, std::uint64_t{1} << 30));
    ssize_t got = ::pread(fd_, out, chunk, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw WeightError(name_, std::string("read failed: ") + std::strerror(errno));
    if (got == 0) throw WeightError(name_, "file became shorter while being read (modified by another process?)");
    out += got;
    offset += static_cast<std::uint64_t>(got);
    length -= static_cast<std::uint64_t>(got);
  }
}

}  // namespace difss::weights::detail
