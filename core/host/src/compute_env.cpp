#include "difss/core/compute_env.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "difss/core/log.hpp"

namespace difss {
namespace {

constexpr const char* kAutofixVar = "DIFSS_BLAS_AUTOFIX";
constexpr const char* kReexecMark = "DIFSS_BLAS_REEXEC";  // set in the re-executed process
int g_exec_errno = 0;

std::string call_string_fn(const char* symbol) {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, symbol));
  const char* s = fn ? fn() : nullptr;
  return s ? std::string(s) : std::string();
}

}  // namespace

std::string recommended_openblas_core(const sdk::CpuFeatures& cpu, const std::string& current) {
  if (!cpu.known || current.empty()) return "";
  // OpenBLAS's names for kernel sets that use AVX-512, and those that use at least AVX2+FMA.
  static const std::set<std::string> avx512_cores{"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const std::set<std::string> avx2_cores{"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                                "SapphireRapids"};
  if (cpu.avx512_core()) return avx512_cores.count(current) ? "" : "SkylakeX";
  if (cpu.avx2 && cpu.fma) return avx2_cores.count(current) ? "" : "Haswell";
  return "";
}

BlasInfo inspect_blas(const sdk::CpuFeatures& cpu) {
  BlasInfo b;
  b.config = call_string_fn("openblas_get_config");
  b.core = call_string_fn("openblas_get_corename");
  b.recommended = recommended_openblas_core(cpu, b.core);
  return b;
}

void reexec_for_better_blas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv(kReexecMark)) return;
  const char* autofix = std::getenv(kAutofixVar);
  if (autofix && std::strcmp(autofix, "0") == 0) return;
  const BlasInfo b = inspect_blas();
  if (b.recommended.empty()) return;
  setenv("OPENBLAS_CORETYPE", b.recommended.c_str(), 1);
  setenv(kReexecMark, b.core.c_str(), 1);  // remembers what OpenBLAS had chosen
  execv("/proc/self/exe", argv);
  g_exec_errno = errno;  // only reached when the exec failed: carry on as we are
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kReexecMark);
}

std::string allocator_name() {
  // Each allocator exports a name of its own beside malloc; the first one found serves malloc.
  if (dlsym(RTLD_DEFAULT, "tc_malloc")) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl")) return "jemalloc";
  return "system malloc";
}

namespace {
std::string describe(const sdk::CpuFeatures& cpu, const BlasInfo& b) {
  std::string blas = b.config.empty() ? std::string("not OpenBLAS") : "OpenBLAS, " + b.core + " kernels";
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE"))
    blas += std::string(" (OPENBLAS_CORETYPE=") + forced + ")";
  return cpu.summary() + "; BLAS: " + blas + "; allocator: " + allocator_name();
}
}  // namespace

std::string compute_environment_line() {
  const sdk::CpuFeatures& cpu = sdk::cpu_features();
  return describe(cpu, inspect_blas(cpu));
}

void log_compute_environment() {
  const sdk::CpuFeatures& cpu = sdk::cpu_features();
  const BlasInfo b = inspect_blas(cpu);
  logger()->debug("compute: {}", describe(cpu, b));
  const char* before = std::getenv(kReexecMark);
  if (before && !b.core.empty() && b.core != before) {
    logger()->info("OpenBLAS chose its {} kernels for this CPU ({}); using {} instead "
                   "(OPENBLAS_CORETYPE={}; {}=0 keeps OpenBLAS's choice)",
                   before, cpu.summary(), b.core, b.core, kAutofixVar);
    return;
  }
  if (b.recommended.empty()) return;
  if (std::getenv("OPENBLAS_CORETYPE")) {  // the user's (or the machine's) explicit choice
    logger()->debug("OPENBLAS_CORETYPE in the environment keeps OpenBLAS on its {} kernels; this CPU "
                    "also runs its {} kernels (faster sgemm, docs/PERFORMANCE.md)",
                    b.core, b.recommended);
    return;
  }
  const char* autofix = std::getenv(kAutofixVar);
  const bool disabled = autofix && std::strcmp(autofix, "0") == 0;
  logger()->warn("OpenBLAS uses its {} kernels on this CPU ({}), which runs faster ones; set "
                 "OPENBLAS_CORETYPE={} before starting the program{}",
                 b.core, cpu.summary(), b.recommended,
                 disabled ? std::string(" (") + kAutofixVar + "=0 turned the automatic fix off)"
                 : g_exec_errno ? std::string(" (re-executing with it failed: ") + std::strerror(g_exec_errno) + ")"
                                : std::string());
}

}  // namespace difss
