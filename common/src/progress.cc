#include "common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <iterator>

namespace basalt {

bool ProgressBar::StderrIsTerminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled, Unit unit)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      unit_(unit),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  Finish();
}

void ProgressBar::Update(uint64_t done) {
  last_done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw(done);
}

std::string ProgressBar::FormatRate(double bytes_per_second) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB"};
  double v = bytes_per_second > 0 ? bytes_per_second : 0;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return v < 10 && u > 0 ? fmt::format("{:.1f} {}/s", v, kUnits[u])
                         : fmt::format("{:.0f} {}/s", v, kUnits[u]);
}

void ProgressBar::Draw(uint64_t done) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line;
  double frac =
      total_ > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 0;
  std::string tail;
  if (unit_ == Unit::kBytes) {
    tail = FormatRate(secs > 0 ? static_cast<double>(done) / secs : 0);
  } else if (frac > 0.01 && frac < 1.0) {
    tail = fmt::format("{:.0f} s left", secs / frac * (1.0 - frac));
  }
  if (total_ > 0) {
    constexpr int kWidth = 30;
    int fill = static_cast<int>(frac * kWidth);
    line = fmt::format("\r{} [{}{}] {:5.1f}% {}\x1b[K", label_, std::string(fill, '#'),
                       std::string(kWidth - fill, '.'), frac * 100, tail);
  } else {
    line = fmt::format("\r{} {:.1f} MiB {}\x1b[K", label_, static_cast<double>(done) / (1 << 20),
                       tail);
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  Draw(total_ > 0 ? total_ : last_done_);
  std::fputs("\n", stderr);
}

}  // namespace basalt
