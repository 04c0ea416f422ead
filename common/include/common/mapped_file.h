// Read-only memory mapping that unmaps itself.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"

namespace basalt {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps [offset, offset+length) of fd read-only. A zero length yields an empty mapping.
  static Result<MappedFile> Map(int fd, uint64_t offset, uint64_t length, std::string_view what);
  static Result<MappedFile> MapWholeFile(const std::string& path);

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }

 private:
  void* base_ = nullptr;  // page-aligned start handed to munmap
  size_t base_len_ = 0;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace basalt
