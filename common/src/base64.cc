#include "common/base64.h"

#include <array>

namespace basalt {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> MakeReverse() {
  std::array<int8_t, 256> r{};
  for (auto& v : r)
    v = -1;
  for (int i = 0; i < 64; ++i)
    r[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return r;
}
constexpr std::array<int8_t, 256> kReverse = MakeReverse();

}  // namespace

std::string Base64Encode(std::span<const uint8_t> data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string Base64Encode(std::string_view data) {
  return Base64Encode(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Result<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Failf(ErrorKind::kInvalidInput, "base64: length {} is not a multiple of 4", text.size());
  }
  size_t pad = 0;
  if (!text.empty() && text.back() == '=')
    pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && last && j >= 4 - pad) {
        v <<= 6;
        continue;
      }
      int8_t d = kReverse[static_cast<uint8_t>(c)];
      if (d < 0) {
        return Failf(ErrorKind::kInvalidInput, "base64: invalid character at position {}", i + j);
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (!last || pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (!last || pad < 1) out.push_back(static_cast<uint8_t>(v));
    // Non-canonical encodings set bits the padding discards; reject them so an envelope's
    // bytes are unique.
    if (last && ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))) {
      return Fail(ErrorKind::kInvalidInput, "base64: non-zero bits before padding");
    }
  }
  return out;
}

}  // namespace basalt
