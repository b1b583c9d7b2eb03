#include "build_info.hpp"

#ifndef WINNOW_BUILD_FLAGS
#define WINNOW_BUILD_FLAGS "unknown"
#endif

namespace winnow {

std::string detect_simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return "avx512";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  if (__builtin_cpu_supports("sse4.2")) return "sse4.2";
#endif
  return "scalar";
}

std::string compiler_version() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

std::string build_flags() { return WINNOW_BUILD_FLAGS; }

}  // namespace winnow
