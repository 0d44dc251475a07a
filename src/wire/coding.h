// Little-endian primitives shared by every msgc codec: client frames
// (frame.cc), mesh frames (mesh_frame.cc) and the server's ordered items
// (server/items.cc). One place defines str16 / blob32 and how a body is read
// with bounds checks, so the codecs cannot drift apart.
//
// Writers append to a std::string. BodyReader reads a body front to back;
// the first failure is remembered with the field it concerns, every later
// read fails, and Done() turns it into a ProtocolError. Decoded string_views
// point into the body.
//
// Thread-safety: value types and free functions; a BodyReader has one owner.
#ifndef MSGC_WIRE_CODING_H_
#define MSGC_WIRE_CODING_H_

#include <fmt/format.h>

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace msgc::wire {

inline void PutU8(std::string* out, uint8_t v) {
  out->push_back(static_cast<char>(v));
}

inline char* StoreLE(char* p, uint64_t v, int bytes);

inline void PutLE(std::string* out, uint64_t v, int bytes) {
  char b[8];
  StoreLE(b, v, bytes);
  out->append(b, bytes);
}

inline void PutU16(std::string* out, uint16_t v) { PutLE(out, v, 2); }
inline void PutU32(std::string* out, uint32_t v) { PutLE(out, v, 4); }
inline void PutU64(std::string* out, uint64_t v) { PutLE(out, v, 8); }

inline void PutStr16(std::string* out, std::string_view s) {
  assert(s.size() <= 0xffff);
  PutU16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
}

inline void PutBlob32(std::string* out, std::string_view s) {
  assert(s.size() <= 0xffffffffu);
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// Stores into memory already sized for them (one resize per frame instead
// of one append per field); each returns the position after the field.
inline char* StoreLE(char* p, uint64_t v, int bytes) {
  if constexpr (std::endian::native == std::endian::little) {
    // One unaligned store (as GetLE): GCC keeps the byte loop a loop.
    std::memcpy(p, &v, static_cast<size_t>(bytes));
  } else {
    for (int i = 0; i < bytes; ++i) {
      p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
  }
  return p + bytes;
}
inline char* StoreU8(char* p, uint8_t v) { return StoreLE(p, v, 1); }
inline char* StoreU16(char* p, uint16_t v) { return StoreLE(p, v, 2); }
inline char* StoreU32(char* p, uint32_t v) { return StoreLE(p, v, 4); }
inline char* StoreBytes(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline uint64_t GetLE(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    // One unaligned load where the byte loop is not recognised as one.
    std::memcpy(&v, p, static_cast<size_t>(bytes));
  } else {
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  }
  return v;
}
inline uint16_t GetU16(const uint8_t* p) {
  return static_cast<uint16_t>(GetLE(p, 2));
}
inline uint32_t GetU32(const uint8_t* p) {
  return static_cast<uint32_t>(GetLE(p, 4));
}
inline uint64_t GetU64(const uint8_t* p) { return GetLE(p, 8); }

// Patches a u32 at `offset` of *out (e.g. a frame's body length).
inline void SetU32(std::string* out, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    (*out)[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

class BodyReader {
 public:
  explicit BodyReader(std::span<const uint8_t> body)
      : p_(body.data()), left_(body.size()) {}

  bool U8(const char* field, uint8_t* v) { return Int(field, 1, v); }
  bool U16(const char* field, uint16_t* v) { return Int(field, 2, v); }
  bool U32(const char* field, uint32_t* v) { return Int(field, 4, v); }
  bool U64(const char* field, uint64_t* v) { return Int(field, 8, v); }

  // A str16 / blob32 of at most `max_len` bytes.
  bool Str16(const char* field, size_t max_len, std::string_view* v) {
    uint16_t len;
    return U16(field, &len) && Bytes(field, len, max_len, v);
  }
  bool Blob32(const char* field, size_t max_len, std::string_view* v) {
    uint32_t len;
    return U32(field, &len) && Bytes(field, len, max_len, v);
  }

  // A u16 / u32 count of at most `max` entries.
  bool Count16(const char* field, size_t max, size_t* n) {
    uint16_t c;
    return U16(field, &c) && CheckCount(field, c, max, n);
  }
  bool Count32(const char* field, size_t max, size_t* n) {
    uint32_t c;
    return U32(field, &c) && CheckCount(field, c, max, n);
  }

  // True if `n` entries of at least `min_size` bytes each can still follow:
  // a count larger than the body allows is rejected before any allocation.
  bool Fits(const char* field, size_t n, size_t min_size) {
    if (failed_) return false;
    if (min_size != 0 && n > left_ / min_size) [[unlikely]] {
      FailTruncated(field);
      return false;
    }
    return true;
  }

  // The unread rest of the body; the reader is then at its end.
  std::span<const uint8_t> Rest() {
    std::span<const uint8_t> r(p_, left_);
    p_ += left_;
    left_ = 0;
    return r;
  }

  const uint8_t* position() const { return p_; }
  bool failed() const { return failed_; }
  // Records `message` as the failure (unless one is recorded); returns false.
  bool Fail(std::string message) {
    if (!failed_) {
      failed_ = true;
      error_ = std::move(message);
    }
    return false;
  }

  // OK if everything read fine and the body is consumed exactly; else a
  // ProtocolError "<context()>: <first failure>". `context` is called only
  // on failure, so the success path formats nothing.
  template <typename ContextFn>
  Status Done(ContextFn context) {
    if (!failed_ && left_ == 0) [[likely]] {
      return Status::OK();
    }
    if (!failed_) Fail(fmt::format("{} trailing bytes", left_));
    return Status::ProtocolError(fmt::format("{}: {}", context(), error_));
  }

 private:
  // The read functions are on every message's path: they stay small enough
  // to inline, and the failure paths (which format) are out of line.
  template <typename T>
  bool Int(const char* field, int n, T* v) {
    if (!Need(field, n)) return false;
    *v = static_cast<T>(GetLE(p_, n));
    Skip(n);
    return true;
  }
  bool Bytes(const char* field, size_t len, size_t max_len,
             std::string_view* v) {
    if (len > max_len) [[unlikely]] {
      FailTooLong(field, len, max_len);
      return false;
    }
    if (!Need(field, len)) return false;
    *v = std::string_view(reinterpret_cast<const char*>(p_), len);
    Skip(len);
    return true;
  }
  bool CheckCount(const char* field, size_t c, size_t max, size_t* n) {
    if (c > max) [[unlikely]] {
      FailTooMany(field, c, max);
      return false;
    }
    *n = c;
    return true;
  }
  bool Need(const char* field, size_t n) {
    if (failed_ || left_ < n) [[unlikely]] {
      if (!failed_) FailTruncated(field);
      return false;
    }
    return true;
  }
  void Skip(size_t n) {
    p_ += n;
    left_ -= n;
  }
  // Out of line and void, so that the callers' `return false` stays
  // visible to the compiler.
  [[gnu::cold, gnu::noinline]] void FailTruncated(const char* field) {
    Fail(fmt::format("{} truncated", field));
  }
  [[gnu::cold, gnu::noinline]] void FailTooLong(const char* field, size_t len,
                                                size_t max_len) {
    Fail(fmt::format("{} is {} bytes, more than {}", field, len, max_len));
  }
  [[gnu::cold, gnu::noinline]] void FailTooMany(const char* field, size_t c,
                                                size_t max) {
    Fail(fmt::format("{} has {} entries, more than {}", field, c, max));
  }

  const uint8_t* p_;
  size_t left_;
  bool failed_ = false;
  std::string error_;  // the first failure, once failed_
};

}  // namespace msgc::wire

#endif  // MSGC_WIRE_CODING_H_
