// Checked binary files with the fixed header of DESIGN.md section 4, and memory mapping.
//
// Layout of a section file (all little-endian, header 64 bytes so the payload stays
// 64-byte aligned for memory mapping):
//   0  char[8]  magic "WINNOW\0\1"
//   8  char[8]  section tag, NUL padded ("POSTINGS", "TERMS", ...)
//  16  u16      major version      18 u16 minor version     20 u32 flags (0)
//  24  u64      count0             32 u64 count1            (meaning set by the section)
//  40  u64      payload bytes
//  48  u64      payload checksum (checksum64 below)
//  56  u64      header checksum (checksum64 of bytes 0..55)
//  64  payload
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace winnow {

struct SectionHeader {
  std::string tag;
  uint16_t major = 1;
  uint16_t minor = 0;
  uint64_t count0 = 0;
  uint64_t count1 = 0;
  uint64_t payload_bytes = 0;
  uint64_t checksum = 0;
};

constexpr size_t kSectionHeaderBytes = 64;

/// Fast 64-bit non-cryptographic checksum (4 multiply-rotate lanes over 32-byte stripes,
/// in the style of xxHash64). Detects truncation and bit flips, not tampering.
uint64_t checksum64(const uint8_t* data, size_t n);

/// Read-only memory mapping of a whole file. Unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/// Write header + payload to `path` and fsync it. Throws FormatError naming the path on I/O failure.
void write_section(const std::string& path, const SectionHeader& header, const uint8_t* payload,
                   size_t payload_bytes);

/// A section read back: either an owned buffer or a view into a mapping.
struct Section {
  SectionHeader header;
  std::vector<uint8_t> owned;            // filled when read without mmap
  std::shared_ptr<MappedFile> mapping;   // set when mapped
  const uint8_t* payload = nullptr;
  size_t payload_bytes = 0;
};

/// Open a section file, check magic, tag, version (major must be <= max_major), sizes
/// against the real file size, and the header checksum. The payload checksum is verified
/// when `verify_payload` (always when reading into memory; optional for mmap because it
/// would page in the whole file). Every failure throws FormatError naming the path.
Section read_section(const std::string& path, const std::string& expected_tag, uint16_t max_major,
                     bool use_mmap, bool verify_payload);

}  // namespace winnow
