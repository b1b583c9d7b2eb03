// Compile-time and run-time facts about this build, exposed as _core.BUILD_INFO.
#pragma once
#include <string>

namespace winnow {

/// Best SIMD level this CPU supports at run time: "avx512", "avx2", "sse4.2" or "scalar".
std::string detect_simd_level();

/// Compiler name and version string.
std::string compiler_version();

/// Flags the core was compiled with (set by setup.py).
std::string build_flags();

}  // namespace winnow
