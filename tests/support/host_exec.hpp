// Running difss-host as a child process from a test: ctest sets DIFSS_HOST_EXE (and
// DIFSS_PLUGIN_PATH, DIFSS_SHARED_DIR) for every test executable.
#pragma once

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>

namespace difss::test {

struct Exec {
  int code = -1;
  std::string output;  // stdout + stderr
};

// The host executable, or nullptr when the test runs outside ctest.
inline const char* host_exe() { return std::getenv("DIFSS_HOST_EXE"); }

// `env`: variable settings for env(1) ("A=1 -u B"), applied to the child only.
inline Exec run_host(const std::string& args, const std::string& env = "") {
  const char* exe = host_exe();
  REQUIRE(exe != nullptr);
  std::string cmd = (env.empty() ? std::string() : "env " + env + " ") + exe + " " + args + " 2>&1";
  Exec r;
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) r.output.append(buf.data(), n);
  int status = pclose(f);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace difss::test
