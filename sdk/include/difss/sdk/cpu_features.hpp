// What the CPU this process runs on can do, read from /proc/cpuinfo at run time.
//
// Machines differ (a Zen 3 has AVX2 but no AVX-512; a Zen 4 adds AVX-512 with native bf16
// dot products; a Sapphire Rapids adds AMX), and the fastest precision and kernels differ with
// them. Host and plugins choose from these flags instead of assuming. Header-only: plugins use
// it without linking anything.
#pragma once

#include <fstream>
#include <istream>
#include <set>
#include <sstream>
#include <string>

namespace difss::sdk {

struct CpuFeatures {
  std::string model;       // "model name" of the first processor; "" when unknown
  int logical_cpus = 0;    // "processor" entries
  bool known = false;      // false: no readable flags (not Linux, or /proc absent)
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_bf16 = false;  // native bf16 dot products (Cooper Lake, Zen 4, Sapphire Rapids)
  bool amx_bf16 = false;     // AMX tiles with bf16 (Sapphire Rapids and later)

  // The AVX-512 subset OpenBLAS's SkylakeX kernels and oneDNN's avx512_core need.
  bool avx512_core() const { return avx512f && avx512bw && avx512vl && avx512dq; }
  // bf16 arithmetic runs in hardware rather than emulated through fp32 conversions
  // (which makes bf16 an order of magnitude slower than fp32 on AVX2-only CPUs).
  bool native_bf16() const { return (avx512_core() && avx512_bf16) || amx_bf16; }

  std::string summary() const {
    if (!known) return "unknown CPU (no /proc/cpuinfo flags)";
    std::string s = (model.empty() ? std::string("CPU") : model) + ", " +
                    std::to_string(logical_cpus) + " logical CPUs, ";
    s += avx512_core() ? "AVX-512" : avx2 ? "AVX2" : "no AVX2";
    if (fma) s += "+FMA";
    s += native_bf16() ? (amx_bf16 ? ", native bf16 (AMX)" : ", native bf16 (AVX512-BF16)")
                       : ", bf16 emulated";
    return s;
  }
};

// Parses the text of /proc/cpuinfo (x86 "flags" lines; other architectures leave the flags off).
inline CpuFeatures parse_cpu_features(std::istream& in) {
  CpuFeatures f;
  std::string line;
  bool first_flags = true;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (key == "processor") {
      ++f.logical_cpus;
    } else if (key == "model name" && f.model.empty()) {
      f.model = value;
    } else if (key == "flags" && first_flags) {  // the first processor speaks for all
      first_flags = false;
      f.known = true;
      std::istringstream words(value);
      std::set<std::string> flags;
      for (std::string w; words >> w;) flags.insert(w);
      auto has = [&](const char* name) { return flags.count(name) > 0; };
      f.avx2 = has("avx2");
      f.fma = has("fma");
      f.avx512f = has("avx512f");
      f.avx512bw = has("avx512bw");
      f.avx512vl = has("avx512vl");
      f.avx512dq = has("avx512dq");
      f.avx512_bf16 = has("avx512_bf16");
      f.amx_bf16 = has("amx_bf16") && has("amx_tile");
    }
  }
  return f;
}

// The features of this machine, read once per process.
inline const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    std::ifstream in("/proc/cpuinfo");
    return in ? parse_cpu_features(in) : CpuFeatures{};
  }();
  return f;
}

// "" when this CPU computes bf16 natively; otherwise why bf16 will be slow here, for a warning.
inline std::string emulated_bf16_warning() {
  const CpuFeatures& f = cpu_features();
  if (f.native_bf16()) return "";
  return "this CPU (" + f.summary() + ") has no native bf16 (AVX512-BF16 or AMX): bf16 is emulated "
         "through float32 conversions and runs several times slower than fp32 (13x measured on a Zen 3)";
}

}  // namespace difss::sdk
