// Atomic file writes: everything difss_data writes goes through these, so a reader (or a crash)
// never sees a half-written file. The bytes go to "<path>.tmp-XXXXXX" in the target's own
// directory (same file system), are flushed with fsync, then renamed over <path>.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

namespace difss::data {

// Writes `bytes` to `path` atomically. Creates missing parent directories. On any failure the
// temporary file is removed and std::runtime_error names the path and the reason.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
void write_file_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& bytes);

// cv::imwrite semantics (BGR or grey Mat, format chosen by the extension, `params` as for
// cv::imwrite, e.g. {cv::IMWRITE_JPEG_QUALITY, 95}) but encoded in memory and written atomically.
void imwrite_atomic(const std::filesystem::path& path, const cv::Mat& image,
                    const std::vector<int>& params = {});

}  // namespace difss::data
