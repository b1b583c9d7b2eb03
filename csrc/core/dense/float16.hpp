// Portable IEEE half <-> float conversions (the scalar fallbacks of the F16C paths):
// round to nearest even, subnormals kept, identical to numpy's float16 and to the F16C
// instructions (_mm256_cvtps_ph with _MM_FROUND_TO_NEAREST_INT).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace winnow::dense {

/// Smallest float magnitude that rounds to float16 infinity (65504 + half an ulp of 32).
constexpr float kFloat16Overflow = 65520.0f;

inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN (quiet)
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 or inf: infinity
  if (ax < 0x38800000u) {
    // below 2^-14 (the smallest normal half): a subnormal m * 2^-24, m = round(|f| * 2^24)
    // (exact scaling; nearbyint rounds to nearest even; m = 1024 is the smallest normal)
    float af;
    std::memcpy(&af, &ax, sizeof af);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(af * 16777216.0f)));
  }
  // normal: rebias the exponent (127 - 15 = 112) and round 23 -> 10 mantissa bits to nearest
  // even; a carry out of the mantissa correctly bumps the exponent
  uint32_t h = (ax - 0x38000000u) >> 13;
  const uint32_t rest = ax & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24, exact in float
    const float v = static_cast<float>(man) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  const uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112u) << 23) | (man << 13));
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace winnow::dense
