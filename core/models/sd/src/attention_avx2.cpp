// The fused attention kernel for AVX2 + FMA (8 floats per vector, 16 registers): this file
// alone is compiled with -mavx2 -mfma (see CMakeLists.txt);
// attention.cpp calls it only where the CPU reports them.
#include "attention_kernel.hpp"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "attention_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#define DIFSS_KERNEL_SHAPE kAvx2Shape
#define DIFSS_KERNEL_ENTRY attention_block_avx2
#include "attention_kernel.inl"
