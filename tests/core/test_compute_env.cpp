// CPU feature parsing, the OpenBLAS kernel advice, and the host's automatic correction of
// OpenBLAS's kernel choice (compute_env.hpp).
#include <difss/core/compute_env.hpp>

#include <sstream>

#include "test_helpers.hpp"

using namespace difss;
using difss::test::run_host;

namespace {

sdk::CpuFeatures parse(const std::string& flags, const std::string& model = "Test CPU") {
  std::istringstream in("processor\t: 0\nmodel name\t: " + model + "\nflags\t\t: " + flags +
                        "\n\nprocessor\t: 1\nmodel name\t: " + model + "\nflags\t\t: " + flags + "\n");
  return sdk::parse_cpu_features(in);
}

const char* kZen3 = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 bmi2 sha_ni vaes";
const char* kZen4 = "fpu sse2 avx fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni";
const char* kSkylakeX = "fpu sse2 avx fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl";
const char* kSapphire = "fpu avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile amx_int8";

}  // namespace

TEST_CASE("cpu features come from /proc/cpuinfo flags") {
  sdk::CpuFeatures zen3 = parse(kZen3, "AMD EPYC 7B13");
  CHECK(zen3.known);
  CHECK(zen3.logical_cpus == 2);
  CHECK(zen3.model == "AMD EPYC 7B13");
  CHECK(zen3.avx2);
  CHECK(zen3.fma);
  CHECK_FALSE(zen3.avx512_core());
  CHECK_FALSE(zen3.native_bf16());
  CHECK_THAT(zen3.summary(), Catch::Contains("AVX2+FMA") && Catch::Contains("bf16 emulated"));

  sdk::CpuFeatures zen4 = parse(kZen4);
  CHECK(zen4.avx512_core());
  CHECK(zen4.native_bf16());
  CHECK_THAT(zen4.summary(), Catch::Contains("native bf16 (AVX512-BF16)"));
  CHECK_FALSE(parse(kSkylakeX).native_bf16());
  CHECK(parse(kSapphire).amx_bf16);
  CHECK_THAT(parse(kSapphire).summary(), Catch::Contains("native bf16 (AMX)"));

  std::istringstream arm("processor\t: 0\nFeatures\t: fp asimd evtstrm\n");
  sdk::CpuFeatures a = sdk::parse_cpu_features(arm);
  CHECK_FALSE(a.known);
  CHECK_FALSE(a.native_bf16());
  CHECK_THAT(a.summary(), Catch::Contains("unknown CPU"));
}

TEST_CASE("OpenBLAS kernel advice: AVX-512 CPUs want SkylakeX, AVX2 CPUs at least Haswell") {
  CHECK(recommended_openblas_core(parse(kZen4), "Haswell") == "SkylakeX");
  CHECK(recommended_openblas_core(parse(kZen4), "Zen") == "SkylakeX");
  CHECK(recommended_openblas_core(parse(kZen4), "SkylakeX") == "");
  CHECK(recommended_openblas_core(parse(kSapphire), "Cooperlake") == "");
  CHECK(recommended_openblas_core(parse(kZen3), "Zen") == "");
  CHECK(recommended_openblas_core(parse(kZen3), "Haswell") == "");
  CHECK(recommended_openblas_core(parse(kZen3), "Prescott") == "Haswell");
  CHECK(recommended_openblas_core(parse(kZen3), "Sandybridge") == "Haswell");
  CHECK(recommended_openblas_core(parse("fpu sse2"), "Core2") == "");  // nothing better to offer
  CHECK(recommended_openblas_core(parse(kZen4), "") == "");            // not OpenBLAS
}

TEST_CASE("the executables run on the allocator the build linked, and the compute line names it") {
  // DIFSS_LINKED_ALLOCATOR: what cmake/DifssAllocator.cmake chose. A mismatch means the link was
  // dropped (e.g. by --as-needed) and large tensors page-fault again (docs/PERFORMANCE.md).
  // An LD_PRELOAD'ed allocator wins over the linked one, in this process and in the host alike.
  if (!std::getenv("LD_PRELOAD")) CHECK(allocator_name() == DIFSS_LINKED_ALLOCATOR);
  difss::test::Exec r = run_host("--log-level debug plugins list");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("allocator: " + allocator_name()));
}

TEST_CASE("the host corrects OpenBLAS's own kernel choice, respects OPENBLAS_CORETYPE, says which") {
  // The child runs in this test's environment unchanged (some machines pin OPENBLAS_CORETYPE on
  // purpose; tests must not override it).
  const BlasInfo here = inspect_blas();  // this process never re-executes: OpenBLAS's own view
  difss::test::Exec r = run_host("--log-level debug plugins list");
  REQUIRE(r.code == 0);
  CHECK_THAT(r.output, Catch::Contains("compute: " + sdk::cpu_features().summary()));
  if (here.config.empty()) {
    CHECK_THAT(r.output, Catch::Contains("BLAS: not OpenBLAS"));
    return;
  }
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE")) {
    // Respected: no re-execution, no warning; a debug hint when the CPU runs faster kernels.
    CHECK_THAT(r.output, Catch::Contains(std::string("(OPENBLAS_CORETYPE=") + forced + ")"));
    CHECK_THAT(r.output, !Catch::Contains("instead (OPENBLAS_CORETYPE=") && !Catch::Contains("W] OpenBLAS"));
    if (!here.recommended.empty())
      CHECK_THAT(r.output, Catch::Contains("also runs its " + here.recommended + " kernels"));
    return;
  }
  difss::test::Exec off = run_host("--log-level debug plugins list", "DIFSS_BLAS_AUTOFIX=0");
  REQUIRE(off.code == 0);
  if (!here.recommended.empty()) {
    CHECK_THAT(r.output, Catch::Contains("using " + here.recommended + " instead (OPENBLAS_CORETYPE=" + here.recommended));
    CHECK_THAT(off.output, Catch::Contains("set OPENBLAS_CORETYPE=" + here.recommended) &&
                               Catch::Contains("DIFSS_BLAS_AUTOFIX=0 turned the automatic fix off"));
  } else {
    CHECK_THAT(r.output, !Catch::Contains("instead (OPENBLAS_CORETYPE="));
    CHECK_THAT(off.output, !Catch::Contains("set OPENBLAS_CORETYPE="));
  }
}
