// The compute environment a process runs in: CPU features, the BLAS library and the kernels it
// chose. OpenBLAS 0.3.21 (Debian 12) picks its kernels once, when it is loaded, from a CPU table
// that predates some CPUs: on a Zen 4 it falls back to its Haswell (AVX2) kernels and leaves
// AVX-512 unused (sgemm 1.6x slower, measured in docs/PERFORMANCE.md). The only supported way to
// change the choice is the OPENBLAS_CORETYPE variable, read at load time, so the host re-executes
// itself with it set before doing anything else.
#pragma once

#include <difss/sdk/cpu_features.hpp>

#include <string>

namespace difss {

struct BlasInfo {
  std::string config;       // openblas_get_config(), "" when the BLAS is not OpenBLAS
  std::string core;         // kernels OpenBLAS uses, e.g. "Haswell"; "" when not OpenBLAS
  std::string recommended;  // a better OPENBLAS_CORETYPE for this CPU, "" when the choice is fine
};

// The OPENBLAS_CORETYPE this CPU should use when OpenBLAS chose `current`, or "" when `current`
// is already right (or the CPU is not x86 / unknown). Pure; unit-tested with canned CPUs.
std::string recommended_openblas_core(const sdk::CpuFeatures& cpu, const std::string& current);

// What the OpenBLAS loaded into this process reports (dlsym, so any BLAS may be linked).
BlasInfo inspect_blas(const sdk::CpuFeatures& cpu = sdk::cpu_features());

// Call first in main(), before threads or MPI start. When OpenBLAS chose slower kernels than this
// CPU runs, OPENBLAS_CORETYPE is unset (a value set by the user or the machine is respected: some
// sites pin it because older OpenBLAS builds misbehave on their CPUs) and DIFSS_BLAS_AUTOFIX is not "0", re-executes the program
// (same pid, same arguments) with OPENBLAS_CORETYPE set. Returns when nothing is to be done or
// the exec failed (log_compute_environment then says so).
void reexec_for_better_blas(char** argv);

// The allocator serving malloc in this process: "tcmalloc", "jemalloc" or "system malloc"
// (cmake/DifssAllocator.cmake links one into the executables; LD_PRELOAD may override it).
std::string allocator_name();

// "AMD EPYC ..., AVX-512+FMA, native bf16 (AVX512-BF16); BLAS: OpenBLAS, Haswell kernels (...);
// allocator: tcmalloc": for bench headers and reports.
std::string compute_environment_line();

// One log line about the CPU and BLAS kernels (debug level), plus an info line when the host
// corrected OpenBLAS's choice or a warning with the fix when it could not.
void log_compute_environment();

}  // namespace difss
