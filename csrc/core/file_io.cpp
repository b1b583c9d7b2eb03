#include "file_io.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.hpp"

namespace winnow {
namespace {

constexpr char kMagic[8] = {'W', 'I', 'N', 'N', 'O', 'W', '\0', '\1'};
constexpr uint64_t P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL,
                   P3 = 1609587929392839161ULL, P4 = 9650029242287828579ULL, P5 = 2870177450012600261ULL;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian hosts only (checked at build by the static_assert below)
  return v;
}
inline uint64_t round_lane(uint64_t acc, uint64_t v) { return rotl(acc + v * P2, 31) * P1; }

void put_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint16_t get_u16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
uint64_t get_u64(const uint8_t* p) { return load64(p); }

std::string errno_text() { return std::strerror(errno); }

}  // namespace

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "Winnow files are little-endian");

uint64_t checksum64(const uint8_t* data, size_t n) {
  uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    v1 = round_lane(v1, load64(data + i));
    v2 = round_lane(v2, load64(data + i + 8));
    v3 = round_lane(v3, load64(data + i + 16));
    v4 = round_lane(v4, load64(data + i + 24));
  }
  uint64_t h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18) + n;
  for (; i + 8 <= n; i += 8) h = rotl(h ^ round_lane(0, load64(data + i)), 27) * P1 + P4;
  for (; i < n; ++i) h = rotl(h ^ (data[i] * P5), 11) * P1;
  h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
  return h;
}

MappedFile::MappedFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw FormatError(path + ": cannot open (" + errno_text() + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw FormatError(path + ": cannot stat (" + errno_text() + ")");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw FormatError(path + ": cannot mmap (" + errno_text() + ")");
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void write_section(const std::string& path, const SectionHeader& h, const uint8_t* payload,
                   size_t payload_bytes) {
  check_arg(h.tag.size() <= 8, "section tag longer than 8 bytes: " + h.tag);
  uint8_t head[kSectionHeaderBytes] = {0};
  std::memcpy(head, kMagic, 8);
  std::memcpy(head + 8, h.tag.data(), h.tag.size());
  put_u16(head + 16, h.major);
  put_u16(head + 18, h.minor);
  put_u64(head + 24, h.count0);
  put_u64(head + 32, h.count1);
  put_u64(head + 40, payload_bytes);
  put_u64(head + 48, checksum64(payload, payload_bytes));
  put_u64(head + 56, checksum64(head, 56));

  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw FormatError(path + ": cannot create (" + errno_text() + ")");
  auto write_all = [&](const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        std::string msg = path + ": write failed (" + errno_text() + ")";
        ::close(fd);
        throw FormatError(msg);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  };
  write_all(head, sizeof head);
  write_all(payload, payload_bytes);
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw FormatError(path + ": fsync/close failed (" + errno_text() + ")");
}

Section read_section(const std::string& path, const std::string& expected_tag, uint16_t max_major,
                     bool use_mmap, bool verify_payload) {
  Section s;
  auto mapping = std::make_shared<MappedFile>(path);
  const uint8_t* base = mapping->data();
  size_t file_bytes = mapping->size();
  if (file_bytes < kSectionHeaderBytes)
    throw FormatError(path + ": truncated file (" + std::to_string(file_bytes) + " bytes, header needs 64)");
  if (std::memcmp(base, kMagic, 8) != 0) throw FormatError(path + ": not a Winnow section file (bad magic bytes)");
  if (get_u64(base + 56) != checksum64(base, 56)) throw FormatError(path + ": header checksum mismatch (corrupt header)");
  char tag[9] = {0};
  std::memcpy(tag, base + 8, 8);
  s.header.tag = tag;
  if (s.header.tag != expected_tag)
    throw FormatError(path + ": section tag is '" + s.header.tag + "', expected '" + expected_tag + "'");
  s.header.major = get_u16(base + 16);
  s.header.minor = get_u16(base + 18);
  if (s.header.major > max_major)
    throw FormatError(path + ": format version " + std::to_string(s.header.major) + "." +
                      std::to_string(s.header.minor) + " is newer than this Winnow reads (major " +
                      std::to_string(max_major) + "); upgrade winnow");
  s.header.count0 = get_u64(base + 24);
  s.header.count1 = get_u64(base + 32);
  s.header.payload_bytes = get_u64(base + 40);
  s.header.checksum = get_u64(base + 48);
  uint64_t left = file_bytes - kSectionHeaderBytes;
  if (s.header.payload_bytes != left)
    throw FormatError(path + ": payload is " + std::to_string(left) + " bytes, header says " +
                      std::to_string(s.header.payload_bytes) + " (truncated or padded file)");
  const uint8_t* payload = base + kSectionHeaderBytes;
  if ((verify_payload || !use_mmap) && checksum64(payload, left) != s.header.checksum)
    throw FormatError(path + ": payload checksum mismatch (corrupt file)");
  s.payload_bytes = left;
  if (use_mmap) {
    s.mapping = mapping;
    s.payload = payload;
  } else {
    s.owned.assign(payload, payload + left);
    s.payload = s.owned.data();
  }
  return s;
}

}  // namespace winnow
