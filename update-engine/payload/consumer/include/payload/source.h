// Where the applier reads a payload from: a file, an HTTP body, a pipe. The applier only ever
// reads forward, so a download can be applied while it arrives.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/error.h"
#include "common/fd.h"

namespace basalt::payload {

class PayloadSource {
 public:
  virtual ~PayloadSource() = default;
  // Reads up to buf.size() bytes; 0 means end of stream.
  virtual Result<size_t> Read(std::span<uint8_t> buf) = 0;
  // Skips n bytes forward (resume). The default reads and discards; a file seeks, an HTTP
  // source can reopen with a Range request.
  virtual Status Skip(uint64_t n);
  // Total size when known up front, so truncation or appended data is refused before any
  // write; nullopt for a stream of unknown length.
  virtual std::optional<uint64_t> Size() const { return std::nullopt; }
};

class FilePayloadSource : public PayloadSource {
 public:
  static Result<std::unique_ptr<FilePayloadSource>> Open(const std::string& path);
  Result<size_t> Read(std::span<uint8_t> buf) override;
  Status Skip(uint64_t n) override;
  std::optional<uint64_t> Size() const override { return size_; }

 private:
  FilePayloadSource(UniqueFd fd, std::string path, std::optional<uint64_t> size)
      : fd_(std::move(fd)), path_(std::move(path)), size_(size) {}
  UniqueFd fd_;
  std::string path_;
  std::optional<uint64_t> size_;
  uint64_t pos_ = 0;
};

// A payload held in memory (tests, fuzzing). With known_size false it behaves like a stream
// of unknown length.
class MemoryPayloadSource : public PayloadSource {
 public:
  explicit MemoryPayloadSource(std::span<const uint8_t> data, bool known_size = true)
      : data_(data), known_size_(known_size) {}
  Result<size_t> Read(std::span<uint8_t> buf) override;
  std::optional<uint64_t> Size() const override {
    return known_size_ ? std::optional<uint64_t>(data_.size()) : std::nullopt;
  }

 private:
  std::span<const uint8_t> data_;
  bool known_size_;
  size_t pos_ = 0;
};

// Reads exactly buf.size() bytes; a short stream is reported as truncated at `offset`.
Status ReadExact(PayloadSource& src, std::span<uint8_t> buf, uint64_t offset,
                 std::string_view what);

}  // namespace basalt::payload
