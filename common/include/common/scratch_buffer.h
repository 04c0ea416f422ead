#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace basalt {

// A reusable byte buffer whose contents are undefined after Resize. std::vector::resize
// zero-fills every byte it adds, which on the apply path (the buffer is overwritten by a read or
// a decoder right after) cost more than a percent of the whole run.
class ScratchBuffer {
 public:
  // The first n bytes; keeps the storage when it is already large enough.
  std::span<uint8_t> Resize(size_t n) {
    if (n > capacity_) {
      data_ = std::make_unique_for_overwrite<uint8_t[]>(n);
      capacity_ = n;
    }
    size_ = n;
    return span();
  }
  std::span<uint8_t> span() { return {data_.get(), size_}; }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }
  size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace basalt
