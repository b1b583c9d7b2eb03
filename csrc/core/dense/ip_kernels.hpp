// Internal: the dispatching inner-product tile kernels behind distances.hpp.
//
// Every kernel (AVX-512F, AVX2+FMA, scalar) sums one (x_i, y_j) pair in an order that does
// not depend on where the pair sits in a register tile, so a score is bit-identical whatever
// the blocking or thread split (threads=1 and threads=2 give identical results).
#pragma once

#include <cstdint>

namespace winnow::dense::detail {

enum class IpKernel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

/// The kernel in use (best the CPU supports unless forced).
IpKernel ip_kernel();
/// "avx512", "avx2" or "scalar".
const char* ip_kernel_name();
/// Force a kernel for tests and benchmarks ("" = automatic). Unsupported requests fall back
/// to the best supported kernel. Not thread-safe against concurrent searches.
void force_ip_kernel(const char* name);

}  // namespace winnow::dense::detail
