// difss::sdk::Error: an exception carrying a difss_status, thrown by plugin code and turned
// into status + message at the ABI boundary.
#pragma once

#include <difss/abi/difss.h>

#include <stdexcept>
#include <string>

namespace difss::sdk {

class Error : public std::runtime_error {
 public:
  Error(difss_status status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
  difss_status status() const { return status_; }

 private:
  difss_status status_;
};

// c10::Error::what() appends a C++ backtrace ("Exception raised from ..."); users want the
// message, not the stack. Keeps everything before that marker.
inline std::string trim_backtrace(const std::string& what) {
  auto pos = what.find("\nException raised from");
  if (pos == std::string::npos) pos = what.find("Exception raised from");
  std::string s = pos == std::string::npos ? what : what.substr(0, pos);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline const char* status_name(difss_status s) {
  switch (s) {
    case DIFSS_OK: return "ok";
    case DIFSS_ERR_INVALID_ARGUMENT: return "invalid argument";
    case DIFSS_ERR_NOT_FOUND: return "not found";
    case DIFSS_ERR_IO: return "i/o error";
    case DIFSS_ERR_UNSUPPORTED: return "unsupported";
    case DIFSS_ERR_CANCELLED: return "cancelled";
    case DIFSS_ERR_OUT_OF_MEMORY: return "out of memory";
    case DIFSS_ERR_INTERNAL: return "internal error";
    case DIFSS_SKIP: return "skipped";
  }
  return "unknown status";
}

}  // namespace difss::sdk
