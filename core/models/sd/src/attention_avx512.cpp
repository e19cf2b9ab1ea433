// The fused attention kernel for AVX-512 (16 floats per vector, 32 registers): this file
// alone is compiled with -mavx512f -mfma (see CMakeLists.txt);
// attention.cpp calls it only where the CPU reports them.
#include "attention_kernel.hpp"

#if !defined(__AVX512F__) || !defined(__FMA__)
#error "attention_avx512.cpp must be compiled with -mavx512f -mfma"
#endif

#define DIFSS_KERNEL_SHAPE kAvx512Shape
#define DIFSS_KERNEL_ENTRY attention_block_avx512
#include "attention_kernel.inl"
