// MASK2FORMER_CPU_CLONES marks a CPU loop to be compiled for AVX-512 and AVX2 as well as the
// baseline; the best version for the running CPU is picked at load time (GCC/Clang function
// multiversioning). Elsewhere it expands to nothing.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MASK2FORMER_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef MASK2FORMER_CPU_CLONES
#define MASK2FORMER_CPU_CLONES
#endif
