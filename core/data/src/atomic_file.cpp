// Atomic writes: temp file in the same directory, fsync, rename.
#include "difss/data/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <opencv2/imgcodecs.hpp>

namespace difss::data {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what, int err) {
  throw std::runtime_error("cannot write '" + path.string() + "': " + what +
                           (err ? std::string(": ") + std::strerror(err) : std::string()));
}

// Closes and removes the temporary file unless committed.
struct TempFile {
  std::string name;
  int fd = -1;
  bool committed = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!committed && !name.empty()) ::unlink(name.c_str());
  }
};

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  if (path.empty() || !path.has_filename()) fail(path, "not a file path", 0);
  const auto parent = path.parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw std::runtime_error("cannot write '" + path.string() + "': cannot create folder '" +
                                     parent.string() + "': " + ec.message());
  }
  TempFile tmp;
  std::string templ = path.string() + ".tmp-XXXXXX";
  tmp.fd = ::mkstemp(templ.data());
  if (tmp.fd < 0) fail(path, "cannot create a temporary file beside it", errno);
  tmp.name = templ;
  // mkstemp creates 0600; give the file the usual permissions (rw-r--r--).
  ::fchmod(tmp.fd, 0644);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(tmp.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, "write failed", errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(tmp.fd) != 0) fail(path, "fsync failed", errno);
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) fail(path, "close failed", errno);
  if (::rename(tmp.name.c_str(), path.c_str()) != 0) fail(path, "rename failed", errno);
  tmp.committed = true;
}

void write_file_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void imwrite_atomic(const std::filesystem::path& path, const cv::Mat& image,
                    const std::vector<int>& params) {
  if (image.empty()) fail(path, "the image is empty", 0);
  const std::string ext = path.extension().string();
  if (ext.empty()) fail(path, "no file extension to choose the image format from", 0);
  std::vector<unsigned char> buf;
  bool ok = false;
  try {
    ok = cv::imencode(ext, image, buf, params);
  } catch (const cv::Exception& e) {
    fail(path, std::string("encoding failed: ") + e.what(), 0);
  }
  if (!ok) fail(path, "encoding as '" + ext + "' failed", 0);
  write_file_atomic(path, buf);
}

}  // namespace difss::data
